"""Run a suite's protocol locally (loky processes) or on a Dask cluster, and commit each
population to the store.

The protocol (``bench.protocol``) decides which populations run: per method x dataset a
chain of tuning populations, grid extensions and an evaluation. A population is trained by
one ``train`` call on the population axis. The next population of a chain is submitted as
soon as the result it depends on arrives (loky's reusable executor locally, Dask's
``as_completed.add`` on a cluster), never after the whole grid, and the longest chains start
first. Populations already in the store are read back instead of trained, so a killed run
resumes where it stopped, across phases; ``force`` retrains them. Evaluation trials are
stored per configuration and seed, so raising ``seeds`` trains only the new seeds. Every
finished population is committed in one transaction as soon as it arrives. Each worker uses
one BLAS thread, and the in-process path (jobs = 1) does the same, so results do not depend
on ``jobs`` or on where they were trained. One run at a time writes into a results folder:
it holds DIR/.lock for its duration. A folder holds one suite (``claim_folder``): another
suite's name is refused unless ``replace``, and a changed definition is said in one line.

What a worker runs, training one population and timing it, is ``bench.worker``; a local
worker is sent each population with the dataset this process built, so it builds none.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from backprop import compiled
from bench.common import jsonable
from bench.datasets import dataset_for, spec_key
from bench.protocol import Chain, chains, describe, planned_trials
from bench.store import STORE_NAME, PopulationResult, Store, StoreError, hold_folder
from bench.suite import Population, Suite, SuiteWarning, check_engine, load_suite
from bench.tables import Results, load
from bench.worker import TIME_AXIS, cpu_model, start_workers, train_population

if TYPE_CHECKING:
    import distributed

CONNECT_TIMEOUT = 10.0  # seconds for a Dask scheduler to answer, and for its first worker
INSTALL_DASK = "pip install 'backprop-bench[distributed]'"


class ClusterError(RuntimeError):
    """A --cluster address that is malformed, or a cluster run that cannot be done."""


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def precompile(suite: Suite) -> bool:
    """Compile the training kernel here, once, when the suite may use it and numba's cache
    does not hold it yet, so that the workers load it instead of each compiling it (and
    saying so); True when it compiled."""
    if suite.engine == "numpy" or not compiled.available() or compiled.cached():
        return False
    compiled.load()
    return True


# ------------------------------------------------------------------------------ executors


class Backend:
    """Where populations train: ``submit`` one, ``next_result`` waits for any to finish."""

    def submit(self, population: Population) -> None:
        raise NotImplementedError

    def next_result(self) -> PopulationResult:
        raise NotImplementedError


class InProcess(Backend):
    """jobs = 1: each population trains in this process when its result is asked for."""

    def __init__(self) -> None:
        self.queue: list[Population] = []

    def submit(self, population: Population) -> None:
        self.queue.append(population)

    def next_result(self) -> PopulationResult:
        return train_population(self.queue.pop(0))


class Loky(Backend):
    """Worker processes of loky's reusable executor, which takes new tasks while it runs."""

    def __init__(self, jobs: int, suite: Suite) -> None:
        self.executor = start_workers(jobs, kernels=suite.engine != "numpy")
        self.pending: set = set()

    def submit(self, population: Population) -> None:
        data = dataset_for(population.dataset)  # built here already: sent, not built there
        self.pending.add(self.executor.submit(train_population, population, data))

    def next_result(self) -> PopulationResult:
        done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
        future = done.pop()
        self.pending |= done
        return future.result()


def check_cluster(cluster: str) -> str:
    """``cluster`` if it is "local" or "tcp://HOST:PORT", else a ClusterError."""
    host, _, port = cluster.removeprefix("tcp://").rpartition(":")
    if cluster != "local" and not (cluster.startswith("tcp://") and host and port.isdigit()):
        raise ClusterError(
            f"--cluster must be 'local' or 'tcp://HOST:PORT' (a Dask scheduler), got {cluster!r}"
        )
    return cluster


