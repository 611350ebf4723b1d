"""bench.runner: populations trained and stored; resume, --force, --jobs and SIGKILL-resume."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from test_store import make_result

import bench
from backprop import MLP, train
from bench import runner
from bench.datasets import load_dataset
from bench.suite import load_suite

TINY = """
[suite]
name = "tiny"
methods = ["gd", "adam"]
datasets = ["moons", "blobs"]
epochs = 3
seeds = 2

[model]
hidden = [4]

[method.gd]
lr = [0.1, 1000.0]   # 1000 diverges

[method.adam]
lr = [0.01, 0.1]

[dataset.moons]
n_samples = 100

[dataset.blobs]
n_samples = 100
"""
SLOW_OPTIMIZER = """
import time
from backprop.optimizers import SGD

class SlowSGD(SGD):
    def init(self, params):
        time.sleep(0.25)
        return super().init(params)
"""
SLOW = """
[suite]
name = "slow"
methods = ["slow"]
datasets = ["moons", "circles", "blobs"]
epochs = 3
seeds = 2

[model]
hidden = [4]

[method.slow]
optimizer = "slowopt:SlowSGD"
batch_size = "full"
lr = [0.1, 1000.0]

[dataset.moons]
n_samples = 100

[dataset.circles]
n_samples = 100

[dataset.blobs]
n_samples = 100
"""
RESULT_COLUMNS = [
    "method", "dataset", "lr", "seed", "final_train_loss", "final_val_loss", "final_test_loss",
    "test_metric", "best_train_loss", "diverged", "diverged_epoch", "tuned", "epochs_to_target",
    "epochs_to_relative_target", "auc_log_loss",
]  # fmt: skip


def write_suite(folder, text: str = TINY, name: str = "tiny.toml"):
    """A suite file in ``folder``; returns its path."""
    path = folder / name
    path.write_text(text)
    return path


def assert_same_results(a: bench.Results, b: bench.Results) -> None:
    """Identical losses, metrics and divergence (times may differ)."""
    pd.testing.assert_frame_equal(a.trials[RESULT_COLUMNS], b.trials[RESULT_COLUMNS])
    curve_columns = ["method", "dataset", "lr", "seed", "epoch", "train_loss", "val_loss"]
    pd.testing.assert_frame_equal(a.curves[curve_columns], b.curves[curve_columns])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny suite run once with jobs=1: (its folder, its Results)."""
    folder = tmp_path_factory.mktemp("tiny")
    out = folder / "out"
    return out, bench.run(write_suite(folder), out=out, jobs=1, progress=False)


def test_every_trial_is_stored_and_tabled(tiny):
    out, results = tiny
    assert len(results.trials) == 2 * 2 * 2 * 2
    assert len(results.curves) == 16 * 4
    assert results.summary[["dataset", "method"]].values.tolist() == [
        ["moons", "gd"], ["moons", "adam"], ["blobs", "gd"], ["blobs", "adam"]
    ]  # fmt: skip
    assert sorted(p.name for p in (out / "tables").iterdir()) == [
        "curves.csv", "ranking.csv", "summary.csv", "trials.csv"
    ]  # fmt: skip
    assert_same_results(results, bench.load(out))


def test_a_huge_lr_is_recorded_as_diverged_and_never_tuned(tiny):
    _, results = tiny
    huge = results.trials[results.trials["lr"] == 1000.0]
    assert len(huge) == 4 and huge["diverged"].all()
    assert (huge["diverged_epoch"] == 1).all() and not huge["tuned"].any()
    assert huge[["final_train_loss", "final_test_loss", "test_metric"]].isna().all().all()
    gd = results.summary[results.summary["method"] == "gd"]
    assert gd["lr"].tolist() == [0.1, 0.1] and gd["diverged_count"].tolist() == [2, 2]


def test_final_params_are_those_of_the_trial_trained_alone(tiny):
    _, results = tiny
    data = results.dataset("moons")
    expected = load_dataset(load_suite(results.suite["source"]).datasets[0])
    np.testing.assert_array_equal(data.X_train, expected.X_train)
    net = results.network("moons")
    assert net.sizes == (2, 4, 1) and (net.output, net.loss) == ("sigmoid", "binary_cross_entropy")
    from backprop.optimizers import Adam

    alone = train(
        MLP([2, 4, 1], output="sigmoid", loss="binary_cross_entropy"), Adam(lr=0.1), data.X_train,
        data.Y_train, batch_size=32, epochs=3, seed=[1], X_val=data.X_val, Y_val=data.Y_val,
    )  # fmt: skip
    params = results.final_params("adam", "moons", 0.1, 1)
    for stored, trained in zip(params, alone.params, strict=True):
        np.testing.assert_allclose(stored, trained, rtol=1e-12, atol=1e-14)
    row = results.trials.query(
        "method == 'adam' and dataset == 'moons' and lr == 0.1 and seed == 1"
    )
    test_loss = net.loss_value(params, data.X_test, data.Y_test)[0]
    assert row["final_test_loss"].item() == pytest.approx(test_loss, rel=1e-12)
    with pytest.raises(KeyError, match="lr=0.5"):
        results.final_params("adam", "moons", 0.5, 1)


