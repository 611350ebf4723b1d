"""Figures of how each method trains: loss curves (against epochs or seconds), the
learning-rate sensitivity of tuning, the final test loss and metric, and the epochs to the
target loss.

All but the learning-rate sensitivity come from the evaluation trials (fresh seeds, the tuned
configuration); the sensitivity figure shows the tuning trials.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import cbook
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from scipy import special

from bench import metrics, protocol
from bench.plots.runs import datasets_of, methods_of, task_of
from bench.plots.style import (
    figure_legend,
    legend_handles,
    method_style,
    panels,
    plain_log_ticks,
    text,
)

AXIS_LABELS = {
    "epoch": "epoch (passes over the training set)",
    "seconds": "seconds per trial, calibrated (log scale)",
}
LOSS_LABEL = "training loss (mean per sample, log scale)"
METRIC_LABELS = {task: f"test {name}" for task, name in metrics.METRIC_NAMES.items()}
NOT_REACHED_ZONE = 0.25  # the "not reached" zone beyond the last epoch, as a fraction of E


def _target(results, dataset: str) -> float | None:
    """The dataset's target loss in the suite, or None."""
    spec = results.suite.get("datasets", {}).get(dataset, {})
    return spec.get("target_loss")


def _epochs(results) -> int:
    """The epochs of every trial: the suite's."""
    return int(results.suite["epochs"])


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
        half = special.stdtrit(np.maximum(n - 1, 1), (1 + level) / 2) * sd / np.sqrt(n)  # t.ppf
    parts = {"center": mean, "lo": mean - half, "hi": mean + half}
    return pd.DataFrame(
        {k: np.where(ok, np.exp(v), np.nan) for k, v in parts.items()}, index=n.index
    )


# ------------------------------------------------------------------------------ loss curves

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
    methods, datasets = methods_of(results), datasets_of(results)
    fig, axes = panels(len(datasets))
    by_panel = dict(tuple(data.groupby(["dataset", "method", "loss"], sort=False)))
    for ax, dataset in zip(axes, datasets, strict=True):
        bands: list[tuple[list, tuple]] = []  # drawn as one collection under every line
        for method in methods:
            style = method_style(method, methods)
            if len(losses) > 1:  # solid training, dashed validation: colour and marker tell
                style = {**style, "linestyle": "-"}  # the methods apart (as the legend)
            for loss in losses:
                curve = by_panel.get((dataset, method, loss))
                if curve is not None and axis == "seconds":  # log x: the untrained point
                    curve = curve[curve["x"] > 0]  # at 0 s has no place on it
                if curve is None or curve.empty:
                    continue
                validation = loss == "val_loss"
                bands.append(_draw_curve(ax, curve, style, validation, crowded=len(methods)))
        _draw_bands(ax, bands)
        _label_curve_panel(ax, results, dataset, axis, validation=len(losses) > 1)
    handles = legend_handles(methods)
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
        ]
    figure_legend(fig, handles, ncol=min(len(handles), 8))
    return fig