@contextmanager
def dask_client(cluster: str, jobs: int) -> Iterator[distributed.Client]:
    """A ``distributed.Client`` of ``cluster``, closed (with its LocalCluster) on exit.

    "local" starts a LocalCluster of ``jobs`` worker processes, one thread each, bound to
    127.0.0.1 and without a dashboard; "tcp://HOST:PORT" connects to a running scheduler.
    Raises ClusterError, before anything is written, when dask is not installed, when the
    scheduler does not answer within CONNECT_TIMEOUT seconds, or when no worker joins it.
    """
    check_cluster(cluster)
    try:
        import distributed
    except ImportError as err:
        raise ClusterError(
            f"--cluster {cluster} needs dask.distributed, which is not installed ({err}); "
            f"install it with {INSTALL_DASK}, or run without --cluster"
        ) from None
    with ExitStack() as stack:
        address = cluster
        if cluster == "local":
            local = distributed.LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            address = stack.enter_context(local).scheduler_address
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(
                f"no Dask scheduler answered at {cluster} within {CONNECT_TIMEOUT:g} s ({err}). "
                f"Is a scheduler running there? Start one with `dask scheduler` and workers with "
                f"`dask worker {cluster} --nthreads 1`, or use --cluster local"
            ) from None
        stack.enter_context(client)
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise ClusterError(
                f"the Dask scheduler at {cluster} has no workers (none joined within "
                f"{CONNECT_TIMEOUT:g} s); start some with `dask worker {address} --nthreads 1 "
                "--nworkers N`"
            ) from None
        yield client


class OnDask(Backend):
    """The workers of a Dask cluster; a worker that dies takes its populations with it and
    the scheduler runs them again on another. A population that every worker it was given
    to died on (the scheduler's allowed-failures) is a ClusterError."""

    def __init__(self, client: distributed.Client) -> None:
        from distributed import as_completed

        self.client = client
        self.completed = as_completed([], loop=client.loop)
        self.populations: dict[str, Population] = {}

    def submit(self, population: Population) -> None:
        key = f"population-{population.key()}"
        self.populations[key] = population
        self.completed.add(self.client.submit(train_population, population, key=key, pure=False))

    def next_result(self) -> PopulationResult:
        from distributed import KilledWorker

        future = next(self.completed)
        try:
            result = future.result()
        except KilledWorker as err:
            population = self.populations[future.key]
            raise ClusterError(
                f"{population.method.name} on {population.dataset.name}: every Dask worker "
                f"that trained it died ({err}). Out of memory? The populations finished so far "
                "are stored; rerun to resume"
            ) from None
        future.release()
        return result


# ------------------------------------------------------------------------------ progress


class Progress:
    """Trials done of the total: a tqdm bar with ETA on a terminal, else a line per population."""

    def __init__(self, total_trials: int, enabled: bool = True, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled, self.done, self.total = enabled, 0, total_trials
        self.bar = None
        if enabled and total_trials and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_trials, unit="trial", file=self.stream)

    def note(self, message: str) -> None:
        """A line of its own, above the bar when there is one."""
        if self.enabled:
            print(message, file=self.stream, flush=True)

    def grow(self, trials: int) -> None:
        """More trials to train than planned (a grid extension), or fewer (already stored)."""
        self.total += trials
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def update(self, result: PopulationResult) -> None:
        """Count a finished population's trials."""
        self.done += result.size
        phase = "tuning" if result.phase == "tune" else "evaluation"
        if self.bar is not None:
            self.bar.set_postfix_str(f"{result.method} on {result.dataset}", refresh=False)
            self.bar.update(result.size)
        else:
            self.note(
                f"{result.method} on {result.dataset}, {phase}: {result.size} trials in "
                f"{result.wall_seconds:.3g} s ({self.done}/{self.total} trials done)"
            )

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------------ provenance


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance(started_at: str, jobs: int, cluster: str | None = None) -> dict:
    """Versions, CPU, git commit, workers and start time of a run (finished_at comes at the end).

    jobs: the number of worker processes (on a Dask cluster: the workers it had at the start);
    cluster: the --cluster address, or None for a run on this machine.
    """
    versions = {"python": platform.python_version()}
    packages = (
        "backprop-bench", "numpy", "scikit-learn", "pandas", "joblib", "distributed", "numba",
    )  # fmt: skip
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "versions": versions,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "jobs": jobs,
        "cluster": cluster,
        "time_axis": TIME_AXIS,
        "started_at": started_at,
        "finished_at": None,
    }


def suite_record(suite: Suite, populations: Iterable[dict]) -> dict:
    """The suite as stored in meta: its settings, protocol and the populations it used
    (key, phase, method, dataset, trials)."""
    return jsonable(
        {
            "name": suite.name,
            "source": suite.source,
            **suite.settings(),
            "protocol": describe(suite),
            "populations": list(populations),
        }
    )


# ------------------------------------------------------------------------------ the folder


def check_out(out: Path) -> None:
    """A StoreError when ``out``, or the nearest of its parents that exists, is not a folder."""
    for folder in (out, *out.parents):
        if not folder.exists():
            continue
        if folder.is_dir():
            return
        if folder == out:
            raise StoreError(
                f"--out {out} is a file, not a folder; give --out a folder (it is created when "
                "missing), or move the file away"
            )
        raise StoreError(
            f"--out {out} cannot be a folder: {folder} is a file; give --out a folder whose "
            "parents are folders, or move the file away"
        )


def _shown(value) -> str:
    return "none" if value is None else str(value)


