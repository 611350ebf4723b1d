"""The benchmark report: DIR/report.md and DIR/report.html, rebuilt from the store without training.

``write_report(results)`` draws the figures (``bench.plots``) into DIR/figures and writes
both files from one outline of sections, in this order:

    1. conclusions    in words: what the ranks across datasets separate (Friedman, Nemenyi
                      critical difference), one line per dataset on test loss and one on
                      speed (best; equivalent; inconclusive; worse), where the criteria
                      disagree, the caveats that apply, the evaluation seeds that would
                      settle each inconclusive comparison, and the training and validation
                      loss curves
    2. setup          suite, protocol (tuning and evaluation seeds, score, extension,
                      margin), datasets, methods and lr grids, tuning budgets, machine
    3. one section per dataset: the tuned configuration, geometric means [95% interval] of
                      the criteria, and each method's verdict against the best per criterion
    4. ranking        mean rank on test loss with the verdict counts (not the headline)
    5. figures        every figure with a caption that says what to read off it
    6. notes          divergences and what is missing

Everything but the learning-rate sensitivity figure comes from the evaluation trials.
The HTML is one self-contained file (images as base64 data URIs, inline CSS, no scripts,
fonts or links to elsewhere) that reads on a laptop or a phone and prints, every figure at
the same scale. The Markdown refers to the figures (PNG or SVG) by relative path. Every
text, including names from suite files, is escaped when it is written (``html.escape``),
never before.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bench import metrics, plots, stats

# ------------------------------------------------------------------------------ the outline


@dataclass
class Paragraph:
    """Plain text (escaped when written)."""

    text: str


@dataclass
class Bullets:
    """A bulleted list of plain-text items."""

    items: list[str]


@dataclass
class Table:
    """A table of plain-text cells; ``numeric`` columns are right-aligned."""

    header: list[str]
    rows: list[list[str]]
    id: str | None = None
    numeric: tuple[int, ...] = ()


@dataclass
class Figure:
    """A figure file with its title and a caption that says what to read off it.

    path: the PNG or SVG the report shows (for a PDF figure, the PNG drawn beside it)."""

    path: Path
    title: str
    caption: str


@dataclass
class Section:
    """A titled section; ``level`` 2 is a chapter, 3 a sub-section."""

    id: str
    title: str
    blocks: list = field(default_factory=list)
    level: int = 2


# ------------------------------------------------------------------------------ entry point


def write_report(
    results,
    figures: dict[str, tuple[Path, object]] | None = None,
    jobs: int = 1,
    format: str = "png",
    reuse: bool = True,
    meanwhile: Callable[[], object] | None = None,
) -> Path:
    """Write DIR/figures/*.<format>, DIR/report.md and DIR/report.html; return the HTML's path.

    results: a ``bench.Results`` (``bench.load(DIR)`` or ``bench.run(...)``); DIR is
    ``results.out``. figures: the output of ``plots.draw_figures`` when already drawn;
    by default they are drawn here, into DIR/figures, by ``jobs`` processes, as ``format``
    (png, svg or pdf; the HTML embeds PNG or SVG, and for PDF the PNG drawn beside it).
    reuse: keep the figures that DIR/figures/figures.json says were drawn from the same
    results, format and code (``bench.plots.manifest``), their files untouched; the
    report's text is written afresh either way. meanwhile: work of the caller's (e.g.
    ``results.write_tables``) done while the figures are drawn, by this process while
    others draw (``plots.draw_figures``), as is the text of the sections that show none.
    """
    out = Path(results.out)
    out.mkdir(parents=True, exist_ok=True)
    text: dict[str, list[Section]] = {}

    def alongside() -> None:  # while the figures are drawn
        if meanwhile is not None:
            meanwhile()
        text["sections"] = text_sections(results)

    if figures is None:
        figures = plots.draw_figures(
            results, out / "figures", jobs=jobs, format=format, reuse=reuse, meanwhile=alongside
        )
    elif meanwhile is not None:
        meanwhile()
    title = f"Optimizer benchmark: {results.suite.get('name', out.name)}"
    sections = report_sections(results, figures, text.get("sections"))
    (out / "report.md").write_text(to_markdown(title, sections, out), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(to_html(title, sections), encoding="utf-8")
    return html_path


def report_sections(
    results, drawn: dict[str, tuple[Path, object]], text: list[Section] | None = None
) -> list[Section]:
    """The report's outline: conclusions, setup, one section per dataset, ranking, figures,
    notes. drawn: ``plots.draw_figures``' {key: (path, data)}; text: ``text_sections``
    when already written."""
    figures = {key: shown(path) for key, (path, _) in drawn.items()}
    paths = drawn.get("optimizer_paths", (None, None))[1]
    *middle, last = text_sections(results) if text is None else text
    return [conclusions(results, figures), *middle, figure_section(figures, paths), last]


def text_sections(results) -> list[Section]:
    """The sections that show no figure: setup, one per dataset, ranking, and notes last."""
    return [
        setup(results),
        *[dataset_section(results, name) for name in datasets_of(results)],
        ranking_section(results),
        notes(results),
    ]


def datasets_of(results) -> list[str]:
    """The datasets with a summary row, in suite order."""
    present = set(results.summary["dataset"])
    listed = [d for d in results.suite.get("datasets", {}) if d in present]
    return listed + [d for d in dict.fromkeys(results.summary["dataset"]) if d not in listed]


# ------------------------------------------------------------------------------ formatting


def number(value, digits: int = 3) -> str:
    """A value with ``digits`` significant digits; '–' for NaN or None."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def with_ci(mean, lo, hi, digits: int = 3) -> str:
    """'mean [lo, hi]', the 95% interval in brackets; '–' when there is no mean.

    The space inside the brackets is a no-break space, so a narrow table cell wraps the
    interval onto its own line but never splits it.
    """
    if mean is None or not np.isfinite(mean):
        return "–"
    return f"{number(mean, digits)} [{number(lo, digits)},\u00a0{number(hi, digits)}]"


def anchor(prefix: str, name: str) -> str:
    """An HTML id from a name: prefix-name, the name as in a file name (``plots.slug``)."""
    return f"{prefix}-{plots.slug(name).lower()}"


CRITERION_NAMES = {
    "test_loss": "test loss",
    "test_error": "test error",
    "final_train_loss": "final training loss",
    "seconds_to_target": "seconds to target",
}


def percent(value: float) -> str:
    """A fraction as a percentage: 0.05 -> '5%'."""
    return f"{100 * value:.3g}%"


def relative(rel_diff, lo=None, hi=None) -> str:
    """A relative difference to the best, with its interval when given: '+35% [+12%, +60%]'
    ('×3.1' from a ratio of 2 up)."""
    shown = plots.ratio_text(rel_diff)
    if lo is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return shown
    return f"{shown} [{plots.ratio_text(lo)},\u00a0{plots.ratio_text(hi)}]"


def names(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def comparisons_of(results, dataset: str, criterion: str) -> pd.DataFrame:
    """The comparison rows of one dataset and criterion, the best first."""
    table = results.comparisons
    return table[(table["dataset"] == dataset) & (table["criterion"] == criterion)]


def sentence(text: str) -> str:
    """Text with a capital first letter and a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def margin_of(results) -> float:
    return float(results.suite.get("margin", 0.05))


def seconds_text(value) -> str:
    """Seconds with a unit: '0.0146 s', '3.72 s'."""
    return "–" if value is None or not np.isfinite(value) else f"{number(value)} s"


# ------------------------------------------------------------------------------ 1. conclusions


def conclusions(results, figures: dict[str, Path]) -> Section:
    """The findings in words, then the caveats and the headline figure (see the module)."""
    if results.evaluation.empty:
        return Section(
            "conclusions",
            "Conclusions",
            [
                Paragraph(
                    "No evaluation trial is in the store yet (the run was interrupted before "
                    "it evaluated anything), so there is nothing to conclude; rerun the suite "
                    "to complete it."
                )
            ],
        )
    seeds = len(results.suite.get("seeds", []))
    margin = margin_of(results)
    intro = Paragraph(
        f"Every verdict below comes from the {seeds} evaluation seeds, which took no part in "
        "choosing the learning rates. On each dataset the method with the lowest geometric "
        "mean is the best, and every other method is compared with it seed by seed (the "
        "same seed starts both from the same weights). Worse: significantly worse, after "
        "correcting for the number of comparisons and for having picked the best from the "
        f"same data, by more than the margin of {percent(margin)}. Equivalent: the 90% "
        f"interval of the difference lies within ±{percent(margin)}. Inconclusive: neither; "
        "these seeds cannot tell. Differences are relative to the best, with their "
        "simultaneous 95% interval in brackets."
    )
    across: list = [Paragraph(across_datasets(results))]
    if "critical_difference" in figures:
        title, caption = caption_for("critical_difference")
        across.append(Figure(figures["critical_difference"], title, caption))
    speed_intro = Paragraph(
        "Seconds until the training loss first reached the dataset's target loss, a "
        "calibrated estimate of what one trial costs alone; a trial that never reached it "
        "counts at the cost of all its epochs plus one, so it stays slower than any trial "
        "that did."
    )
    blocks: list = [
        intro,
        Section("conclusions-across", "Across datasets", across, level=3),
        Section(
            "conclusions-quality",
            "Per dataset: test loss",
            [Bullets([verdict_line(results, d, "test_loss") for d in datasets_of(results)])],
            level=3,
        ),
        Section(
            "conclusions-speed",
            "Per dataset: speed (seconds to target)",
            [
                speed_intro,
                Bullets(
                    [verdict_line(results, d, "seconds_to_target") for d in datasets_of(results)]
                ),
            ],
            level=3,
        ),
        Section(
            "conclusions-disagreements", "Where the criteria disagree", disagreements(results), 3
        ),
        Section("conclusions-caveats", "Caveats", [Bullets(caveats(results))], level=3),
        Section("conclusions-seeds", "Seeds needed", seeds_needed_blocks(results), level=3),
    ]
    if "loss_vs_epoch" in figures:
        title, caption = caption_for("loss_vs_epoch")
        blocks.append(
            Section(
                "conclusions-curves",
                "Training and validation loss",
                [Figure(figures["loss_vs_epoch"], title, caption)],
                level=3,
            )
        )
    return Section("conclusions", "Conclusions", blocks)


def across_datasets(results) -> str:
    """The Friedman test and what the Nemenyi critical difference separates, in words."""
    friedman = results.friedman
    k = 0 if friedman is None else len(friedman.mean_rank)
    n = 0 if friedman is None else friedman.n_datasets
    if friedman is None or not np.isfinite(friedman.p_value):
        return (
            f"With {n} dataset(s) and {k} method(s) there is no Friedman test across datasets "
            "(it needs at least 2 datasets and 3 methods): the per-dataset verdicts below are "
            "all these results say."
        )
    ranks = ", ".join(f"{m} {r:.2f}" for m, r in friedman.mean_rank.items())
    p, cd = friedman.p_value, friedman.critical_difference
    measured = (
        f"Ranked by geometric mean test loss on each of the {n} datasets (1 = best), the "
        f"mean ranks are: {ranks}."
    )
    if p >= 0.05:
        return (
            f"{measured} The Friedman test does not reject equal ranks at the 0.05 level "
            f"(p = {p:.2g}), so nothing is separated: across these {n} datasets no method is "
            "shown better or worse than another (two mean ranks would also have to differ "
            f"by more than the Nemenyi critical difference, {cd:.2f}). {worse_counts(results)}"
        )
    if not friedman.separated:
        return (
            f"{measured} The Friedman test finds that the ranks differ (p = {p:.2g}), but no "
            f"two methods' mean ranks are further apart than the Nemenyi critical difference "
            f"({cd:.2f}): nothing is separated at {n} datasets. {worse_counts(results)}"
        )
    worse_than: dict[str, list[str]] = {}
    for better, worse in friedman.separated:
        worse_than.setdefault(worse, []).append(better)
    order = list(friedman.mean_rank.index)
    found = "; ".join(
        f"{worse} is worse than {names(better)}"
        for worse, better in sorted(worse_than.items(), key=lambda item: -order.index(item[0]))
    )
    pairs = k * (k - 1) // 2
    rest = (
        f"; the rest are not separated at {n} datasets"
        if len(friedman.separated) < pairs
        else f"; every pair is separated at {n} datasets"
    )
    return (
        f"{measured} The Friedman test finds that the ranks differ (p = {p:.2g}). By the "
        f"Nemenyi critical difference ({cd:.2f} mean ranks): {found}{rest}. "
        f"{worse_counts(results)}"
    )


def worse_counts(results) -> str:
    """'Dataset by dataset (below), on test loss, gd was worse than the best on 5 of 7
    datasets, minibatch on 3, ...'; '' without a ranking."""
    ranking = results.ranking.sort_values("worse", ascending=False, kind="stable")
    if ranking.empty:
        return ""
    first, *others = list(ranking.itertuples())
    counts = "".join(f", {r.method} on {int(r.worse)}" for r in others)
    return (
        f"Dataset by dataset (below), on test loss, {first.method} was worse than the best "
        f"on {int(first.worse)} of {int(first.datasets)} datasets{counts}."
    )


def verdict_line(results, dataset: str, criterion: str) -> str:
    """'moons: best adam (0.081); equivalent to it: nadam; inconclusive: sgd, adagrad;
    worse: gd (+35% [+12%, +60%])' for one dataset and criterion."""
    rows = comparisons_of(results, dataset, criterion)
    speed = criterion == "seconds_to_target"
    best = rows[rows["verdict"] == "best"]
    if best.empty:
        return f"{dataset}: no method has a finite {CRITERION_NAMES[criterion]}."
    top = best.iloc[0]
    value = seconds_text(top["center"]) if speed else number(top["center"])
    parts = [f"{'fastest' if speed else 'best'} {top['method']} ({value})"]
    groups = {v: rows[rows["verdict"] == v] for v in ("equivalent", "inconclusive", "worse")}
    if len(groups["equivalent"]):
        parts.append(f"equivalent to it: {', '.join(groups['equivalent']['method'])}")
    if len(groups["inconclusive"]):
        parts.append(f"inconclusive: {', '.join(groups['inconclusive']['method'])}")
    if len(groups["worse"]):
        worse = ", ".join(
            f"{r.method} ({relative(r.rel_diff, r.rel_diff_lo, r.rel_diff_hi)}"
            + (ALIKE if speed and np.isclose(r.rel_diff_lo, r.rel_diff_hi) else "")
            + ")"
            for r in groups["worse"].sort_values("rel_diff").itertuples()
        )
        parts.append(f"{'slower' if speed else 'worse'}: {worse}")
    line = f"{dataset}: " + "; ".join(parts)
    if speed and not _reached_by_any(results, dataset):
        line += " (no trial reached the target: these are the costs of all epochs)"
    return line


# a speed difference with no spread: every seed needed the same epochs, so the ratio is that
# of the two methods' calibrated costs per epoch, one timing each
ALIKE = ", every seed alike: the ratio of the calibrated costs per epoch"


def _reached_by_any(results, dataset: str) -> bool:
    evaluation = results.evaluation
    return bool(evaluation.loc[evaluation["dataset"] == dataset, "target_reached"].any())


def disagreements(results) -> list:
    """Per dataset where the four criteria do not pick the same best method: each one's
    best, and how the test-loss best fares on that criterion."""
    rows = []
    for dataset in datasets_of(results):
        tables = {
            c: comparisons_of(results, dataset, c).set_index("method") for c in stats.CRITERIA
        }
        tops = {c: lowest(table) for c, table in tables.items()}
        leader = tops["test_loss"][0] if len(tops["test_loss"]) == 1 else None
        if leader is None or all(leader in top for top in tops.values()):
            continue
        cells = [dataset]
        for criterion, top in tops.items():
            cell = ", ".join(top) or "–"
            if len(top) > 1:
                cell = f"tied: {cell}"
            if top and leader not in top and leader in tables[criterion].index:
                row = tables[criterion].loc[leader]
                cell += f" ({leader}: {row['verdict']}, {plots.ratio_text(row['rel_diff'])})"
            cells.append(cell)
        rows.append(cells)
    if not rows:
        return [
            Paragraph(
                "Test loss, test error, final training loss and seconds to target pick the "
                "same best method on every dataset."
            )
        ]
    header = ["dataset", *(f"best on {CRITERION_NAMES[c]}" for c in stats.CRITERIA)]
    note = Paragraph(
        "The best method (lowest geometric mean; 'tied' when several share it) on each "
        "criterion, on the datasets where the test-loss best is not also best on another "
        "criterion. In brackets: the verdict on the test-loss best by that criterion, and "
        "its difference to that criterion's best. A lower final training loss with a higher "
        "test loss is overfitting; a fast method that ends worse trades quality for speed."
    )
    return [note, Table(header, rows, "disagreements")]


def lowest(table: pd.DataFrame) -> list[str]:
    """The methods of one dataset and criterion that share the lowest centre."""
    centers = table["center"].astype(float)
    if centers.notna().sum() == 0:
        return []
    low = centers.min()
    return [m for m, c in centers.items() if np.isclose(c, low, rtol=1e-9, atol=0)]


# ------------------------------------------------------------------------------ caveats


def caveats(results) -> list[str]:
    """The caveats that apply to these results, each one sentence or two; the last, that
    the times are a calibrated estimate, always applies."""
    found = [
        edge_caveat(results),
        budget_caveat(results),
        pairs_caveat(results),
        target_caveat(results),
        divergence_caveat(results),
        cpu_caveat(results),
    ]
    found.append(time_caveat(results))
    return [c for c in found if c]


def time_caveat(results) -> str:
    """That the times are a calibrated estimate, and what that leaves out."""
    time_axis = results.provenance.get("time_axis") or (
        "what one trial costs alone, from a calibration run by its worker"
    )
    time_axis = time_axis.strip().removesuffix(".").removesuffix("; a calibrated estimate")
    return (
        "Times are a calibrated estimate, not measured wall time. The time axis is "
        f"{time_axis}. A method's "
        "cost per epoch on a dataset is one calibration shared by all its evaluation seeds, "
        "which pairing by seed cannot cancel: the intervals on seconds add the spread of the "
        "calibration's own rounds to the spread of epochs to the target. They cannot include "
        "what the rounds did not see, such as the machine slowing down between two "
        "calibrations, so read a difference in seconds of a few percent as noise."
    )


def edge_caveat(results) -> str | None:
    """The tuned lrs still at an edge of the lrs tried, or None."""
    summary = results.summary
    edge = summary[summary["lr_at_edge"].astype(bool)]
    if edge.empty:
        return None
    where = ", ".join(f"{r.method} on {r.dataset} (lr {r.lr:.3g})" for r in edge.itertuples())
    limit = results.suite.get("extend_grid", 0)
    return (
        f"Learning rate at a grid edge: {where}. Each is the smallest or largest lr tried, "
        f"even after extending the grid (at most {limit} new lr(s) per side): a better lr "
        "may lie beyond it, so the verdicts may understate that method there."
    )


def budget_caveat(results) -> str | None:
    """Tuning budgets (tuning trials) that differ between methods, or None."""
    summary = results.summary
    if summary.groupby("dataset")["tuning_trials"].nunique().le(1).all():
        return None
    spans = []
    for method, trials in summary.groupby("method", sort=False)["tuning_trials"]:
        low, high = int(trials.min()), int(trials.max())
        spans.append(f"{method} {low}" if low == high else f"{method} {low}–{high}")
    return (
        f"Unequal tuning budgets: tuning trials per dataset were {', '.join(spans)} (grid "
        "points x searched combinations x tuning seeds, extensions included). A method "
        "tuned with more trials had more chances to find a good configuration."
    )


def pairs_caveat(results) -> str | None:
    """Comparisons with fewer than 3 paired seeds (always inconclusive), or None."""
    table = results.comparisons
    others = table[table["verdict"] != "best"]
    few = others[others["n_pairs"] < stats.MIN_PAIRS]
    if few.empty:
        return None
    seeds = len(results.suite.get("seeds", []))
    if seeds < stats.MIN_PAIRS:
        return (
            f"Too few pairs: with {seeds} evaluation seed(s) every comparison has fewer than "
            f"{stats.MIN_PAIRS} paired seeds, so every verdict but best is inconclusive by "
            f"rule. Run with seeds = {stats.MIN_PAIRS} or more for verdicts."
        )
    where = []
    for (dataset, method), rows in few.groupby(["dataset", "method"], sort=False):
        criteria = ", ".join(CRITERION_NAMES[c] for c in rows["criterion"])
        where.append(f"{method} on {dataset} ({criteria}: {int(rows['n_pairs'].min())} pairs)")
    return (
        f"Too few pairs: {'; '.join(where)}. With fewer than {stats.MIN_PAIRS} seeds where "
        "both it and the best have a finite value, a comparison is inconclusive by rule."
    )


def target_caveat(results) -> str | None:
    """Datasets whose target no evaluation trial reached, or None."""
    epochs = results.suite.get("epochs", "?")
    missed = []
    for dataset in datasets_of(results):
        target = results.suite.get("datasets", {}).get(dataset, {}).get("target_loss")
        if target is not None and not _reached_by_any(results, dataset):
            missed.append(f"{dataset} (target {number(target)})")
    if not missed:
        return None
    return (
        f"Target never reached: no method reached the target training loss on "
        f"{', '.join(missed)} within {epochs} epochs. Every seconds to target there is "
        f"censored at the cost of {epochs} + 1 epochs, so its speed verdicts compare the "
        "cost of an epoch, not the time to the target."
    )


def divergence_caveat(results) -> str | None:
    """Evaluation trials that diverged, or None."""
    summary = results.summary
    diverged = summary[summary["diverged_count"] > 0]
    if diverged.empty:
        return None
    where = ", ".join(
        f"{r.method} on {r.dataset} ({int(r.diverged_count)} of {int(r.n_seeds)} seeds)"
        for r in diverged.itertuples()
    )
    return (
        f"Divergences in evaluation: {where}. The test loss of such a trial is that of its "
        "early-stopped model, from before the divergence; its final training loss counts at "
        "the loss before training."
    )


def cpu_caveat(results) -> str | None:
    """Datasets whose evaluation seconds come from more than one CPU model, or None."""
    evaluation = results.evaluation
    mixed = []
    for dataset in datasets_of(results):
        cpus = evaluation.loc[evaluation["dataset"] == dataset, "cpu"].dropna().unique()
        if len(cpus) > 1:
            mixed.append(f"{dataset} ({'; '.join(map(str, cpus))})")
    if not mixed:
        return None
    return (
        f"Different CPUs: the seconds of one comparison come from different CPUs on "
        f"{', '.join(mixed)}, so its speed verdicts compare machines as well as methods."
    )


# ------------------------------------------------------------------------------ seeds needed


def seeds_needed(results) -> pd.DataFrame:
    """For each inconclusive comparison on test loss: how many evaluation seeds would settle it.

    Columns: dataset, method, versus, n_pairs, seeds (``stats.seeds_needed`` on the
    per-seed log(test_loss / best's test_loss), losses floored at 1e-12; None when it cannot
    be estimated or would exceed 10,000), estimable (False when there are fewer than 2
    finite pairs, or no spread and no difference).
    """
    evaluation = results.evaluation
    margin = margin_of(results)
    rows = []
    for dataset in datasets_of(results):
        table = comparisons_of(results, dataset, "test_loss")
        best = table[table["verdict"] == "best"]
        open_ = table[table["verdict"] == "inconclusive"]
        if best.empty or open_.empty:
            continue
        here = evaluation[evaluation["dataset"] == dataset]
        values = here.pivot_table(
            index="seed", columns="method", values="test_loss", aggfunc="first", dropna=False
        )
        logs = np.log(values.apply(metrics.floored, floor=metrics.LOSS_FLOOR))
        n_comparisons = int(table["center"].notna().sum()) - 1
        versus = best["method"].iloc[0]
        for row in open_.itertuples():
            ratios = (logs[row.method] - logs[versus]).to_numpy(dtype=float)
            finite = ratios[np.isfinite(ratios)]
            estimable = len(finite) >= 2 and (finite.std() > 0 or finite.mean() != 0)
            needed = (
                stats.seeds_needed(ratios, margin, max(n_comparisons, 1)) if estimable else None
            )
            rows.append(
                {
                    "dataset": dataset,
                    "method": row.method,
                    "versus": versus,
                    "n_pairs": int(row.n_pairs),
                    "seeds": needed,
                    "estimable": estimable,
                }
            )
    columns = ["dataset", "method", "versus", "n_pairs", "seeds", "estimable"]
    return pd.DataFrame(rows, columns=columns)


def seeds_needed_blocks(results) -> list:
    """The seeds-needed paragraph and one bullet per inconclusive comparison on test loss."""
    needed = seeds_needed(results)
    if needed.empty:
        return [Paragraph("No comparison on test loss is inconclusive: nothing to settle.")]
    items = []
    for row in needed.itertuples():
        head = f"{row.method} vs {row.versus} on {row.dataset}"
        if not row.estimable:
            items.append(f"{head}: cannot be estimated from {row.n_pairs} pair(s)")
        elif row.seeds is None or pd.isna(row.seeds):
            items.append(
                f"{head}: more than {stats.MAX_SEEDS:,} seeds (the difference sits too close "
                "to the margin to settle)"
            )
        else:
            items.append(f"{head}: about {int(row.seeds)} seeds ({row.n_pairs} now)")
    intro = Paragraph(
        "How many evaluation seeds a new run would need to settle each inconclusive "
        "comparison on test loss (as worse, or as equivalent) with 80% probability, if the "
        "mean and spread of the per-seed log ratio seen here were the truth; a rough guide, "
        "since both are estimated from these few seeds."
    )
    return [intro, Bullets(items)]


# ------------------------------------------------------------------------------ 2. setup


def setup(results) -> Section:
    """Suite, model, seeds, protocol, datasets, methods and budgets, software, machine."""
    suite, protocol = results.suite, results.suite["protocol"]
    model = suite["model"]
    margin = margin_of(results)
    seeds = ", ".join(str(s) for s in suite["seeds"])
    tuning_seeds = ", ".join(str(s) for s in suite["tuning_seeds"])
    items = [
        f"Suite: {suite['name']} (from {suite['source']})",
        f"Model: MLP with hidden layers {list(model['hidden'])} and "
        f"{model['activation']} activation; output and loss per dataset below",
        f"Epochs: {suite['epochs']} for every method (equal passes over the "
        "training set, so equal samples processed)",
        f"Tuning seeds: {tuning_seeds}; evaluation seeds: {seeds}. "
        + sentence(protocol["seed_role"]),
        f"Tuning: {protocol['tuning']}",
        f"Grid extension (extend_grid = {suite['extend_grid']}): {protocol['extension']}",
        f"Evaluation: {protocol['evaluation']}",
        "Verdicts: per dataset and criterion (test loss and test error of the early-stopped "
        "model, final training loss, seconds to target), the best method (lowest geometric "
        "mean) against every other, paired by evaluation seed on log(other / best); worse "
        "when significant after a correction for the comparisons and for picking the best, "
        f"and beyond the margin of {percent(margin)}; equivalent when the 90% interval lies "
        f"within ±{percent(margin)}; fewer than {stats.MIN_PAIRS} pairs are inconclusive",
        "Intervals: 95% Student-t intervals over the evaluation seeds, of the log for losses "
        "and times (a geometric mean and its interval) and of the value for accuracy and R²",
        "Times: a calibrated estimate, not measured wall time; the time axis is "
        + results.provenance.get("time_axis", "what one trial costs alone"),
        engine_text(results),
        f"Split: {protocol['split']}",
    ]
    blocks = [
        Bullets(items),
        Section("setup-datasets", "Datasets", [datasets_table(results)], level=3),
        Section("setup-methods", "Methods and learning-rate grids", [methods_table(results)], 3),
        Section("setup-budgets", "Tuning budgets", budget_blocks(results), level=3),
        Section("setup-machine", "Software and machine", [machine(results)], level=3),
    ]
    return Section("setup", "Setup", blocks)


def engine_text(results) -> str:
    """Which training engine trained how many of the suite's populations."""
    engines = pd.Series([p.get("engine", "numpy") for p in results.suite["populations"]])
    counts = ", ".join(f"{name} {count}" for name, count in engines.value_counts().items())
    return (
        f"Engine: {results.suite.get('engine', 'numpy')}, resolved once per population "
        f"(populations trained: {counts or 'none'}). Both engines train the same numbers to "
        "1e-9 where training is stable (a chaotic run at an extreme lr drifts apart, as under "
        "any change of rounding); each evaluation times one trial with the engine that suits a "
        "single trial, so no method's seconds pay for another's engine"
    )


def datasets_table(results) -> Table:
    """One row per dataset: task, sizes, features, outputs, output and loss, target loss."""
    rows = []
    for name in datasets_of(results):
        data = results.dataset(name)
        spec = results.suite.get("datasets", {}).get(name, {})
        rows.append(
            [
                name,
                data.task,
                spec.get("generator", "?"),
                f"{data.n_train} / {len(data.X_val)} / {len(data.X_test)}",
                str(data.n_features),
                str(data.n_outputs),
                f"{data.output}, {data.loss}",
                number(spec.get("target_loss")),
            ]
        )
    header = [
        "dataset",
        "task",
        "generator",
        "train / val / test",
        "features",
        "outputs",
        "output, loss",
        "target loss",
    ]
    return Table(header, rows, numeric=(4, 5, 7))


def methods_table(results) -> Table:
    """One row per method: optimizer, batch size, lr grid, searched and fixed arguments."""
    methods = results.suite.get("methods", {})
    rows = []
    for name in plots.methods_of(results):
        spec = methods.get(name, {})
        batch = spec.get("batch_size")
        args = spec.get("args") or {}
        search = spec.get("search") or {}
        rows.append(
            [
                name,
                str(spec.get("optimizer", "?")),
                "full batch" if batch is None else str(batch),
                ", ".join(f"{lr:g}" for lr in spec.get("lrs", [])),
                "; ".join(f"{k} in {list(v)}" for k, v in search.items()) or "–",
                ", ".join(f"{k}={v}" for k, v in args.items()) or "defaults",
            ]
        )
    header = ["method", "optimizer", "batch size", "lr grid", "searched", "fixed arguments"]
    return Table(header, rows)


def budget_blocks(results) -> list:
    """The tuning trials of each method on each dataset."""
    summary = results.summary
    budgets = summary.pivot(index="method", columns="dataset", values="tuning_trials")
    datasets = datasets_of(results)
    methods = [m for m in plots.methods_of(results) if m in budgets.index]
    budgets = budgets.reindex(index=methods, columns=datasets)
    rows = [
        [method, *(number(v, 6) for v in budgets.loc[method]), number(budgets.loc[method].sum(), 6)]
        for method in methods
    ]
    note = Paragraph(
        "Tuning trials per method and dataset: candidates (lr x searched arguments) x tuning "
        "seeds, grid extensions included. A method whose best lr sat at an edge was tuned "
        "at more lrs."
    )
    header = ["method", *datasets, "total"]
    return [note, Table(header, rows, "budgets", numeric=tuple(range(1, len(header))))]


def machine(results) -> Bullets:
    """Software versions, CPU, platform, git commit and times from the run's provenance."""
    p = results.provenance
    versions = ", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items() if v)
    commit = p.get("git_commit") or "unknown"
    dirty = " (with uncommitted changes)" if p.get("git_dirty") else ""
    items = [
        f"Software: {versions or 'unknown'}",
        f"Machine: {p.get('cpu', 'unknown CPU')}, {p.get('cpu_count', '?')} cores, "
        f"{p.get('platform', 'unknown platform')}",
        f"Code: git commit {commit}{dirty}",
        f"Run: started {p.get('started_at', '?')}, finished {p.get('finished_at', '?')}, "
        f"{p.get('jobs') or 'Dask'} worker(s)",
    ]
    return Bullets(items)


# ------------------------------------------------------------------------------ 3. per dataset


def tuned_configuration(row, extended: bool = False) -> str:
    """'0.03', '0.03 (momentum=0.9)', '0.09 (grid extended)', '3 (at grid edge)'."""
    text = number(row.lr)
    searched = row.hyperparameters if isinstance(row.hyperparameters, str) else "{}"
    arguments = searched_arguments(searched)
    if arguments:
        text += f" ({arguments})"
    if extended:
        text += " (grid extended)"
    if bool(row.lr_at_edge):
        text += " (at grid edge)"
    return text


def searched_arguments(hyperparameters: str) -> str:
    """The searched arguments of a tuned configuration as 'k=v, ...' ('' for '{}')."""
    try:
        values = json.loads(hyperparameters or "{}")
    except ValueError:
        return hyperparameters
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def dataset_section(results, name: str) -> Section:
    """One dataset: per method its tuned configuration, the criteria's centres with their
    intervals, and its verdicts against the best on each criterion."""
    summary = results.summary[results.summary["dataset"] == name].sort_values("rank")
    evaluation = results.evaluation[results.evaluation["dataset"] == name]
    reached = evaluation.groupby("method")["target_reached"].sum()
    extended = evaluation.groupby("method")["extended"].any()
    target = results.suite.get("datasets", {}).get(name, {}).get("target_loss")
    task = plots.task_of(results, name)
    rows = []
    for r in summary.itertuples():
        hits, n = int(reached.get(r.method, 0)), int(r.n_seeds)
        missing = f" ({hits}/{n} reached)" if hits < n and n else ""
        rows.append(
            [
                r.method,
                tuned_configuration(r, bool(extended.get(r.method, False))),
                with_ci(r.test_loss_center, r.test_loss_lo, r.test_loss_hi),
                with_ci(r.test_metric_center, r.test_metric_lo, r.test_metric_hi),
                with_ci(r.final_train_loss_center, r.final_train_loss_lo, r.final_train_loss_hi),
                with_ci(
                    r.seconds_to_target_center,
                    r.seconds_to_target_lo,
                    r.seconds_to_target_hi,
                    digits=2,
                )
                + missing,
                with_ci(r.epochs_to_target_center, r.epochs_to_target_lo, r.epochs_to_target_hi)
                + missing,
                f"{int(r.diverged_count)} of {n}",
            ]
        )
    header = [
        "method",
        "tuned lr",
        "test loss",
        f"test {metrics.METRIC_NAMES[task]}",
        "final training loss",
        "seconds to target",
        "epochs to target",
        "diverged",
    ]
    seeds = int(summary["n_seeds"].max()) if len(summary) else 0
    intro = Paragraph(
        f"Task: {task}; target training loss: {number(target)}; {seeds} evaluation seeds. "
        "Losses and times: the geometric mean over the evaluation seeds with its 95% "
        f"interval in brackets; test {metrics.METRIC_NAMES[task]}: the mean and its 95% "
        "interval. Test loss and test metric are those of the early-stopped model (the epoch "
        "of the lowest validation loss). '(k/n reached)': only k of the n seeds reached the "
        "target; the others count at the cost of all epochs plus one. Rows by geometric mean "
        "test loss."
    )
    numbers = Table(header, rows, anchor("table", name), numeric=(2, 3, 4, 5, 6))
    verdict_intro = Paragraph(
        "Each method against the best on each criterion, paired by seed: the verdict and "
        "the relative difference of the geometric means, with its simultaneous 95% "
        "interval (it holds for all comparisons of the dataset and criterion at once)."
    )
    verdicts = verdict_table(results, name)
    return Section(
        anchor("dataset", name), f"Dataset: {name}", [intro, numbers, verdict_intro, verdicts]
    )


def verdict_table(results, dataset: str) -> Table:
    """Per method (rows by test loss) the verdict on each criterion with its difference."""
    order = list(
        results.summary[results.summary["dataset"] == dataset].sort_values("rank")["method"]
    )
    cells = {}
    for criterion in stats.CRITERIA:
        for r in comparisons_of(results, dataset, criterion).itertuples():
            if r.verdict == "best":
                cells[(r.method, criterion)] = "best"
            else:
                shown = relative(r.rel_diff, r.rel_diff_lo, r.rel_diff_hi)
                cells[(r.method, criterion)] = f"{r.verdict} {shown}".strip()
    rows = [[m, *(cells.get((m, c), "–") for c in stats.CRITERIA)] for m in order]
    header = ["method", *(CRITERION_NAMES[c] for c in stats.CRITERIA)]
    return Table(header, rows, anchor("verdicts", dataset))


# ------------------------------------------------------------------------------ 4. ranking


def ranking_section(results) -> Section:
    """Mean rank on test loss with each method's verdict counts; explicitly not a finding."""
    rows = [
        [
            str(i + 1),
            r.method,
            f"{r.mean_rank:.2f}",
            str(int(r.best)),
            str(int(r.equivalent)),
            str(int(r.inconclusive)),
            str(int(r.worse)),
            str(int(r.datasets)),
        ]
        for i, r in enumerate(results.ranking.itertuples())
    ]
    header = ["#", "method", "mean rank", "best", "equivalent", "inconclusive", "worse", "datasets"]
    note = Paragraph(
        "Each method's rank on each dataset by geometric mean test loss (1 = best, ties "
        "averaged), averaged over the datasets, and how many of its verdicts on test loss "
        "were best, equivalent, inconclusive and worse. The order is not a finding by "
        "itself: the conclusions say which differences the seeds and datasets establish."
    )
    table = Table(header, rows, "ranking", numeric=(0, 2, 3, 4, 5, 6, 7))
    return Section("ranking-section", "Mean rank on test loss, with verdict counts", [note, table])


# ------------------------------------------------------------------------------ 5. figures

FIGURE_ORDER = (
    "verdicts",
    "loss_vs_seconds",
    "lr_sensitivity",
    "final_test",
    "convergence_speed",
    "performance_profile",
    "decision_boundaries",
    "optimizer_paths",
)
CAPTIONS = {
    "loss_vs_epoch": (
        "Training and validation loss against epochs",
        "Training loss (solid) and validation loss (dashed) of each method at its tuned "
        "configuration, one panel per dataset: the geometric mean over the evaluation seeds "
        "(log scale), with its 95% interval as a band; the dotted line is the dataset's "
        "target training loss. Read off which method falls fastest per pass over the data "
        "and how low it gets; a dashed line that turns up while the solid one still falls "
        "is overfitting, which the test loss of the early-stopped model (the lowest "
        "validation loss) does not pay for.",
    ),
    "critical_difference": (
        "Critical-difference diagram: mean ranks across datasets",
        "Each method's mean rank by test loss over the datasets (1 = best, on the left). Two "
        "methods whose mean ranks differ by more than the critical difference (CD, the bar; "
        "Nemenyi test at 0.05) are separated, provided the Friedman test rejects equal "
        "ranks; methods joined by a thick line are not separated. With few datasets the CD "
        "is wide: a method can be best on most datasets without being separated.",
    ),
    "verdicts": (
        "Verdicts on test loss per dataset",
        "Each method's verdict on test loss on each dataset, against that dataset's best: "
        "dark blue the best, light blue equivalent (within the margin), grey inconclusive, "
        "vermillion worse. The number is the relative difference of the geometric means "
        "to the best. Methods by mean rank (in brackets). Read off whether a method's "
        "standing holds across datasets or rests on one or two, and how many comparisons "
        "the seeds leave open.",
    ),
    "loss_vs_seconds": (
        "Training loss against time",
        "The training-loss curves against seconds (log scale; the untrained point at 0 s is "
        "not drawn): a calibrated estimate of what one trial costs alone, epochs x its "
        "worker's timed cost per epoch. Read off which method is cheapest in time: "
        "single-sample SGD takes many small steps per epoch and falls behind here even "
        "where it leads per epoch. Times depend on the machine.",
    ),
    "lr_sensitivity": (
        "Learning-rate sensitivity (tuning trials)",
        "The tuning score (mean over the tuning seeds of the best validation loss) against "
        "learning rate, log-log, from the tuning trials: the only figure not drawn from "
        "the evaluation seeds. A hollow marker is an lr added by grid extension; the circled "
        "point is the tuned lr, labelled 'edge' when it is still the smallest or largest "
        "tried; a cross in the grey strip at the top marks an lr at which a tuning seed "
        "diverged (never chosen). Read off how wide the good range is: a wide, flat valley "
        "forgives a rough choice of lr, a narrow one needs tuning.",
    ),
    "final_test": (
        "Test loss and test metric across evaluation seeds",
        "Test loss, and test accuracy (R² for regression), of the early-stopped model of "
        "every evaluation seed: boxes span the quartiles, whiskers the extremes, dots are "
        "the seeds. Read off the level and the spread: widely scattered dots mean the result "
        "depends on the seed.",
    ),
    "convergence_speed": (
        "Convergence speed: epochs to the target loss",
        "Epochs until the training loss first reached the dataset's target: the bar is the "
        "geometric mean over the evaluation seeds, the whisker its 95% interval, dots the "
        "seeds. A hatched bar running into the grey 'not reached' zone means that not every "
        "seed reached the target within the run (the label says how many did; the others "
        "sit in the zone): that method is slower than any solid bar, not faster.",
    ),
    "performance_profile": (
        "Performance profiles (Dolan–Moré) on epochs and on seconds to target",
        "For each method, the fraction of datasets on which it reached the target within τ "
        "times the cost of the fastest method on that dataset: on the left the cost is "
        "epochs, on the right calibrated seconds (geometric means over the evaluation "
        "seeds; a target that any seed missed counts as never reached). The height at "
        "τ = 1 is the share of datasets where the method was the fastest; the height at the "
        "right end is the share where it reached the target at all. Higher and further left "
        "is better; curves that coincide are drawn a hair apart. Typically a method cheap "
        "per epoch (full-batch gd) gains on the right, and one that takes many small steps "
        "per epoch (sgd, batch size 1) loses.",
    ),
    "decision_boundaries": (
        "Decision boundaries on {name}",
        "The early-stopped network each method trained on {name} (its tuned configuration, "
        "first evaluation seed; the epoch in the title), evaluated on a grid: the shading "
        "is the predicted probability of class 1 (binary) or the predicted class, the black "
        "line the 0.5 boundary, the points the training set. Read off under- or "
        "over-fitting: a boundary that cuts through a class, or one that bends around "
        "single points.",
    ),
    "optimizer_paths": (
        "Optimizer paths on 2-D surfaces: the intuition",
        "The suite's methods run from the same start (white circle) on four surfaces, each "
        "at the learning rate of a grid from 1e-4 to 10 (half decades) that brings the loss "
        "down fastest on that surface (the lowest mean log loss along the path, among the "
        "lrs whose path stays on the surface without jumps): network learning rates do not "
        "transfer to these surfaces. Methods that differ only in batch size follow one path "
        "(a surface has no samples). A large marker ends each path, small ones mark every "
        "sixth of it, so that spacing shows pace. Rosenbrock's curved valley rewards "
        "per-coordinate step sizes; on Beale the steep walls punish a large step; the saddle "
        "x² − y² + y⁴/4 is started on its ridge, where the gradient across it is tiny: plain "
        "gradient descent slides into the saddle point and leaves it only slowly, while "
        "methods that rescale the gradient (Adam, RMSprop, Adagrad) head downhill at once. "
        "The fourth panel is the classic 2-2-2 network (x = (0.05, 0.10), y = (0.01, 0.99), "
        "half squared error) over two of its weights: a flat plateau where the hidden ReLU "
        "is dead, and a valley towards large w2 and negative w5 that has no minimum.",
    ),
}


def shown(path: Path) -> Path:
    """The file the report shows for a figure: itself, or for a PDF the PNG beside it."""
    path = Path(path)
    return path.with_suffix(".png") if path.suffix == ".pdf" else path


def caption_for(key: str, paths: dict | None = None) -> tuple[str, str]:
    """(title, caption) of a figure key; decision_boundaries:<dataset> names the dataset;
    the optimizer paths' caption ends with what ``paths`` (``optimizer_paths_data``) shows."""
    kind, _, name = key.partition(":")
    title, caption = CAPTIONS[kind]
    if kind == "optimizer_paths" and paths:
        caption = f"{caption} {closest_text(paths)}"
    return title.replace("{name}", name), caption.replace("{name}", name)


def closest_text(paths: dict) -> str:
    """Which methods ended at a minimum (within 1e-6) on each surface that has one, or else
    which ended closest, and how close."""
    parts = []
    for surface, data in paths.items():
        if data["closest"] is None:
            continue
        there = [label for label, d in data["distance"].items() if d < 1e-6]
        if there:
            names = " and ".join(filter(None, [", ".join(there[:-1]), there[-1]]))
            parts.append(f"on {surface}, {names} reached a minimum (within 1e-6)")
            continue
        label, distance = data["closest"]
        lr = data["lrs"][label]
        parts.append(f"on {surface}, {label} (lr {lr:g}) ended closest, {distance:.2g} away")
    if not parts:
        return ""
    return "After the steps shown: " + "; ".join(parts) + "."


def figure_section(figures: dict[str, Path], paths: dict | None = None) -> Section:
    """Every figure but the conclusions' two, in FIGURE_ORDER, each with its caption."""
    blocks: list = [
        Paragraph(
            "The training and validation loss curves and the critical-difference diagram are "
            "in the conclusions."
        )
    ]
    for kind in FIGURE_ORDER:
        for key in [k for k in figures if k.partition(":")[0] == kind]:
            title, caption = caption_for(key, paths)
            blocks.append(
                Section(anchor("figure", key), title, [Figure(figures[key], title, caption)], 3)
            )
    return Section("figures", "Figures", blocks)


# ------------------------------------------------------------------------------ 6. notes


def notes(results) -> Section:
    """Divergences per method and dataset, and what is missing."""
    blocks: list = [
        Section("notes-divergences", "Divergences", [divergence_notes(results)], level=3),
    ]
    if results.missing:
        blocks.append(
            Paragraph(
                f"{len(results.missing)} of the suite's populations are not in the store yet "
                "(an interrupted run); rerun the suite to complete them."
            )
        )
    return Section("notes", "Notes", blocks)


def divergence_notes(results) -> Bullets | Paragraph:
    """One bullet per dataset x method with a diverged trial: in which phase, at which lrs."""
    trials = results.trials
    diverged = trials[trials["diverged"].astype(bool)]
    if diverged.empty:
        return Paragraph("No trial diverged, in tuning or in evaluation.")
    items = []
    for (dataset, method), group in diverged.groupby(["dataset", "method"], sort=False):
        everything = trials[(trials["dataset"] == dataset) & (trials["method"] == method)]
        parts = []
        for phase, label in (("tune", "tuning"), ("eval", "evaluation")):
            mine = everything[everything["phase"] == phase]
            per_lr = mine.groupby("lr")["diverged"].agg(["sum", "count"])
            per_lr = per_lr[per_lr["sum"] > 0]
            if len(per_lr):
                where = ", ".join(
                    f"lr {lr:.3g}: {int(s)} of {int(c)}" for lr, (s, c) in per_lr.iterrows()
                )
                parts.append(f"{label} {where}")
        items.append(
            f"{method} on {dataset}: {len(group)} of {len(everything)} trials diverged "
            f"({'; '.join(parts)})."
        )
    items.append(
        "A candidate with a diverged tuning seed is never chosen; a diverged evaluation "
        "trial keeps the test loss of its early-stopped model."
    )
    return Bullets(items)


# ------------------------------------------------------------------------------ Markdown


def md_text(value: str) -> str:
    """Text for Markdown: HTML-escaped, with Markdown's own marks backslash-escaped."""
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", html.escape(str(value), quote=False))


def to_markdown(title: str, sections: list[Section], out: Path) -> str:
    """The report as Markdown; figures are linked by their path relative to ``out``."""
    lines = [f"# {md_text(title)}", ""]
    for section in sections:
        lines += _md_section(section, out)
    return "\n".join(lines).rstrip() + "\n"


def _md_section(section: Section, out: Path) -> list[str]:
    lines = [f"{'#' * section.level} {md_text(section.title)}", ""]
    for block in section.blocks:
        lines += _md_section(block, out) if isinstance(block, Section) else _md_block(block, out)
    return lines


def _md_block(block, out: Path) -> list[str]:
    if isinstance(block, Paragraph):
        return [md_text(block.text), ""]
    if isinstance(block, Bullets):
        return [f"- {md_text(item)}" for item in block.items] + [""]
    if isinstance(block, Table):
        align = ["---:" if i in block.numeric else "---" for i in range(len(block.header))]
        rows = [block.header, *block.rows]
        lines = ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
        return [lines[0], "| " + " | ".join(align) + " |", *lines[1:], ""]
    relative = Path(os.path.relpath(Path(block.path).resolve(), out.resolve())).as_posix()
    return [f"![{md_text(block.title)}]({relative})", "", f"*{md_text(block.caption)}*", ""]


# ------------------------------------------------------------------------------ HTML

CSS = """
body { margin: 0; background: #fff; color: #1b1b1b;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 1rem 0 .5rem; }
h2 { font-size: 1.45rem; margin: 2.6rem 0 .6rem; padding-bottom: .2rem;
  border-bottom: 1px solid #ddd; }
h3 { font-size: 1.15rem; margin: 1.8rem 0 .4rem; }
nav { background: #f6f6f6; border-radius: 6px; padding: .4rem 1rem; margin: 1rem 0; }
nav ol { margin: .3rem 0; padding-left: 1.3rem; columns: 2; }
a { color: #0b5cad; }
figure { margin: 1.2rem 0 2rem; }
img { display: block; width: 100%; height: auto; }
figcaption { font-size: .93rem; color: #3d3d3d; margin-top: .5rem; }
p, li, figcaption { overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: .8rem 0 1.2rem; }
table { border-collapse: collapse; font-size: .92rem; font-variant-numeric: tabular-nums; }
th, td { padding: .32rem .6rem; border-bottom: 1px solid #e4e4e4; text-align: left;
  vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; }
@media (max-width: 40rem) {
  body { font-size: 15px; }
  main { padding: .6rem .7rem 3rem; }
  nav ol { columns: 1; }
  h1 { font-size: 1.5rem; }
}
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  h2, h3 { break-after: avoid; }
  figure, tr, img { break-inside: avoid; }
  .table-wrap { overflow: visible; }
}
"""


def to_html(title: str, sections: list[Section]) -> str:
    """The report as one self-contained HTML page (images inlined as data URIs)."""
    toc = "".join(
        f'<li><a href="#{html.escape(s.id)}">{html.escape(s.title)}</a></li>' for s in sections
    )
    body = "\n".join(_html_section(section) for section in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{html.escape(title)}</h1>\n<nav><ol>{toc}</ol></nav>\n{body}\n</main>\n"
        "</body>\n</html>\n"
    )


def _html_section(section: Section) -> str:
    tag = f"h{section.level}"
    parts = [
        f'<section id="{html.escape(section.id)}">',
        f"<{tag}>{html.escape(section.title)}</{tag}>",
    ]
    for block in section.blocks:
        parts.append(_html_section(block) if isinstance(block, Section) else _html_block(block))
    parts.append("</section>")
    return "\n".join(parts)


def _html_block(block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    path = Path(block.path)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    width = round(figure_inches(path) * PIXELS_PER_INCH)
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(block.title)}" '
        f'style="width: min(100%, {width}px)">'
        f"<figcaption><strong>{html.escape(block.title)}.</strong> "
        f"{html.escape(block.caption)}</figcaption></figure>"
    )


# Every figure is shown at the same scale, whatever its size in inches (a figure wider than
# the page is shrunk to fit): 12.5 inches, the widest of three panels, fill the page.
PIXELS_PER_INCH = 78


def figure_inches(path: Path) -> float:
    """The width of a figure file in inches: a PNG's pixels over plots.DPI, an SVG's points
    over 72."""
    if path.suffix == ".svg":
        head = path.read_text(encoding="utf-8")[:2000]
        found = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', head)
        if found is None:
            raise ValueError(f"{path}: an SVG without a width in points")
        return float(found.group(1)) / 72
    with Image.open(path) as image:
        return image.size[0] / plots.DPI


def _html_table(table: Table) -> str:
    def cells(row: list[str], tag: str) -> str:
        right = ' class="num"'
        return "".join(
            f"<{tag}{right if i in table.numeric else ''}>{html.escape(c)}</{tag}>"
            for i, c in enumerate(row)
        )

    identity = f' id="{html.escape(table.id)}"' if table.id else ""
    rows = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in table.rows)
    return (
        f'<div class="table-wrap"><table{identity}><thead><tr>{cells(table.header, "th")}'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )
