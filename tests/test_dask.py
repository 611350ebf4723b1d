"""Dask: --cluster local and tcp:// train what a local run trains, store each population as it
arrives, and survive a killed worker and a killed runner; without dask, a scheduler or a
worker, a run exits 2 with what to do and writes nothing.

One LocalCluster of two worker processes on 127.0.0.1 serves the module; its workers import
the test optimizers from a folder on their PYTHONPATH. The suites tune on 1 or 2 seeds and
extend a grid by at most 1 lr per side, so that both phases run in seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from helpers import assert_same_results, require_module, stored_populations, write_suite

import bench
from bench import runner
from bench.cli import main

# A second cluster's scheduler finds the port of the first's HTTP server taken, and says so.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

# SGD that notes which process starts which population (by its number of parameters, which
# differs between the datasets below), then sleeps, so that a test can kill that process. The
# K = 1 copies that time an evaluation population (runner.calibrate) are neither noted nor slowed.
MARKED_OPTIMIZER = """
import os
import time
from pathlib import Path

from backprop.optimizers import SGD

STARTS = Path(__file__).parent / "starts"
SLEEP = 0.5  # seconds; the test process sets 0 for its local reference runs


class MarkedSGD(SGD):
    def init(self, params):
        if len(self.lr) == 1:
            return super().init(params)
        size = sum(p.size for p in params) // len(self.lr)
        mark = STARTS / f"{os.getpid()}-{time.monotonic_ns()}"
        (STARTS / f".{mark.name}").write_text(str(size))
        (STARTS / f".{mark.name}").rename(mark)  # whole, or not there yet
        time.sleep(SLEEP)
        return super().init(params)
"""
MARKED = """
[suite]
name = "marked"
methods = ["marked"]
datasets = ["moons", "blobs", "regression"]
epochs = 3
seeds = 2
tuning_seeds = 1
extend_grid = 0   # a tuning and an evaluation population per dataset, of 2 trials each

[model]
hidden = [4]

[method.marked]
optimizer = "markedopt:MarkedSGD"
batch_size = "full"
lr = [0.1, 1000.0]   # 1000 diverges

[dataset.moons]
n_samples = 100

[dataset.blobs]
n_samples = 100

[dataset.regression]
n_samples = 100
n_features = 3
"""
PARAMETERS = {"moons": 17, "blobs": 32, "regression": 21}  # 2-4-1, 2-4-4, 3-4-1 networks
MARKED_POPULATIONS = 6
# SGD whose worker dies as a worker killed for its memory would, once the run has stored the
# other method's two populations (so that nothing else is on the worker when it dies).
CRASHING_OPTIMIZER = """
import os
import sqlite3
import time

from backprop.optimizers import SGD

STORE = STORE_PATH


def stored() -> int:
    try:
        db = sqlite3.connect(f"file:{STORE}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM populations").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


class CrashingSGD(SGD):
    def init(self, params):
        deadline = time.monotonic() + 60
        while stored() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        os._exit(1)
"""
CRASHING = """
[suite]
name = "crashing"
methods = ["adam", "crash"]
datasets = ["moons"]
epochs = 2
seeds = 1
tuning_seeds = 1
extend_grid = 0   # adam: a tuning and an evaluation population

[model]
hidden = [4]

[method.crash]
optimizer = "crashopt:CrashingSGD"
batch_size = "full"
lr = [0.1]

