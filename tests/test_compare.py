"""bench.compare and ``python -m bench compare``: settings first, then verdicts and ranking,
losses, metrics and divergence compared as values, timing with a tolerance, and the pairs of
one run only apart.

Four runs of the tiny suite (helpers.TINY, a few seconds each): twice the same suite, back
to back (identical values, times differ but alike), the same with 5 epochs instead of 3, and
with a third method; the timing tests scale the times of conftest's ``tiny`` run.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from helpers import TINY, require_module, write_suite

import bench
from bench import changes
from bench.changes import TABLE_COLUMNS, WIDTH, compare
from bench.cli import main

LONGER = TINY.replace("epochs = 3", "epochs = 5")
WIDER = TINY.replace('methods = ["gd", "adam"]', 'methods = ["gd", "adam", "rmsprop"]')


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Folders of the tiny suite run twice ('a', 'again': back to back, so that their times
    are alike), with 5 epochs ('longer') and with rmsprop added ('wider')."""
    folder = tmp_path_factory.mktemp("compare")
    out = {}
    for name, text in (("a", TINY), ("again", TINY), ("longer", LONGER), ("wider", WIDER)):
        out[name] = folder / name
        suite = write_suite(folder, text, f"{name}.toml")
        bench.run(suite, out=out[name], jobs=1, progress=False)
    return out


def printed(capsys, *args: str) -> str:
    """What ``python -m bench compare ARGS`` prints, asserting exit status 0."""
    assert main(["compare", *map(str, args)]) == 0
    return capsys.readouterr().out


def words(text: str) -> str:
    """``text`` with its line breaks and indents as single spaces, so sentences wrapped at 100
    columns read whole."""
    return " ".join(text.split())


def moved_verdicts(a: bench.Results, b: bench.Results) -> pd.DataFrame:
    """The verdicts that differ between the two runs' comparison tables, merged by hand."""
    on = ["dataset", "criterion", "method"]
    merged = a.comparisons.merge(b.comparisons, on=on, suffixes=("_a", "_b"))
    return merged[merged["verdict_a"] != merged["verdict_b"]]


@pytest.mark.slow
def test_two_runs_of_one_suite_say_identical_results(runs, capsys):
    text = printed(capsys, runs["a"], runs["again"])
    assert "identical results" in text and "changed" not in text
    assert "The two suites have the same settings." in text
    assert all(len(line) <= WIDTH for line in text.splitlines())
    tables = compare(bench.load(runs["a"]), bench.load(runs["again"]))
    results = tables["verdicts"].query("criterion != 'seconds_to_target'")  # timing: apart
    assert tables["values"].empty and results.empty and tables["ranking"].empty
    assert tables["settings"].empty and tables["only"].empty
    assert tables["pairs"]["trials"].tolist() == [2, 2, 2, 2]  # 2 seeds, matched
    # the times were measured again, and differ; they are compared in their own table
    a, b = bench.load(runs["a"]).curves, bench.load(runs["again"]).curves
    assert not a["seconds"].equals(b["seconds"])
    assert len(tables["timing"]) == 8  # 4 pairs x (seconds per epoch, seconds to the target)


@pytest.mark.slow
def test_runs_that_differ_in_epochs_name_epochs_first_then_what_moved(runs, capsys):
    a, b = bench.load(runs["a"]), bench.load(runs["longer"])
    text = printed(capsys, runs["a"], runs["longer"])
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    first = next(i for i, line in enumerate(lines) if line.strip() and line[:4] not in "A = B = ")
    assert "epochs 3 -> 5" in lines[first + 1], lines[first : first + 2]
    assert text.index("epochs 3 -> 5") < text.index("Verdicts:") < text.index("Ranking:")
    tables = compare(a, b)
    assert tables["settings"]["change"].tolist() == ["epochs 3 -> 5"]
    # 3 more epochs of training change the losses of every evaluation trial
    assert "identical results" not in text
    assert "4 of 4 method-dataset pairs present in both runs changed" in words(text)
    assert set(tables["values"]["column"]) >= {"final_train_loss", "final_val_loss"}
    want = moved_verdicts(a, b)
    got = tables["verdicts"]
    assert sorted(
        map(tuple, got[["dataset", "criterion", "method", "verdict_a", "verdict_b"]].to_numpy())
    ) == sorted(
        map(tuple, want[["dataset", "criterion", "method", "verdict_a", "verdict_b"]].to_numpy())
    )
    for row in want.itertuples():
        assert f"{row.verdict_a} -> {row.verdict_b}" in text
    if want[want["criterion"] != "seconds_to_target"].empty:
        assert "No verdict on losses or errors moved." in text
    order_a, order_b = a.ranking["method"].tolist(), b.ranking["method"].tolist()
    if order_a == order_b and a.ranking.equals(b.ranking):
        assert "The ranking is the same." in text and tables["ranking"].empty