def changed_settings(old: dict, new: dict) -> list[str]:
    """What differs between two ``Suite.settings()`` (the stored one, a JSON round trip, and
    the new one), in a few words each: "epochs 50 -> 10", "seeds (10 -> 5)",
    "methods (+lion, -gd, adam changed)", "model.hidden [32] -> [16]"."""
    new = jsonable(new)
    changes = []
    for key, after in new.items():
        before = old.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict) and key == "model":
            changes += [
                f"model.{k} {_shown(before.get(k))} -> {_shown(after.get(k))}"
                for k in dict.fromkeys([*before, *after])
                if before.get(k) != after.get(k)
            ]
        elif isinstance(before, dict) and isinstance(after, dict):
            parts = [f"+{n}" for n in after if n not in before]
            parts += [f"-{n}" for n in before if n not in after]
            parts += [f"{n} changed" for n in after if n in before and before[n] != after[n]]
            changes.append(f"{key} ({', '.join(parts)})")
        elif isinstance(before, list) and isinstance(after, list) and len(before) != len(after):
            changes.append(f"{key} ({len(before)} -> {len(after)})")
        elif isinstance(before, list | dict) or isinstance(after, list | dict):
            changes.append(key)
        else:
            changes.append(f"{key} {_shown(before)} -> {_shown(after)}")
    return changes


def claim_folder(recorded: dict | None, suite: Suite, out: Path, replace: bool) -> str | None:
    """Whether ``suite`` may run into ``out``, whose store recorded the suite ``recorded``
    (None: no run ever started there): a StoreError for a suite of another name without
    ``replace``; else the note to print (another suite replaced, or this one changed since
    the last run), or None."""
    if recorded is None:
        return None
    old = recorded.get("name")
    if old != suite.name:
        if not replace:
            raise StoreError(
                f"{out} holds the results of suite {old!r} (from {recorded.get('source')}); suite "
                f"{suite.name!r} (from {suite.source}) would take its tables and report. Run "
                f"{suite.name!r} into another folder with --out (by default results/"
                f"{suite.name}), or pass --replace to let it take {out} (the populations of "
                f"{old!r} stay in the store, unreported)"
            )
        return (
            f"note: suite {suite.name!r} replaces suite {old!r} in {out} (--replace); the "
            f"populations of {old!r} stay in the store, unreported (`python -m bench prune "
            f"{out}` drops them)"
        )
    changes = changed_settings(recorded, suite.settings())
    if not changes:
        return None
    return (
        f"note: suite {suite.name!r} changed since the last run in {out} ({', '.join(changes)}); "
        "its old populations stay in the store, unreported"
    )


# ------------------------------------------------------------------------------ run


def check_jobs(jobs: int | None) -> int:
    """``jobs``, or the number of cores for None; a ValueError below 1."""
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1 (or None for every core), got {jobs!r}")
    return jobs


class Driver:
    """Runs the chains of a suite through a backend, reading stored populations back."""

    def __init__(self, suite: Suite, store: Store, backend: Backend, force: bool, report) -> None:
        self.suite, self.store, self.backend = suite, store, backend
        self.force, self.report = force, report
        self.stored = set() if force else store.finished_keys()
        self.used: list[dict] = []  # every population of the suite, in the order it finished
        self.submitted: dict[str, tuple[Chain, Population]] = {}
        self.trained = self.reused = 0

    def record(self, key: str, population: Population, trials: int) -> None:
        """Note that the suite uses ``trials`` of the stored population ``key``."""
        self.used.append(
            {
                "key": key,
                "phase": population.phase,
                "method": population.method.name,
                "dataset": population.dataset.name,
                "trials": trials,
                "engine": population.engine,
            }
        )

    def place(self, chain: Chain, population: Population | None) -> None:
        """Submit ``population``, or read it back when stored, and so on along the chain."""
        while population is not None:
            if population.phase == "eval":
                population = self._unstored_seeds(population)
                if population is None:
                    return
            key = population.key()
            if key not in self.stored:
                self.submitted[key] = (chain, population)
                self.backend.submit(population)
                return
            self.reused += 1
            self.report.grow(-len(population.trials))
            self.record(key, population, len(population.trials))
            population = chain.receive(self.store.outcomes(key))

    def _unstored_seeds(self, population: Population) -> Population | None:
        """The evaluation trials whose seeds are not stored yet (None: every seed is)."""
        if self.force:
            return population
        stored = self.store.seeds_of_config(population.config())
        for key in dict.fromkeys(stored[s] for s in self.suite.seeds if s in stored):
            trials = sum(1 for s in self.suite.seeds if stored.get(s) == key)
            self.record(key, population, trials)
        missing = [t for t in population.trials if t[2] not in stored]
        self.report.grow(len(missing) - len(population.trials))
        if not missing:
            self.reused += 1
            return None
        return dataclasses.replace(population, trials=tuple(missing))

    def run(self) -> None:
        """Every chain to its end; each result committed as it arrives."""
        every = chains(self.suite)
        for chain in every:
            self.place(chain, chain.start())
        while self.submitted:
            result = self.backend.next_result()
            chain, population = self.submitted.pop(result.key)
            self.store.save(result)
            self.trained += 1
            self.report.update(result)
            self.record(result.key, population, result.size)
            self.store.set_meta(suite=suite_record(self.suite, self.used))
            if result.phase == "tune":
                following = chain.receive(result.outcomes())
                if following is not None and following.phase == "tune":
                    self.report.grow(len(following.trials))
                self.place(chain, following)


