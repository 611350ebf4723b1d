"""Run a suite's populations locally (joblib, loky processes) or on a Dask cluster, and commit
each to the store.

A population is one method x dataset with all its lr x seed trials, trained together on the
population axis by one ``train`` call. Populations already in the store are skipped, so a
killed run resumes where it stopped; ``force`` retrains them. Every finished population is
committed in one transaction as soon as it arrives, so the runner holds one result at a time
however large the grid. Each worker uses one BLAS thread, and the in-process path (jobs = 1)
does the same, so results do not depend on ``jobs`` or on where they were trained. One run at
a time writes into a results folder: it holds DIR/.lock for its duration.

Time axis: a population's cumulative training seconds divided by its size K, so that each
trial is charged its share of the batched computation.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from backprop import MLP, train
from bench import metrics
from bench.datasets import Dataset, load_dataset
from bench.store import STORE_NAME, PopulationResult, Store, hold_folder
from bench.suite import DatasetSpec, Population, Suite, jsonable, load_suite
from bench.tables import Results, load

if TYPE_CHECKING:
    import distributed

TIME_AXIS = "the population's cumulative training seconds divided by its size K"
CONNECT_TIMEOUT = 10.0  # seconds for a Dask scheduler to answer, and for its first worker
INSTALL_DASK = "pip install 'backprop-bench[distributed]'"
_datasets: dict[str, Dataset] = {}  # per process: each dataset is built once per worker


class ClusterError(RuntimeError):
    """A --cluster address that is malformed, or a cluster run that cannot be done."""


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ one population


def dataset_for(spec: DatasetSpec) -> Dataset:
    """The dataset of ``spec``, built once per process (it is deterministic from the spec)."""
    key = json.dumps(jsonable(asdict(spec)), sort_keys=True)
    if key not in _datasets:
        _datasets[key] = load_dataset(spec)
    return _datasets[key]


def train_population(population: Population) -> PopulationResult:
    """Train every (lr, seed) trial of ``population`` in one ``train`` call, with one BLAS thread.

    The K trials share the network and the data; trial k has lr_k and seed_k. After the
    epochs, the test loss and metric are computed from the final parameters; a diverged
    trial (a loss that became non-finite or > 1e3 x its start) gets NaN for both.
    """
    with threadpool_limits(limits=1):
        data = dataset_for(population.dataset)
        net = MLP(
            [data.n_features, *population.hidden, data.n_outputs],
            hidden=population.activation,
            output=data.output,
            loss=data.loss,
        )
        lrs = np.array([lr for lr, _ in population.trials], dtype=float)
        seeds = np.array([seed for _, seed in population.trials])
        optimizer = population.method.make_optimizer(lr=lrs)
        with np.errstate(all="ignore"):
            history = train(
                net, optimizer, data.X_train, data.Y_train,
                batch_size=population.method.batch_size, epochs=population.epochs,
                seed=seeds.tolist(), X_val=data.X_val, Y_val=data.Y_val,
            )  # fmt: skip
            test_loss = net.loss_value(history.params, data.X_test, data.Y_test)
            yhat = net.predict(history.params, data.X_test)
            test_metric = metrics.test_metric(data.task, yhat, data.Y_test)
    diverged = history.diverged_epoch >= 0
    test_loss[diverged] = np.nan
    test_metric[diverged] = np.nan
    return PopulationResult(
        key=population.key(),
        method=population.method.name,
        dataset=population.dataset.name,
        task=data.task,
        spec=population.spec(),
        lrs=lrs,
        seeds=seeds,
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        samples=history.samples.astype(float),
        steps=history.steps.astype(float),
        seconds=history.seconds / len(lrs),
        wall_seconds=float(history.seconds[-1]),
        diverged_epoch=history.diverged_epoch,
        final_test_loss=test_loss,
        test_metric=test_metric,
        params=net.flatten(history.params),
    )


# ------------------------------------------------------------------------------ executors


def longest_first(populations: Sequence[Population]) -> list[Population]:
    """Populations by decreasing expected cost: smaller batches take more steps per epoch.

    Starting the slowest first (SGD, batch 1) keeps the workers busy to the end.
    """
    return sorted(populations, key=lambda p: p.method.batch_size or math.inf)


def run_locally(populations: Sequence[Population], jobs: int) -> Iterator[PopulationResult]:
    """Each population's result as soon as it is done: in-process for jobs = 1, else loky."""
    populations = longest_first(populations)
    if jobs == 1 or len(populations) <= 1:
        for population in populations:
            yield train_population(population)
        return
    parallel = Parallel(
        n_jobs=min(jobs, len(populations)), backend="loky", return_as="generator_unordered"
    )
    yield from parallel(delayed(train_population)(p) for p in populations)


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
                n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None,
            )  # fmt: skip
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


