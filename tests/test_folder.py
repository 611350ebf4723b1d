"""One folder, one suite: another suite's name is refused unless --replace, a changed
definition is said in one line, `prune` drops what the folder no longer reports, an --out
that is a file exits 2, and an unused [method.X] table warns unless it is a typo.

The runs are the tiny suite (helpers.TINY, a few seconds each); each test copies one finished
folder instead of training it again.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import warnings

import pytest
from helpers import TINY, write_suite

import bench
from bench.cli import main
from bench.runner import changed_settings
from bench.store import Store
from bench.suite import SuiteWarning, load_suite

OTHER = TINY.replace('name = "tiny"', 'name = "other"')
CHANGED = TINY.replace("epochs = 3", "epochs = 2").replace("\nseeds = 2", "\nseeds = 3")
# the tiny suite without gd in its list, its [method.gd] table left behind
TRIMMED = TINY.replace('methods = ["gd", "adam"]', 'methods = ["adam"]')


def snapshot(folder) -> dict[str, tuple[str, int]]:
    """Every file of ``folder`` (recursively): relative path -> (sha256, mtime in ns)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def stored_keys(out) -> set[str]:
    """The keys of every population in DIR/runs.sqlite."""
    with sqlite3.connect(out / "runs.sqlite") as db:
        return {row[0] for row in db.execute("SELECT key FROM populations")}


def recorded(out) -> dict:
    """The suite recorded in DIR/runs.sqlite."""
    with Store(out / "runs.sqlite") as store:
        return store.meta("suite")


def recorded_keys(out) -> set[str]:
    """The keys of the populations the recorded suite uses."""
    return {p["key"] for p in recorded(out)["populations"]}


@pytest.fixture
def used(tiny, tmp_path):
    """A copy of the tiny run's results folder (conftest.tiny): (its path, the folder of suite
    files, which holds tiny.toml, the suite the copy was run from)."""
    copy = tmp_path / "used"
    shutil.copytree(tiny.out, copy)
    return copy, tiny.path.parent


@pytest.fixture
def quiet_report(monkeypatch):
    """The CLI's report skipped: drawing is tested with the report."""
    import bench.cli

    monkeypatch.setattr(bench.cli, "finish", lambda results, jobs, format="png": None)


# ------------------------------------------------------------------------------ another suite


def test_another_suite_into_a_used_folder_exits_2_and_writes_nothing(used, capsys):
    out, files = used
    before = snapshot(out)
    other = write_suite(files, OTHER, "other.toml")
    assert main(["run", "--suite", str(other), "--out", str(out), "--jobs", "1"]) == 2
    error = capsys.readouterr().err
    assert error == (
        f"error: {out} holds the results of suite 'tiny' (from {files / 'tiny.toml'}); suite "
        f"'other' (from {other}) would take its tables and report. Run 'other' into another "
        f"folder with --out (by default results/other), or pass --replace to let it take {out} "
        "(the populations of 'tiny' stay in the store, unreported)\n"
    )
    assert snapshot(out) == before


