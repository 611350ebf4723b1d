"""Figures of a benchmark, drawn from its stored tables and parameters (matplotlib).

Each figure has a ``*_data`` function that computes what it shows (curve centres and bands,
profile values, verdicts, ranks, paths ...) and a ``plot_*`` function that draws it and
returns a ``matplotlib.figure.Figure``, which a notebook can restyle before showing or
saving it; ``save_figure`` writes one as PNG, SVG or PDF, and ``draw_figures`` computes,
draws and saves every figure of a Results. Everything but the learning-rate sensitivity
comes from the evaluation trials (fresh seeds, the tuned configuration); the sensitivity
figure shows the tuning trials.

Figures are built without pyplot and written with ``savefig`` (or Agg for PNG);
``matplotlib.use`` is never called, so a notebook's backend is left alone.

Every method keeps one look in every figure (``method_style``): an Okabe–Ito colour (a
palette that stays distinct under the common colour-vision deficiencies), a line style and a
marker; no two methods share a colour-and-marker pair. Nothing here trains a network on a
benchmark dataset; only ``optimizer_paths_data`` runs the optimizers, for a few hundred
steps on analytic 2-D surfaces.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator
from PIL import Image
from scipy import stats

from backprop import MLP
from bench import metrics, protocol

DPI = 120
FORMATS = ("png", "svg", "pdf")  # of saved figures; the HTML report embeds PNG or SVG
# Okabe & Ito (2008), "Color universal design"; yellow last, as it is faint on white.
OKABE_ITO = (
    "#000000",  # black
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#F0E442",  # yellow
)
BLACK, ORANGE, SKY_BLUE, GREEN, PURPLE, VERMILLION, BLUE, YELLOW = OKABE_ITO
# The built-in methods (bench.suite.BUILTIN_METHODS, in order): colour, line style, marker.
# Eleven methods in eight colours: the three that share a colour take one from another
# family (rmsprop sgd's orange, adamw momentum's blue, nadam adagrad's green) and draw it
# dashed, so that no two methods likely to run close together look alike; every marker
# differs. gd alone is black.
BUILTIN_STYLES = {
    "gd": (BLACK, "-", "o"),
    "sgd": (ORANGE, "-", "s"),
    "minibatch": (SKY_BLUE, "-", "^"),
    "adagrad": (GREEN, "-", "v"),
    "adadelta": (PURPLE, "-", "D"),
    "adam": (VERMILLION, "-", "P"),
    "momentum": (BLUE, "-", "X"),
    "nesterov": (YELLOW, "-", "*"),
    "rmsprop": (ORANGE, "--", "h"),
    "adamw": (BLUE, "--", "<"),
    "nadam": (GREEN, "--", ">"),
}
BUILTIN_ORDER = tuple(BUILTIN_STYLES)
# A user's method: one of 7 colours (yellow, faint on white, left out) x 4 markers no
# built-in uses, dash-dotted.
USER_MARKERS = ("p", "d", "+", "1")  # not "x": it marks divergence
USER_LINESTYLE = "-."
USER_STYLES = tuple((c, USER_LINESTYLE, m) for m in USER_MARKERS for c in OKABE_ITO[:7])
MARKERS = tuple(m for _, _, m in BUILTIN_STYLES.values()) + USER_MARKERS
AXIS_LABELS = {
    "epoch": "epoch (passes over the training set)",
    "seconds": "seconds per trial, calibrated (log scale)",
}
LOSS_LABEL = "training loss (mean per sample, log scale)"
METRIC_LABELS = {"binary": "test accuracy", "multiclass": "test accuracy", "regression": "test R²"}
BOUNDARY_RESOLUTION = 200  # decision boundaries: grid points a side
NOT_REACHED_ZONE = 0.25  # the "not reached" zone beyond the last epoch, as a fraction of E


# ------------------------------------------------------------------------------ styles


def method_style(method: str, methods: Sequence[str] = ()) -> dict[str, Any]:
    """The fixed look of a method: {"color", "linestyle", "marker"}, for ``ax.plot(**style)``.

    A built-in method has its own entry of BUILTIN_STYLES. A user's method takes the entry
    of USER_STYLES that its name hashes to (CRC-32, so the same in every process and every
    figure, whatever else is in the run): its colour-and-marker pair differs from every
    built-in's. Only when two user methods of ``methods`` hash to the same entry does the
    later of them (in sorted order) take the next free one.
    """
    if method in BUILTIN_STYLES:
        colour, linestyle, marker = BUILTIN_STYLES[method]
    else:
        colour, linestyle, marker = USER_STYLES[_user_slot(method, methods)]
    return {"color": colour, "linestyle": linestyle, "marker": marker}


def _user_slot(method: str, methods: Sequence[str]) -> int:
    """The index in USER_STYLES of a user's method: its hash, probed past collisions with the
    user methods of ``methods`` before it in sorted order."""
    users = sorted({str(m) for m in methods if m not in BUILTIN_STYLES} | {str(method)})
    taken: set[int] = set()
    for user in users:
        slot = zlib.crc32(user.encode("utf-8")) % len(USER_STYLES)
        for _ in range(len(USER_STYLES)):
            if slot not in taken:
                break
            slot = (slot + 1) % len(USER_STYLES)
        if user == str(method):
            return slot
        taken.add(slot)
    raise AssertionError("unreachable")  # pragma: no cover


def _styles(results, shown: Sequence[str]) -> list[str]:
    """The methods whose styles a figure is drawn with: the whole run's, so that a user method
    keeps its look in a figure that leaves out another one (``shown`` without a run)."""
    try:
        return list(dict.fromkeys([*_methods(results), *shown]))
    except (AttributeError, KeyError, TypeError):
        return list(shown)


def text(label: str) -> str:
    """A name from a suite file made safe for matplotlib (no mathtext from a '$')."""
    return str(label).replace("$", r"\$")


def slug(name: str) -> str:
    """A file-name-safe form of a dataset name: letters, digits, '-', '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "dataset"


def _legend_handles(methods: Sequence[str], styles: Sequence[str] = ()) -> list[Line2D]:
    """A legend entry per method, styled as among ``styles`` (default: ``methods``)."""
    styles = list(styles) or list(methods)
    return [Line2D([], [], label=text(m), markersize=6, **method_style(m, styles)) for m in methods]


def _figure_legend(fig, handles: list, ncol: int | None = None, loc: str = "lower") -> None:
    """One legend for the whole figure, below (or with loc="upper", above) the panels."""
    fig.legend(
        handles=handles,
        loc=f"outside {loc} center",
        ncol=ncol or min(len(handles), 6),
        frameon=False,
        fontsize="small",
    )


def _panels(n: int, ncols: int = 3, size: tuple[float, float] = (4.2, 3.2)):
    """A figure of n panels in rows of ``ncols``; unused panels are removed."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.get_layout_engine().set(hspace=0.06, wspace=0.03)  # keep a title by its own panel
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


class _SparseMinorLocator(LogLocator):
    """Minor ticks of a log axis only where they carry labels (a span under 1.8 decades):
    on a wider axis unlabelled minor ticks cost a quarter of the drawing time and show
    nothing the major grid does not."""

    def __call__(self):
        low, high = self.axis.get_view_interval()
        if low <= 0 or np.log10(high / low) >= 1.8:
            return []
        return super().__call__()


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (0.3, 1, 30), not 3 x 10^-1; label the minor
    ticks 2 and 5 (and 3) x 10^k as well when the axis spans less than two (one) decades
    (a wider axis has no minor ticks)."""

    def minor(value: float, _) -> str:
        low, high = axis.get_view_interval()
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        decades = np.log10(high / low) if low > 0 else np.inf
        labelled = (2, 3, 5) if decades < 1 else (2, 5) if decades < 1.8 else ()
        return f"{value:g}" if mantissa in labelled else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(_SparseMinorLocator(10, subs=np.arange(2, 10)))
    axis.set_minor_formatter(FuncFormatter(minor))


