"""The command line: run, report, compare, list, --help, and exit status 2 for bad input.

End-to-end runs go through ``python -m bench`` in a subprocess; the error paths call
``bench.cli.main`` in-process, which is what ``python -m bench`` runs, to keep the tests fast.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from test_runner import write_suite

from bench.cli import main

HEAD = '[suite]\nname = "bad"\nmethods = ["adam"]\ndatasets = ["moons"]\nepochs = 2\nseeds = 1\n'


def bench_command(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``python -m bench ARGS`` in a subprocess."""
    command = [sys.executable, "-m", "bench", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny suite run by ``python -m bench run`` into DIR: (DIR, the completed process)."""
    folder = tmp_path_factory.mktemp("cli")
    out = folder / "out"
    done = bench_command("run", "--suite", write_suite(folder), "--out", out, "--jobs", "1")
    return out, done


@pytest.fixture
def reports(monkeypatch):
    """bench.report.write_report replaced by a recorder: drawing is tested with the report."""
    import bench.report

    calls = []

    def record(results):
        calls.append(results)
        return results.out / "report.html"

    monkeypatch.setattr(bench.report, "write_report", record)
    return calls


def test_run_writes_store_tables_and_report_and_says_where(finished):
    out, done = finished
    assert done.returncode == 0, done.stderr
    assert f"store:  {out / 'runs.sqlite'}" in done.stdout
    assert f"tables: {out / 'tables'}" in done.stdout
    assert f"report: {out / 'report.html'}" in done.stdout
    assert (out / "report.html").is_file()
    assert "adam on blobs: 4 trials" in done.stderr  # a line per population off a terminal
    trials = pd.read_csv(out / "tables" / "trials.csv")
    assert len(trials) == 16 and trials["diverged"].sum() == 4


def test_report_rebuilds_the_same_tables_without_training(finished, capsys, reports):
    out, _ = finished
    before = (out / "tables" / "summary.csv").read_text()
    (out / "tables" / "summary.csv").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "tables" / "summary.csv").read_text() == before
    assert [r.out for r in reports] == [out] and len(reports[0].trials) == 16
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out


def test_without_bench_report_the_report_is_skipped_with_a_note(finished, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "bench.report", None)
    assert main(["report", str(finished[0])]) == 0
    assert "report: skipped (bench.report is not available)" in capsys.readouterr().out


def test_compare_of_a_run_with_itself_flags_nothing(finished, capsys):
    out, _ = finished
    assert main(["compare", str(out), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test_loss_delta" in printed and "adam" in printed
    assert "0 of 4 method x dataset pairs changed" in printed


def test_run_defaults_out_to_results_suite_name(tmp_path, monkeypatch, capsys, reports):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--suite", str(write_suite(tmp_path)), "--jobs", "1"]) == 0
    assert (tmp_path / "results" / "tiny" / "runs.sqlite").is_file()
    assert "results/tiny/tables" in capsys.readouterr().out


def test_a_bad_suite_file_exits_2_naming_it_and_writes_nothing(tmp_path):
    path = write_suite(tmp_path, HEAD.replace('"adam"', '"adamm"'))
    done = bench_command("run", "--suite", path, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert str(path) in done.stderr and "did you mean 'adam'" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[suite\nname = 1", "malformed TOML"),
        (HEAD.replace("epochs = 2", "epochs = 0"), "suite.epochs"),
        (HEAD + "[method.adam]\nlr = []\n", "method.adam.lr"),
        (HEAD.replace('"moons"', '"moon"'), "did you mean 'moons'"),
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


def test_a_corrupted_store_exits_2_and_is_never_overwritten(tmp_path, capsys):
    store = tmp_path / "runs.sqlite"
    store.write_bytes(b"garbage" * 1000)
    assert main(["report", str(tmp_path)]) == 2
    assert "move it away" in capsys.readouterr().err
    suite = write_suite(tmp_path)
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path), "--jobs", "1"]) == 2
    assert store.read_bytes() == b"garbage" * 1000


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
        ([], ["list", "run", "report", "compare"]),
        (["run"], ["--suite", "--out", "--jobs", "--force", "--cluster", "results/<suite name>"]),
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


def test_list_names_the_built_in_datasets_methods_and_suites(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("moons", "digits", "adadelta", "gd", "minibatch"):
        assert f"  {name} " in text