@pytest.mark.slow
def test_a_third_method_is_listed_apart_and_moves_the_verdicts_it_beats(runs, capsys):
    a, b = bench.load(runs["a"]), bench.load(runs["wider"])
    text = printed(capsys, runs["a"], runs["wider"])
    assert all(len(line) <= WIDTH for line in text.splitlines())
    assert "methods (+rmsprop)" in text
    tables = compare(a, b)
    assert sorted(map(tuple, tables["only"].to_numpy())) == [
        ("blobs", "rmsprop", "B"),
        ("moons", "rmsprop", "B"),
    ]
    only = text[text.index("In one run only:") :]
    assert (
        "rmsprop" in only and "rmsprop" not in text[text.index("Results:") : text.index("Timing:")]
    )
    # gd and adam trained as before: only the pairs present in both are counted
    assert "identical results" in text and "all 8 evaluation trials in the 4 " in words(text)
    want = moved_verdicts(a, b)
    want = want[want["criterion"] != "seconds_to_target"]
    assert len(tables["verdicts"].query("criterion != 'seconds_to_target'")) == len(want)
    verdicts = text[text.index("Verdicts:") : text.index("Ranking:")]
    for row in want.itertuples():
        assert row.dataset in verdicts and f"{row.verdict_a} -> {row.verdict_b}" in verdicts
    ranking = tables["ranking"].set_index("method")
    for method in ranking.index:
        place_a = a.ranking["method"].tolist().index(method) + 1
        place_b = b.ranking["method"].tolist().index(method) + 1
        assert (ranking.loc[method, "place_a"], ranking.loc[method, "place_b"]) == (
            place_a,
            place_b,
        )
        assert f"{place_a} -> {place_b}" in text[text.index("Ranking:") :]


@pytest.mark.slow
def test_format_md_writes_the_same_as_markdown_tables(runs, capsys):
    text = printed(capsys, runs["a"], runs["wider"], "--format", "md")
    lines = text.splitlines()
    assert "## Settings" in lines and "## Verdicts" in lines and "## In one run only" in lines
    table = [line for line in lines if line.startswith("|")]
    assert table and "| dataset | method | only_in |" in table
    assert "|---|---|---|" in table and "| moons | rmsprop | B |" in table
    assert all(line.endswith("|") for line in table)
    assert all(len(line) <= WIDTH for line in lines if not line.startswith("|"))


@pytest.mark.slow
def test_bench_compare_returns_dataframes(runs):
    a, b = bench.load(runs["a"]), bench.load(runs["longer"])
    tables = bench.compare(a, b)
    assert set(tables) == set(TABLE_COLUMNS)
    for name, table in tables.items():
        assert isinstance(table, pd.DataFrame) and list(table.columns) == TABLE_COLUMNS[name]
    from bench.tables import compare as centers  # the older per-pair view still imports

    assert len(centers(a, b)) == 4


@pytest.mark.parametrize(
    "factor, calibration_se, beyond",
    [
        (1.2, None, False),  # under 25%
        (5.0, None, True),  # calibrated noise on this machine stays far below 5x
        (5.0, 1.0, False),  # inside the noise the runs show: twice a log SE of 1 > log 5
    ],
)
def test_timing_changes_count_beyond_25_percent_and_the_noise(tiny, factor, calibration_se, beyond):
    a = bench.load(tiny.out)
    b = copy.deepcopy(a)
    b.curves["seconds"] *= factor
    for part in ("center", "lo", "hi"):
        b.summary[f"seconds_to_target_{part}"] *= factor
    if calibration_se is not None:
        b.trials["calibration_se"] = calibration_se
    tables = compare(a, b)
    assert tables["values"].empty
    timing = tables["timing"].dropna(subset=["ratio"])
    assert len(timing) and timing["ratio"].to_numpy() == pytest.approx(factor)
    assert timing["beyond_noise"].tolist() == [beyond] * len(timing)


@pytest.mark.slow
@pytest.mark.optional("numba")
def test_another_engine_is_named_and_its_values_compared_to_the_engines_agreement(
    runs, tmp_path, monkeypatch
):
    require_module("numba")  # run "a" trained its small populations compiled
    monkeypatch.setattr(bench.suite.compiled, "available", lambda: True)
    suite = write_suite(tmp_path, TINY, "numpy.toml")
    numpy_run = tmp_path / "numpy"
    bench.run(suite, out=numpy_run, jobs=1, progress=False, engine="numpy")
    a, b = bench.load(numpy_run), bench.load(runs["a"])
    tables = compare(a, b)
    assert tables["settings"].to_dict("records") == [
        {"setting": "engine", "change": "engine numpy -> auto"}
    ]
    other = {
        pair
        for pair, engine in changes.engines_of(b).items()
        if engine != changes.engines_of(a)[pair]
    }
    assert other  # the tiny suite's small populations train compiled under auto
    assert tables["values"].empty  # within 1e-9, the engines' agreement
    # the same trials compared at 1e-12 would show what the engines' rounding differs by
    merged = a.evaluation.merge(b.evaluation, on=changes.TRIAL_KEY, suffixes=("_a", "_b"))
    x, y = merged["final_train_loss_a"], merged["final_train_loss_b"]
    assert (abs(x - y) <= changes.ENGINE_RTOL * abs(y)).all()