[dataset.moons]
n_samples = 100
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A LocalCluster of 2 workers and a folder on its PYTHONPATH holding MarkedSGD and the
    marks it leaves: (scheduler address, a Client, that folder)."""
    distributed = require_module("distributed")
    folder = tmp_path_factory.mktemp("dask")
    (folder / "markedopt.py").write_text(MARKED_OPTIMIZER)
    (folder / "starts").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        path = os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])
        patch.setenv("PYTHONPATH", path)
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        with local, distributed.Client(local, set_as_default=False) as client:
            yield local.scheduler_address, client, folder


@pytest.fixture(scope="module")
def marked(cluster, tmp_path_factory):
    """The marked suite run locally with jobs=1, without MarkedSGD's sleep: (its path, its
    Results)."""
    import markedopt

    markedopt.SLEEP = 0.0  # in this process only: the workers import their own
    folder = tmp_path_factory.mktemp("marked")
    path = write_suite(folder, MARKED, "marked.toml")
    return path, bench.run(path, out=folder / "reference", jobs=1, progress=False)


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_cluster_local_trains_what_jobs_one_trains(tiny, tmp_path, capsys, reports):
    path, reference = tiny.path, tiny.results
    out = tmp_path / "out"
    command = ["run", "--suite", str(path), "--out", str(out), "--cluster", "local"]
    assert main([*command, "--jobs", "2"]) == 0, capsys.readouterr().err
    results = bench.load(out)
    assert_same_results(reference, results)  # trials of both phases, curves and verdicts
    assert set(results.trials["phase"]) == {"tune", "eval"}
    assert len(results.trials) == len(reference.trials)
    assert results.trials["diverged"].sum() == 4  # lr 1000, on both datasets and tuning seeds
    assert (results.provenance["cluster"], results.provenance["jobs"]) == ("local", 2)


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_each_population_is_stored_as_it_arrives_and_the_next_is_submitted_at_once(
    cluster, tiny, tmp_path, monkeypatch
):
    """Each population is committed before the next result is taken, and a chain's next
    population (a grid extension or the evaluation) is submitted as its result arrives, while
    other chains' first tuning populations are still out: never after the whole grid."""
    address, _, _ = cluster
    path, reference = tiny.path, tiny.results
    out = tmp_path / "out"
    events, stored_at_update = [], []
    submit, next_result = runner.OnDask.submit, runner.OnDask.next_result
    update = runner.Progress.update

    def noted_submit(backend, population):
        events.append(("submit", population.phase, population.method.name, population.dataset.name))
        submit(backend, population)

    def noted_result(backend):
        result = next_result(backend)
        events.append(("result", result.phase, result.method, result.dataset))
        return result

    def noted_update(progress, result):
        stored_at_update.append(stored_populations(out / "runs.sqlite"))
        update(progress, result)

    monkeypatch.setattr(runner.OnDask, "submit", noted_submit)
    monkeypatch.setattr(runner.OnDask, "next_result", noted_result)
    monkeypatch.setattr(runner.Progress, "update", noted_update)
    results = bench.run(path, out=out, cluster=address, progress=False)
    assert_same_results(reference, results)
    assert results.provenance["cluster"] == address and results.provenance["jobs"] == 2

    populations = results.provenance["trained"]
    assert populations == len(reference.suite["populations"]) > 4
    assert stored_at_update == list(range(1, populations + 1))
    chains = 4  # methods x datasets
    assert [e[:2] for e in events[:chains]] == [("submit", "tune")] * chains
    follow_ups = [i for i, e in enumerate(events) if e[0] == "submit" and i >= chains]
    assert len(follow_ups) == populations - chains
    for i in follow_ups:  # right after the tuning result it depends on, of the same chain
        assert events[i - 1][:2] == ("result", "tune") and events[i - 1][2:] == events[i][2:]
    first_results = {}  # chain -> the index of its first tuning result
    for i, event in enumerate(events):
        if event[0] == "result":
            first_results.setdefault(event[2:], i)
    assert len(first_results) == chains and follow_ups[0] < max(first_results.values())
    evaluations = [e[2:] for e in events if e[:2] == ("submit", "eval")]
    assert sorted(evaluations) == sorted(first_results)  # one per chain, after its tuning


def started(folder) -> list[tuple[int, int]]:
    """(pid, parameters per replica) of every population started by MarkedSGD, in order."""
    marks = [p for p in (folder / "starts").iterdir() if not p.name.startswith(".")]
    marks.sort(key=lambda p: int(p.name.split("-")[1]))
    return [(int(p.name.split("-")[0]), int(p.read_text())) for p in marks]


