"""The command line: run, report, compare, list, --help, and exit status 2 for bad input.

End-to-end runs go through ``python -m bench`` in a subprocess; the error paths call
``bench.cli.main`` in-process, which is what ``python -m bench`` runs, to keep the tests fast.
A bad suite file through ``python -m bench`` is in test_fuzz_suites.py, a damaged store in
test_faults.py.
The suites here tune on 2 seeds and extend a grid by at most 1 lr per side (the tiny
suite, helpers.TINY), so that both phases run in a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys

import pandas as pd
import pytest
from helpers import TINY, write_suite

import bench
from backprop import compiled
from bench.cli import main
from bench.suite import builtin_suite_names, expected_duration, load_suite, settings_digest

HEAD = (
    '[suite]\nname = "bad"\nmethods = ["adam"]\ndatasets = ["moons"]\nepochs = 2\nseeds = 1\n'
    "tuning_seeds = 1\nextend_grid = 0\n"
)
CSV = ["comparisons.csv", "curves.csv", "ranking.csv", "summary.csv", "trials.csv"]


def bench_command(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``python -m bench ARGS`` in a subprocess."""
    command = [sys.executable, "-m", "bench", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny suite (helpers.TINY) run by ``python -m bench run`` into DIR: (DIR, the completed
    process)."""
    folder = tmp_path_factory.mktemp("cli")
    out = folder / "out"
    done = bench_command("run", "--suite", write_suite(folder), "--out", out, "--jobs", "1")
    return out, done


def stored_trials(out) -> int:
    """Trials of both phases in DIR/runs.sqlite."""
    with sqlite3.connect(out / "runs.sqlite") as db:
        return db.execute("SELECT count(*) FROM trials").fetchone()[0]


@pytest.mark.slow
def test_run_writes_store_tables_and_report_and_says_where(finished):
    out, done = finished
    assert done.returncode == 0, done.stderr
    assert f"store:  {out / 'runs.sqlite'}" in done.stdout
    assert f"tables: {out / 'tables'}" in done.stdout
    assert f"report: {out / 'report.html'}" in done.stdout
    assert "mean rank of the test loss over datasets" in done.stdout  # the ranking, printed
    # the report opens with its Conclusions, in words
    assert (out / "report.html").is_file() and "Conclusions" in (out / "report.html").read_text()
    headings = [line for line in (out / "report.md").read_text().splitlines() if line[:3] == "## "]
    assert "Conclusions" in headings[0], headings
    # a line per population off a terminal, in both phases
    assert "adam on blobs, tuning: 4 trials in " in done.stderr
    assert "adam on blobs, evaluation: 2 trials in " in done.stderr
    assert sorted(p.name for p in (out / "tables").iterdir()) == CSV
    trials = pd.read_csv(out / "tables" / "trials.csv")
    assert len(trials) == stored_trials(out)
    evaluation, tuning = trials[trials["phase"] == "eval"], trials[trials["phase"] == "tune"]
    assert len(evaluation) == 2 * 2 * 2 and set(evaluation["seed"]) == {0, 1}
    assert len(tuning) >= 2 * 2 * 2 * 2 and set(tuning["seed"]) == {100000, 100001}
    huge = trials["lr"] == 1000.0  # gd's, on both datasets and tuning seeds: never tuned
    assert huge.sum() == 4 and trials.loc[huge, "diverged"].all()
    assert trials["diverged"].sum() == 4 and not evaluation["diverged"].any()
    summary = pd.read_csv(out / "tables" / "summary.csv")
    assert len(summary) == 4 and (summary["n_seeds"] == 2).all()
    assert {"test_loss_center", "test_loss_lo", "test_loss_hi"} <= set(summary.columns)
    comparisons = pd.read_csv(out / "tables" / "comparisons.csv")
    assert len(comparisons) == 2 * 4 * 2  # datasets x criteria x methods
    ranking = pd.read_csv(out / "tables" / "ranking.csv")
    assert ranking.columns.tolist() == [
        "method",
        "mean_rank",
        "best",
        "equivalent",
        "inconclusive",
        "worse",
        "datasets",
    ]
    assert sorted(ranking["method"]) == ["adam", "gd"]


@pytest.mark.slow
def test_report_rebuilds_the_same_tables_without_training(finished, capsys, reports):
    out, _ = finished
    tables = out / "tables"
    before = {name: (tables / name).read_text() for name in CSV}
    for name in CSV:
        (tables / name).unlink()
    assert main(["report", str(out)]) == 0
    assert {name: (tables / name).read_text() for name in CSV} == before
    assert [r.out for r in reports] == [out] and len(reports[0].trials) == stored_trials(out)
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out


@pytest.mark.slow
def test_compare_of_a_run_with_itself_says_identical_results(finished, capsys):
    out, _ = finished
    assert main(["compare", str(out), str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"A = {out}\nB = {out}\n")
    assert "identical results" in printed and "changed" not in printed
    assert "No timing moved beyond them" in printed  # the same times, ratio 1
    assert all(len(line) <= 100 for line in printed.splitlines())


@pytest.mark.slow
def test_compare_of_two_runs_names_the_settings_and_reads_each_run(finished, tmp_path, capsys):
    a, _ = finished
    longer = TINY.replace("epochs = 3", "epochs = 5")
    b = tmp_path / "b"
    bench.run(write_suite(tmp_path, longer), out=b, jobs=1, progress=False)
    done = bench_command("compare", a, b, "--format", "md")
    assert done.returncode == 0, done.stderr
    assert "epochs 3 -> 5" in done.stdout and "identical results" not in done.stdout
    assert "| dataset | method | lr | differ | test_loss A | test_loss B |" in done.stdout
    tables = bench.compare(bench.load(a), bench.load(b))
    pairs = tables["pairs"].set_index(["dataset", "method"])
    for run, side in ((bench.load(a), "a"), (bench.load(b), "b")):
        summary = run.summary.set_index(["dataset", "method"]).reindex(pairs.index)
        pd.testing.assert_series_equal(
            pairs[f"lr_{side}"], summary["lr"], check_names=False, check_dtype=False
        )
        pd.testing.assert_series_equal(
            pairs[f"test_loss_{side}"], summary["test_loss_center"], check_names=False
        )
    assert sorted(pairs.index) == [
        ("blobs", "adam"),
        ("blobs", "gd"),
        ("moons", "adam"),
        ("moons", "gd"),
    ]


@pytest.mark.slow
def test_run_defaults_out_to_results_suite_name(tmp_path, monkeypatch, capsys, reports):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--suite", str(write_suite(tmp_path)), "--jobs", "1"]) == 0
    assert (tmp_path / "results" / "tiny" / "runs.sqlite").is_file()
    assert sorted(p.name for p in (tmp_path / "results" / "tiny" / "tables").iterdir()) == CSV
    assert "results/tiny/tables" in capsys.readouterr().out
    assert [r.out.resolve() for r in reports] == [tmp_path / "results" / "tiny"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[suite\nname = 1", "malformed TOML"),
        (HEAD.replace("epochs = 2", "epochs = 0"), "suite.epochs"),
        (HEAD + "[method.adam]\nlr = []\n", "method.adam.lr"),
        (HEAD.replace('"moons"', '"moon"'), "did you mean 'moons'"),
        (HEAD.replace('"adam"', '"adamm"'), "did you mean 'adam'"),
        (HEAD + "colour = 1\n", "colour"),
        (HEAD + '[method.adam]\noptimizer = "nowhere.module:Adam"\n', "nowhere"),
        (HEAD + "[method.adam]\nbatch_size = 0\n", "method.adam.batch_size"),
    ],
)
def test_every_bad_suite_exits_2_with_the_suite_error(tmp_path, capsys, text, expected):
    path = write_suite(tmp_path, text, "bad.toml")
    assert main(["run", "--suite", str(path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {path}: ") and expected in error
    assert not (tmp_path / "out").exists()


def test_a_missing_folder_or_store_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no results folder" in capsys.readouterr().err
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "no results store" in capsys.readouterr().err


def test_a_store_of_the_older_schema_exits_2_for_report_and_compare(tiny, tmp_path, capsys):
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / "runs.sqlite") as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE populations (key TEXT); CREATE TABLE trials (population TEXT);"
            "CREATE TABLE curves (population TEXT);"
            "INSERT INTO meta VALUES ('schema', '1');"
        )
    db.close()
    before = (old / "runs.sqlite").read_bytes()
    assert main(["report", str(old)]) == 2
    assert main(["compare", str(tiny.out), str(old)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    for error in errors:
        assert error.startswith(f"error: {old / 'runs.sqlite'} was written by an older ")
        assert "schema 1" in error and "never mixed" in error and "--out" in error
    assert (old / "runs.sqlite").read_bytes() == before
    assert sorted(p.name for p in old.iterdir()) == ["runs.sqlite"]


def test_a_malformed_cluster_address_exits_2(tmp_path, capsys):
    suite = str(write_suite(tmp_path))
    command = ["run", "--suite", suite, "--out", str(tmp_path / "o"), "--cluster", "somewhere"]
    assert main(command) == 2
    assert "--cluster must be 'local' or 'tcp://HOST:PORT'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_jobs_below_one_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--suite", "quick", "--jobs", "0"])
    assert exit_info.value.code == 2
    assert "--jobs: must be an int >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "verb, words",
    [
        ([], ["list", "run", "report", "compare", "prune"]),
        (["run"], ["--suite", "--out", "--jobs", "--force", "--cluster", "--replace", "holds one"]),
        (["run"], ["results/<suite name>"]),
        (["prune"], ["DIR", "--yes", "asks", "unless --yes"]),
        (["report"], ["DIR", "without training"]),
        (["compare"], ["A", "B", "intervals"]),
        (["list"], ["datasets", "methods", "suites"]),
    ],
)
def test_every_verb_has_help(capsys, verb, words):
    with pytest.raises(SystemExit) as exit_info:
        main([*verb, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(word in text for word in words), text


def test_list_names_the_built_in_datasets_methods_and_suites_with_their_seeds(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("moons", "digits", "adadelta", "gd", "minibatch"):
        assert f"  {name} " in text
    lines = text.splitlines()
    names = builtin_suite_names()
    assert {"quick", "default", "full"} <= set(names)
    for name in names:
        suite = load_suite(name)
        (line,) = [line for line in lines if line.startswith(f"  {name} ")]
        seeds = f"{len(suite.tuning_seeds)} tuning + {len(suite.seeds)} evaluation seeds"
        assert seeds in line and f"{suite.epochs} epochs" in line, line
    (default,) = [line for line in lines if line.startswith("  default ")]
    assert "3 tuning + 10 evaluation seeds" in default


def test_list_shows_each_built_in_suite_s_measured_duration(capsys):
    durations = json.loads(bench.suite.DURATIONS_FILE.read_text())
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in builtin_suite_names():
        measured = durations[name]
        assert measured["cores"] == 2 and measured["seconds"] > 0
        i = next(i for i, line in enumerate(lines) if line.startswith(f"  {name} "))
        assert f"on 2 cores (measured {measured['date']})" in lines[i + 1]
        if compiled.available():
            # measured for this definition and engine: rerun scripts/measure_suites.py if not
            assert measured["settings"] == settings_digest(load_suite(name)), name
            assert "changed since" not in lines[i + 1]
        else:  # measured with the compiled engine; without numba every population is NumPy's
            assert "; the suite or the engine changed since" in lines[i + 1]


def test_a_duration_says_when_the_suite_changed_since_it_was_measured(tmp_path, monkeypatch):
    suite = load_suite("quick")
    stored = tmp_path / "durations.json"
    monkeypatch.setattr(bench.suite, "DURATIONS_FILE", stored)
    assert expected_duration(suite) == "duration not measured"
    measured = {
        "seconds": 312.4,
        "cores": 2,
        "date": "2026-12-01",
        "settings": settings_digest(suite),
    }
    stored.write_text(json.dumps({"quick": measured}))
    assert expected_duration(suite) == "about 5.2 min on 2 cores (measured 2026-12-01)"
    longer = dataclasses.replace(suite, epochs=suite.epochs + 1)
    assert settings_digest(longer) != settings_digest(suite)
    assert expected_duration(longer).endswith("; the suite or the engine changed since")
    stored.write_text(json.dumps({"quick": {**measured, "seconds": 14.8}}))
    assert expected_duration(suite).startswith("about 15 s on 2 cores")


def test_the_program_exits_with_mains_status_and_its_objects_frozen(tmp_path):
    # `python -m bench` and `backprop-bench` run bench.cli.run: main's exit status, then the
    # collector frozen so that the interpreter's exit does not walk every object left
    code = (
        "import gc, sys\n"
        "from bench.cli import run\n"
        f"status = run(['report', {str(tmp_path / 'nothing')!r}])\n"
        "print(status, gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["2", "True"]
    assert "error: no results folder" in done.stderr
    module = subprocess.run(
        [sys.executable, "-m", "bench", "report", str(tmp_path / "nothing")], capture_output=True
    )
    assert module.returncode == 2