@pytest.mark.slow
def test_replace_lets_another_suite_take_the_folder_and_keeps_the_old_populations(
    used, capsys, quiet_report
):
    out, files = used
    old = stored_keys(out)
    other = write_suite(files, OTHER.replace("epochs = 3", "epochs = 2"), "other.toml")
    assert main(["run", "--suite", str(other), "--out", str(out), "--jobs", "1", "--replace"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: suite 'other' replaces suite 'tiny' in {out} (--replace); the populations of "
        f"'tiny' stay in the store, unreported (`python -m bench prune {out}` drops them)"
    ]
    assert recorded(out)["name"] == "other" and recorded(out)["epochs"] == 2
    assert old < stored_keys(out)  # the old populations are still stored ...
    assert not old & recorded_keys(out)  # ... and none of them is reported
    results = bench.load(out)
    assert set(results.trials["population"]) == recorded_keys(out)


@pytest.mark.slow
def test_force_still_retrains_and_keeps_the_folder_s_suite(used, capsys):
    out, files = used
    results = bench.run(files / "tiny.toml", out=out, jobs=1, progress=True, force=True)
    error = capsys.readouterr().err
    assert "note:" not in error and "already stored" not in error  # nothing read back
    assert recorded(out)["name"] == "tiny" and len(results.evaluation) == 8


# ------------------------------------------------------------------------------ changed suite


@pytest.mark.slow
def test_a_changed_definition_under_the_same_name_is_said_in_one_line(used, capsys, quiet_report):
    out, files = used
    old = recorded_keys(out)
    changed = write_suite(files, CHANGED, "changed.toml")
    assert main(["run", "--suite", str(changed), "--out", str(out), "--jobs", "1"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes[0] == (
        f"note: suite 'tiny' changed since the last run in {out} (epochs 3 -> 2, seeds (2 -> 3)); "
        "its old populations stay in the store, unreported"
    )
    assert len(notes) == 1  # nothing was read back: every population is new
    assert old <= stored_keys(out) and not old & recorded_keys(out)
    # the same definition again: no note
    assert main(["run", "--suite", str(changed), "--out", str(out), "--jobs", "1"]) == 0
    assert "changed since" not in capsys.readouterr().err


def test_changed_settings_names_each_key_that_differs():
    old = load_suite("quick").settings()
    assert changed_settings(old, old) == []
    new = dict(old, epochs=old["epochs"] + 1, margin=0.1, tuning_seeds=[7])
    assert changed_settings(old, new) == [
        f"epochs {old['epochs']} -> {old['epochs'] + 1}",
        f"tuning_seeds ({len(old['tuning_seeds'])} -> 1)",
        f"margin {old['margin']} -> 0.1",
    ]
    methods = dict(old["methods"])
    first = next(m for m in methods if m != "adam")
    methods.pop(first)
    adam = methods["adam"] = dict(methods["adam"], lrs=[0.5])
    methods["lion"] = adam
    model = {"hidden": [8], "activation": "tanh"}
    assert changed_settings(old, dict(old, methods=methods, model=model)) == [
        f"model.hidden {old['model']['hidden']} -> [8]",
        f"model.activation {old['model']['activation']} -> tanh",
        f"methods (+lion, -{first}, adam changed)",
    ]


# ------------------------------------------------------------------------------ prune


@pytest.fixture
def changed(used, capsys):
    """A used folder into which a changed definition ran: its old populations unreported."""
    out, files = used
    bench.run(write_suite(files, CHANGED, "changed.toml"), out=out, jobs=1, progress=False)
    capsys.readouterr()
    assert stored_keys(out) > recorded_keys(out)
    return out


@pytest.mark.slow
def test_prune_lists_the_unreported_populations_and_drops_exactly_them(changed, capsys):
    out = changed
    keep, every = recorded_keys(out), stored_keys(out)
    before = bench.load(out)
    with Store(out / "runs.sqlite") as store:
        unused = store.unreported(keep)
    assert set(unused["key"]) == every - keep
    assert main(["prune", str(out), "--yes"]) == 0
    printed = capsys.readouterr().out
    trials = int(unused["trials"].sum())
    assert printed.startswith(
        f"{len(every - keep)} populations ({trials} trials) in {out / 'runs.sqlite'} belong to no "
        f"suite that {out} reports (it reports suite 'tiny'):\nmethod dataset phase  trials\n"
    )
    rows = printed.splitlines()[2 : 2 + len(unused)]
    assert [row.split() for row in rows] == [
        [m, d, p, str(t)] for m, d, p, t in unused[["method", "dataset", "phase", "trials"]].values
    ]
    assert f"dropped {len(every - keep)} populations ({trials} trials)" in printed
    assert stored_keys(out) == keep
    with sqlite3.connect(out / "runs.sqlite") as db:  # their trials and curves are gone too
        for table in ("trials", "curves"):
            populations = {r[0] for r in db.execute(f"SELECT population FROM {table}")}
            assert populations == keep, table
    after = bench.load(out)
    assert after.trials.drop(columns="cpu").equals(before.trials.drop(columns="cpu"))
    # pruned: nothing more to drop, and the store is left as it is (prune held DIR/.lock)
    files = snapshot(out)
    assert main(["prune", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"nothing to prune: every population in {out / 'runs.sqlite'} belongs to suite 'tiny'\n"
    )
    assert {k: v for k, v in snapshot(out).items() if k != ".lock"} == {
        k: v for k, v in files.items() if k != ".lock"
    }


@pytest.mark.slow
@pytest.mark.parametrize("answer, status", [("n\n", 1), ("\n", 1), ("", 1), ("y\n", 0)])
def test_prune_asks_and_drops_only_on_yes(changed, capsys, monkeypatch, answer, status):
    out = changed
    keep, every = recorded_keys(out), stored_keys(out)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    assert main(["prune", str(out)]) == status
    printed = capsys.readouterr().out
    assert f"drop these {len(every - keep)} populations? [y/N] " in printed
    if status:
        assert printed.endswith("nothing dropped\n") and stored_keys(out) == every
    else:
        assert "dropped" in printed and stored_keys(out) == keep


@pytest.mark.slow
def test_prune_refuses_a_folder_whose_last_run_did_not_finish(changed, capsys):
    out = changed
    with Store(out / "runs.sqlite") as store:
        store.set_meta(provenance=dict(store.meta("provenance"), finished_at=None))
    every = stored_keys(out)
    assert main(["prune", str(out), "--yes"]) == 2
    source = recorded(out)["source"]
    assert source.endswith("changed.toml")
    assert capsys.readouterr().err == (
        f"error: the last run in {out}, of suite 'tiny', did not finish, so not every population "
        f"it uses is recorded yet; finish it with `python -m bench run --suite {source} --out "
        f"{out}`, then prune\n"
    )
    assert stored_keys(out) == every


def test_prune_of_no_folder_exits_2(tmp_path, capsys):
    assert main(["prune", str(tmp_path / "nowhere")]) == 2
    assert "no results folder" in capsys.readouterr().err
    assert main(["prune", str(tmp_path)]) == 2
    assert "no results store" in capsys.readouterr().err


# ------------------------------------------------------------------------------ --out


def test_out_naming_a_file_exits_2_and_leaves_it(used, tmp_path, capsys):
    _, files = used
    path = tmp_path / "notes.txt"
    path.write_text("mine\n")
    assert main(["run", "--suite", str(files / "tiny.toml"), "--out", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {path} is a file, not a folder; give --out a folder (it is created when "
        "missing), or move the file away\n"
    )
    assert path.read_text() == "mine\n"
    assert main(["run", "--suite", str(files / "tiny.toml"), "--out", str(path / "sub")]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {path / 'sub'} cannot be a folder: {path} is a file; give --out a folder "
        "whose parents are folders, or move the file away\n"
    )
    assert main(["report", str(path)]) == 2
    assert f"{path} is a file, not a results folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "used"]


# ------------------------------------------------------------------------------ unused tables


@pytest.mark.slow
def test_an_unused_method_table_warns_and_the_suite_runs(tmp_path, capsys, quiet_report):
    path = write_suite(tmp_path, TRIMMED, "trimmed.toml")
    out = tmp_path / "out"
    assert main(["run", "--suite", str(path), "--out", str(out), "--jobs", "1"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert warned == [
        f"warning: {path}: method.gd: defined but not listed in suite.methods ['adam'], so it is "
        "ignored; list 'gd' in suite.methods to run it, or delete the table"
    ]
    assert {p["method"] for p in recorded(out)["populations"]} == {"adam"}


@pytest.mark.slow
def test_bench_run_emits_the_warnings_of_a_suite_file(tmp_path):
    path = write_suite(tmp_path, TRIMMED, "trimmed.toml")
    with pytest.warns(SuiteWarning, match=r"method\.gd: defined but not listed"):
        bench.run(path, out=tmp_path / "out", jobs=1, progress=False)
    with warnings.catch_warnings():  # a Suite passed in is not warned about again
        warnings.simplefilter("error")
        bench.run(load_suite(path), out=tmp_path / "out", jobs=1, progress=False)


def test_a_table_left_behind_near_a_listed_name_only_warns_when_it_is_a_real_name(tmp_path):
    # gd is close to sgd, but is a built-in method: left behind when gd left the list
    head = TRIMMED.replace('methods = ["adam"]', 'methods = ["sgd"]').replace(
        "[method.adam]", "[method.sgd]"
    )
    suite = load_suite(write_suite(tmp_path, head, "sgd.toml"))
    assert [m.name for m in suite.methods] == ["sgd"]
    assert len(suite.warnings) == 1 and "method.gd: defined but not listed" in suite.warnings[0]
    # a dataset table left behind warns the same way
    circles = TINY + "\n[dataset.circles]\nnoise = 0.1\n"
    suite = load_suite(write_suite(tmp_path, circles, "circles.toml"))
    assert [d.name for d in suite.datasets] == ["moons", "blobs"]
    assert suite.warnings == (
        f"{tmp_path / 'circles.toml'}: dataset.circles: defined but not listed in "
        "suite.datasets ['moons', 'blobs'], so it is ignored; list 'circles' in suite.datasets "
        "to run it, or delete the table",
    )
    assert load_suite(write_suite(tmp_path, TINY)).warnings == ()


@pytest.mark.parametrize(
    "text, key, hint",
    [
        (TINY + "\n[method.adma]\nlr = [0.1]\n", "method.adma", "(did you mean 'adam'?)"),
        (TINY + "\n[dataset.moon]\nnoise = 0.1\n", "dataset.moon", "(did you mean 'moons'?)"),
    ],
)
def test_an_unused_table_named_like_a_listed_one_is_a_typo_and_exits_2(
    tmp_path, capsys, text, key, hint
):
    path = write_suite(tmp_path, text, "typo.toml")
    kind = key.split(".")[0]
    name = key.split(".")[1]
    listed = ["gd", "adam"] if kind == "method" else ["moons", "blobs"]
    assert main(["run", "--suite", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: {key}: defined but not listed in suite.{kind}s {listed} {hint}; rename "
        f"the table, or list {name!r} in suite.{kind}s\n"
    )
    assert not (tmp_path / "out").exists()
