"""Faults that must lose nothing: a second run on a busy folder, a damaged store, a dataset with
NaN, learning rates that diverge everywhere, a run interrupted with Ctrl-C.

Each refusal is exit status 2 with a message that says what to do, never a traceback, and
leaves what is on disk as it was. A killed worker, a killed runner on a Dask cluster and the
Dask refusals are in test_dask.py; a runner killed with SIGKILL (in tuning or in evaluation)
and resumed locally is in test_runner.py; bad suite files are fuzzed in test_fuzz_suites.py.
The suites tune on 1 or 2 seeds and extend a grid by at most 1 lr per side, to stay fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from helpers import (
    USER_SOURCE,
    assert_same_results,
    full_batch_suite,
    stored_populations,
    write_suite,
)

import bench
from bench import runner
from bench.cli import main
from bench.store import Store, StoreError

HOLD_THE_LOCK = """
import sys, time
from bench.store import hold_folder
with hold_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""
NAN_SUITE = """
[suite]
name = "nan"
methods = ["adam"]
datasets = ["bad"]
epochs = 2
seeds = 1
tuning_seeds = 1
extend_grid = 0

[dataset.bad]
generator = "nanmod:with_nan"   # test_datasets' generator with one NaN in X
"""
DIVERGING = """
[suite]
name = "diverging"
methods = ["gd", "adam"]
datasets = ["moons", "regression"]
epochs = 3
seeds = 2
tuning_seeds = 2
extend_grid = 1

[model]
hidden = [4]

[method.gd]
lr = [1e4, 1e6]   # both diverge on both datasets, and so does 1e2, the extension below them

[method.adam]
lr = [0.01]

[dataset.moons]
n_samples = 100

[dataset.regression]
n_samples = 100
"""
# SGD that sleeps as it starts a population (not the K = 1 copies that time it), so that a
# run can be interrupted between two populations.
SLEEPY_OPTIMIZER = """
import time
from backprop.optimizers import SGD

SLEEP = 0.5  # seconds; the test process sets 0 for its reference run

class SleepySGD(SGD):
    def init(self, params):
        if len(self.lr) > 1:
            time.sleep(SLEEP)
        return super().init(params)
"""
SLEEPY = full_batch_suite("sleepy", "sleepyopt:SleepySGD")


@pytest.fixture
def copy(tiny, tmp_path):
    """A copy of the tiny run's results folder (conftest.tiny), to damage: (suite path, the
    copy)."""
    return tiny.path, shutil.copytree(tiny.out, tmp_path / "out")


# ------------------------------------------------------------------------------ the folder lock


@pytest.mark.slow
def test_a_run_holds_its_folder_until_it_ends(copy, monkeypatch):
    path, out = copy
    refusals = []
    update = runner.Progress.update

    def second_run(progress, result):
        with pytest.raises(StoreError) as refused:
            bench.run(path, out=out, jobs=1, progress=False)
        refusals.append(str(refused.value))
        update(progress, result)

    monkeypatch.setattr(runner.Progress, "update", second_run)
    forced = bench.run(path, out=out, jobs=1, force=True, progress=False)
    trained = forced.provenance["trained"]
    assert trained == len(forced.suite["populations"]) > 4  # tuning, extensions, evaluations
    assert len(refusals) == trained  # once per population, while the first run trained
    assert refusals[0].startswith(f"another run is writing into {out} (pid {os.getpid()}, since")
    assert refusals[0].endswith("wait for it to finish, or run into another folder with --out")
    monkeypatch.setattr(runner.Progress, "update", update)
    again = bench.run(path, out=out, jobs=1, progress=False).provenance
    assert (again["reused"], again["trained"]) == (trained, 0)


@pytest.mark.slow
def test_a_folder_held_by_another_process_is_refused_until_that_process_dies(copy, capsys, reports):
    path, out = copy
    store = (out / "runs.sqlite").read_bytes()
    populations = stored_populations(out / "runs.sqlite")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        command = ["run", "--suite", str(path), "--out", str(out), "--jobs", "1"]
        assert main([*command, "--force"]) == 2
        error = capsys.readouterr().err
        assert f"error: another run is writing into {out} (pid {holder.pid}, since " in error
        assert (out / "runs.sqlite").read_bytes() == store
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
    assert main(command) == 0
    assert (
        f"{populations} populations were already stored in {out / 'runs.sqlite'} and read back; "
        "0 trained"
    ) in capsys.readouterr().err


# ------------------------------------------------------------------------------ a damaged store