def _draw_curve(
    ax, curve: pd.DataFrame, style: dict, validation: bool, crowded: int
) -> tuple[list, tuple]:
    """One loss curve: its centre as a line (the validation loss dashed, without markers);
    returns its interval's band, for ``_draw_bands``: (polygons, colour) (the validation
    loss's band fainter)."""
    x = curve["x"].to_numpy(dtype=float)
    center = curve["center"].to_numpy(dtype=float)
    floor = np.nanmin(center) / 10 if np.isfinite(center).any() else np.nan
    lo = np.maximum(curve["lo"].to_numpy(dtype=float), floor)  # NaN stays NaN
    alpha = 0.15 if crowded <= 6 else 0.08
    colour = to_rgba(style["color"], alpha / 2 if validation else alpha)
    if validation:
        ax.plot(x, center, color=style["color"], linestyle="--", linewidth=1.1)
    else:
        ax.plot(x, center, markevery=max(1, len(curve) // 8), markersize=4, linewidth=1.5, **style)
    return _band(x, lo, curve["hi"].to_numpy(dtype=float)), colour


def _band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """The polygons between lo and hi over x, one per run of finite values (as
    ``fill_between`` draws them)."""
    ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
    polygons = []
    for run in np.split(np.arange(len(x)), np.flatnonzero(np.diff(ok)) + 1):
        if len(run) and ok[run[0]]:
            xs = x[run]
            polygons.append(np.column_stack([np.r_[xs, xs[::-1]], np.r_[lo[run], hi[run][::-1]]]))
    return polygons


def _draw_bands(ax, bands: list[tuple[list, tuple]]) -> None:
    """Every band of a panel as one collection, in order, under its lines (as separate
    ``fill_between`` calls would draw them, for a fraction of their cost)."""
    polygons = [polygon for shapes, _ in bands for polygon in shapes]
    if not polygons:
        return
    colours = [colour for shapes, colour in bands for _ in shapes]
    ax.add_collection(PolyCollection(polygons, facecolors=colours, linewidths=0))


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
            "target",
            (1, target),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize="x-small",
            color="0.3",
        )


# ------------------------------------------------------------------------------ lr sensitivity

LR_DATA_COLUMNS = [
    "dataset",
    "method",
    "lr",
    "hyperparameters",
    "score",
    "diverged",
    "diverged_seeds",
    "trials",
    "extended",
    "tuned",
    "at_edge",
]


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
        "dataset": {d: i for i, d in enumerate(datasets_of(results))},
        "method": {m: i for i, m in enumerate(methods_of(results))},
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
    methods, datasets = methods_of(results), datasets_of(results)
    fig, axes = panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        panel = data[data["dataset"] == dataset]
        strip = [m for m in methods if panel.loc[panel["method"] == m, "diverged"].any()]
        for method in methods:
            rows = panel[panel["method"] == method]
            style = method_style(method, methods)
            ok = rows[~rows["diverged"].astype(bool)]
            if len(ok):  # (an empty line costs as much as a drawn one)
                ax.plot(ok["lr"], ok["score"], markersize=5, linewidth=1.2, **style)
            added = ok[ok["extended"].astype(bool)]
            if len(added):
                ax.plot(
                    added["lr"],
                    added["score"],
                    linestyle="none",
                    marker=style["marker"],
                    markersize=5,
                    markerfacecolor="white",
                    markeredgecolor=style["color"],
                )
            tuned = ok[ok["tuned"].astype(bool)]
            if len(tuned):
                ax.plot(
                    tuned["lr"],
                    tuned["score"],
                    linestyle="none",
                    marker="o",
                    markersize=12,
                    markerfacecolor="none",
                    markeredgecolor=style["color"],
                    markeredgewidth=1.8,
                )
            for row in tuned[tuned["at_edge"].astype(bool)].itertuples():
                ax.annotate(
                    "edge",
                    (row.lr, row.score),
                    xytext=(7, 7),
                    textcoords="offset points",
                    fontsize="x-small",
                    color=style["color"],
                    fontweight="bold",
                )
            if method in strip:
                height = 1 - 0.05 * (strip.index(method) + 1)
                bad = rows[rows["diverged"].astype(bool)]
                ax.plot(
                    bad["lr"],
                    np.full(len(bad), height),
                    linestyle="none",
                    marker="x",
                    markersize=7,
                    markeredgewidth=2,
                    color=style["color"],
                    transform=ax.get_xaxis_transform(),
                    clip_on=False,
                )
        _label_lr_panel(ax, dataset, panel["score"], len(strip))
    handles = legend_handles(methods) + [
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=10,
            markerfacecolor="none",
            markeredgecolor="0.3",
            label="tuned lr ('edge': at an edge of the lrs tried)",
        ),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=5,
            markerfacecolor="white",
            markeredgecolor="0.3",
            label="lr added by grid extension",
        ),
        Line2D(
            [], [], linestyle="none", marker="x", color="0.3", label="diverged (≥ 1 tuning seed)"
        ),
    ]
    figure_legend(fig, handles, ncol=min(max(len(methods), 3), 6))  # the markers' own row
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
    ax.text(
        0.01,
        1 - strip + 0.005,
        "diverged",
        transform=ax.transAxes,
        fontsize="x-small",
        color="0.3",
        va="bottom",
    )
    low, high = np.log10(finite.min()), np.log10(finite.max())
    bottom = low - 0.08 * max(high - low, 0.3)
    top = bottom + (high - bottom) / (1 - strip - 0.04)
    ax.set_ylim(10**bottom, 10**top)


# ------------------------------------------------------------------------------ final test


def final_test_data(results) -> pd.DataFrame:
    """The evaluation trials' test loss and test metric (of the early-stopped model):
    dataset, method, lr, seed, test_loss, test_metric."""
    columns = ["dataset", "method", "lr", "seed", "test_loss", "test_metric"]
    return results.evaluation[columns].reset_index(drop=True)


