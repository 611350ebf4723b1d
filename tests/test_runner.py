"""bench.runner: populations trained and stored; resume, --force, --jobs and SIGKILL-resume."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers import (
    TINY,
    assert_same_results,
    full_batch_suite,
    make_result,
    stored_populations,
    write_suite,
)

import bench
from backprop import MLP, train
from bench import runner
from bench.datasets import load_dataset
from bench.protocol import chains
from bench.suite import load_suite

SLOW_OPTIMIZER = """
import time
from backprop.optimizers import SGD

class SlowSGD(SGD):
    def init(self, params):
        time.sleep(0.25)
        return super().init(params)
"""
SLOW = full_batch_suite("slow", "slowopt:SlowSGD")


def test_every_trial_is_stored_and_tabled(tiny):
    out, results = tiny.out, tiny.results
    evaluation, tuning = results.evaluation, results.tuning
    assert len(evaluation) == 2 * 2 * 2  # methods x datasets x evaluation seeds
    assert set(evaluation["seed"]) == {0, 1} and set(tuning["seed"]) == {100000, 100001}
    assert len(tuning) >= 2 * 2 * 2 * 2  # methods x datasets x grid x tuning seeds (+ extension)
    assert len(results.curves) == len(results.trials) * 4
    assert results.summary[["dataset", "method"]].values.tolist() == [
        ["moons", "gd"],
        ["moons", "adam"],
        ["blobs", "gd"],
        ["blobs", "adam"],
    ]
    assert sorted(p.name for p in (out / "tables").iterdir()) == [
        "comparisons.csv",
        "curves.csv",
        "ranking.csv",
        "summary.csv",
        "trials.csv",
    ]
    assert_same_results(results, bench.load(out))


def test_summary_and_comparisons_come_from_evaluation_trials_only(tiny):
    results = tiny.results
    assert (results.summary["n_seeds"] == 2).all()
    assert (results.comparisons["n_pairs"] <= 2).all()
    for row in results.summary.itertuples():
        trials = results.evaluation.query(
            f"dataset == '{row.dataset}' and method == '{row.method}'"
        )
        center = np.exp(np.log(trials["test_loss"]).mean())
        assert row.test_loss_center == pytest.approx(center, rel=1e-12)
        tuning = results.tuning.query(f"dataset == '{row.dataset}' and method == '{row.method}'")
        assert row.tuning_trials == len(tuning) and row.lr in set(tuning["lr"])
    # with 2 pairs nothing but the best is settled
    assert set(results.comparisons["verdict"]) <= {"best", "inconclusive"}


def test_a_huge_lr_is_recorded_as_diverged_and_never_tuned(tiny):
    results = tiny.results
    huge = results.tuning[results.tuning["lr"] == 1000.0]
    assert len(huge) == 4 and huge["diverged"].all()
    assert (huge["diverged_epoch"] == 1).all()
    assert huge[["final_test_loss", "final_test_metric"]].isna().all().all()
    assert np.isfinite(huge["test_loss"]).all()  # the early-stopped model: row 0's weights
    gd = results.summary[results.summary["method"] == "gd"]
    assert gd["lr"].tolist() == [0.1, 0.1] and gd["diverged_count"].tolist() == [0, 0]


def test_evaluation_params_are_those_of_the_trial_trained_alone(tiny):
    results = tiny.results
    data = results.dataset("moons")
    expected = load_dataset(load_suite(results.suite["source"]).datasets[0])
    np.testing.assert_array_equal(data.X_train, expected.X_train)
    net = results.network("moons")
    assert net.sizes == (2, 4, 1) and (net.output, net.loss) == ("sigmoid", "binary_cross_entropy")
    from backprop.optimizers import Adam

    lr = results.summary.query("method == 'adam' and dataset == 'moons'")["lr"].item()
    row = results.evaluation.query("method == 'adam' and dataset == 'moons' and seed == 1")

    def alone(epochs: int):
        return train(
            MLP([2, 4, 1], output="sigmoid", loss="binary_cross_entropy"),
            Adam(lr=lr),
            data.X_train,
            data.Y_train,
            batch_size=32,
            epochs=epochs,
            seed=[1],
            X_val=data.X_val,
            Y_val=data.Y_val,
        )

    full = alone(3)
    for stored, trained in zip(
        results.final_params("adam", "moons", lr, 1), full.params, strict=True
    ):
        np.testing.assert_allclose(stored, trained, rtol=1e-12, atol=1e-14)
    assert row["best_epoch"].item() == full.best_epoch[0]
    best = results.final_params("adam", "moons", lr, 1, best=True)
    early = alone(int(row["best_epoch"].item()))
    for stored, trained in zip(best, early.params, strict=True):
        np.testing.assert_allclose(stored, trained, rtol=1e-12, atol=1e-14)
    test_loss = net.loss_value(best, data.X_test, data.Y_test)[0]
    assert row["test_loss"].item() == pytest.approx(test_loss, rel=1e-12)
    with pytest.raises(KeyError, match="lr=0.5"):
        results.final_params("adam", "moons", 0.5, 1)


@pytest.mark.slow
def test_seconds_per_epoch_of_a_trial_do_not_depend_on_the_population_size(tmp_path, monkeypatch):
    """With a clock that advances 1 ms per gradient step, a trial's seconds are its steps x
    1 ms whether its evaluation population holds 1 trial (its own time) or 3 (calibrated).
    The NumPy engine, whose steps are counted (the compiled one runs an epoch per call)."""
    steps = [0]
    real = MLP.gradient_into

    def counted(self, *args, **kwargs):
        steps[0] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "gradient_into", counted)
    monkeypatch.setattr(time, "perf_counter", lambda: steps[0] * 1e-3)
    per_epoch = {}
    for seeds in (1, 3):
        text = TINY.replace("seeds = 2\ntuning", f"seeds = {seeds}\ntuning")
        path = write_suite(tmp_path, text, f"s{seeds}.toml")
        out = tmp_path / f"s{seeds}"
        results = bench.run(path, out=out, jobs=1, progress=False, engine="numpy")
        curves = results.curves[results.curves["phase"] == "eval"]
        assert set(curves["seed"]) == set(range(seeds))
        for method, group in curves[curves["epoch"] > 0].groupby("method"):
            per_epoch[method, seeds] = (group["seconds"] / group["epoch"]).to_numpy()
    # 60 training samples: gd takes 1 step an epoch, adam (batch 32) 2
    for method, cost in (("gd", 1e-3), ("adam", 2e-3)):
        for seeds in (1, 3):
            np.testing.assert_allclose(per_epoch[method, seeds], cost, rtol=1e-9)


def test_provenance_calibration_and_protocol_are_stored(tiny):
    out, results = tiny.out, tiny.results
    record = results.provenance
    assert record["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["versions"]["numpy"] == np.__version__
    assert set(record["versions"]) >= {"backprop-bench", "scikit-learn"}
    assert record["cpu"] and record["started_at"] <= record["finished_at"]
    assert record["git_commit"] is None or len(record["git_commit"]) == 40
    assert record["reused"] == 0 and record["trained"] == len(results.suite["populations"])
    assert record["time_axis"] == runner.TIME_AXIS and "calibrated" in record["time_axis"]
    assert "best validation loss" in results.suite["protocol"]["tuning"]
    assert results.suite["model"] == {"hidden": [4], "activation": "relu"}
    with sqlite3.connect(out / "runs.sqlite") as db:
        rows = db.execute(
            "SELECT phase, calibration, cpu, wall_seconds FROM populations"
        ).fetchall()
    assert {phase for phase, *_ in rows} == {"tune", "eval"}
    for phase, calibration, cpu, wall in rows:
        assert (calibration is None) == (phase == "tune") and cpu == runner.cpu_model()
        assert wall > 0 and (calibration is None or calibration > 0)


@pytest.mark.slow
def test_a_rerun_reads_every_population_back_and_force_retrains_them(
    tiny, tmp_path, monkeypatch, capsys
):
    out, first = shutil.copytree(tiny.out, tmp_path / "out"), tiny.results
    calls = []
    real = runner.train_population
    monkeypatch.setattr(runner, "train_population", lambda p: calls.append(p) or real(p))
    again = bench.run(first.suite["source"], out=out, jobs=1)
    populations = len(first.suite["populations"])
    assert (
        calls == [] and f"{populations} populations were already stored" in capsys.readouterr().err
    )
    assert_same_results(first, again)
    forced = bench.run(first.suite["source"], out=out, jobs=1, force=True, progress=False)
    assert len(calls) == populations
    assert_same_results(first, forced)


@pytest.mark.slow
def test_jobs_two_gives_the_results_of_jobs_one(tiny, tmp_path):
    one = tiny.results
    two = bench.run(one.suite["source"], out=tmp_path / "two", jobs=2, progress=False)
    assert_same_results(one, two)


def test_the_longest_chains_start_first(tiny):
    results = tiny.results
    suite = load_suite(results.suite["source"])
    assert [(c.method.name, c.dataset.name) for c in chains(suite)] == [
        ("adam", "moons"),
        ("adam", "blobs"),
        ("gd", "moons"),
        ("gd", "blobs"),
    ]


class Interrupt(Exception):
    """Stands for a kill in the middle of a run."""


@pytest.mark.slow
def test_a_run_stopped_in_evaluation_resumes_without_retraining_tuning(tiny, tmp_path, monkeypatch):
    reference = tiny.results
    real = runner.train_population

    def stop_at_evaluation(population):
        if population.phase == "eval":
            raise Interrupt
        return real(population)

    monkeypatch.setattr(runner, "train_population", stop_at_evaluation)
    out = tmp_path / "stopped"
    with pytest.raises(Interrupt):
        bench.run(reference.suite["source"], out=out, jobs=1, progress=False)
    assert len(bench.load(out).tuning) > 0 and bench.load(out).evaluation.empty
    phases = []
    monkeypatch.setattr(runner, "train_population", lambda p: phases.append(p.phase) or real(p))
    resumed = bench.run(reference.suite["source"], out=out, jobs=1, progress=False)
    assert phases == ["eval"] * 4  # the tuning populations were read back, not retrained
    assert_same_results(reference, resumed)


@pytest.mark.slow
def test_raising_seeds_trains_only_the_new_evaluation_seeds(tmp_path, monkeypatch):
    text = TINY.replace("seeds = 2\ntuning", "seeds = 4\ntuning")
    out = tmp_path / "out"
    four = bench.run(write_suite(tmp_path, text), out=out, jobs=1, progress=False)
    trained = []
    real = runner.train_population
    monkeypatch.setattr(runner, "train_population", lambda p: trained.append(p) or real(p))
    six = bench.run(
        write_suite(tmp_path, text.replace("seeds = 4", "seeds = 6")),
        out=out,
        jobs=1,
        progress=False,
    )
    assert [p.phase for p in trained] == ["eval"] * 4  # one per method x dataset
    assert all(sorted(t[2] for t in p.trials) == [4, 5] for p in trained)
    assert len(six.evaluation) == 2 * 2 * 6
    old = six.evaluation[six.evaluation["seed"] < 4]
    columns = ["method", "dataset", "seed", "test_loss", "final_train_loss"]
    pd.testing.assert_frame_equal(
        old[columns].sort_values(columns[:3]).reset_index(drop=True),
        four.evaluation[columns].sort_values(columns[:3]).reset_index(drop=True),
    )


GD_TABLE = "[method.gd]\nlr = [0.1, 1000.0]   # 1000 diverges\n"
ADAM_TABLE = "[method.adam]\nlr = [0.01, 0.1]\n"
BLOBS_TABLE = "[dataset.blobs]\nn_samples = 100\n"


@pytest.mark.slow
def test_a_grid_below_the_optimum_grows_to_an_interior_lr_or_flags_the_edge(tmp_path):
    text = (
        TINY.replace(GD_TABLE, "")
        .replace('methods = ["gd", "adam"]', 'methods = ["adam"]')
        .replace("extend_grid = 1", "extend_grid = 3")
        .replace("lr = [0.01, 0.1]", "lr = [1e-5, 3e-5]")
    )
    results = bench.run(write_suite(tmp_path, text), out=tmp_path / "out", jobs=1, progress=False)
    for row in results.summary.itertuples():
        tried = sorted(results.tuning.query(f"dataset == '{row.dataset}'")["lr"].unique())
        assert tried[:2] == [1e-5, 3e-5] and len(tried) > 2  # the grid grew upward
        assert row.lr > 3e-5
        assert row.lr_at_edge == (row.lr == tried[-1])
        extended = results.tuning.query(f"dataset == '{row.dataset}' and lr > 3e-5")
        assert extended["extended"].all()


@pytest.mark.slow
def test_search_trains_every_combination_in_one_population_per_phase(tmp_path, monkeypatch):
    text = TINY.replace(GD_TABLE, "").replace(ADAM_TABLE, "").replace(BLOBS_TABLE, "")
    text = text.replace('methods = ["gd", "adam"]', 'methods = ["momentum"]').replace(
        'datasets = ["moons", "blobs"]', 'datasets = ["moons"]'
    ) + ("[method.momentum]\nlr = [0.01, 0.1]\n[method.momentum.search]\nmomentum = [0.5, 0.9]\n")
    trained = []
    real = runner.train_population
    monkeypatch.setattr(runner, "train_population", lambda p: trained.append(p) or real(p))
    results = bench.run(write_suite(tmp_path, text), out=tmp_path / "out", jobs=1, progress=False)
    first = trained[0]
    assert first.phase == "tune" and len(first.trials) == 2 * 2 * 2  # lrs x momenta x seeds
    assert {dict(h)["momentum"] for _, h, _ in first.trials} == {0.5, 0.9}
    assert [p.phase for p in trained].count("eval") == 1
    row = results.summary.iloc[0]
    assert row["tuning_trials"] == sum(len(p.trials) for p in trained if p.phase == "tune")
    assert json.loads(row["hyperparameters"])["momentum"] in (0.5, 0.9)
    assert set(results.evaluation["hyperparameters"]) == {row["hyperparameters"]}


def test_a_store_of_the_older_schema_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    with sqlite3.connect(out / "runs.sqlite") as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE populations (key TEXT); CREATE TABLE trials (population TEXT);"
            "CREATE TABLE curves (population TEXT);"
            "INSERT INTO meta VALUES ('schema', '1');"
        )
    before = (out / "runs.sqlite").read_bytes()
    from bench.cli import main

    assert main(["run", "--suite", str(write_suite(tmp_path)), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "older backprop-bench" in message and "schema 1" in message and "--out" in message
    assert (out / "runs.sqlite").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["runs.sqlite"]


def test_bad_jobs_and_clusters_are_refused_before_anything_is_written(tmp_path):
    path = write_suite(tmp_path)
    with pytest.raises(ValueError, match="jobs must be an int >= 1.*got 0"):
        bench.run(path, out=tmp_path / "a", jobs=0)
    with pytest.raises(runner.ClusterError, match="'local' or 'tcp://HOST:PORT'.*'10.0.0.1'"):
        bench.run(path, out=tmp_path / "c", cluster="10.0.0.1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]


@pytest.mark.slow
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
    assert 1 <= stored < 6  # a tuning and an evaluation population per dataset

    resumed = bench.run(path, out=out, jobs=1)
    assert "populations were already stored" in capsys.readouterr().err
    assert resumed.provenance["reused"] == stored and resumed.provenance["trained"] == 6 - stored
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
        "adam on moons, evaluation: 4 trials in 0.08 s (4/8 trials done)",
        "adam on moons, evaluation: 4 trials in 0.08 s (8/8 trials done)",
    ]
    terminal = Terminal()
    bar = runner.Progress(8, stream=terminal)
    bar.update(result)
    bar.close()
    assert "4/8" in terminal.getvalue() and "trial" in terminal.getvalue()
    silent = io.StringIO()
    runner.Progress(8, enabled=False, stream=silent).update(result)
    assert silent.getvalue() == ""


def test_a_worker_imports_neither_pandas_nor_scipy_stats_nor_sklearn():
    """What a worker process imports to train a population (bench.worker, the function that
    loky and Dask pickle by reference) leaves out the libraries that take seconds to import."""
    heavy = ["pandas", "scipy.stats", "sklearn", "matplotlib"]
    code = f"import sys, bench.worker; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert runner.train_population.__module__ == "bench.worker"


def test_workers_are_sent_the_datasets_their_parent_built(tmp_path, monkeypatch):
    """A local run sends each population with the dataset the parent built to check the suite
    (the same object), so a worker builds none; train_population trains on the data given."""
    from bench import worker

    suite = load_suite(write_suite(tmp_path))
    sent = []

    class Executor:
        def submit(self, function, population, data):
            sent.append((function, population, data))

    monkeypatch.setattr(runner, "start_workers", lambda jobs, kernels: Executor())
    backend = runner.Loky(2, suite)
    (chain,) = chains(suite)[:1]
    population = chain.start()
    backend.submit(population)
    ((function, _, data),) = sent
    assert function is worker.train_population
    assert data is runner.dataset_for(population.dataset)
    wrong = dataclasses.replace(data, Y_train=1 - data.Y_train)  # another task: other labels
    got = worker.train_population(population, wrong)
    want = worker.train_population(population)
    assert not np.array_equal(got.train_loss, want.train_loss)