def truncated(data: bytes) -> bytes:
    """The first half of the file."""
    return data[: len(data) // 2]


def garbled(data: bytes) -> bytes:
    """A 4 KiB page in the middle overwritten with random bytes."""
    page = len(data) // 4096 // 2 * 4096
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    return data[:page] + noise + data[page + 4096 :]


def emptied(data: bytes) -> bytes:
    """Nothing left."""
    return b""


def replaced(data: bytes) -> bytes:
    """Not an SQLite file at all: no header, only garbage."""
    return b"garbage" * 1000


@pytest.mark.parametrize("damage", [truncated, garbled, emptied, replaced])
def test_a_damaged_store_exits_2_saying_what_to_do_and_is_left_as_it_is(copy, capsys, damage):
    path, out = copy
    store = out / "runs.sqlite"
    Store(store).close()  # checked whole once: the check must see the damage all the same
    damaged = damage(store.read_bytes())
    store.write_bytes(damaged)
    assert main(["report", str(out)]) == 2
    assert main(["compare", str(out), str(out)]) == 2
    assert main(["run", "--suite", str(path), "--out", str(out), "--jobs", "1"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3
    for error in errors:
        assert error.startswith(f"error: {store} is not a readable results store (")
        assert error.endswith(
            "move it away (or delete it) and rerun to start afresh, or run "
            "into another folder with --out"
        )
    assert store.read_bytes() == damaged


def test_a_store_whose_records_are_not_json_exits_2(copy, capsys):
    _, out = copy
    with sqlite3.connect(out / "runs.sqlite") as db:
        db.execute("UPDATE meta SET value = '{\"name\": ' WHERE key = 'suite'")
    db.close()
    assert main(["report", str(out)]) == 2
    assert "its meta value 'suite' is not JSON" in capsys.readouterr().err


# ---------------------------------------------------------------------- bad data, divergence


@pytest.mark.slow
def test_a_dataset_with_nan_stops_the_run_with_exit_2_and_no_traceback(tmp_path):
    (tmp_path / "nanmod.py").write_text(USER_SOURCE)
    path = write_suite(tmp_path, NAN_SUITE, "nan.toml")
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--out", "out"]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {path}: dataset.bad: dataset 'bad': X has 1 NaN and 0 inf values; "
        "data must be finite\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_method_diverging_at_every_lr_extends_downward_then_is_not_evaluated_and_ranks_last(
    tmp_path,
):
    path = write_suite(tmp_path, DIVERGING, "diverging.toml")
    results = bench.run(path, out=tmp_path / "out", jobs=1, progress=False)
    gd = results.trials[results.trials["method"] == "gd"]
    assert (gd["phase"] == "tune").all()  # nothing to evaluate
    for dataset in ("moons", "regression"):
        tried = gd[gd["dataset"] == dataset]
        # the grid, then one lr below it (extend_grid = 1): 100 x smaller, the grid's ratio
        assert sorted(tried["lr"].unique()) == [1e2, 1e4, 1e6]
        assert tried.groupby("lr")["extended"].first().tolist() == [True, False, False]
        assert len(tried) == 3 * 2  # lrs x tuning seeds
        assert tried.groupby("lr")["diverged"].any().all()  # every candidate diverged
    diverged = gd[gd["diverged"]]
    assert len(diverged) >= 10 and (diverged["diverged_epoch"] >= 1).all()
    # a diverged trial: its final test loss is NaN, its early-stopped model finite (row 0's
    # weights), its final training loss counted at row 0
    assert diverged["final_test_loss"].isna().all()
    assert np.isfinite(diverged[["test_loss", "test_metric", "final_train_loss"]]).all().all()
    for row in diverged.itertuples():
        curve = results.curves.query(
            f"phase == 'tune' and method == 'gd' and dataset == '{row.dataset}' and "
            f"lr == {row.lr} and seed == {row.seed} and epoch == 0"
        )
        assert row.final_train_loss == curve["train_loss"].item()

    summary = results.summary.set_index(["dataset", "method"])
    for dataset in ("moons", "regression"):
        row = summary.loc[(dataset, "gd")]
        assert np.isnan(row["lr"]) and row["hyperparameters"] == ""
        assert (row["n_seeds"], row["tuning_trials"], row["diverged_count"]) == (0, 6, 0)
        assert not row["lr_at_edge"]
        assert row.filter(like="_center").isna().all() and row.filter(like="_lo").isna().all()
        assert summary.loc[(dataset, "adam"), "n_seeds"] == 2
        assert (summary.loc[(dataset, "adam"), "rank"], row["rank"]) == (1.0, 2.0)
    # no evaluation trials, no pairs: every verdict of gd is inconclusive, against adam
    comparisons = results.comparisons[results.comparisons["method"] == "gd"]
    assert len(comparisons) == 2 * 4  # datasets x criteria
    assert (comparisons["versus"] == "adam").all() and (comparisons["n_pairs"] == 0).all()
    assert (comparisons["verdict"] == "inconclusive").all()
    ranking = results.ranking.set_index("method")
    assert ranking.index.tolist() == ["adam", "gd"]
    assert ranking["mean_rank"].tolist() == [1.0, 2.0]
    assert ranking.loc["adam", "best"] == 2 and ranking.loc["gd", "inconclusive"] == 2


# ------------------------------------------------------------------------------ interrupted


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])  # in process, and with loky's worker processes
def test_a_run_interrupted_with_ctrl_c_exits_130_and_a_rerun_resumes_to_the_same_results(
    tmp_path, monkeypatch, capsys, jobs
):
    (tmp_path / "sleepyopt.py").write_text(SLEEPY_OPTIMIZER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import sleepyopt

    monkeypatch.setattr(sleepyopt, "SLEEP", 0.0)  # in this process only
    path = write_suite(tmp_path, SLEEPY, "sleepy.toml")
    reference = bench.run(path, out=tmp_path / "reference", jobs=1, progress=False)
    assert len(reference.suite["populations"]) == 6  # a tuning and an evaluation per dataset

    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--jobs", str(jobs)],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT, and a child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # the first population's progress line comes after its commit: interrupt the next one
    first = process.stderr.readline()
    assert "trials done" in first, first
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    stderr = first + rest
    assert process.returncode == 130, stderr
    assert stderr.endswith("interrupted: finished populations are stored; rerun to resume\n")
    assert "Traceback" not in stderr and "Warning" not in stderr  # joblib's "cancelled tasks"
    stored = stored_populations(out / "runs.sqlite")
    assert 1 <= stored < 6

    resumed = bench.run(path, out=out, jobs=1)  # the lock was released on the way out
    assert f"{stored} populations were already stored" in capsys.readouterr().err
    assert (resumed.provenance["reused"], resumed.provenance["trained"]) == (stored, 6 - stored)
    assert_same_results(reference, resumed)