def test_time_axis_is_the_population_time_divided_by_its_size(tiny):
    out, results = tiny
    with sqlite3.connect(out / "runs.sqlite") as db:
        rows = db.execute("SELECT method, dataset, size, seconds FROM populations").fetchall()
    for method, dataset, size, seconds in rows:
        last = results.curves.query(f"method == '{method}' and dataset == '{dataset}'")
        assert last["seconds"].max() * size == pytest.approx(seconds, rel=1e-12)
        assert size == 4
    assert results.provenance["time_axis"] == runner.TIME_AXIS


def test_provenance_and_protocol_are_stored(tiny):
    _, results = tiny
    record = results.provenance
    assert record["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["versions"]["numpy"] == np.__version__
    assert set(record["versions"]) >= {"backprop-bench", "scikit-learn"}
    assert record["cpu"] and record["started_at"] <= record["finished_at"]
    assert record["git_commit"] is None or len(record["git_commit"]) == 40
    assert (record["trained"], record["reused"]) == (4, 0)
    assert "validation loss" in results.suite["protocol"]["tuning"]
    assert results.suite["model"] == {"hidden": [4], "activation": "relu"}


def test_a_rerun_skips_stored_populations_and_force_retrains_them(tiny, monkeypatch, capsys):
    out, first = tiny
    calls = []
    real = runner.train_population
    monkeypatch.setattr(runner, "train_population", lambda p: calls.append(p) or real(p))
    again = bench.run(first.suite["source"], out=out, jobs=1)
    assert calls == [] and "4 of 4 populations already stored" in capsys.readouterr().err
    assert_same_results(first, again)
    forced = bench.run(first.suite["source"], out=out, jobs=1, force=True, progress=False)
    assert len(calls) == 4
    assert_same_results(first, forced)


def test_jobs_two_gives_the_results_of_jobs_one(tiny, tmp_path):
    _, one = tiny
    two = bench.run(one.suite["source"], out=tmp_path / "two", jobs=2, progress=False)
    assert_same_results(one, two)


def test_populations_with_smaller_batches_are_started_first(tiny):
    _, results = tiny
    suite = load_suite(results.suite["source"])
    ordered = runner.longest_first(suite.populations())
    assert [(p.method.name, p.dataset.name) for p in ordered] == [
        ("adam", "moons"), ("adam", "blobs"), ("gd", "moons"), ("gd", "blobs")
    ]  # fmt: skip


def test_bad_jobs_and_clusters_are_refused_before_anything_is_written(tmp_path):
    path = write_suite(tmp_path)
    with pytest.raises(ValueError, match="jobs must be an int >= 1.*got 0"):
        bench.run(path, out=tmp_path / "a", jobs=0)
    with pytest.raises(runner.ClusterError, match="'local' or 'tcp://HOST:PORT'.*'10.0.0.1'"):
        bench.run(path, out=tmp_path / "c", cluster="10.0.0.1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]


def stored_populations(path) -> int:
    """Populations committed in a store that another process is writing (0 before it exists)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM populations").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_results(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "slowopt.py").write_text(SLOW_OPTIMIZER)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_suite(tmp_path, SLOW, "slow.toml")
    reference = bench.run(path, out=tmp_path / "reference", jobs=1, progress=False)

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--out", str(out)]
    command += ["--jobs", "1"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while stored_populations(out / "runs.sqlite") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    stored = stored_populations(out / "runs.sqlite")
    assert 1 <= stored < 3
    assert len(bench.load(out).missing) == 3 - stored

    resumed = bench.run(path, out=out, jobs=1)
    assert "populations already stored" in capsys.readouterr().err
    assert resumed.provenance["reused"] == stored and resumed.provenance["trained"] == 3 - stored
    assert_same_results(reference, resumed)


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_a_line_per_population_elsewhere():
    result = make_result()
    lines = io.StringIO()
    progress = runner.Progress(8, stream=lines)
    progress.update(result)
    progress.update(result)
    assert lines.getvalue().splitlines() == [
        "adam on moons: 4 trials in 0.08 s (4/8 trials done)",
        "adam on moons: 4 trials in 0.08 s (8/8 trials done)",
    ]
    terminal = Terminal()
    bar = runner.Progress(8, stream=terminal)
    bar.update(result)
    bar.close()
    assert "4/8" in terminal.getvalue() and "trial" in terminal.getvalue()
    silent = io.StringIO()
    runner.Progress(8, enabled=False, stream=silent).update(result)
    assert silent.getvalue() == ""