def run_on_dask(
    populations: Sequence[Population], client: distributed.Client
) -> Iterator[PopulationResult]:
    """Each population's result as soon as a worker of ``client``'s cluster has trained it.

    Every population is submitted at once, slowest first, under its own key; a worker that
    dies takes its populations with it and the scheduler runs them again on another. A
    result is released on the cluster as soon as it has been received. A population that
    every worker it was given to died on (the scheduler's allowed-failures) is a ClusterError.
    """
    from distributed import KilledWorker, as_completed

    keys = {f"population-{p.key()}": p for p in longest_first(populations)}
    submitted = (client.submit(train_population, p, key=k, pure=False) for k, p in keys.items())
    for future in as_completed(submitted, loop=client.loop):
        try:
            result = future.result()
        except KilledWorker as err:
            population = keys[future.key]
            raise ClusterError(
                f"{population.method.name} on {population.dataset.name}: every Dask worker "
                f"that trained it died ({err}). Out of memory? The populations finished so far "
                "are stored; rerun to resume"
            ) from None
        future.release()
        yield result


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

    def update(self, result: PopulationResult) -> None:
        """Count a finished population's trials."""
        self.done += result.size
        if self.bar is not None:
            self.bar.set_postfix_str(f"{result.method} on {result.dataset}", refresh=False)
            self.bar.update(result.size)
        else:
            self.note(
                f"{result.method} on {result.dataset}: {result.size} trials in "
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


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor(), else 'unknown'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def provenance(started_at: str, jobs: int, cluster: str | None = None) -> dict:
    """Versions, CPU, git commit, workers and start time of a run (finished_at comes at the end).

    jobs: the number of worker processes (on a Dask cluster: the workers it had at the start);
    cluster: the --cluster address, or None for a run on this machine.
    """
    versions = {"python": platform.python_version()}
    packages = ("backprop-bench", "numpy", "scikit-learn", "pandas", "joblib", "distributed")
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


def suite_record(suite: Suite, populations: Iterable[Population]) -> dict:
    """The suite as stored in meta: its protocol, specs and the keys of its populations."""
    return jsonable(
        {
            "name": suite.name,
            "source": suite.source,
            "epochs": suite.epochs,
            "seeds": suite.seeds,
            "model": {"hidden": suite.hidden, "activation": suite.activation},
            "methods": {m.name: asdict(m) for m in suite.methods},
            "datasets": {d.name: asdict(d) for d in suite.datasets},
            "protocol": suite.protocol(),
            "populations": [
                {
                    "key": p.key(),
                    "method": p.method.name,
                    "dataset": p.dataset.name,
                    "trials": len(p.trials),
                }
                for p in populations
            ],
        }
    )


# ------------------------------------------------------------------------------ run


def check_jobs(jobs: int | None) -> int:
    """``jobs``, or the number of cores for None; a ValueError below 1."""
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1 (or None for every core), got {jobs!r}")
    return jobs


def run(
    suite: str | os.PathLike | Suite,
    out: str | Path | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: bool = True,
    cluster: str | None = None,
) -> Results:
    """Run a suite into ``out`` (default results/<suite name>) and return its Results.

    suite: a built-in name ("quick", "default", "full"), a .toml path, or a Suite.
    jobs: worker processes (default: every core); 1 trains in this process. With
        cluster="local", the number of Dask workers.
    force: retrain populations already in the store instead of skipping them.
    progress: a bar (terminal) or a line per population on stderr.
    cluster: a Dask scheduler ("local" or "tcp://HOST:PORT") instead of local workers.

    Writes DIR/runs.sqlite (one transaction per population) and DIR/tables/*.csv, holding
    DIR/.lock meanwhile. A bad suite (SuiteError), jobs (ValueError) or cluster
    (ClusterError: malformed, dask missing, no scheduler or worker) is refused before
    anything is written; a folder another run is writing into, or a damaged store, is a
    StoreError.
    """
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    out = Path(out) if out is not None else Path("results") / suite.name
    jobs = check_jobs(jobs)
    populations = suite.populations()
    with ExitStack() as stack:
        client = None if cluster is None else stack.enter_context(dask_client(cluster, jobs))
        stack.enter_context(hold_folder(out))
        stored = set()
        if (out / STORE_NAME).is_file() and not force:
            with Store(out / STORE_NAME) as store:
                stored = store.finished_keys()
        todo = [p for p in populations if p.key() not in stored]
        if client is None:
            results, record = run_locally(todo, jobs), provenance(now(), jobs)
        else:
            workers = len(client.scheduler_info()["workers"])
            results, record = run_on_dask(todo, client), provenance(now(), workers, cluster)
        report = Progress(sum(len(p.trials) for p in todo), progress)
        if len(todo) < len(populations):
            report.note(f"{len(populations) - len(todo)} of {len(populations)} populations "
                        f"already stored in {out / STORE_NAME}; training {len(todo)}")  # fmt: skip
        with Store(out / STORE_NAME, create=True) as store:
            store.set_meta(suite=suite_record(suite, populations), provenance=record)
            for result in results:
                store.save(result)
                report.update(result)
            report.close()
            record.update(finished_at=now(), trained=len(todo), reused=len(populations) - len(todo))
            store.set_meta(provenance=record)
        finished = load(out)
        finished.write_tables()
    return finished
