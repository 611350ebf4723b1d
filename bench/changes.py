"""What changed between two runs: ``bench.compare(a, b)`` and ``python -m bench compare A B``.

``compare(a, b)`` takes two ``bench.Results`` (``bench.load(DIR)``) and returns its tables as
pandas DataFrames, keyed by name:

- ``settings``: the suite settings that differ (``setting``, ``change``: "epochs 3 -> 5"),
  worded by ``bench.runner.changed_settings``; the suite's name too when it differs.
- ``pairs``: one row per dataset x method present in both runs: the tuned lr and
  hyperparameters in A and B, the evaluation trials matched (same phase, method, dataset, lr,
  hyperparameters and seed), how many of them differ in a loss, metric or divergence
  (``trials_differing``), the largest relative difference, and the test-loss centers.
- ``values``: every value that differs on a matched evaluation trial, one row per trial and
  column (``column``, ``a``, ``b``). Values are equal when exactly equal, both missing, or
  within 1e-12 relative (1e-9 for a pair whose evaluation each run trained on another engine,
  the engines' agreement): "identical results" means this table is empty, whatever the times.
- ``verdicts``: the verdicts that moved (dataset, criterion, method: ``verdict_a`` ->
  ``verdict_b``, against ``versus_a`` / ``versus_b``), on rows present in both runs.
- ``ranking``: the methods whose place, mean rank or verdict counts on the test loss moved.
- ``timing``: per pair and measure (seconds per epoch of the evaluation trials, seconds to
  the target) the values in A and B, their ratio, the noise the two runs show (twice the
  standard error of the log, from the timing calibration and the spread across seeds) and
  ``beyond_noise``: True when the ratio is off by 25% or more *and* outside that noise (and,
  for seconds to the target, the 95% intervals of A and B do not overlap).
- ``only``: the dataset x method pairs present in one run only (``only_in``: A or B).

The CLI (``format_text``, ``format_markdown``) prints the same, 100 columns wide at most.
``bench.compare`` is this module's ``compare``.
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bench.tables import Results

SETTING_KEYS = (
    "epochs",
    "seeds",
    "tuning_seeds",
    "extend_grid",
    "margin",
    "model",
    "methods",
    "datasets",
    "engine",
)
SETTING_DEFAULTS = {"engine": "numpy"}  # what a store from before the setting was trained with
TRIAL_KEY = ["phase", "method", "dataset", "lr", "hyperparameters", "seed"]
PAIR = ["dataset", "method"]
# compared as values: losses, metrics, divergence, and what follows from them epoch by epoch
VALUE_COLUMNS = [
    "final_train_loss",
    "final_val_loss",
    "best_val_loss",
    "best_epoch",
    "test_loss",
    "test_metric",
    "final_test_loss",
    "final_test_metric",
    "diverged",
    "diverged_epoch",
    "epochs_to_target",
]
RTOL = 1e-12
ENGINE_RTOL = 1e-9  # how far the NumPy and the compiled engine may differ (backprop/compiled.py)
TIME_TOLERANCE = 0.25  # a timing change under 25% is not a change
WIDTH = 100

TABLE_COLUMNS = {
    "settings": ["setting", "change"],
    "pairs": [
        *PAIR,
        "lr_a",
        "lr_b",
        "hyperparameters_a",
        "hyperparameters_b",
        "trials",
        "trials_differing",
        "max_rel_diff",
        "test_loss_a",
        "test_loss_b",
    ],
    "values": [*TRIAL_KEY, "column", "a", "b"],
    "verdicts": [
        "dataset",
        "criterion",
        "method",
        "verdict_a",
        "verdict_b",
        "versus_a",
        "versus_b",
    ],
    "ranking": [
        "method",
        "place_a",
        "place_b",
        "mean_rank_a",
        "mean_rank_b",
        "verdicts_a",
        "verdicts_b",
    ],
    "timing": [*PAIR, "measure", "a", "b", "ratio", "noise", "beyond_noise"],
    "only": [*PAIR, "only_in"],
}


def compare(a: Results, b: Results) -> dict[str, pd.DataFrame]:
    """What changed from run A to run B, as DataFrames (see the module's docstring)."""
    pairs_a, pairs_b = pair_set(a), pair_set(b)
    both = [p for p in pairs_a if p in pairs_b]
    only = [(*p, "A") for p in pairs_a if p not in pairs_b]
    only += [(*p, "B") for p in pairs_b if p not in pairs_a]
    pairs, values = compare_values(a, b, both)
    return {
        "settings": compare_settings(a.suite, b.suite),
        "pairs": pairs,
        "values": values,
        "verdicts": compare_verdicts(a.comparisons, b.comparisons, both),
        "ranking": compare_ranking(a.ranking, b.ranking),
        "timing": compare_timing(a, b, both),
        "only": pd.DataFrame(only, columns=TABLE_COLUMNS["only"]),
    }


def pair_keys(frame: pd.DataFrame) -> pd.Series:
    """The (dataset, method) of each row of ``frame``, as a Series of tuples."""
    keys = zip(frame["dataset"], frame["method"], strict=True)
    return pd.Series(list(keys), index=frame.index, dtype=object)


def pair_set(results: Results) -> list[tuple[str, str]]:
    """The dataset x method pairs of a run's summary, in its order."""
    return list(dict.fromkeys(pair_keys(results.summary)))


def compare_settings(a: dict, b: dict) -> pd.DataFrame:
    """The suite settings that differ, worded as when a changed suite reruns into a folder."""
    from bench.runner import changed_settings

    rows = []
    if a.get("name") != b.get("name"):
        rows.append(("name", f"name {a.get('name')!r} -> {b.get('name')!r}"))
    old = {k: a.get(k, SETTING_DEFAULTS.get(k)) for k in SETTING_KEYS}
    new = {k: b.get(k, SETTING_DEFAULTS.get(k)) for k in SETTING_KEYS}
    for change in changed_settings(old, new):
        rows.append((re.split(r"[ (]", change, maxsplit=1)[0], change))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["settings"])