def plot_final_test(results, data: pd.DataFrame | None = None) -> Figure:
    """Test loss and test metric of every evaluation seed (early-stopped model).

    Two panels per dataset (loss, then accuracy or R²), two datasets to a row; per method
    a box (quartiles, whiskers to the farthest seed within 1.5 IQR) with every seed drawn
    on top. data: ``final_test_data(results)``, computed if not given.
    """
    data = final_test_data(results) if data is None else data
    methods, datasets = methods_of(results), datasets_of(results)
    width = max(3.4, 0.32 * len(methods) + 1.3)
    fig, axes = panels(2 * len(datasets), ncols=4, size=(width, 3.2))
    jitter = np.random.default_rng(0)
    if "seed" in data:  # each seed its jitter in order of seed, whatever the rows' order
        data = data.sort_values("seed", kind="stable")
    groups = data.groupby(["dataset", "method"], sort=False)
    for k, (dataset, column) in enumerate(
        (d, c) for d in datasets for c in ("test_loss", "test_metric")
    ):
        ax = axes[k]
        values = [
            groups.get_group((dataset, m))[column].dropna()
            if (dataset, m) in groups.groups
            else pd.Series(dtype=float)
            for m in methods
        ]
        _boxes_and_strips(ax, values, [method_style(m, methods) for m in methods], jitter)
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


def _boxes_and_strips(ax, values: list[pd.Series], styles: list[dict], rng) -> None:
    """One box per method (quartiles, whiskers to the farthest seed within 1.5 IQR, as
    ``boxplot`` draws them) with every seed on top, or a note where a method has no value."""
    shown = [i for i, v in enumerate(values) if len(v)]
    if shown:  # what ``boxplot`` draws, as two collections (it draws 30 lines a panel)
        boxes, medians = [], []
        quartiles = cbook.boxplot_stats([values[i].to_numpy() for i in shown])
        for i, box in zip(shown, quartiles, strict=True):
            half, cap = 0.55 / 2, 0.55 / 4
            q1, q3, low, high = box["q1"], box["q3"], box["whislo"], box["whishi"]
            boxes += [
                [(i - half, q1), (i + half, q1), (i + half, q3), (i - half, q3), (i - half, q1)],
                [(i, q1), (i, low)],
                [(i, q3), (i, high)],
                [(i - cap, low), (i + cap, low)],
                [(i - cap, high), (i + cap, high)],
            ]
            medians.append([(i - half, box["med"]), (i + half, box["med"])])
        ax.add_collection(LineCollection(boxes, colors="0.45", linewidths=1.0))
        colours = [styles[i]["color"] for i in shown]
        ax.add_collection(LineCollection(medians, colors=colours, linewidths=1.5))
    for position, (seeds, style) in enumerate(zip(values, styles, strict=True)):
        if seeds.empty:
            ax.text(
                position,
                0.5,
                "no lr\nwithout\ndivergence",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="center",
                fontsize="x-small",
                color="0.4",
            )
            continue
        x = position + rng.uniform(-0.15, 0.15, size=len(seeds))
        ax.plot(  # one artist for the seeds: markers of a line (a scatter costs five times as much)
            x,
            seeds,
            linestyle="none",
            marker=style["marker"],
            markersize=np.sqrt(18),
            color=style["color"],
            markeredgecolor="white",
            markeredgewidth=0.4,
            zorder=3,
        )


# ------------------------------------------------------------------------------ convergence speed


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
    methods, datasets = methods_of(results), datasets_of(results)
    epochs = _epochs(results)
    zone = epochs * (1 + NOT_REACHED_ZONE)
    evaluation = results.evaluation
    fig, axes = panels(len(datasets), size=(4.6, 0.34 * len(methods) + 1.6))
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
        ax.plot(  # the interval, capped: one line whose markers are the caps (an errorbar
            [row["lo"], row["hi"]],  # costs six times as much)
            [position, position],
            color=color,
            linewidth=1.2,
            marker="|",
            markersize=6,
            markeredgewidth=1.2,
        )
    else:
        label = {
            "not reached": "no seed\nreached it",
            "partly reached": f"{row['reached']}/{row['seeds']} seeds\nreached it",
            "no target": "no target\nset",
            "no valid lr": "every lr\ndiverged",
        }[row["status"]]
        ax.barh(
            position,
            zone,
            height=0.6,
            facecolor="none",
            edgecolor=color,
            hatch="///",
            linewidth=0.8,
        )
        ax.text(
            (epochs + zone) / 2,
            position,
            label,
            ha="center",
            va="center",
            fontsize="x-small",
            linespacing=1.0,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    if seeds.empty:
        return
    filled = MarkerStyle(style["marker"]).is_filled()  # '+' and '1' have no edge to draw
    ax.plot(  # one artist for the seeds: markers of a line (a scatter costs five times as much)
        seeds.to_numpy(dtype=float),
        np.full(len(seeds), position),
        linestyle="none",
        marker=style["marker"],
        markersize=np.sqrt(22),
        color=color,
        markeredgecolor="black" if filled else color,
        markeredgewidth=0.4 if filled else 1.0,
        zorder=4,
    )
