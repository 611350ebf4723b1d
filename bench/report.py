"""The benchmark report: DIR/report.md and DIR/report.html, rebuilt from the store without training.

``write_report(results)`` draws the figures (``bench.plots``) into DIR/figures and writes
both files from one outline of sections, in this order:

    1. headline       the ranking table and the loss-curve figure
    2. setup          suite, datasets and sizes, model, epochs, seeds, lr grids, protocol,
                      software versions and machine
    3. one section per dataset: losses and metric as mean [95% CI], speed, tuned lr, divergences
    4. figures        every figure with a caption that says what to read off it
    5. notes          divergences, and ties where confidence intervals overlap

The HTML is one self-contained file (images as base64 data URIs, inline CSS, no scripts,
fonts or links to elsewhere) that reads on a laptop or a phone and prints. The Markdown
refers to the PNGs by relative path. Every text, including names from suite files, is
escaped when it is written (``html.escape``), never before.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import plots
from bench.suite import TUNING_RULE

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
    """A PNG with its title and a caption that says what to read off it."""

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


def write_report(results, figures: dict[str, tuple[Path, object]] | None = None) -> Path:
    """Write DIR/figures/*.png, DIR/report.md and DIR/report.html; return the HTML's path.

    results: a ``bench.Results`` (``bench.load(DIR)`` or ``bench.run(...)``); DIR is
    ``results.out``. figures: the output of ``plots.draw_figures`` when already drawn;
    by default they are drawn here, into DIR/figures.
    """
    out = Path(results.out)
    out.mkdir(parents=True, exist_ok=True)
    if figures is None:
        figures = plots.draw_figures(results, out / "figures")
    title = f"Optimizer benchmark: {results.suite.get('name', out.name)}"
    sections = report_sections(results, {key: path for key, (path, _) in figures.items()})
    (out / "report.md").write_text(to_markdown(title, sections, out), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(to_html(title, sections), encoding="utf-8")
    return html_path


def report_sections(results, figures: dict[str, Path]) -> list[Section]:
    """The report's outline: headline, setup, one section per dataset, figures, notes."""
    datasets = list(dict.fromkeys(results.summary["dataset"]))
    return [
        headline(results, figures),
        setup(results),
        *[dataset_section(results, name) for name in datasets],
        figure_section(figures),
        notes(results),
    ]


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
    """An HTML id from a name: prefix-name with everything but letters and digits as '-'."""
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9]+', '-', str(name)).strip('-').lower() or 'x'}"


def metric_name(task: str) -> str:
    """The test metric of a task: accuracy for classification, R² for regression."""
    return "R²" if task == "regression" else "accuracy"


# ------------------------------------------------------------------------------ 1. headline


def headline(results, figures: dict[str, Path]) -> Section:
    """The ranking table and the loss-curve figure, with one sentence on who leads."""
    ranking = results.ranking
    blocks: list = []
    if len(ranking):
        best = ranking.iloc[0]
        blocks.append(
            Paragraph(
                f"Best mean rank: {best['method']} (mean rank {best['mean_rank']:.2f} over "
                f"{int(best['datasets'])} datasets; {wins_phrase(int(best['wins']))}). "
                "A method's rank on a dataset orders the mean final test loss at its tuned "
                "learning rate (1 = best); a win means its 95% confidence interval lies below "
                "every other method's."
            )
        )
    rows = [
        [str(i + 1), r.method, f"{r.mean_rank:.2f}", str(int(r.wins)), str(int(r.datasets))]
        for i, r in enumerate(ranking.itertuples())
    ]
    blocks.append(
        Table(["#", "method", "mean rank", "wins", "datasets"], rows, "ranking", (0, 2, 3, 4))
    )
    if "loss_vs_epoch" in figures:
        title, caption = caption_for("loss_vs_epoch")
        blocks.append(Figure(figures["loss_vs_epoch"], title, caption))
    return Section("headline", "Headline: which method wins", blocks)


def wins_phrase(wins: int) -> str:
    """'no clear win', 'a clear win on 1 dataset', 'clear wins on 3 datasets'."""
    if wins == 0:
        return "no clear win on any dataset"
    return "a clear win on 1 dataset" if wins == 1 else f"clear wins on {wins} datasets"


# ------------------------------------------------------------------------------ 2. setup


def setup(results) -> Section:
    """Suite, datasets and sizes, model, epochs, seeds, lr grids, protocol, software, machine."""
    suite, protocol = results.suite, results.suite.get("protocol", {})
    model = suite.get("model", {})
    blocks = [
        Bullets(
            [
                f"Suite: {suite.get('name', '?')} (from {suite.get('source', '?')})",
                f"Model: MLP with hidden layers {list(model.get('hidden', []))} and "
                f"{model.get('activation', '?')} activation; output and loss per dataset below",
                f"Epochs: {suite.get('epochs', '?')} for every method (equal passes over the "
                "training set, so equal samples processed)",
                f"Seeds: {', '.join(str(s) for s in suite.get('seeds', []))}; "
                + protocol.get("seed_role", "a seed sets the initial weights and the shuffling"),
                f"Tuning: {protocol.get('tuning', TUNING_RULE)}",
                *([f"Split: {protocol['split']}"] if "split" in protocol else []),
                "Confidence intervals: 95% percentile bootstrap of the mean over seeds at the "
                "tuned lr (2000 resamples)",
            ]
        ),
        Section("setup-datasets", "Datasets", [datasets_table(results)], level=3),
        Section("setup-methods", "Methods and learning-rate grids", [methods_table(results)], 3),
        Section("setup-machine", "Software and machine", [machine(results)], level=3),
    ]
    return Section("setup", "Setup", blocks)


def datasets_table(results) -> Table:
    """One row per dataset: task, sizes, features, outputs, output and loss, target loss."""
    rows = []
    for name in dict.fromkeys(results.summary["dataset"]):
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
    header = ["dataset", "task", "generator", "train / val / test", "features", "outputs",
              "output, loss", "target loss"]  # fmt: skip
    return Table(header, rows, numeric=(4, 5, 7))


def methods_table(results) -> Table:
    """One row per method: optimizer, batch size, lr grid, extra arguments."""
    methods = results.suite.get("methods", {})
    rows = []
    for name in dict.fromkeys(results.trials["method"]):
        spec = methods.get(name, {})
        batch = spec.get("batch_size")
        args = spec.get("args") or {}
        rows.append(
            [
                name,
                str(spec.get("optimizer", "?")),
                "full batch" if batch is None else str(batch),
                ", ".join(f"{lr:g}" for lr in spec.get("lrs", [])),
                ", ".join(f"{k}={v}" for k, v in args.items()) or "defaults",
            ]
        )
    return Table(["method", "optimizer", "batch size", "lr grid", "arguments"], rows)


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
    if p.get("time_axis"):
        items.append(f"Time axis: {p['time_axis']}")
    return Bullets(items)


# ------------------------------------------------------------------------------ 3. per dataset


def dataset_section(results, name: str) -> Section:
    """One dataset: per method its tuned lr, losses and metric with CIs, speed, divergences."""
    summary = results.summary[results.summary["dataset"] == name].sort_values("rank")
    runs = results.trials[results.trials["dataset"] == name].groupby("method").size()
    target = results.suite.get("datasets", {}).get(name, {}).get("target_loss")
    task = plots.task_of(results, name)
    rows = [
        [
            str(int(r.rank)),
            r.method,
            number(r.lr),
            with_ci(r.final_train_loss_mean, r.final_train_loss_lo, r.final_train_loss_hi),
            with_ci(r.final_test_loss_mean, r.final_test_loss_lo, r.final_test_loss_hi),
            with_ci(r.test_metric_mean, r.test_metric_lo, r.test_metric_hi),
            to_target(r, "epochs", target),
            to_target(r, "seconds", target),
            f"{int(r.diverged_count)} of {int(runs.get(r.method, 0))}",
        ]
        for r in summary.itertuples()
    ]
    header = ["rank", "method", "tuned lr", "final train loss", "final test loss",
              f"test {metric_name(task)}", "epochs to target", "seconds to target",
              "diverged runs"]  # fmt: skip
    intro = Paragraph(
        f"Task: {task}; target training loss: {number(target)}. Values are means over seeds at "
        "the tuned lr with 95% confidence intervals in brackets. 'not reached (k/n)': only k "
        "of the n seeds reached the target, so there is no mean time to it. 'diverged runs' "
        "counts every lr x seed of the method's grid."
    )
    table = Table(header, rows, anchor("table", name), numeric=(0, 2, 3, 4, 5, 6, 7))
    return Section(anchor("dataset", name), f"Dataset: {name}", [intro, table])


def to_target(row, axis: str, target) -> str:
    """Epochs or seconds to the target as mean [CI]; for epochs, why there is none.

    'not reached (k/n)': k of the n seeds reached the target, so there is no mean. The
    seconds column then shows '–', its reason being in the epochs column beside it.
    """
    if target is None:
        reason = "no target"
    elif row.n_seeds == 0:
        reason = "every lr diverged"
    elif row.target_reached < row.n_seeds:
        reason = f"not\u00a0reached ({int(row.target_reached)}/{int(row.n_seeds)})"
    else:
        values = (getattr(row, f"{axis}_to_target_{part}") for part in ("mean", "lo", "hi"))
        return with_ci(*values, digits=2 if axis == "seconds" else 3)
    return reason if axis == "epochs" else "–"


# ------------------------------------------------------------------------------ 4. figures

FIGURE_ORDER = (
    "loss_vs_samples", "loss_vs_seconds", "lr_sensitivity", "final_test", "convergence_speed",
    "performance_profile", "ranking_heatmap", "decision_boundaries", "optimizer_paths",
)  # fmt: skip
CAPTIONS = {
    "loss_vs_epoch": (
        "Training loss against epochs",
        "Training loss (mean over seeds, log scale) of each method at its tuned learning rate, "
        "one panel per dataset; the band is the 95% bootstrap confidence interval across seeds "
        "and the dotted line the dataset's target loss. Read off which method falls fastest "
        "per pass over the data and which ends lowest; where bands overlap, the seeds do not "
        "separate the methods.",
    ),
    "loss_vs_samples": (
        "Training loss against samples processed",
        "The same curves against samples processed (gradient evaluations). Every method sees "
        "each training sample once per epoch, so this is the epoch figure on the cost axis "
        "that compares full-batch, single-sample and mini-batch methods on equal work.",
    ),
    "loss_vs_seconds": (
        "Training loss against wall-clock time",
        "The same curves against wall-clock training time per run (log scale; a population's "
        "time shared equally among its runs; the untrained point at 0 s is not drawn). Read "
        "off which method is cheapest in real time: single-sample SGD takes many small steps "
        "per epoch and falls behind here even where it leads per epoch. Times depend on the "
        "machine and its load.",
    ),
    "lr_sensitivity": (
        "Learning-rate sensitivity",
        "Final validation loss (mean over seeds) against learning rate, log-log. The circled "
        "point is the tuned lr; a cross in the grey strip at the top marks an lr at which at "
        "least one seed diverged (it has no loss to plot). Read off how wide the good range "
        "is: a wide, flat valley forgives a rough choice of lr, a narrow one needs tuning; a "
        "tuned lr at the edge of the grid says the grid should extend further.",
    ),
    "final_test": (
        "Final test loss and test metric across seeds",
        "Final test loss, and test accuracy (R² for regression), of every seed at the tuned "
        "lr: boxes span the quartiles, whiskers the extremes, dots are the seeds. Read off the "
        "level and the spread: widely scattered dots mean the result depends on the seed.",
    ),
    "convergence_speed": (
        "Convergence speed: epochs to the target loss",
        "Epochs until the training loss first reached the dataset's target: the bar is the "
        "mean over seeds, the whisker its 95% confidence interval, dots the seeds. A hatched "
        "bar running into the grey 'not reached' zone means that not every seed reached the "
        "target within the run (the label says how many did): that method is slower than any "
        "solid bar, not faster.",
    ),
    "performance_profile": (
        "Performance profile (Dolan–Moré) on epochs to target",
        "For each method, the fraction of datasets on which it reached the target within τ "
        "times the epochs of the fastest method on that dataset (a target that any seed "
        "missed counts as never reached). The height at τ = 1 is the share of datasets where "
        "the method was the fastest; the height at the right end is the share where it "
        "reached the target at all. Higher and further left is better; curves that coincide "
        "are drawn a hair apart.",
    ),
    "ranking_heatmap": (
        "Ranks per dataset",
        "Each method's rank on each dataset by mean final test loss at the tuned lr (1 = "
        "best, darker is better), methods ordered by their mean rank (in brackets). Read off "
        "whether a method's standing holds across datasets or rests on one or two.",
    ),
    "decision_boundaries": (
        "Decision boundaries on {name}",
        "The network each method trained on {name} (tuned lr, first seed), evaluated on a grid "
        "from its stored final parameters: the shading is the predicted probability of class "
        "1 (binary) or the predicted class, the black line the 0.5 boundary, the points the "
        "training set. Read off under- or over-fitting: a boundary that cuts through a class, "
        "or one that bends around single points.",
    ),
    "optimizer_paths": (
        "Optimizer paths on 2-D surfaces: the intuition",
        "Six optimizers run from the same start (white circle) on four surfaces, with a "
        "learning rate per surface chosen by hand to show typical behaviour; markers every "
        "sixth of a path show its pace. Momentum overshoots: on Beale it swings far past the "
        "valley floor before settling, and on the saddle it rolls through the saddle point "
        "and back. Adagrad slows: its steps shrink as its sum of squared gradients grows, so "
        "it crawls along Rosenbrock's valley while momentum and Adam reach the minimum (star). "
        "Adam copes with the saddle: started on the ridge where the gradient across it is "
        "tiny, plain gradient descent first slides into the saddle point and leaves it only "
        "slowly, while Adam (and RMSprop and Adagrad) rescale that tiny gradient and head "
        "downhill at once. The fourth panel is the classic 2-2-2 network (x = (0.05, 0.10), "
        "y = (0.01, 0.99), half squared error) over two of its weights, the others at their "
        "classic values: a flat plateau on the left where the hidden ReLU is dead and a "
        "curved valley towards large w2 and negative w5.",
    ),
}


def caption_for(key: str) -> tuple[str, str]:
    """(title, caption) of a figure key; decision_boundaries:<dataset> names the dataset."""
    kind, _, name = key.partition(":")
    title, caption = CAPTIONS[kind]
    return title.replace("{name}", name), caption.replace("{name}", name)


def figure_section(figures: dict[str, Path]) -> Section:
    """Every figure but the headline's, in FIGURE_ORDER, each with its caption."""
    blocks: list = [Paragraph("The loss-curve figure against epochs is in the headline.")]
    for kind in FIGURE_ORDER:
        for key in [k for k in figures if k.partition(":")[0] == kind]:
            title, caption = caption_for(key)
            blocks.append(
                Section(anchor("figure", key), title, [Figure(figures[key], title, caption)], 3)
            )
    return Section("figures", "Figures", blocks)


# ------------------------------------------------------------------------------ 5. notes


def notes(results) -> Section:
    """Divergences per method and dataset, ties among the leaders, and what is missing."""
    blocks: list = [
        Section("notes-divergences", "Divergences", [divergence_notes(results)], level=3),
        Section("notes-ties", "Ties", [tie_notes(results)], level=3),
    ]
    seeds = results.summary["n_seeds"]
    if len(seeds) and seeds.max() < 5:
        blocks.append(
            Paragraph(
                f"With {int(seeds.max())} seed(s) per method the bootstrap intervals are narrow "
                "and understate the uncertainty; read small differences with care."
            )
        )
    if getattr(results, "missing", None):
        blocks.append(
            Paragraph(
                f"{len(results.missing)} of the suite's populations are not in the store yet "
                "(an interrupted run); rerun the suite to complete them."
            )
        )
    return Section("notes", "Notes", blocks)


def divergence_notes(results) -> Bullets | Paragraph:
    """One bullet per dataset x method with a diverged run: which lrs, how many seeds."""
    trials = results.trials
    diverged = trials[trials["diverged"].astype(bool)]
    if diverged.empty:
        return Paragraph("No run diverged.")
    items = []
    for (dataset, method), group in diverged.groupby(["dataset", "method"], sort=False):
        everything = trials[(trials["dataset"] == dataset) & (trials["method"] == method)]
        per_lr = everything.groupby("lr")["diverged"].agg(["sum", "count"])
        per_lr = per_lr[per_lr["sum"] > 0]
        where = "; ".join(
            f"lr {lr:g}: {int(s)} of {int(c)} seeds" for lr, (s, c) in per_lr.iterrows()
        )
        items.append(
            f"{method} on {dataset}: {len(group)} of {len(everything)} runs diverged ({where}). "
            "A diverged lr is never chosen as the tuned lr."
        )
    return Bullets(items)


def tie_notes(results) -> Bullets:
    """Per dataset: the methods whose final-test-loss CI overlaps the best method's."""
    items = []
    for dataset, group in results.summary.groupby("dataset", sort=False):
        group = group.dropna(subset=["final_test_loss_mean"]).sort_values("rank")
        if group.empty:
            continue
        best = group.iloc[0]
        tied = group.iloc[1:][
            (group["final_test_loss_lo"].iloc[1:] <= best["final_test_loss_hi"])
            & (group["final_test_loss_hi"].iloc[1:] >= best["final_test_loss_lo"])
        ]
        if tied.empty:
            items.append(
                f"{dataset}: {best['method']} leads clearly; its 95% interval of the final test "
                "loss overlaps no other method's."
            )
        else:
            names = ", ".join(tied["method"])
            items.append(
                f"{dataset}: {best['method']} ranks first but is tied with {names}: their 95% "
                "intervals of the final test loss overlap its own, so their order is not "
                "established by these seeds."
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
    parts = [f'<section id="{html.escape(section.id)}">',
             f"<{tag}>{html.escape(section.title)}</{tag}>"]  # fmt: skip
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
    data = base64.b64encode(Path(block.path).read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.title)}">'
        f"<figcaption><strong>{html.escape(block.title)}.</strong> "
        f"{html.escape(block.caption)}</figcaption></figure>"
    )


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