def equal_values(a: pd.Series, b: pd.Series, rtol: float | np.ndarray = RTOL) -> np.ndarray:
    """Elementwise: equal, both missing, or within ``rtol`` relative."""
    x = pd.to_numeric(a.astype(object), errors="coerce").astype(float).to_numpy()
    y = pd.to_numeric(b.astype(object), errors="coerce").astype(float).to_numpy()
    with np.errstate(invalid="ignore"):
        close = np.abs(x - y) <= rtol * np.abs(y)
    return (x == y) | (np.isnan(x) & np.isnan(y)) | close


def engines_of(results: Results) -> dict[tuple[str, str], str]:
    """The engine of each dataset x method's evaluation populations ("numpy" for a store from
    before engines were recorded; "mixed" when they differ)."""
    engines: dict[tuple[str, str], str] = {}
    for population in results.suite.get("populations", []):
        if population["phase"] != "eval":
            continue
        pair, engine = (population["dataset"], population["method"]), population.get("engine")
        engine = engine or "numpy"
        engines[pair] = engine if engines.get(pair, engine) == engine else "mixed"
    return engines


def compare_values(a: Results, b: Results, both: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs table and the values that differ, on evaluation trials present in both."""
    eval_a = a.trials[a.trials["phase"] == "eval"]
    eval_b = b.trials[b.trials["phase"] == "eval"]
    matched = eval_a[TRIAL_KEY + VALUE_COLUMNS].merge(
        eval_b[TRIAL_KEY + VALUE_COLUMNS], on=TRIAL_KEY, suffixes=("_a", "_b")
    )
    matched = matched[pair_keys(matched).isin(both)].reset_index(drop=True)
    engines_a, engines_b = engines_of(a), engines_of(b)
    other = {p for p in both if engines_a.get(p, "numpy") != engines_b.get(p, "numpy")}
    rtol = np.where(pair_keys(matched).isin(other), ENGINE_RTOL, RTOL)
    differs = pd.DataFrame(index=matched.index)
    rel = pd.DataFrame(index=matched.index)
    rows = []
    for column in VALUE_COLUMNS:
        x, y = matched[f"{column}_a"], matched[f"{column}_b"]
        differs[column] = ~equal_values(x, y, rtol)
        fx = pd.to_numeric(x.astype(object), errors="coerce").astype(float)
        fy = pd.to_numeric(y.astype(object), errors="coerce").astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel[column] = ((fy - fx).abs() / np.maximum(fx.abs(), fy.abs())).where(
                differs[column], 0.0
            )
        for i in np.flatnonzero(differs[column].to_numpy()):
            row = matched.iloc[i]
            rows.append((*row[TRIAL_KEY], column, row[f"{column}_a"], row[f"{column}_b"]))
    values = pd.DataFrame(rows, columns=TABLE_COLUMNS["values"])
    matched["differs"] = differs.any(axis=1)
    matched["rel"] = rel.fillna(np.inf).max(axis=1) if len(rel.columns) else 0.0
    summary_a = a.summary.set_index(PAIR)
    summary_b = b.summary.set_index(PAIR)
    pairs = []
    for pair in both:
        here = matched[(matched["dataset"] == pair[0]) & (matched["method"] == pair[1])]
        sa, sb = summary_a.loc[pair], summary_b.loc[pair]
        pairs.append(
            (
                *pair,
                sa["lr"],
                sb["lr"],
                sa["hyperparameters"],
                sb["hyperparameters"],
                len(here),
                int(here["differs"].sum()),
                float(here["rel"].max()) if len(here) else np.nan,
                sa["test_loss_center"],
                sb["test_loss_center"],
            )
        )
    return pd.DataFrame(pairs, columns=TABLE_COLUMNS["pairs"]), values


def compare_verdicts(a: pd.DataFrame, b: pd.DataFrame, both: list) -> pd.DataFrame:
    """The verdicts that moved, on dataset x criterion x method rows of pairs in both runs."""
    on = ["dataset", "criterion", "method"]
    merged = a[[*on, "verdict", "versus"]].merge(
        b[[*on, "verdict", "versus"]], on=on, suffixes=("_a", "_b")
    )
    merged = merged[pair_keys(merged).isin(both)]
    moved = merged[merged["verdict_a"].fillna("") != merged["verdict_b"].fillna("")]
    return moved[TABLE_COLUMNS["verdicts"]].reset_index(drop=True)


def verdict_counts(row: pd.Series) -> str:
    """'2 best, 1 worse': a ranking row's verdict counts on the test loss, zeros left out."""
    from bench.stats import VERDICTS

    return ", ".join(f"{int(row[v])} {v}" for v in VERDICTS if row.get(v, 0)) or "-"


def compare_ranking(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The methods (in both rankings) whose place, mean rank or verdict counts moved."""
    rows = []
    place_a = {m: i + 1 for i, m in enumerate(a["method"])}
    place_b = {m: i + 1 for i, m in enumerate(b["method"])}
    ra, rb = a.set_index("method"), b.set_index("method")
    for method in b["method"]:
        if method not in place_a:
            continue
        row = (
            method,
            place_a[method],
            place_b[method],
            ra.loc[method, "mean_rank"],
            rb.loc[method, "mean_rank"],
            verdict_counts(ra.loc[method]),
            verdict_counts(rb.loc[method]),
        )
        same_rank = equal_values(pd.Series([row[3]]), pd.Series([row[4]]))[0]
        if row[1] != row[2] or not same_rank or row[5] != row[6]:
            rows.append(row)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["ranking"])


def seconds_per_epoch(results: Results) -> pd.DataFrame:
    """Per pair: the geometric mean over evaluation trials of seconds per epoch, and the
    standard error of its log across them."""
    curves = results.curves[(results.curves["phase"] == "eval") & (results.curves["epoch"] > 0)]
    last = curves.sort_values("epoch").groupby([*PAIR, "lr", "hyperparameters", "seed"]).last()
    last = last[last["seconds"] > 0]
    logs = np.log(last["seconds"] / last["epoch"]).groupby(level=PAIR)
    se = (logs.std(ddof=1) / np.sqrt(logs.count())).fillna(0.0)
    return pd.DataFrame({"center": np.exp(logs.mean()), "se": se})


def compare_timing(a: Results, b: Results, both: list) -> pd.DataFrame:
    """Seconds per epoch and seconds to the target in A and B, and whether each moved beyond
    25% and the runs' own noise."""
    speed_a, speed_b = seconds_per_epoch(a), seconds_per_epoch(b)
    calib_a = a.trials.groupby(PAIR)["calibration_se"].max()
    calib_b = b.trials.groupby(PAIR)["calibration_se"].max()
    summary_a, summary_b = a.summary.set_index(PAIR), b.summary.set_index(PAIR)
    rows = []
    for pair in both:
        calibration = np.nansum([calib_a.get(pair, np.nan) ** 2, calib_b.get(pair, np.nan) ** 2])
        measures = []
        if pair in speed_a.index and pair in speed_b.index:
            sa, sb = speed_a.loc[pair], speed_b.loc[pair]
            var = calibration + sa["se"] ** 2 + sb["se"] ** 2
            measures.append(("seconds_per_epoch", sa["center"], sb["center"], var, True))
        ta, tb = summary_a.loc[pair], summary_b.loc[pair]
        lo_a, hi_a = ta["seconds_to_target_lo"], ta["seconds_to_target_hi"]
        lo_b, hi_b = tb["seconds_to_target_lo"], tb["seconds_to_target_hi"]
        apart = bool(hi_a < lo_b or hi_b < lo_a)
        x, y = ta["seconds_to_target_center"], tb["seconds_to_target_center"]
        measures.append(("seconds_to_target", x, y, calibration, apart))
        for measure, x, y, var, apart in measures:
            if not (np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0):
                rows.append((*pair, measure, x, y, np.nan, np.nan, False))
                continue
            log_ratio, noise = np.log(y / x), 2 * np.sqrt(var)
            beyond = abs(log_ratio) >= np.log1p(TIME_TOLERANCE) and abs(log_ratio) > noise and apart
            rows.append((*pair, measure, x, y, y / x, float(np.expm1(noise)), bool(beyond)))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS["timing"])


def centers(a: Results, b: Results) -> pd.DataFrame:
    """The centers of A and B side by side, per dataset x method at each run's tuned lr
    (``bench.tables.compare``, the older view: ``compare`` says what changed).

    Columns: dataset, method, lr_a, lr_b, then for test_loss, epochs_to_target and
    seconds_to_target the means in A and B and delta = B - A, and ``changed``: the metrics
    whose 95% intervals in A and B do not overlap (empty when none). Pairs in only one run
    are listed with NaN for the other.
    """
    on = ["dataset", "method"]
    merged = a.summary.merge(b.summary, on=on, how="outer", suffixes=("_a", "_b"), sort=False)
    table = merged[on].copy()
    table["lr_a"], table["lr_b"] = merged["lr_a"], merged["lr_b"]
    changed = pd.Series([[] for _ in range(len(merged))], index=merged.index)
    for metric in ("test_loss", "epochs_to_target", "seconds_to_target"):
        mean_a, mean_b = merged[f"{metric}_center_a"], merged[f"{metric}_center_b"]
        table[f"{metric}_a"], table[f"{metric}_b"] = mean_a, mean_b
        table[f"{metric}_delta"] = mean_b - mean_a
        apart = (merged[f"{metric}_hi_a"] < merged[f"{metric}_lo_b"]) | (
            merged[f"{metric}_hi_b"] < merged[f"{metric}_lo_a"]
        )
        for i in np.flatnonzero(apart.to_numpy()):
            changed.iloc[i].append(metric)
    table["changed"] = changed.map(", ".join)
    return table


# ------------------------------------------------------------------------------ the CLI


def number(value) -> str:
    """A value as the CLI shows it: 4 significant digits, '-' when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def arrow(a, b) -> str:
    """'a -> b', or 'a' when both are the same."""
    return number(a) if number(a) == number(b) else f"{number(a)} -> {number(b)}"


def sections(tables: dict[str, pd.DataFrame]) -> list[tuple[str, list[str], pd.DataFrame]]:
    """The report as (title, sentences, table to show, possibly empty), in order."""
    out = []
    pairs, only = tables["pairs"], tables["only"]
    n = len(pairs)
    settings = tables["settings"]
    if len(settings):
        words = ["Suite settings that differ, A -> B: " + "; ".join(settings["change"]) + "."]
        out.append(("Settings", words, pd.DataFrame()))
    else:
        out.append(("Settings", ["The two suites have the same settings."], pd.DataFrame()))

    verdicts = tables["verdicts"]
    results_verdicts = verdicts[verdicts["criterion"] != "seconds_to_target"]
    if len(results_verdicts):
        flipped = ", ".join(dict.fromkeys(results_verdicts["dataset"]))
        words = [f"{len(results_verdicts)} verdict(s) moved, on {flipped}:"]
        shown = results_verdicts.assign(
            verdict=results_verdicts["verdict_a"] + " -> " + results_verdicts["verdict_b"],
            versus=results_verdicts["versus_a"].fillna("-")
            + " -> "
            + results_verdicts["versus_b"].fillna("-"),
        )[["dataset", "criterion", "method", "verdict", "versus"]]
        out.append(("Verdicts", words, shown))
    else:
        out.append(("Verdicts", ["No verdict on losses or errors moved."], pd.DataFrame()))

    ranking = tables["ranking"]
    if len(ranking):
        words = ["Ranking on the test loss, methods that moved (place 1 is the best):"]
        shown = pd.DataFrame(
            {
                "method": ranking["method"],
                "place": ranking["place_a"].astype(str) + " -> " + ranking["place_b"].astype(str),
                "mean rank": ranking["mean_rank_a"].map(number)
                + " -> "
                + ranking["mean_rank_b"].map(number),
                "verdicts A": ranking["verdicts_a"],
                "verdicts B": ranking["verdicts_b"],
            }
        )
        out.append(("Ranking", words, shown))
    else:
        out.append(("Ranking", ["The ranking is the same."], pd.DataFrame()))

    trials = int(pairs["trials"].sum())
    moved = pairs[
        (pairs["trials_differing"] > 0)
        | (pairs["lr_a"] != pairs["lr_b"])
        | (pairs["hyperparameters_a"] != pairs["hyperparameters_b"])
    ]
    unmatched = pairs[pairs["trials"] == 0]
    if not len(moved) and not len(unmatched) and n:
        words = [
            f"identical results: the losses, metrics and divergence of all {trials} evaluation "
            f"trials in the {n} method-dataset pairs present in both runs."
        ]
        out.append(("Results", words, pd.DataFrame()))
    else:
        differing = int(pairs["trials_differing"].sum())
        words = [
            f"{len(moved)} of {n} method-dataset pairs present in both runs changed in "
            f"losses, metrics or divergence ({differing} of {trials} matched evaluation trials "
            "differ; the trials of a moved tuned lr match none)."
        ]
        shown = pd.DataFrame(
            {
                "dataset": moved["dataset"],
                "method": moved["method"],
                "lr": [arrow(x, y) for x, y in zip(moved["lr_a"], moved["lr_b"], strict=True)],
                "differ": moved["trials_differing"].astype(str)
                + " of "
                + moved["trials"].astype(str),
                "test_loss A": moved["test_loss_a"].map(number),
                "test_loss B": moved["test_loss_b"].map(number),
            }
        )
        out.append(("Results", words, shown))

    timing = tables["timing"]
    beyond = timing[timing["beyond_noise"]]
    speed_flips = verdicts[verdicts["criterion"] == "seconds_to_target"]
    rule = (
        f"A timing change under {TIME_TOLERANCE:.0%}, or inside the noise the two runs "
        "show (calibration and spread across seeds), is not a change."
    )
    if len(beyond):
        words = [rule, f"{len(beyond)} timing(s) moved beyond both:"]
        shown = beyond.assign(
            a=beyond["a"].map(number),
            b=beyond["b"].map(number),
            ratio=beyond["ratio"].map(lambda r: f"x{r:.2f}"),
            noise=beyond["noise"].map(lambda r: f"{r:.0%}"),
        )[["dataset", "method", "measure", "a", "b", "ratio", "noise"]]
    else:
        words = [rule, f"No timing moved beyond them ({len(timing)} timings)."]
        shown = pd.DataFrame()
    if len(speed_flips):
        words.append(
            "Speed verdicts (seconds_to_target) that moved: "
            + "; ".join(
                f"{r.dataset} {r.method} {r.verdict_a} -> {r.verdict_b}"
                for r in speed_flips.itertuples()
            )
            + "."
        )
    out.append(("Timing", words, shown))

    if len(only):
        words = [f"{len(only)} method-dataset pair(s) in one run only, not counted above:"]
        out.append(("In one run only", words, only))
    return out


def format_text(tables: dict[str, pd.DataFrame], dir_a, dir_b) -> str:
    """The comparison as plain text, WIDTH columns at most."""
    lines = [f"A = {dir_a}", f"B = {dir_b}"]
    for title, words, table in sections(tables):
        lines += ["", f"{title}:"]
        for sentence in words:
            lines += textwrap.wrap(
                sentence,
                WIDTH - 2,
                initial_indent="  ",
                subsequent_indent="  ",
                break_on_hyphens=False,
            )
        if len(table):
            text = table.map(number).to_string(index=False)
            lines += ["  " + line.rstrip() for line in text.splitlines()]
    return "\n".join(line[:WIDTH] for line in lines) + "\n"


def markdown_table(table: pd.DataFrame) -> list[str]:
    """A DataFrame as the lines of a Markdown table."""

    def cell(value) -> str:
        return number(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, table.columns)) + " |"]
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return lines


def format_markdown(tables: dict[str, pd.DataFrame], dir_a, dir_b) -> str:
    """The same comparison as Markdown: a heading per section, its words, its table."""
    lines = ["# Comparison", "", f"A = `{dir_a}`  ", f"B = `{dir_b}`"]
    for title, words, table in sections(tables):
        lines += ["", f"## {title}", ""]
        for sentence in words:
            lines += textwrap.wrap(sentence, WIDTH, break_on_hyphens=False)
        if len(table):
            lines += ["", *markdown_table(table)]
    return "\n".join(lines) + "\n"
