"""Faults that must lose nothing: a second run on a busy folder, a damaged store, a dataset with
NaN, learning rates that diverge everywhere.

Each refusal is exit status 2 with a message that says what to do, never a traceback, and
leaves what is on disk as it was. A killed worker, a killed runner on a Dask cluster and the
Dask refusals are in test_dask.py; a runner killed with SIGKILL and resumed locally is in
test_runner.py; bad suite files are fuzzed in test_fuzz_suites.py.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from test_datasets import USER_SOURCE
from test_runner import write_suite

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

[model]
hidden = [4]

[method.gd]
lr = [1e4, 1e6]   # both diverge on both datasets

[method.adam]
lr = [0.01]

[dataset.moons]
n_samples = 100

[dataset.regression]
n_samples = 100
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """test_runner's tiny suite run with jobs=1: (its suite path, its results folder)."""
    folder = tmp_path_factory.mktemp("finished")
    path = write_suite(folder)
    bench.run(path, out=folder / "out", jobs=1, progress=False)
    return path, folder / "out"


@pytest.fixture
def copy(finished, tmp_path):
    """A copy of the finished results folder, to damage: (suite path, the copy)."""
    path, out = finished
    return path, shutil.copytree(out, tmp_path / "out")


@pytest.fixture
def reports(monkeypatch):
    """bench.report.write_report replaced by a stub: these tests are about the store."""
    import bench.report

    monkeypatch.setattr(bench.report, "write_report", lambda results: results.out / "report")


# ------------------------------------------------------------------------------ the folder lock


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
    bench.run(path, out=out, jobs=1, force=True, progress=False)
    assert len(refusals) == 4  # once per population, while the first run trained
    assert refusals[0].startswith(f"another run is writing into {out} (pid {os.getpid()}, since")
    assert refusals[0].endswith("wait for it to finish, or run into another folder with --out")
    monkeypatch.setattr(runner.Progress, "update", update)
    assert bench.run(path, out=out, jobs=1, progress=False).provenance["reused"] == 4


def test_a_folder_held_by_another_process_is_refused_until_that_process_dies(copy, capsys, reports):
    path, out = copy
    store = (out / "runs.sqlite").read_bytes()
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
    assert "4 of 4 populations already stored" in capsys.readouterr().err


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


@pytest.mark.parametrize("damage", [truncated, garbled, emptied])
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
        assert error.endswith("move it away (or delete it) and rerun to start afresh, or run "
                              "into another folder with --out")  # fmt: skip
    assert store.read_bytes() == damaged


def test_a_store_whose_records_are_not_json_exits_2(copy, capsys):
    _, out = copy
    with sqlite3.connect(out / "runs.sqlite") as db:
        db.execute("UPDATE meta SET value = '{\"name\": ' WHERE key = 'suite'")
    db.close()
    assert main(["report", str(out)]) == 2
    assert "its meta value 'suite' is not JSON" in capsys.readouterr().err


# ---------------------------------------------------------------------- bad data, divergence


def test_a_dataset_with_nan_stops_the_run_with_exit_2_and_no_traceback(tmp_path):
    (tmp_path / "nanmod.py").write_text(USER_SOURCE)
    path = write_suite(tmp_path, NAN_SUITE, "nan.toml")
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--out", "out"]
    done = subprocess.run(
        command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {path}: dataset.bad: dataset 'bad': X has 1 NaN and 0 inf values; "
        "data must be finite\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_method_diverging_at_every_lr_is_recorded_and_ranked_last(tmp_path):
    path = write_suite(tmp_path, DIVERGING, "diverging.toml")
    results = bench.run(path, out=tmp_path / "out", jobs=1, progress=False)
    gd = results.trials[results.trials["method"] == "gd"]
    assert len(gd) == 8 and gd["diverged"].all() and (gd["diverged_epoch"] == 1).all()
    assert gd[["final_train_loss", "final_test_loss", "test_metric"]].isna().all().all()
    summary = results.summary.set_index(["dataset", "method"])
    for dataset in ("moons", "regression"):
        row = summary.loc[(dataset, "gd")]
        assert np.isnan(row["lr"]) and (row["n_seeds"], row["diverged_count"]) == (0, 4)
        assert summary.loc[(dataset, "adam"), "rank"] < row["rank"]
    assert results.ranking["method"].tolist() == ["adam", "gd"]