def save_figure(fig: Figure, path: str | Path, format: str | None = None) -> Path:
    """Write ``fig`` to ``path`` as PNG, SVG or PDF (``format``, else the path's suffix, else
    PNG); the suffix is set to the format. Returns the path written.

    A PNG is rendered once by Agg into memory and written as a 256-colour image (a third of
    the size of RGBA; savefig would encode a full-colour PNG first, which costs as much as
    the drawing). SVG and PDF are written by ``savefig`` without a date, so that the same
    figure gives the same file.
    """
    path = Path(path)
    format = format or path.suffix.lstrip(".").lower() or "png"
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    path = path.with_suffix(f".{format}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.set_dpi(DPI)
    fig.patch.set_facecolor("white")
    canvas = FigureCanvasAgg(fig)
    if format != "png":
        metadata = {"Date": None} if format == "svg" else {"CreationDate": None}
        with rc_context({"svg.hashsalt": "backprop-bench", "svg.fonttype": "path"}):
            fig.savefig(path, format=format, metadata=metadata)
        return path
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
    # fast octree: a fifth of the time of median cut, and as good on flat plot colours;
    # PNG's optimize pass would save 7% of the bytes for four times the encoding time
    image = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(path, format="PNG")
    return path


# ------------------------------------------------------------------------------ table helpers

# the verdict of a comparison with the best (bench.stats.VERDICTS): colour and legend label
VERDICT_COLOURS = {
    "best": "#0072B2",  # blue
    "equivalent": "#56B4E9",  # sky blue
    "inconclusive": "#E4E4E4",  # light grey
    "worse": "#D55E00",  # vermillion
}
VERDICT_LABELS = {
    "best": "best (lowest geometric mean)",
    "equivalent": "equivalent to the best (within the margin)",
    "inconclusive": "inconclusive",
    "worse": "worse than the best",
}


def _methods(results) -> list[str]:
    """The methods of a run that have trials, in suite order."""
    present = set(results.trials["method"])
    listed = [m for m in results.suite.get("methods", {}) if m in present]
    return listed + [m for m in dict.fromkeys(results.trials["method"]) if m not in listed]


def _datasets(results) -> list[str]:
    """The datasets of a run that have trials, in suite order."""
    present = set(results.trials["dataset"])
    listed = [d for d in results.suite.get("datasets", {}) if d in present]
    return listed + [d for d in dict.fromkeys(results.trials["dataset"]) if d not in listed]


def task_of(results, dataset: str) -> str:
    """The task of a dataset (binary, multiclass, regression): from the trials, else rebuilt."""
    rows = results.trials.loc[results.trials["dataset"] == dataset]
    if "task" in rows and rows["task"].notna().any():
        return str(rows["task"].dropna().iloc[0])
    return results.dataset(dataset).task


def _target(results, dataset: str) -> float | None:
    spec = results.suite.get("datasets", {}).get(dataset, {})
    return spec.get("target_loss")


def _epochs(results) -> int:
    epochs = results.suite.get("epochs")
    return int(epochs) if epochs is not None else int(results.curves["epoch"].max())


def log_intervals(
    frame: pd.DataFrame, keys: list[str], column: str, level: float = 0.95
) -> pd.DataFrame:
    """``metrics.confidence_interval(values, level, log=True)`` of ``column`` per group of
    ``keys``, vectorised, the values floored at 1e-12 first: columns center, lo, hi indexed
    by the keys in order of appearance (NaN with fewer than 2 values or a non-finite one)."""
    logs = np.log(metrics.floored(frame[column].to_numpy(dtype=float), metrics.LOSS_FLOOR))
    work = frame[keys].assign(log=logs, bad=~np.isfinite(logs))
    by = work.groupby(keys, sort=False)
    mean, sd, n, bad = by["log"].mean(), by["log"].std(ddof=1), by.size(), by["bad"].any()
    ok = ((n >= 2) & ~bad).to_numpy()
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf((1 + level) / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    parts = {"center": mean, "lo": mean - half, "hi": mean + half}
    return pd.DataFrame({k: np.where(ok, np.exp(v), np.nan) for k, v in parts.items()},
                        index=n.index)  # fmt: skip


# ------------------------------------------------------------------------------ 1, 2: curves

LOSS_NAMES = {"train_loss": "training", "val_loss": "validation"}
CURVE_LOSSES = {"epoch": ("train_loss", "val_loss"), "seconds": ("train_loss",)}
CURVE_DATA_COLUMNS = ["dataset", "method", "lr", "loss", "epoch", "x", "center", "lo", "hi", "n"]


def loss_curve_data(
    results, axis: str = "epoch", losses: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each loss of ``losses`` per dataset x method x epoch of the evaluation trials.

    losses: by default what ``plot_loss_curves`` draws against ``axis``: the training and
    the validation loss against epochs, the training loss against seconds.

    Columns: dataset, method, lr (the tuned lr), loss (train_loss or val_loss), epoch, x (the
    epoch, samples or seconds at that epoch, mean over seeds), center, lo, hi (the geometric
    mean over the evaluation seeds and its 95% interval, ``metrics.confidence_interval`` with
    log=True on the losses floored at 1e-12; NaN where a seed's loss is not finite), n (seeds).
    """
    if axis not in AXIS_LABELS:
        raise ValueError(f"axis must be one of {', '.join(AXIS_LABELS)}; got {axis!r}")
    losses = CURVE_LOSSES[axis] if losses is None else losses
    curves = results.curves[results.curves["phase"] == "eval"]
    if curves.empty:
        return pd.DataFrame(columns=CURVE_DATA_COLUMNS)
    keys = ["dataset", "method", "lr", "epoch"]
    groups = curves.groupby(keys, sort=False)
    x, n = groups[axis].mean(), groups.size()
    parts = [
        log_intervals(curves, keys, loss).assign(x=x, n=n, loss=loss).reset_index()
        for loss in losses
    ]
    data = pd.concat(parts, ignore_index=True)
    data["n"] = data["n"].astype(int)
    return data[CURVE_DATA_COLUMNS]


def plot_loss_curves(results, axis: str = "epoch", data: pd.DataFrame | None = None) -> Figure:
    """Loss against epoch, samples or seconds, one panel per dataset, evaluation trials.

    Each method at its tuned configuration: the geometric mean over the evaluation seeds as
    a line, its 95% interval as a band; log y. Against epochs (the headline figure) both the
    training loss (solid) and the validation loss (dashed), so that overfitting shows as a
    dashed line that turns up while the solid one still falls; against samples and seconds
    the training loss only. data: ``loss_curve_data(results, axis)``, computed if not given.
    """
    data = loss_curve_data(results, axis) if data is None else data
    losses = tuple(dict.fromkeys(data["loss"])) or CURVE_LOSSES[axis]
    methods, datasets = _methods(results), _datasets(results)
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        here = data[data["dataset"] == dataset]
        for method in methods:
            style = method_style(method, methods)
            if len(losses) > 1:  # solid training, dashed validation: colour and marker tell
                style = {**style, "linestyle": "-"}  # the methods apart (as the legend)
            for loss in losses:
                curve = here[(here["method"] == method) & (here["loss"] == loss)]
                if axis == "seconds":  # log x: the untrained point at 0 s has no place on it
                    curve = curve[curve["x"] > 0]
                if curve.empty:
                    continue
                _draw_curve(ax, curve, style, validation=loss == "val_loss", crowded=len(methods))
        _label_curve_panel(ax, results, dataset, axis, validation=len(losses) > 1)
    handles = _legend_handles(methods)
    if len(losses) > 1:
        handles = [
            Line2D(
                [],
                [],
                label=text(m),
                markersize=6,
                **{**method_style(m, methods), "linestyle": "-"},
            )
            for m in methods
        ]
        handles += [
            Line2D([], [], color="0.3", linestyle="-", linewidth=1.5, label="training loss"),
            Line2D([], [], color="0.3", linestyle="--", linewidth=1.1, label="validation loss"),
        ]  # fmt: skip
    _figure_legend(fig, handles, ncol=min(len(handles), 8))
    return fig


def _draw_curve(ax, curve: pd.DataFrame, style: dict, validation: bool, crowded: int) -> None:
    """One loss curve: its centre as a line and its interval as a band (the validation loss
    dashed, without markers, its band fainter)."""
    floor = curve["center"].min() / 10
    alpha = 0.15 if crowded <= 6 else 0.08
    ax.fill_between(
        curve["x"], curve["lo"].clip(lower=floor), curve["hi"], color=style["color"],
        alpha=alpha / 2 if validation else alpha, linewidth=0,
    )  # fmt: skip
    if validation:
        ax.plot(curve["x"], curve["center"], color=style["color"], linestyle="--", linewidth=1.1)
    else:
        ax.plot(
            curve["x"], curve["center"], markevery=max(1, len(curve) // 8), markersize=4,
            linewidth=1.5, **style,
        )  # fmt: skip


def _label_curve_panel(ax, results, dataset: str, axis: str, validation: bool = False) -> None:
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    if axis == "seconds":
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
    elif axis == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(text(dataset))
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel(LOSS_LABEL.replace("training loss", "loss") if validation else LOSS_LABEL)
    ax.grid(True, which="major", alpha=0.3)
    target = _target(results, dataset)
    if target is not None:
        ax.axhline(target, color="0.4", linewidth=0.8, linestyle=":")
        ax.annotate(
            "target", (1, target), xycoords=("axes fraction", "data"), ha="right", va="bottom",
            fontsize="x-small", color="0.3",
        )  # fmt: skip


# ------------------------------------------------------------------------------ 3: lr sensitivity

LR_DATA_COLUMNS = [
    "dataset", "method", "lr", "hyperparameters", "score", "diverged", "diverged_seeds",
    "trials", "extended", "tuned", "at_edge",
]  # fmt: skip


def lr_sensitivity_data(results) -> pd.DataFrame:
    """Per dataset x method x lr tried in tuning: the tuning score of the lr's best candidate.

    score: the mean over tuning seeds of the best validation loss (the tuning rule of
    ``bench.protocol.candidate_scores``) of the best valid candidate at that lr (over the
    searched arguments); NaN, and diverged True, when no candidate at the lr is valid (each
    had a diverged seed or a non-finite score). hyperparameters: that candidate's searched
    arguments (JSON); diverged_seeds, trials: tuning trials at the lr that diverged, and all
    of them; extended: the lr was added by grid extension; tuned: the lr evaluated;
    at_edge: the tuned lr and flagged at an edge of the lrs tried (summary.lr_at_edge).
    """
    tuning = results.tuning
    if tuning.empty:
        return pd.DataFrame(columns=LR_DATA_COLUMNS)
    chain, keys = ["dataset", "method"], ["dataset", "method", "lr"]
    candidates = protocol.candidate_scores(tuning, by=chain)
    ordered = candidates.sort_values(["valid", "score"], ascending=[False, True], kind="stable")
    data = ordered.groupby(keys, sort=False).first().reset_index()
    data["diverged"] = ~data["valid"]
    data.loc[data["diverged"], "score"] = np.nan
    per_lr = tuning.groupby(keys, sort=False)
    data = data.merge(
        pd.DataFrame(
            {
                "diverged_seeds": per_lr["diverged"].sum().astype(int),
                "trials": per_lr.size(),
                "extended": per_lr["extended"].any(),
            }
        ).reset_index(),
        on=keys,
    )
    summary = results.summary[[*chain, "lr", "lr_at_edge"]].rename(columns={"lr": "tuned_lr"})
    data = data.merge(summary, on=chain, how="left")
    tuned_lr = data["tuned_lr"].astype(float)
    data["tuned"] = np.isclose(data["lr"].astype(float), tuned_lr, rtol=1e-9, atol=0)
    data["at_edge"] = data["tuned"] & data["lr_at_edge"].fillna(False).astype(bool)
    data = data.sort_values([*chain, "lr"], kind="stable", key=_suite_order(results))
    return data[LR_DATA_COLUMNS].reset_index(drop=True)


def _suite_order(results):
    """A sort key putting datasets and methods in suite order (other columns as they are)."""
    ranks = {
        "dataset": {d: i for i, d in enumerate(_datasets(results))},
        "method": {m: i for i, m in enumerate(_methods(results))},
    }
    return lambda column: column.map(ranks[column.name]) if column.name in ranks else column


def plot_lr_sensitivity(results, data: pd.DataFrame | None = None) -> Figure:
    """Tuning score against lr (log-log), one panel per dataset, from the tuning trials.

    Per method and lr tried, the tuning score of its best candidate. An lr added by grid
    extension has a hollow marker; the tuned lr is circled, and labelled 'edge' when it is
    still at an edge of the lrs tried. An lr where every candidate had a diverged seed has
    no score; it is drawn as an 'x' in a strip at the top of the panel, one row per method.
    data: ``lr_sensitivity_data(results)``, computed if not given.
    """
    data = lr_sensitivity_data(results) if data is None else data
    methods, datasets = _methods(results), _datasets(results)
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        panel = data[data["dataset"] == dataset]
        strip = [m for m in methods if panel.loc[panel["method"] == m, "diverged"].any()]
        for method in methods:
            rows = panel[panel["method"] == method]
            style = method_style(method, methods)
            ok = rows[~rows["diverged"].astype(bool)]
            ax.plot(ok["lr"], ok["score"], markersize=5, linewidth=1.2, **style)
            added = ok[ok["extended"].astype(bool)]
            ax.plot(
                added["lr"], added["score"], linestyle="none", marker=style["marker"],
                markersize=5, markerfacecolor="white", markeredgecolor=style["color"],
            )  # fmt: skip
            tuned = ok[ok["tuned"].astype(bool)]
            ax.plot(
                tuned["lr"], tuned["score"], linestyle="none", marker="o", markersize=12,
                markerfacecolor="none", markeredgecolor=style["color"], markeredgewidth=1.8,
            )  # fmt: skip
            for row in tuned[tuned["at_edge"].astype(bool)].itertuples():
                ax.annotate(
                    "edge", (row.lr, row.score), xytext=(7, 7), textcoords="offset points",
                    fontsize="x-small", color=style["color"], fontweight="bold",
                )  # fmt: skip
            if method in strip:
                height = 1 - 0.05 * (strip.index(method) + 1)
                bad = rows[rows["diverged"].astype(bool)]
                ax.plot(
                    bad["lr"], np.full(len(bad), height), linestyle="none", marker="x",
                    markersize=7, markeredgewidth=2, color=style["color"],
                    transform=ax.get_xaxis_transform(), clip_on=False,
                )  # fmt: skip
        _label_lr_panel(ax, dataset, panel["score"], len(strip))
    handles = _legend_handles(methods) + [
        Line2D([], [], linestyle="none", marker="o", markersize=10, markerfacecolor="none",
               markeredgecolor="0.3", label="tuned lr ('edge': at an edge of the lrs tried)"),
        Line2D([], [], linestyle="none", marker="o", markersize=5, markerfacecolor="white",
               markeredgecolor="0.3", label="lr added by grid extension"),
        Line2D([], [], linestyle="none", marker="x", color="0.3",
               label="diverged (≥ 1 tuning seed)"),
    ]  # fmt: skip
    _figure_legend(fig, handles, ncol=min(max(len(methods), 3), 6))  # the markers' own row
    return fig


def _label_lr_panel(ax, dataset: str, losses: pd.Series, strip_rows: int) -> None:
    """Log-log axes whose top leaves room for the strip of diverged markers."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_title(text(dataset))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("tuning score: best validation loss\n(mean over tuning seeds, log scale)")
    ax.grid(True, which="major", alpha=0.3)
    finite = losses[np.isfinite(losses) & (losses > 0)]
    if strip_rows == 0 or finite.empty:
        return
    strip = 0.05 * strip_rows + 0.03
    ax.add_patch(
        Rectangle((0, 1 - strip), 1, strip, transform=ax.transAxes, color="0.92", zorder=0)
    )
    ax.text(0.01, 1 - strip + 0.005, "diverged", transform=ax.transAxes, fontsize="x-small",
            color="0.3", va="bottom")  # fmt: skip
    low, high = np.log10(finite.min()), np.log10(finite.max())
    bottom = low - 0.08 * max(high - low, 0.3)
    top = bottom + (high - bottom) / (1 - strip - 0.04)
    ax.set_ylim(10**bottom, 10**top)


# ------------------------------------------------------------------------------ 4: test


def final_test_data(results) -> pd.DataFrame:
    """The evaluation trials' test loss and test metric (of the early-stopped model):
    dataset, method, lr, seed, test_loss, test_metric."""
    columns = ["dataset", "method", "lr", "seed", "test_loss", "test_metric"]
    return results.evaluation[columns].reset_index(drop=True)


def plot_final_test(results, data: pd.DataFrame | None = None) -> Figure:
    """Test loss and test metric of every evaluation seed (early-stopped model).

    Two panels per dataset (loss, then accuracy or R²), two datasets to a row; per method
    a box (quartiles, whiskers to the extremes) with every seed drawn on top. data:
    ``final_test_data(results)``, computed if not given.
    """
    data = final_test_data(results) if data is None else data
    methods, datasets = _methods(results), _datasets(results)
    width = max(3.4, 0.32 * len(methods) + 1.3)
    fig, axes = _panels(2 * len(datasets), ncols=4, size=(width, 3.2))
    jitter = np.random.default_rng(0)
    for k, (dataset, column) in enumerate(
        (d, c) for d in datasets for c in ("test_loss", "test_metric")
    ):
        ax = axes[k]
        for position, method in enumerate(methods):
            values = data.loc[
                (data["dataset"] == dataset) & (data["method"] == method), column
            ].dropna()
            _box_and_strip(ax, position, values, method_style(method, methods), jitter)
        ax.set_xticks(range(len(methods)), [text(m) for m in methods], rotation=45, ha="right")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.grid(True, axis="y", alpha=0.3)
        metric = METRIC_LABELS.get(task_of(results, dataset), "test metric")
        ax.set_title(f"{text(dataset)}: {'test loss' if column == 'test_loss' else metric}")
        ax.set_ylabel(
            "test loss (mean per sample)\nof the early-stopped model"
            if column == "test_loss"
            else metric
        )
    return fig


def _box_and_strip(ax, position: int, values: pd.Series, style: dict, rng) -> None:
    if values.empty:
        ax.text(position, 0.5, "no lr\nwithout\ndivergence", transform=ax.get_xaxis_transform(),
                ha="center", va="center", fontsize="x-small", color="0.4")  # fmt: skip
        return
    ax.boxplot(
        [values.to_numpy()], positions=[position], widths=0.55, showfliers=False,
        medianprops={"color": style["color"], "linewidth": 1.5},
        boxprops={"color": "0.45"}, whiskerprops={"color": "0.45"}, capprops={"color": "0.45"},
    )  # fmt: skip
    x = position + rng.uniform(-0.15, 0.15, size=len(values))
    ax.scatter(x, values, s=18, color=style["color"], marker=style["marker"], zorder=3,
               edgecolors="white", linewidths=0.4)  # fmt: skip


# ------------------------------------------------------------------------------ 5: speed


def convergence_data(results) -> pd.DataFrame:
    """Epochs to the dataset's target loss per dataset x method, evaluation trials.

    Columns: dataset, method, lr, seeds, reached (seeds that reached the target), center,
    lo, hi (the summary's geometric mean and 95% interval, shown only when every seed
    reached it), and status: "reached", "not reached" (no seed), "partly reached" (some
    seeds; drawn as not reached, since an unreached seed is censored at E + 1 epochs), "no
    target" (the dataset has none) or "no valid lr" (no evaluation trial: every candidate
    diverged).
    """
    evaluation = results.evaluation
    reached = evaluation.groupby(["dataset", "method"])["target_reached"].sum()
    rows = []
    for summary in results.summary.itertuples():
        hits = int(reached.get((summary.dataset, summary.method), 0))
        seeds = int(summary.n_seeds)
        if seeds == 0:
            status = "no valid lr"
        elif _target(results, summary.dataset) is None:
            status = "no target"
        elif hits == seeds:
            status = "reached"
        else:
            status = "not reached" if hits == 0 else "partly reached"
        shown = status == "reached"
        rows.append(
            {
                "dataset": summary.dataset,
                "method": summary.method,
                "lr": summary.lr,
                "seeds": seeds,
                "reached": hits,
                "center": summary.epochs_to_target_center if shown else np.nan,
                "lo": summary.epochs_to_target_lo if shown else np.nan,
                "hi": summary.epochs_to_target_hi if shown else np.nan,
                "status": status,
            }
        )
    columns = ["dataset", "method", "lr", "seeds", "reached", "center", "lo", "hi", "status"]
    return pd.DataFrame(rows, columns=columns)


def plot_convergence_speed(results, data: pd.DataFrame | None = None) -> Figure:
    """Epochs to target of the evaluation trials: bars with 95% intervals; every seed a dot.

    A method that did not reach the target with every seed gets a hatched bar that runs
    past the last epoch into a "not reached" zone, labelled, never a zero or a gap; its
    unreached seeds sit in that zone (censored at E + 1 epochs). data:
    ``convergence_data(results)``, computed if not given.
    """
    data = convergence_data(results) if data is None else data
    methods, datasets = _methods(results), _datasets(results)
    epochs = _epochs(results)
    zone = epochs * (1 + NOT_REACHED_ZONE)
    evaluation = results.evaluation
    fig, axes = _panels(len(datasets), size=(4.6, 0.34 * len(methods) + 1.6))
    for ax, dataset in zip(axes, datasets, strict=True):
        for position, method in enumerate(methods):
            rows = data[(data["dataset"] == dataset) & (data["method"] == method)]
            if rows.empty:
                continue
            row = rows.iloc[0]
            seeds = evaluation.loc[
                (evaluation["dataset"] == dataset) & (evaluation["method"] == method),
                "epochs_to_target",
            ].dropna()
            seeds = seeds.clip(upper=(epochs + zone) / 2)
            _speed_bar(ax, position, row, seeds, (epochs, zone), method_style(method, methods))
        ax.axvspan(epochs, zone, color="0.9", zorder=0)
        ax.set_xlim(0, zone)
        ticks = [t for t in MaxNLocator(5, integer=True).tick_values(0, epochs) if t <= epochs]
        ax.set_xticks([*ticks, (epochs + zone) / 2], [f"{t:g}" for t in ticks] + ["not\nreached"])
        ax.set_yticks(range(len(methods)), [text(m) for m in methods])
        ax.set_ylim(len(methods) - 0.5, -0.5)
        ax.set_title(f"{text(dataset)} (target loss {_target(results, dataset)})")
        ax.set_xlabel(f"epochs to target loss (of {epochs})")
        ax.grid(True, axis="x", alpha=0.3)
        ax.get_xgridlines()[-1].set_visible(False)
    return fig


def _speed_bar(ax, position: int, row, seeds: pd.Series, zone: tuple, style: dict) -> None:
    """One method's bar: geometric mean and interval when every seed reached the target,
    else hatched."""
    (epochs, zone), color = zone, style["color"]
    if row["status"] == "reached":
        ax.barh(position, row["center"], height=0.6, color=color, alpha=0.35)
        ax.errorbar(
            row["center"], position,
            xerr=[[row["center"] - row["lo"]], [row["hi"] - row["center"]]],
            color=color, capsize=3, linewidth=1.2,
        )  # fmt: skip
    else:
        label = {
            "not reached": "no seed\nreached it",
            "partly reached": f"{row['reached']}/{row['seeds']} seeds\nreached it",
            "no target": "no target\nset",
            "no valid lr": "every lr\ndiverged",
        }[row["status"]]
        ax.barh(position, zone, height=0.6, facecolor="none", edgecolor=color, hatch="///",
                linewidth=0.8)  # fmt: skip
        ax.text((epochs + zone) / 2, position, label, ha="center", va="center",
                fontsize="x-small", linespacing=1.0,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})  # fmt: skip
    ax.scatter(seeds, np.full(len(seeds), position), s=22, color=color, marker=style["marker"],
               zorder=4, edgecolors="black", linewidths=0.4)  # fmt: skip


# -------------------------------------------------------------------------- 6: profile, verdicts


PROFILE_COSTS = {
    "epochs": ("epochs_to_target_center", "epochs to target", "fewest epochs"),
    "seconds": ("seconds_to_target_center", "seconds to target", "fewest seconds"),
}


def performance_profile_data(results, cost: str = "epochs") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Dolan–Moré performance profile on epochs (or seconds) to target.

    cost(method, dataset) = the summary's geometric mean of epochs (seconds) to target over
    the evaluation seeds, inf when any seed missed it; epochs are at least 1 (a target met
    before training counts as one epoch), seconds are floored at one step's time as in the
    summary. ratio = cost / the least cost on that dataset (inf when no method reached it);
    rho_method(tau) = the fraction of datasets (those with a target) with ratio <= tau.
    Returns (ratios: dataset x method, profile: method, tau, fraction), the profile a step
    function sampled at every distinct finite ratio, from tau = 1 to the largest.
    """
    if cost not in PROFILE_COSTS:
        raise ValueError(f"cost must be one of {', '.join(PROFILE_COSTS)}; got {cost!r}")
    speed = convergence_data(results)
    keys = ["dataset", "method"]
    column = PROFILE_COSTS[cost][0]
    speed = speed.merge(
        results.summary[[*keys, column]].rename(columns={column: "value"}), on=keys, how="left"
    )
    speed = speed[speed["status"] != "no target"]
    value = speed["value"].astype(float)
    value = np.maximum(value, 1.0) if cost == "epochs" else value
    reached = (speed["status"] == "reached") & np.isfinite(value)
    costs = speed.assign(cost=np.where(reached, value, np.inf)).pivot(
        index="dataset", columns="method", values="cost"
    )
    costs = costs.reindex(columns=[m for m in _methods(results) if m in costs.columns])
    best = costs.min(axis=1)
    ratios = costs.div(best.where(np.isfinite(best)), axis=0).fillna(np.inf)
    finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
    taus = np.unique(np.concatenate([[1.0], finite, [max(2.0, finite.max(initial=1.0) * 1.25)]]))
    rows = [
        {"method": method, "tau": tau, "fraction": float(np.mean(ratios[method] <= tau))}
        for method in ratios.columns
        for tau in taus
    ]
    return ratios, pd.DataFrame(rows, columns=["method", "tau", "fraction"])


def performance_profiles_data(results) -> dict[str, pd.DataFrame]:
    """Both profiles of ``plot_performance_profile``: {"ratios", "profile": on epochs,
    "seconds_ratios", "seconds_profile": on seconds} (``performance_profile_data``)."""
    (ratios, profile), (seconds_ratios, seconds_profile) = (
        performance_profile_data(results, cost) for cost in PROFILE_COSTS
    )
    return {
        "ratios": ratios, "profile": profile,
        "seconds_ratios": seconds_ratios, "seconds_profile": seconds_profile,
    }  # fmt: skip


def plot_performance_profile(results, data: dict[str, pd.DataFrame] | None = None) -> Figure:
    """The performance profiles on epochs and on seconds to target, side by side: step
    functions of tau (log x). data: ``performance_profiles_data(results)``, computed if not
    given."""
    data = performance_profiles_data(results) if data is None else data
    drawn = {
        "epochs": (data["ratios"], data["profile"]),
        "seconds": (data["seconds_ratios"], data["seconds_profile"]),
    }
    styles = _styles(results, list(drawn["epochs"][0].columns))
    fig, axes = _panels(2, ncols=2, size=(5.4, 3.9))
    for ax, (cost, (ratios, profile)) in zip(axes, drawn.items(), strict=True):
        methods = list(ratios.columns)
        for offset, method in enumerate(methods):
            steps = profile[profile["method"] == method]
            # a small vertical offset keeps methods with the same profile visible
            lift = (offset - (len(methods) - 1) / 2) * 0.003
            ax.step(steps["tau"], steps["fraction"] + lift, where="post", linewidth=1.6,
                    markevery=[0], markersize=5, **method_style(method, styles))  # fmt: skip
        _, measure, fewest = PROFILE_COSTS[cost]
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"on {measure}")
        ax.set_xlabel(f"τ: {measure} / {fewest} of any method\non that dataset (log scale)")
        ax.set_ylabel(f"fraction of the {len(ratios)} datasets\nwithin a factor τ of the fastest")
        ax.grid(True, which="both", alpha=0.3)
    methods = list(drawn["epochs"][0].columns)
    _figure_legend(fig, _legend_handles(methods, styles), ncol=min(len(methods), 6))
    return fig


def verdict_data(results, criterion: str = "test_loss") -> pd.DataFrame:
    """Each method's verdict on each dataset for ``criterion``, from the comparisons table.

    Columns: method, dataset, verdict, rel_diff (against the dataset's best), rank
    (summary.rank, by the geometric mean test loss), mean_rank; methods in the ranking's
    order (mean rank, best first), datasets in suite order.
    """
    on = results.comparisons[results.comparisons["criterion"] == criterion]
    ranks = results.summary.set_index(["method", "dataset"])["rank"]
    mean_rank = results.ranking.set_index("method")["mean_rank"]
    order = [m for m in results.ranking["method"] if m in set(on["method"])]
    order += [m for m in _methods(results) if m not in order and m in set(on["method"])]
    datasets = [d for d in _datasets(results) if d in set(on["dataset"])]
    indexed = on.set_index(["method", "dataset"])
    rows = []
    for method in order:
        for dataset in datasets:
            known = (method, dataset) in indexed.index
            rows.append(
                {
                    "method": method,
                    "dataset": dataset,
                    "verdict": indexed.at[(method, dataset), "verdict"] if known else "",
                    "rel_diff": indexed.at[(method, dataset), "rel_diff"] if known else np.nan,
                    "rank": ranks.get((method, dataset), np.nan),
                    "mean_rank": mean_rank.get(method, np.nan),
                }
            )
    columns = ["method", "dataset", "verdict", "rel_diff", "rank", "mean_rank"]
    return pd.DataFrame(rows, columns=columns)


def ratio_text(rel_diff: float) -> str:
    """A relative difference as a short label: '+12%', '−3.5%', or '×3.1' from a ratio of 2 up."""
    if not np.isfinite(rel_diff):
        return "–"
    if rel_diff >= 1:
        ratio = 1 + rel_diff
        return f"×{ratio:.2g}" if ratio < 100 else f"×{ratio:.0f}"
    percent = 100 * rel_diff
    digits = 0 if abs(percent) >= 9.95 else 1
    return f"{percent:+.{digits}f}%".replace("-", "−")


def plot_verdicts(results, data: pd.DataFrame | None = None) -> Figure:
    """Each method's verdict on test loss per dataset: a table of coloured cells.

    The colour is the verdict (best, equivalent, inconclusive, worse); the text the relative
    difference to the dataset's best (geometric means, paired by seed). Methods in order of
    mean rank (in brackets), best first. data: ``verdict_data(results)``, computed if not
    given.
    """
    data = verdict_data(results) if data is None else data
    methods = list(dict.fromkeys(data["method"]))
    datasets = list(dict.fromkeys(data["dataset"]))
    fig = Figure(
        figsize=(1.2 * len(datasets) + 2.8, 0.42 * len(methods) + 1.6), layout="constrained"
    )
    ax = fig.subplots()
    for row in data.itertuples():
        i, j = methods.index(row.method), datasets.index(row.dataset)
        colour = VERDICT_COLOURS.get(row.verdict, "white")
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=colour, edgecolor="white",
                               linewidth=2))  # fmt: skip
        label = "best" if row.verdict == "best" else ratio_text(row.rel_diff)
        dark = row.verdict in ("best", "worse")
        ax.text(j, i, label, ha="center", va="center", fontsize="small",
                color="white" if dark else "black")  # fmt: skip
    ax.set_xlim(-0.5, len(datasets) - 0.5)
    ax.set_ylim(len(methods) - 0.5, -0.5)
    ax.set_xticks(range(len(datasets)), [text(d) for d in datasets], rotation=30, ha="right")
    mean_rank = data.drop_duplicates("method").set_index("method")["mean_rank"]
    ax.set_yticks(range(len(methods)), [f"{text(m)}  ({mean_rank[m]:.1f})" for m in methods])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("dataset")
    ax.set_ylabel("method  (mean rank), best first")
    handles = [Patch(facecolor=VERDICT_COLOURS[v], edgecolor="0.6", label=VERDICT_LABELS[v])
               for v in VERDICT_COLOURS]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False,
               fontsize="small")  # fmt: skip
    return fig


# ------------------------------------------------------------------------- 6c: critical difference


def critical_difference_data(results) -> dict | None:
    """What the critical-difference diagram draws, from ``results.friedman``; None without it.

    {"mean_rank": Series (best first), "critical_difference", "p_value", "n_datasets",
    "separated": [(better, worse)], "groups": [[method, ...]]}: groups are the maximal runs
    of consecutive methods (in mean-rank order) of which no two are separated; each is
    joined by a thick line. When the Friedman test does not reject, nothing is separated and
    one group holds every method.
    """
    friedman = getattr(results, "friedman", None)
    if friedman is None or len(friedman.mean_rank) < 2:
        return None
    order = list(friedman.mean_rank.index)
    separated = set(friedman.separated)
    spans: list[tuple[int, int]] = []
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and not any(
            (order[a], order[j + 1]) in separated for a in range(i, j + 1)
        ):
            j += 1
        if j > i and not any(lo <= i and j <= hi for lo, hi in spans):
            spans.append((i, j))
    return {
        "mean_rank": friedman.mean_rank,
        "critical_difference": friedman.critical_difference,
        "p_value": friedman.p_value,
        "n_datasets": friedman.n_datasets,
        "separated": list(friedman.separated),
        "groups": [order[lo : hi + 1] for lo, hi in spans],
    }


def plot_critical_difference(results, data: dict | None = None) -> Figure:
    """A critical-difference diagram (Demšar 2006) of the mean ranks on test loss.

    The axis carries each method's mean rank over the datasets (1 = best, on the left); the
    bar above it is the Nemenyi critical difference; thick lines below join methods that
    the test does not separate. The better half of the methods is labelled on the left,
    the rest on the right. data: ``critical_difference_data(results)``, computed if not
    given.
    """
    data = critical_difference_data(results) if data is None else data
    if data is None:
        raise ValueError("a critical-difference diagram needs ranks of at least 2 methods")
    mean_rank, cd = data["mean_rank"], data["critical_difference"]
    order, k = list(mean_rank.index), len(mean_rank)
    styles = _styles(results, order)
    half = (k + 1) // 2
    row, gap = 0.26, 0.13  # inches between labels, between group lines
    top, axis_y = 0.3, 1.05
    groups_y = axis_y + 0.22
    labels_y = groups_y + gap * len(data["groups"]) + 0.12
    height = labels_y + row * (half - 1) + 0.35
    fig = Figure(figsize=(7.6, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(height, 0)
    left, right = 0.25, 0.75

    def x(rank: float) -> float:
        return left + (rank - 1) / max(k - 1, 1) * (right - left)

    ax.hlines(axis_y, x(1), x(k), color="black", linewidth=1)
    for tick in np.arange(1, k + 0.5, 0.5):
        whole = float(tick).is_integer()
        ax.vlines(x(tick), axis_y - (0.09 if whole else 0.05), axis_y, color="black",
                  linewidth=1 if whole else 0.6)  # fmt: skip
        if whole:
            ax.text(x(tick), axis_y - 0.12, f"{tick:g}", ha="center", va="bottom",
                    fontsize="small")  # fmt: skip
    ax.text(0.5, top, _cd_title(data), ha="center", va="center", fontsize="small")
    if np.isfinite(cd):
        end = min(1 + cd, k)
        bar_y = axis_y - 0.42
        ax.hlines(bar_y, x(1), x(end), color="black", linewidth=1.5)
        ax.vlines([x(1), x(end)], bar_y - 0.05, bar_y + 0.05, color="black", linewidth=1.5)
        label = f"CD = {cd:.2f}" + ("  (longer than the axis)" if 1 + cd > k else "")
        ax.text((x(1) + x(end)) / 2, bar_y - 0.07, label, ha="center", va="bottom",
                fontsize="small")  # fmt: skip
    for g, group in enumerate(data["groups"]):
        y = groups_y + gap * g
        ax.hlines(y, x(mean_rank[group[0]]) - 0.01, x(mean_rank[group[-1]]) + 0.01,
                  color="black", linewidth=4, capstyle="round")  # fmt: skip
    for i, method in enumerate(order):
        rank, colour = mean_rank[method], method_style(method, styles)["color"]
        on_left = i < half
        y = labels_y + row * (i if on_left else k - 1 - i)
        end = left - 0.05 if on_left else right + 0.05
        ax.plot([x(rank), x(rank), end], [axis_y, y, y], color=colour, linewidth=1.2,
                solid_joinstyle="miter")  # fmt: skip
        ax.text(end + (-0.01 if on_left else 0.01), y, f"{text(method)} ({rank:.2f})",
                ha="right" if on_left else "left", va="center", fontsize="small")  # fmt: skip
    return fig


def _cd_title(data: dict) -> str:
    p, n = data["p_value"], data["n_datasets"]
    friedman = (
        "Friedman test: too few datasets or methods"
        if not np.isfinite(p)
        else (f"Friedman p = {p:.2g}")
    )
    return f"Mean rank on test loss over {n} dataset{'s' * (n != 1)}; {friedman}"


# ------------------------------------------------------------------------------ 7: boundaries


def two_d_datasets(results) -> list[str]:
    """The datasets with two input features, whose decision boundaries can be drawn."""
    return [d for d in _datasets(results) if results.dataset(d).n_features == 2]


def decision_boundary_data(
    results, dataset: str, resolution: int = BOUNDARY_RESOLUTION
) -> dict[str, Any]:
    """Each method's early-stopped network on a 2-D dataset, evaluated on a grid.

    The network of each method's first evaluation seed, from its stored best (early-stopped)
    parameters, on a resolution x resolution grid around the data: {"dataset", "xx", "yy":
    the grid, "predictions": {method: (ny, nx, m)}, "trials": {method: (lr, seed,
    best_epoch)}}; a method without evaluation trials is in neither dict.
    """
    data_set = results.dataset(dataset)
    if data_set.n_features != 2:
        raise ValueError(
            f"decision boundaries need a dataset with 2 features; {dataset!r} has "
            f"{data_set.n_features}"
        )
    net = results.network(dataset)
    xx, yy = _grid(data_set, resolution)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    evaluation = results.evaluation
    data: dict[str, Any] = {"dataset": dataset, "xx": xx, "yy": yy, "predictions": {},
                            "trials": {}}  # fmt: skip
    for method in _methods(results):
        rows = evaluation[(evaluation["dataset"] == dataset) & (evaluation["method"] == method)]
        if rows.empty:
            continue
        first = rows.sort_values("seed").iloc[0]
        lr, seed, epoch = float(first["lr"]), int(first["seed"]), int(first["best_epoch"])
        params = results.final_params(method, dataset, lr, seed, best=True)
        data["predictions"][method] = net.predict(params, points)[0].reshape(*xx.shape, -1)
        data["trials"][method] = (lr, seed, epoch)
    return data


def plot_decision_boundaries(results, dataset: str, data: dict | None = None) -> Figure:
    """Each method's early-stopped network on a 2-D dataset, with the training data on top.

    Binary: P(class 1) with the 0.5 contour; multi-class: the argmax class; regression: the
    prediction. data: ``decision_boundary_data(results, dataset)``, computed if not given.
    """
    data = decision_boundary_data(results, dataset) if data is None else data
    data_set = results.dataset(dataset)
    methods = _methods(results)
    columns = 3 if len(methods) in (5, 6, 9) else 4
    fig, axes = _panels(len(methods), ncols=columns, size=(3.3, 3.1))
    for ax, method in zip(axes, methods, strict=True):
        ax.set_xticks([])
        ax.set_yticks([])
        if method not in data["predictions"]:
            ax.set_title(text(method), fontsize="medium")
            ax.text(0.5, 0.5, "no lr without divergence", ha="center", va="center",
                    transform=ax.transAxes, fontsize="small", color="0.4")  # fmt: skip
            continue
        lr, seed, epoch = data["trials"][method]
        _draw_regions(ax, data_set, data["xx"], data["yy"], data["predictions"][method])
        ax.set_title(f"{text(method)}  (lr {lr:.3g}, seed {seed}, epoch {epoch})",
                     fontsize="small")  # fmt: skip
        ax.set_aspect("equal")
    fig.supxlabel("feature 1 (standardised)", fontsize="small")
    fig.supylabel("feature 2 (standardised)", fontsize="small")
    handles = _class_handles(data_set)
    if handles:
        _figure_legend(fig, handles, loc="upper")
    return fig


def _grid(data_set, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([data_set.X_train, data_set.X_val, data_set.X_test])
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    return np.meshgrid(
        np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    )


# Class colours: Okabe–Ito, ordered so that the first classes are the most distinct (blue
# and vermillion for two; orange, which is near vermillion, only from the fifth), then two
# dark colours of Paul Tol's colour-blind-safe "muted" scheme: ten classes, every pair at
# least 0.25 apart in RGB (0..1); the first four at least 0.3. Beyond ten they repeat, with
# another marker.
CLASS_COLOURS = (BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY_BLUE, BLACK, YELLOW,
                 "#882255", "#332288")  # fmt: skip  # Tol's wine and indigo
CLASS_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "h", "p", "<", ">")


def _class_style(c: int) -> dict[str, str]:
    return {"color": CLASS_COLOURS[c % len(CLASS_COLOURS)],
            "marker": CLASS_MARKERS[c % len(CLASS_MARKERS)]}  # fmt: skip


def _draw_regions(ax, data_set, xx, yy, yhat: np.ndarray) -> None:
    """Pale regions of the network's prediction, the training points on top in strong colour."""
    X, Y = data_set.X_train, data_set.Y_train
    if data_set.task == "regression":
        ax.contourf(xx, yy, yhat[..., 0], levels=12, cmap="viridis", alpha=0.6)
        ax.scatter(X[:, 0], X[:, 1], c=Y[:, 0], cmap="viridis", s=10, edgecolors="black",
                   linewidths=0.3)  # fmt: skip
        return
    if data_set.task == "binary":
        two = LinearSegmentedColormap.from_list(
            "two_classes", [CLASS_COLOURS[0], "white", CLASS_COLOURS[1]]
        )
        ax.contourf(xx, yy, yhat[..., 0], levels=np.linspace(0, 1, 11), cmap=two, alpha=0.5)
        ax.contour(xx, yy, yhat[..., 0], levels=[0.5], colors="black", linewidths=1.2)
        labels = (Y[:, 0] > 0.5).astype(int)
    else:
        n_classes = Y.shape[1]
        regions = ListedColormap([_class_style(c)["color"] for c in range(n_classes)])
        ax.contourf(xx, yy, yhat.argmax(axis=-1), levels=np.arange(n_classes + 1) - 0.5,
                    cmap=regions, alpha=0.3)  # fmt: skip
        labels = Y.argmax(axis=1)
    for c in np.unique(labels):
        mine = labels == c
        ax.scatter(X[mine, 0], X[mine, 1], s=12, edgecolors="black", linewidths=0.4,
                   **_class_style(int(c)))  # fmt: skip


def _class_handles(data_set) -> list:
    if data_set.task == "regression":
        return []
    n_classes = 2 if data_set.task == "binary" else data_set.n_outputs
    handles = [
        Line2D([], [], linestyle="none", markeredgecolor="black", markersize=6,
               label=f"class {c}", **_class_style(c))
        for c in range(n_classes)
    ]  # fmt: skip
    if data_set.task == "binary":
        handles.append(Line2D([], [], color="black", label="P(class 1) = 0.5"))
    return handles


# ------------------------------------------------------------------------------ 8: paths


@dataclass(frozen=True)
class Surface:
    """An analytic loss surface f(x, y) with its hand-written gradient, for the paths figure.

    f and grad take arrays of x and y (one entry per replica) and return arrays.
    """

    name: str
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    start: tuple[float, float]
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    minima: tuple[tuple[float, float], ...]  # marked with a star; () when not known
    floor: float = 0.0  # the least value of f (a lower bound where it is not known)
    legend: str = "lower left"  # where the legend hides no path
    steps: int = 300
    log_levels: bool = True


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(x, y):
    return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)


def _beale_terms(x, y):
    """The three residuals r_i = c_i - x + x y^i of Beale's function, and dr_i/dy."""
    return [
        (c - x + x * y**i, x * i * y ** (i - 1), y**i - 1)
        for i, c in ((1, 1.5), (2, 2.25), (3, 2.625))
    ]


def _beale(x, y):
    return sum(r**2 for r, _, _ in _beale_terms(x, y))


def _beale_grad(x, y):
    terms = _beale_terms(x, y)
    return sum(2 * r * dx for r, _, dx in terms), sum(2 * r * dy for r, dy, _ in terms)


def _saddle(x, y):
    """x^2 - y^2 + y^4 / 4: a saddle point at the origin between minima (0, ±sqrt 2)."""
    return x**2 - y**2 + y**4 / 4


def _saddle_grad(x, y):
    return 2 * x, -2 * y + y**3


# The classic 2-2-2 example (Mazur): x = (0.05, 0.10), y = (0.01, 0.99), and its weights.
CLASSIC_X = np.array([[0.05, 0.10]])
CLASSIC_Y = np.array([[0.01, 0.99]])
CLASSIC_WEIGHTS = [
    np.array([[[0.15, 0.25], [0.20, 0.30]]]),  # W1: w1, w3 / w2, w4 (from input i to hidden j)
    np.array([[[0.35, 0.35]]]),  # b1
    np.array([[[0.40, 0.50], [0.45, 0.55]]]),  # W2: w5, w7 / w6, w8
    np.array([[[0.60, 0.60]]]),  # b2
]
FREE_WEIGHTS = ((0, (1, 0)), (2, (0, 0)))  # w2 = W1[1, 0] and w5 = W2[0, 0]


def classic_net() -> MLP:
    """The classic example's network: 2-2-2, ReLU hidden, sigmoid output, half squared error."""
    return MLP([2, 2, 2], hidden="relu", output="sigmoid", loss="half_squared_error")


def _classic_params(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """A population of K = x.size copies of the classic weights with w2 = x, w5 = y."""
    x, y = np.ravel(x), np.ravel(y)
    params = [np.repeat(p, x.size, axis=0) for p in CLASSIC_WEIGHTS]
    for (layer, (i, j)), values in zip(FREE_WEIGHTS, (x, y), strict=True):
        params[layer][:, i, j] = values
    return params


def _network(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    loss = classic_net().loss_value(_classic_params(x, y), CLASSIC_X, CLASSIC_Y)
    return loss.reshape(x.shape)


def _network_grad(x, y):
    _, grads = classic_net().loss_and_grad(_classic_params(x, y), CLASSIC_X, CLASSIC_Y)
    return tuple(grads[layer][:, i, j].reshape(np.shape(x)) for layer, (i, j) in FREE_WEIGHTS)


SURFACES = (
    Surface("Rosenbrock", _rosenbrock, _rosenbrock_grad, (-1.2, 1.0), (-1.5, 1.4, -0.4, 1.6),
            minima=((1.0, 1.0),), steps=400),
    Surface("Beale", _beale, _beale_grad, (0.7, 1.4), (-0.5, 4.0, -1.0, 1.8),
            minima=((3.0, 0.5),)),
    Surface("saddle x² − y² + y⁴/4", _saddle, _saddle_grad, (-1.5, 1e-3), (-1.6, 1.6, -2, 2),
            minima=((0.0, -np.sqrt(2)), (0.0, np.sqrt(2))), floor=-1.0, log_levels=False),
    Surface("2-2-2 network over w2, w5", _network, _network_grad, (0.20, 0.40), (-4, 30, -15, 2),
            minima=(), steps=150, legend="upper right"),
)  # fmt: skip
MAX_JUMP = 0.1  # the longest step of a path that can be chosen, as a fraction of the diagonal
PATH_LRS = tuple(float(f"{lr:.1g}") for lr in np.logspace(-4, 1, 11))  # 1e-4, 3e-4, .., 10


def path_methods(results) -> dict[tuple[str, ...], Any]:
    """The suite's methods whose paths differ: {(method, ...): its MethodSpec}.

    A 2-D surface has no samples, so methods that differ only in batch size (gd, sgd,
    minibatch) follow one path; they are grouped, in suite order.
    """
    from bench.suite import BUILTIN_METHODS, MethodSpec

    specs = results.suite.get("methods") or {m: None for m in _methods(results)}
    groups: dict[str, list[str]] = {}
    found: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec is None:
            builtin = BUILTIN_METHODS[name]
            spec = {"name": name, "optimizer": builtin["optimizer"], "batch_size": None,
                    "lrs": tuple(builtin["lr"]), "args": builtin.get("args", {})}  # fmt: skip
        method = MethodSpec.from_dict(spec) if isinstance(spec, dict) else spec
        key = repr((method.optimizer, sorted(method.args.items())))
        groups.setdefault(key, []).append(name)
        found.setdefault(key, method)
    return {tuple(names): found[key] for key, names in groups.items()}


def surface_paths(surface: Surface, method, lrs: Sequence[float] = PATH_LRS) -> dict[str, Any]:
    """One method's paths on ``surface`` at every lr of ``lrs``, in one population.

    method: a MethodSpec (its optimizer and fixed arguments; searched ones at their
    defaults). Replica k starts at the surface's start and takes ``surface.steps`` steps at
    lrs[k] with the surface's hand-written gradient. A replica that leaves a box three times
    the plotted extent, or turns non-finite, has left: its path stops there and it cannot
    be chosen. Nor can one that jumps more than a tenth of the plotted diagonal in one
    step: a path of such jumps shows nothing. The chosen lr has the lowest score among the
    replicas that stayed: the mean over the path of log10(f - floor + 1e-8), the geometric
    mean of the excess loss, which rewards falling early and staying low over a late
    landing after wild swings.
    Returns {"paths": [(n_k, 2) points], "left": (K,) bool, "final_loss", "score",
    "chosen": index of the chosen lr or None when every replica left}.
    """
    K, steps = len(lrs), surface.steps
    point = np.tile(np.asarray(surface.start, dtype=float), (K, 1, 1))
    optimizer = method.make_optimizer(np.asarray(lrs, dtype=float))
    state = optimizer.init([point])
    x_min, x_max, y_min, y_max = surface.extent
    width, height = x_max - x_min, y_max - y_min
    track = np.empty((steps + 1, K, 2))
    track[0] = point[:, 0]
    ends = np.full(K, steps)
    inside = np.ones(K, dtype=bool)
    jump = np.zeros(K)
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            grad = np.stack(surface.grad(point[:, 0, 0], point[:, 0, 1]), axis=-1)[:, None, :]
            optimizer.step([point], [grad], state)
            x, y = point[:, 0, 0], point[:, 0, 1]
            stays = (
                np.isfinite(x) & np.isfinite(y) & (x_min - width <= x) & (x <= x_max + width)
                & (y_min - height <= y) & (y <= y_max + height)
            )  # fmt: skip
            ends[inside & ~stays] = t - 1
            inside &= stays
            track[t] = np.where(inside[:, None], point[:, 0], track[t - 1])
            jump = np.maximum(jump, np.hypot(*(track[t] - track[t - 1]).T))
        losses = surface.f(track[..., 0], track[..., 1])
        score = np.log10(np.maximum(losses - surface.floor, 0) + 1e-8).mean(axis=0)
    calm = jump <= MAX_JUMP * np.hypot(width, height)
    score = np.where(inside & calm & np.isfinite(score), score, np.inf)
    chosen = int(np.argmin(score)) if np.isfinite(score).any() else None
    return {
        "paths": [track[: ends[k] + 1, k] for k in range(K)], "left": ~inside,
        "final_loss": losses[-1], "score": score, "chosen": chosen,
    }  # fmt: skip


def optimizer_paths_data(results, lrs: Sequence[float] = PATH_LRS) -> dict[str, dict]:
    """Each of the suite's methods on each surface, its lr tuned per surface.

    {surface name: {"start", "steps", "minima", "lrs": {label: tuned lr or None},
    "paths": {label: (n, 2) points at the tuned lr}, "final_loss": {label: f at the end},
    "distance": {label: distance from the end to the nearest minimum (NaN without one)},
    "closest": (label, distance) or None}}; a label names a group of methods of
    ``path_methods`` ("gd = sgd = minibatch"). A method whose every lr left the surface has
    no path.
    """
    groups = {" = ".join(names): method for names, method in path_methods(results).items()}
    data = {}
    for surface in SURFACES:
        lrs_of, paths, finals, distances = {}, {}, {}, {}
        for label, method in groups.items():
            run = surface_paths(surface, method, lrs)
            k = run["chosen"]
            lrs_of[label] = None if k is None else lrs[k]
            if k is None:
                continue
            paths[label], finals[label] = run["paths"][k], float(run["final_loss"][k])
            end = paths[label][-1]
            distances[label] = min(
                (float(np.hypot(*(end - np.asarray(m)))) for m in surface.minima),
                default=np.nan,
            )
        reached = {label: d for label, d in distances.items() if np.isfinite(d)}
        closest = min(reached.items(), key=lambda item: item[1]) if reached else None
        data[surface.name] = {
            "start": surface.start, "steps": surface.steps, "minima": surface.minima,
            "lrs": lrs_of, "paths": paths, "final_loss": finals, "distance": distances,
            "closest": closest,
        }  # fmt: skip
    return data


def plot_optimizer_paths(results, data: dict | None = None) -> Figure:
    """The suite's methods on four 2-D surfaces, all from the same start, each at the lr of
    ``PATH_LRS`` that ends lowest on that surface (the lr in the legend); a large marker
    ends each path. data: ``optimizer_paths_data(results)``, computed if not given."""
    data = optimizer_paths_data(results) if data is None else data
    labels = [" = ".join(names) for names in path_methods(results)]
    styles = [label.split(" = ")[0] for label in labels]
    fig, axes = _panels(len(SURFACES), ncols=2, size=(5.6, 4.6))
    for ax, surface in zip(axes, SURFACES, strict=True):
        drawn = data[surface.name]
        _draw_surface(ax, surface)
        handles = []
        for label, first in zip(labels, styles, strict=True):
            style = method_style(first, styles)
            lr = drawn["lrs"].get(label)
            if lr is None:
                handles.append(Line2D([], [], label=f"{text(label)}: every lr left",
                                      **{**style, "linestyle": "none"}))  # fmt: skip
                continue
            path = drawn["paths"][label]
            ax.plot(path[:, 0], path[:, 1], linewidth=1.3, markevery=max(1, len(path) // 6),
                    markersize=3, **style)  # fmt: skip
            ax.plot(*path[-1], linestyle="none", marker=style["marker"], markersize=10,
                    color=style["color"], markeredgecolor="black", zorder=5)  # fmt: skip
            handles.append(Line2D([], [], label=f"{text(label)}, lr {lr:g}", markersize=6,
                                  **style))  # fmt: skip
        ax.plot(*surface.start, marker="o", color="black", markersize=7, markerfacecolor="white")
        for minimum in surface.minima:
            ax.plot(*minimum, marker="*", color="black", markersize=13, markerfacecolor="white",
                    zorder=6)  # fmt: skip
        ax.set_xlim(surface.extent[:2])
        ax.set_ylim(surface.extent[2:])
        ax.set_title(f"{surface.name}: {surface.steps} steps")
        network = surface.f is _network
        ax.set_xlabel("w2 (input 2 → hidden 1)" if network else "x")
        ax.set_ylabel("w5 (hidden 1 → output 1)" if network else "y")
        ax.legend(handles=handles, fontsize="x-small", loc=surface.legend, framealpha=0.85)
    _figure_legend(fig, [
        Line2D([], [], linestyle="none", marker="o", color="black", markerfacecolor="white",
               label="start"),
        Line2D([], [], linestyle="none", marker="*", color="black", markerfacecolor="white",
               markersize=10, label="minimum"),
        Line2D([], [], linestyle="none", marker="o", color="0.5", markeredgecolor="black",
               markersize=8, label="end of a path"),
    ], ncol=3)  # fmt: skip
    fig.suptitle("Optimizer paths, each at its best lr for the surface (contours of the loss, "
                 "lighter = lower; small markers every sixth of a path show its pace)",
                 fontsize="medium")  # fmt: skip
    return fig


def _draw_surface(ax, surface: Surface) -> None:
    x_min, x_max, y_min, y_max = surface.extent
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 160), np.linspace(y_min, y_max, 160))
    zz = surface.f(xx, yy)
    if surface.log_levels:
        zz = np.log10(zz - zz.min() + 1e-3)
    ax.contourf(xx, yy, zz, levels=20, cmap="Greys", alpha=0.45)
    ax.contour(xx, yy, zz, levels=20, colors="0.5", linewidths=0.4)


# ------------------------------------------------------------------------------ all


@dataclass(frozen=True)
class FigureTask:
    """One figure of ``draw_figures``: its key, file name (without suffix), the function that
    computes what it draws, the plot function, and their leading arguments."""

    key: str
    stem: str
    data: Callable
    plot: Callable
    args: tuple

    def draw(self, out_dir: Path, format: str = "png") -> tuple[Path, Any]:
        """Compute, draw and save the figure; (path, data). For PDF a PNG is written
        beside it, for the HTML report to embed."""
        data = self.data(*self.args)
        fig = self.plot(*self.args, data=data)
        path = save_figure(fig, Path(out_dir) / self.stem, format)
        if format == "pdf":
            save_figure(fig, path, "png")
        return path, data


def figure_tasks(results) -> list[FigureTask]:
    """Every figure ``draw_figures`` draws, the slowest first."""
    paths = FigureTask("optimizer_paths", "optimizer_paths", optimizer_paths_data,
                       plot_optimizer_paths, (results,))  # fmt: skip
    lr = FigureTask("lr_sensitivity", "lr_sensitivity", lr_sensitivity_data,
                    plot_lr_sensitivity, (results,))  # fmt: skip
    if results.evaluation.empty:  # an interrupted run: nothing evaluated yet
        return [lr, paths] if len(results.tuning) else [paths]
    tasks = [
        FigureTask("final_test", "final_test", final_test_data, plot_final_test, (results,)),
        lr,
        FigureTask("loss_vs_epoch", "loss_vs_epoch", loss_curve_data, plot_loss_curves,
                   (results, "epoch")),
        FigureTask("convergence_speed", "convergence_speed", convergence_data,
                   plot_convergence_speed, (results,)),
        paths,
        FigureTask("loss_vs_seconds", "loss_vs_seconds", loss_curve_data, plot_loss_curves,
                   (results, "seconds")),
        *(FigureTask(f"decision_boundaries:{d}", f"decision_boundaries_{slug(d)}",
                     decision_boundary_data, plot_decision_boundaries, (results, d))
          for d in two_d_datasets(results)),
        FigureTask("performance_profile", "performance_profile", performance_profiles_data,
                   plot_performance_profile, (results,)),
        FigureTask("verdicts", "verdicts", verdict_data, plot_verdicts, (results,)),
    ]  # fmt: skip
    if critical_difference_data(results) is not None:
        tasks.append(FigureTask("critical_difference", "critical_difference",
                                critical_difference_data, plot_critical_difference,
                                (results,)))  # fmt: skip
    return tasks


def draw_figures(
    results, out_dir: str | Path, jobs: int = 1, format: str = "png"
) -> dict[str, tuple[Path, Any]]:
    """Every figure of a Results into ``out_dir`` as ``format`` files: {key: (path, data)}.

    Keys: lr_sensitivity, loss_vs_epoch, loss_vs_seconds, final_test, convergence_speed,
    performance_profile, verdicts, critical_difference (when the Friedman ranks exist),
    decision_boundaries:<dataset> (one per 2-D dataset), optimizer_paths. Without
    evaluation trials (a run interrupted in tuning) only the lr sensitivity (when there are
    tuning trials) and the optimizer paths. data is what the figure shows (the ``*_data``
    function's result). jobs > 1 draws them in that many worker processes (loky's reusable
    executor, which a run has warmed).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    tasks, out_dir = figure_tasks(results), Path(out_dir)
    if jobs > 1 and len(tasks) > 1:
        from joblib.externals.loky import get_reusable_executor

        executor = get_reusable_executor(max_workers=jobs)
        futures = [executor.submit(task.draw, out_dir, format) for task in tasks]
        drawn = [future.result() for future in futures]
    else:
        drawn = [task.draw(out_dir, format) for task in tasks]
    figures = dict(zip([task.key for task in tasks], drawn, strict=True))
    return {key: figures[key] for key in sorted(figures, key=_figure_order)}


def _figure_order(key: str) -> int:
    """The order draw_figures returns its keys in (the order of its docstring)."""
    kinds = ("lr_sensitivity", "loss_vs_epoch", "loss_vs_seconds", "final_test",
             "convergence_speed", "performance_profile", "verdicts", "critical_difference",
             "decision_boundaries", "optimizer_paths")  # fmt: skip
    return kinds.index(key.partition(":")[0])