def run(
    suite: str | os.PathLike | Suite,
    out: str | Path | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: bool = True,
    cluster: str | None = None,
    replace: bool = False,
    engine: str | None = None,
    tables: bool = True,
) -> Results:
    """Run a suite's protocol into ``out`` (default results/<suite name>); return its Results.

    suite: a built-in name ("quick", "default", "full"), a .toml path, or a Suite.
    jobs: worker processes (default: every core); 1 trains in this process. With
        cluster="local", the number of Dask workers.
    force: retrain populations already in the store instead of reading them back.
    progress: a bar (terminal) or a line per population on stderr.
    cluster: a Dask scheduler ("local" or "tcp://HOST:PORT") instead of local workers.
    replace: let this suite take a folder that holds another suite's results (by name).
    engine: the training engine, "auto" (the suite's default), "numpy" or "compiled"; auto
        is resolved once per population, here, and the engine is part of its key.
    tables: write DIR/tables/*.csv at the end (False: the caller writes them,
        ``Results.write_tables``; the command line does while it draws the figures).

    A folder holds one suite. A suite of another name than the one recorded in the store is
    a StoreError unless ``replace``; a changed definition under the same name, or a replaced
    suite, is said in one line on stderr (the old populations stay in the store, unreported:
    ``python -m bench prune DIR`` drops them). A suite loaded here from a name or file emits
    its ``Suite.warnings`` as SuiteWarning (``warnings.warn``); a Suite passed in is not
    warned about again.

    Writes DIR/runs.sqlite (one transaction per population) and DIR/tables/*.csv, holding
    DIR/.lock meanwhile. A bad suite (SuiteError), jobs (ValueError) or cluster
    (ClusterError: malformed, dask missing, no scheduler or worker) is refused before
    anything is written; so are, as a StoreError, an ``out`` that is a file, a folder another
    run is writing into or of another suite (without ``replace``), and a damaged store or one
    of an older schema.
    """
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
        for text in suite.warnings:
            warnings.warn(text, SuiteWarning, stacklevel=2)
    if engine is not None:
        suite = dataclasses.replace(suite, engine=engine)
    check_engine(suite)
    precompile(suite)
    out = Path(out) if out is not None else Path("results") / suite.name
    check_out(out)
    jobs = check_jobs(jobs)
    if (out / STORE_NAME).is_file():
        # an unreadable or old store, or one of another suite, is refused before work
        with Store(out / STORE_NAME) as store:
            claim_folder(store.meta("suite"), suite, out, replace)
    with ExitStack() as stack:
        client = None if cluster is None else stack.enter_context(dask_client(cluster, jobs))
        stack.enter_context(hold_folder(out))
        if client is not None:
            workers = len(client.scheduler_info()["workers"])
            backend, record = OnDask(client), provenance(now(), workers, cluster)
        elif jobs == 1:
            backend, record = InProcess(), provenance(now(), jobs)
        else:
            backend, record = Loky(jobs, suite), provenance(now(), jobs)
        report = Progress(planned_trials(suite), progress)
        with Store(out / STORE_NAME, create=True) as store:
            note = claim_folder(store.meta("suite"), suite, out, replace)  # again, locked
            if note:
                print(note, file=sys.stderr, flush=True)
            store.set_meta(suite=suite_record(suite, []), provenance=record)
            store.save_datasets((spec_key(d), dataset_for(d)) for d in suite.datasets)
            driver = Driver(suite, store, backend, force, report)
            driver.run()
            report.close()
            if driver.reused:
                report.note(
                    f"{driver.reused} populations were already stored in {out / STORE_NAME} "
                    f"and read back; {driver.trained} trained"
                )
            store.set_meta(suite=suite_record(suite, driver.used))
            record.update(finished_at=now(), trained=driver.trained, reused=driver.reused)
            store.set_meta(provenance=record)
        finished = load(out)
        if tables:
            finished.write_tables()
    return finished