def kill_the_first_worker_to_start(folder, workers: set[int], killed: list[int]) -> None:
    """SIGKILL the first worker process that starts a population (within 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        on_workers = [pid for pid, _ in started(folder) if pid in workers]
        if on_workers:
            os.kill(on_workers[0], signal.SIGKILL)
            killed.append(on_workers[0])
            return
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_a_killed_worker_s_population_runs_again_elsewhere_and_nothing_is_lost(
    cluster, marked, tmp_path
):
    address, client, folder = cluster
    path, reference = marked
    for mark in (folder / "starts").iterdir():
        mark.unlink()
    client.wait_for_workers(2, timeout=60)  # both, should another test have killed one
    workers = set(client.run(os.getpid).values())
    killed: list[int] = []
    killer = threading.Thread(target=kill_the_first_worker_to_start, args=(folder, workers, killed))
    killer.start()
    results = bench.run(path, out=tmp_path / "out", cluster=address, progress=False)
    killer.join()

    (victim,) = killed
    starts = started(folder)
    (lost,) = [size for pid, size in starts if pid == victim]
    # every population started once (a tuning and an evaluation per dataset), the lost one twice
    expected = [*PARAMETERS.values(), *PARAMETERS.values(), lost]
    assert sorted(size for _, size in starts) == sorted(expected)
    assert [pid for pid, size in starts if size == lost][-1] != victim  # trained elsewhere
    assert_same_results(reference, results)
    assert results.missing == [] and results.provenance["trained"] == MARKED_POPULATIONS
    assert len(results.tuning) == len(results.evaluation) == 3 * 2
    assert results.trials["diverged"].sum() == 3  # lr 1000 on each dataset's tuning seed


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_a_runner_killed_with_sigkill_resumes_on_the_cluster_to_the_same_results(
    cluster, marked, tmp_path, capsys
):
    address, _, folder = cluster
    path, reference = marked
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(folder)}
    process = subprocess.Popen(
        [*command, "--cluster", address],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while stored_populations(out / "runs.sqlite") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it was killed"
    stored = stored_populations(out / "runs.sqlite")
    assert 1 <= stored < MARKED_POPULATIONS, f"{stored} populations stored at the kill"

    resumed = bench.run(path, out=out, cluster=address)  # the lock died with the runner
    trained = MARKED_POPULATIONS - stored
    assert (
        f"{stored} populations were already stored in {out / 'runs.sqlite'} and read back; "
        f"{trained} trained"
    ) in capsys.readouterr().err
    assert (resumed.provenance["reused"], resumed.provenance["trained"]) == (stored, trained)
    assert_same_results(reference, resumed)


def allowed_failures(count: int):
    """A function for ``Client.run_on_scheduler`` that sets the scheduler's allowed failures
    (the workers a population may kill before it is given up) and returns the old count."""

    def set_on(dask_scheduler) -> int:
        previous, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, count
        return previous

    return set_on


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_a_population_that_kills_every_worker_it_is_given_exits_2_naming_it(
    cluster, tmp_path, capsys
):
    address, client, folder = cluster
    path, out = write_suite(tmp_path, CRASHING, "crashing.toml"), tmp_path / "out"
    store = out / "runs.sqlite"
    (folder / "crashopt.py").write_text(CRASHING_OPTIMIZER.replace("STORE_PATH", repr(str(store))))
    client.wait_for_workers(2, timeout=60)  # one to wait on adam, one to train it
    previous = client.run_on_scheduler(allowed_failures(0))  # given one worker only
    try:
        command = ["run", "--suite", str(path), "--out", str(out), "--cluster", address]
        assert main(command) == 2
    finally:
        client.run_on_scheduler(allowed_failures(previous))
    error = capsys.readouterr().err
    assert "error: crash on moons: every Dask worker that trained it died" in error
    assert "The populations finished so far are stored; rerun to resume" in error
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        stored = db.execute("SELECT phase, method FROM populations ORDER BY phase").fetchall()
    db.close()
    assert stored == [("eval", "adam"), ("tune", "adam")]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_no_scheduler_answering_exits_2_saying_how_to_start_one(
    tiny, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", 0.5)
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "out"
    assert main(["run", "--suite", str(tiny.path), "--out", str(out), "--cluster", address]) == 2
    error = capsys.readouterr().err
    assert f"error: no Dask scheduler answered at {address} within 0.5 s" in error
    assert "`dask scheduler`" in error and f"`dask worker {address} --nthreads 1`" in error
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.optional("dask")
def test_a_scheduler_without_workers_exits_2_saying_how_to_start_them(
    tiny, tmp_path, monkeypatch, capsys
):
    distributed = require_module("distributed")
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", 0.5)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as empty:
        address = empty.scheduler_address
        assert (
            main(["run", "--suite", str(tiny.path), "--out", str(out), "--cluster", address]) == 2
        )
    error = capsys.readouterr().err
    assert f"the Dask scheduler at {address} has no workers" in error
    assert f"`dask worker {address} --nthreads 1 --nworkers N`" in error
    assert not out.exists()


def test_without_dask_a_cluster_run_exits_2_saying_what_to_install(
    tiny, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "distributed", None)
    out = tmp_path / "out"
    assert main(["run", "--suite", str(tiny.path), "--out", str(out), "--cluster", "local"]) == 2
    error = capsys.readouterr().err
    assert "--cluster local needs dask.distributed, which is not installed" in error
    assert "pip install 'backprop-bench[distributed]'" in error
    assert not out.exists()
