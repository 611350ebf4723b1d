"""Figures of a benchmark, drawn from its stored tables and parameters (matplotlib, Agg, PNG).

Each ``plot_*`` function draws one figure into ``out_dir`` and returns ``(path, data)``:
data is what was drawn (curve means and bands, profile values, ranks, ...), so that tests
and the report can check and quote it. ``draw_all`` draws every figure of a Results.

Every method keeps one look in every figure (``method_style``): an Okabe–Ito colour (a
palette that stays distinct under the common colour-vision deficiencies), a line style and a
marker. Nothing here trains a network on a benchmark dataset; only ``plot_optimizer_paths``
runs the optimizers, for a few hundred steps on analytic 2-D surfaces.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from backprop import MLP, optimizers  # noqa: E402
from bench import metrics  # noqa: E402

DPI = 120
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
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "<", ">")
BUILTIN_ORDER = (
    "gd", "sgd", "minibatch", "adagrad", "adadelta", "adam",
    "momentum", "nesterov", "rmsprop", "adamw", "nadam",
)  # fmt: skip
AXIS_LABELS = {
    "epoch": "epoch (passes over the training set)",
    "samples": "samples processed (gradient evaluations)",
    "seconds": "wall-clock training time per run (s, log scale)",
}
LOSS_LABEL = "training loss (mean per sample, log scale)"
METRIC_LABELS = {"binary": "test accuracy", "multiclass": "test accuracy", "regression": "test R²"}
NOT_REACHED_ZONE = 0.25  # the "not reached" zone beyond the last epoch, as a fraction of E


# ------------------------------------------------------------------------------ styles


def method_style(method: str, methods: Sequence[str] = ()) -> dict[str, Any]:
    """The fixed look of a method: {"color", "linestyle", "marker"}, for ``ax.plot(**style)``.

    The built-in methods (BUILTIN_ORDER) take combinations 0..10; a user's method takes the
    next free one, 11, 12, ..., by its place among the sorted user methods in ``methods``
    (plus itself), so every figure of one run gives it the same look. Combination i is
    colour i mod 8, line style (i div 8) mod 4 and marker i mod 11: unique up to i = 31.
    """
    if method in BUILTIN_ORDER:
        index = BUILTIN_ORDER.index(method)
    else:
        users = sorted({m for m in methods if m not in BUILTIN_ORDER} | {method})
        index = len(BUILTIN_ORDER) + users.index(method)
    return {
        "color": OKABE_ITO[index % len(OKABE_ITO)],
        "linestyle": LINESTYLES[(index // len(OKABE_ITO)) % len(LINESTYLES)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def text(label: str) -> str:
    """A name from a suite file made safe for matplotlib (no mathtext from a '$')."""
    return str(label).replace("$", r"\$")


def slug(name: str) -> str:
    """A file-name-safe form of a dataset name: letters, digits, '-', '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "dataset"


def _legend_handles(methods: Sequence[str]) -> list[Line2D]:
    return [
        Line2D([], [], label=text(m), markersize=6, **method_style(m, methods)) for m in methods
    ]


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
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows + 0.9),
        squeeze=False,
        layout="constrained",
    )
    fig.get_layout_engine().set(hspace=0.06, wspace=0.03)  # keep a title by its own panel
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (0.3, 1, 30), not 3 x 10^-1; label the minor
    ticks 2 and 5 (and 3) x 10^k as well when the axis spans less than two (one) decades."""

    def minor(value: float, _) -> str:
        low, high = axis.get_view_interval()
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        decades = np.log10(high / low) if low > 0 else np.inf
        labelled = (2, 3, 5) if decades < 1 else (2, 5) if decades < 1.8 else ()
        return f"{value:g}" if mantissa in labelled else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _save(fig, path: Path) -> Path:
    """Write the figure as a 256-colour PNG (a third of the size of RGBA) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png", facecolor="white")
    plt.close(fig)
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    image.save(path, format="PNG", optimize=True)
    return path


# ------------------------------------------------------------------------------ table helpers


def _methods(results) -> list[str]:
    """The methods of a run, in suite order (order of first appearance in the trials)."""
    return list(dict.fromkeys(results.trials["method"]))


def _datasets(results) -> list[str]:
    return list(dict.fromkeys(results.trials["dataset"]))


def _tuned_trials(results) -> pd.DataFrame:
    trials = results.trials
    return trials[trials["tuned"].astype(bool)]


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


def _ci(values: pd.Series) -> pd.Series:
    mean, lo, hi = metrics.bootstrap_ci(values.to_numpy())
    return pd.Series({"mean": mean, "lo": lo, "hi": hi, "n": len(values)})


# ------------------------------------------------------------------------------ 1, 2: curves


def loss_curve_data(results, axis: str = "epoch") -> pd.DataFrame:
    """Training loss per dataset x method x epoch at the tuned lr: mean over seeds and 95% CI.

    Columns: dataset, method, lr, epoch, x (the epoch, samples or seconds at that epoch,
    averaged over seeds), mean, lo, hi (percentile bootstrap of the mean, as in the
    summary table), n (seeds).
    """
    if axis not in AXIS_LABELS:
        raise ValueError(f"axis must be one of {', '.join(AXIS_LABELS)}; got {axis!r}")
    keys = ["method", "dataset", "lr", "seed"]
    curves = results.curves.merge(_tuned_trials(results)[keys], on=keys)
    groups = curves.groupby(["dataset", "method", "lr", "epoch"], sort=False)
    data = groups["train_loss"].apply(_ci).unstack()
    data["x"] = groups[axis].mean()
    data = data.reset_index()
    data["n"] = data["n"].astype(int)
    return data[["dataset", "method", "lr", "epoch", "x", "mean", "lo", "hi", "n"]]


def plot_loss_curves(results, out_dir: Path, axis: str = "epoch") -> tuple[Path, pd.DataFrame]:
    """Figures 1 and 2: training loss against epoch, samples or seconds, one panel per dataset.

    Each method at its tuned lr: the mean over seeds as a line, its 95% CI as a band; log y.
    """
    data = loss_curve_data(results, axis)
    methods, datasets = _methods(results), _datasets(results)
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        for method in methods:
            curve = data[(data["dataset"] == dataset) & (data["method"] == method)]
            if curve.empty:
                continue
            if axis == "seconds":  # log x: the untrained point at 0 s has no place on it
                curve = curve[curve["x"] > 0]
            style = method_style(method, methods)
            floor = curve["mean"].min() / 10
            ax.fill_between(
                curve["x"], curve["lo"].clip(lower=floor), curve["hi"], color=style["color"],
                alpha=0.15 if len(methods) <= 6 else 0.08, linewidth=0,
            )  # fmt: skip
            ax.plot(
                curve["x"], curve["mean"], markevery=max(1, len(curve) // 8), markersize=4,
                linewidth=1.4, **style,
            )  # fmt: skip
        _label_curve_panel(ax, results, dataset, axis)
    _figure_legend(fig, _legend_handles(methods))
    return _save(fig, Path(out_dir) / f"loss_vs_{axis}.png"), data


def _label_curve_panel(ax, results, dataset: str, axis: str) -> None:
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    if axis == "seconds":
        ax.set_xscale("log")
    elif axis == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(text(dataset))
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel(LOSS_LABEL)
    ax.grid(True, which="major", alpha=0.3)
    target = _target(results, dataset)
    if target is not None:
        ax.axhline(target, color="0.4", linewidth=0.8, linestyle=":")
        ax.annotate(
            "target", (1, target), xycoords=("axes fraction", "data"), ha="right", va="bottom",
            fontsize="x-small", color="0.3",
        )  # fmt: skip


# ------------------------------------------------------------------------------ 3: lr sensitivity


def lr_sensitivity_data(results) -> pd.DataFrame:
    """Per dataset x method x lr: mean final validation loss over seeds, and divergence.

    Columns: dataset, method, lr, val_loss (mean over seeds; NaN when any seed diverged),
    diverged (True when any seed diverged), diverged_seeds, seeds, tuned.
    """
    groups = results.trials.groupby(["dataset", "method", "lr"], sort=False)
    data = pd.DataFrame(
        {
            "val_loss": groups["final_val_loss"].mean(),
            "diverged_seeds": groups["diverged"].sum().astype(int),
            "seeds": groups["seed"].count(),
            "tuned": groups["tuned"].any(),
        }
    ).reset_index()
    data["diverged"] = data["diverged_seeds"] > 0
    data.loc[data["diverged"], "val_loss"] = np.nan
    return data[
        ["dataset", "method", "lr", "val_loss", "diverged", "diverged_seeds", "seeds", "tuned"]
    ]


def plot_lr_sensitivity(results, out_dir: Path) -> tuple[Path, pd.DataFrame]:
    """Figure 3: final validation loss against lr (log-log), one panel per dataset.

    A lr where any seed diverged has no loss; it is drawn as an 'x' in a strip at the top of
    the panel, one row per method. The tuned lr is circled.
    """
    data = lr_sensitivity_data(results)
    methods, datasets = _methods(results), _datasets(results)
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets, strict=True):
        panel = data[data["dataset"] == dataset]
        strip = [m for m in methods if panel.loc[panel["method"] == m, "diverged"].any()]
        for method in methods:
            rows = panel[panel["method"] == method]
            style = method_style(method, methods)
            ok = rows[~rows["diverged"]]
            ax.plot(ok["lr"], ok["val_loss"], markersize=5, linewidth=1.2, **style)
            tuned = ok[ok["tuned"]]
            ax.plot(
                tuned["lr"], tuned["val_loss"], linestyle="none", marker="o", markersize=12,
                markerfacecolor="none", markeredgecolor=style["color"], markeredgewidth=1.8,
            )  # fmt: skip
            if method in strip:
                height = 1 - 0.05 * (strip.index(method) + 1)
                bad = rows[rows["diverged"]]
                ax.plot(
                    bad["lr"], np.full(len(bad), height), linestyle="none", marker="x",
                    markersize=7, markeredgewidth=2, color=style["color"],
                    transform=ax.get_xaxis_transform(), clip_on=False,
                )  # fmt: skip
        _label_lr_panel(ax, dataset, panel["val_loss"], len(strip))
    handles = _legend_handles(methods) + [
        Line2D([], [], linestyle="none", marker="o", markersize=10, markerfacecolor="none",
               markeredgecolor="0.3", label="tuned lr"),
        Line2D([], [], linestyle="none", marker="x", color="0.3", label="diverged (≥ 1 seed)"),
    ]  # fmt: skip
    _figure_legend(fig, handles)
    return _save(fig, Path(out_dir) / "lr_sensitivity.png"), data


def _label_lr_panel(ax, dataset: str, losses: pd.Series, strip_rows: int) -> None:
    """Log-log axes whose top leaves room for the strip of diverged markers."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_title(text(dataset))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("final validation loss\n(mean per sample, log scale)")
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


# ------------------------------------------------------------------------------ 4: final test


def final_test_data(results) -> pd.DataFrame:
    """The tuned trials' final test loss and test metric: dataset, method, lr, seed, both values."""
    columns = ["dataset", "method", "lr", "seed", "final_test_loss", "test_metric"]
    return _tuned_trials(results)[columns].reset_index(drop=True)


def plot_final_test(results, out_dir: Path) -> tuple[Path, pd.DataFrame]:
    """Figure 4: final test loss and test metric of every seed at the tuned lr.

    Two panels per dataset (loss, then accuracy or R²), two datasets to a row; per method
    a box (quartiles, whiskers to the extremes) with every seed drawn on top.
    """
    data = final_test_data(results)
    methods, datasets = _methods(results), _datasets(results)
    width = max(3.4, 0.32 * len(methods) + 1.3)
    fig, axes = _panels(2 * len(datasets), ncols=4, size=(width, 3.2))
    jitter = np.random.default_rng(0)
    for k, (dataset, column) in enumerate(
        (d, c) for d in datasets for c in ("final_test_loss", "test_metric")
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
        ax.set_title(f"{text(dataset)}: {'test loss' if column == 'final_test_loss' else metric}")
        ax.set_ylabel(
            "final test loss (mean per sample)" if column == "final_test_loss" else metric
        )
    return _save(fig, Path(out_dir) / "final_test.png"), data


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
    """Epochs to the dataset's target loss per dataset x method at the tuned lr.

    Columns: dataset, method, lr, seeds, reached (seeds that reached the target), mean, lo,
    hi (the summary's mean and 95% CI, defined only when every seed reached it), and
    status: "reached", "not reached" (no seed), "partly reached" (some seeds; drawn as not
    reached, since the mean is undefined), "no target" (the dataset has none) or
    "no valid lr" (every lr diverged).
    """
    rows = []
    for summary in results.summary.itertuples():
        reached, seeds = int(summary.target_reached), int(summary.n_seeds)
        if seeds == 0:
            status = "no valid lr"
        elif _target(results, summary.dataset) is None:
            status = "no target"
        elif reached == seeds:
            status = "reached"
        else:
            status = "not reached" if reached == 0 else "partly reached"
        rows.append(
            {
                "dataset": summary.dataset,
                "method": summary.method,
                "lr": summary.lr,
                "seeds": seeds,
                "reached": reached,
                "mean": summary.epochs_to_target_mean,
                "lo": summary.epochs_to_target_lo,
                "hi": summary.epochs_to_target_hi,
                "status": status,
            }
        )
    return pd.DataFrame(rows)


def plot_convergence_speed(results, out_dir: Path) -> tuple[Path, pd.DataFrame]:
    """Figure 5: epochs to target, bars with 95% CIs; every seed a dot.

    A method that did not reach the target with every seed gets a hatched bar that runs
    past the last epoch into a "not reached" zone, labelled, never a zero or a gap.
    """
    data = convergence_data(results)
    methods, datasets = _methods(results), _datasets(results)
    epochs = _epochs(results)
    zone = epochs * (1 + NOT_REACHED_ZONE)
    tuned = _tuned_trials(results)
    fig, axes = _panels(len(datasets), size=(4.6, 0.34 * len(methods) + 1.6))
    for ax, dataset in zip(axes, datasets, strict=True):
        for position, method in enumerate(methods):
            rows = data[(data["dataset"] == dataset) & (data["method"] == method)]
            if rows.empty:
                continue
            row = rows.iloc[0]
            seeds = tuned.loc[
                (tuned["dataset"] == dataset) & (tuned["method"] == method), "epochs_to_target"
            ].dropna()
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
    return _save(fig, Path(out_dir) / "convergence_speed.png"), data


def _speed_bar(ax, position: int, row, seeds: pd.Series, zone: tuple, style: dict) -> None:
    """One method's bar: mean and CI when every seed reached the target, else hatched."""
    (epochs, zone), color = zone, style["color"]
    if row["status"] == "reached":
        ax.barh(position, row["mean"], height=0.6, color=color, alpha=0.35)
        ax.errorbar(
            row["mean"], position, xerr=[[row["mean"] - row["lo"]], [row["hi"] - row["mean"]]],
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


# ------------------------------------------------------------------------------ 6: profile, ranks


def performance_profile_data(results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Dolan–Moré performance profile on epochs to target.

    cost(method, dataset) = mean epochs to target over seeds at the tuned lr, at least 1
    (a target met before training counts as one epoch), inf when any seed missed it.
    ratio = cost / the least cost on that dataset (inf when no method reached it);
    rho_method(tau) = the fraction of datasets (those with a target) with ratio <= tau.
    Returns (ratios: dataset x method, profile: method, tau, fraction), the profile a step
    function sampled at every distinct finite ratio, from tau = 1 to the largest.
    """
    speed = convergence_data(results)
    speed = speed[speed["status"] != "no target"]
    cost = np.where(speed["status"] == "reached", np.maximum(speed["mean"], 1.0), np.inf)
    costs = speed.assign(cost=cost).pivot(index="dataset", columns="method", values="cost")
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


def plot_performance_profile(results, out_dir: Path) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Figure 6a: the performance profile on epochs to target, a step function of tau (log x)."""
    ratios, profile = performance_profile_data(results)
    methods = list(ratios.columns)
    fig, ax = plt.subplots(figsize=(7.6, 4.6), layout="constrained")
    for offset, method in enumerate(methods):
        steps = profile[profile["method"] == method]
        style = method_style(method, methods)
        # a small vertical offset keeps methods with the same profile visible
        lift = (offset - (len(methods) - 1) / 2) * 0.003
        ax.step(steps["tau"], steps["fraction"] + lift, where="post", linewidth=1.6,
                markevery=[0], markersize=5, label=text(method), **style)  # fmt: skip
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("τ: epochs to target / fewest epochs of any method on that dataset (log)")
    ax.set_ylabel(f"fraction of the {len(ratios)} datasets\nwithin a factor τ of the fastest")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small", frameon=False)
    path = _save(fig, Path(out_dir) / "performance_profile.png")
    return path, {"ratios": ratios, "profile": profile}


def rank_table(results) -> pd.DataFrame:
    """summary.rank as a methods x datasets table, rows in the ranking's order."""
    ranks = results.summary.pivot(index="method", columns="dataset", values="rank")
    order = [m for m in results.ranking["method"] if m in ranks.index]
    return ranks.reindex(index=order, columns=_datasets(results))


def plot_rank_heatmap(results, out_dir: Path) -> tuple[Path, pd.DataFrame]:
    """Figure 6b: each method's rank (by mean final test loss) on each dataset, 1 = best."""
    ranks = rank_table(results)
    n_methods, n_datasets = ranks.shape
    fig, ax = plt.subplots(
        figsize=(1.3 * n_datasets + 2.6, 0.42 * n_methods + 1.4), layout="constrained"
    )
    image = ax.imshow(ranks.to_numpy(dtype=float), cmap="viridis", vmin=1,
                      vmax=max(2, n_methods), aspect="auto")  # fmt: skip
    for (i, j), rank in np.ndenumerate(ranks.to_numpy(dtype=float)):
        light = rank > (n_methods + 1) / 2
        ax.text(j, i, "–" if np.isnan(rank) else f"{rank:.0f}", ha="center", va="center",
                color="black" if light else "white", fontsize="small")  # fmt: skip
    ax.set_xticks(range(n_datasets), [text(d) for d in ranks.columns], rotation=30, ha="right")
    mean_rank = results.ranking.set_index("method")["mean_rank"]
    ax.set_yticks(
        range(n_methods), [f"{text(m)}  ({mean_rank.get(m, np.nan):.1f})" for m in ranks.index]
    )
    ax.set_xlabel("dataset")
    ax.set_ylabel("method  (mean rank), best first")
    fig.colorbar(image, ax=ax, label="rank by mean final test loss (1 = best)", shrink=0.8)
    return _save(fig, Path(out_dir) / "ranking_heatmap.png"), ranks


# ------------------------------------------------------------------------------ 7: boundaries


def two_d_datasets(results) -> list[str]:
    """The datasets with two input features, whose decision boundaries can be drawn."""
    return [d for d in _datasets(results) if results.dataset(d).n_features == 2]


def plot_decision_boundaries(
    results, dataset: str, out_dir: Path, resolution: int = 120
) -> tuple[Path, dict]:
    """Figure 7: each method's trained network on a 2-D dataset, with the training data on top.

    The network of each method at its tuned lr and first seed, from its stored final
    parameters, evaluated on a resolution x resolution grid. Binary: P(class 1) with the
    0.5 contour; multi-class: the argmax class; regression: the prediction.
    Returns (path, data) with data = {"xx", "yy": the grid, "predictions": {method: (ny, nx, m)},
    "trials": {method: (lr, seed)}}.
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
    tuned = _tuned_trials(results)
    methods = _methods(results)
    columns = 3 if len(methods) in (5, 6, 9) else 4
    fig, axes = _panels(len(methods), ncols=columns, size=(3.3, 3.1))
    drawn = {"xx": xx, "yy": yy, "predictions": {}, "trials": {}}
    for ax, method in zip(axes, methods, strict=True):
        rows = tuned[(tuned["dataset"] == dataset) & (tuned["method"] == method)]
        ax.set_title(text(method), fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        if rows.empty:
            ax.text(0.5, 0.5, "no lr without divergence", ha="center", va="center",
                    transform=ax.transAxes, fontsize="small", color="0.4")  # fmt: skip
            continue
        first = rows.sort_values("seed").iloc[0]
        params = results.final_params(method, dataset, first["lr"], int(first["seed"]))
        yhat = net.predict(params, points)[0].reshape(*xx.shape, -1)
        drawn["predictions"][method] = yhat
        drawn["trials"][method] = (float(first["lr"]), int(first["seed"]))
        _draw_regions(ax, data_set, xx, yy, yhat)
        ax.set_title(f"{text(method)}  (lr {first['lr']:g}, seed {int(first['seed'])})",
                     fontsize="small")  # fmt: skip
        ax.set_aspect("equal")
    fig.supxlabel("feature 1 (standardised)", fontsize="small")
    fig.supylabel("feature 2 (standardised)", fontsize="small")
    handles = _class_handles(data_set)
    if handles:
        _figure_legend(fig, handles, loc="upper")
    path = _save(fig, Path(out_dir) / f"decision_boundaries_{slug(dataset)}.png")
    return path, drawn


def _grid(data_set, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.vstack([data_set.X_train, data_set.X_val, data_set.X_test])
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    return np.meshgrid(
        np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    )


CLASS_COLOURS = OKABE_ITO[4:7] + OKABE_ITO[1:4]  # purple, vermillion, blue, orange, ...
CLASS_MARKERS = ("o", "^", "s", "D", "v", "P")


def _class_style(c: int) -> dict[str, str]:
    return {"color": CLASS_COLOURS[c % 6], "marker": CLASS_MARKERS[c % 6]}


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
    """An analytic loss surface f(x, y) with its hand-written gradient, for Figure 8."""

    name: str
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[float, float], tuple[float, float]]
    start: tuple[float, float]
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    lrs: dict[str, float]
    minimum: tuple[float, float] | None  # marked with a star (the saddle: its saddle point)
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
    return x**2 - y**2


def _saddle_grad(x, y):
    return 2 * x, -2 * y


# The classic 2-2-2 example (Mazur): x = (0.05, 0.10), y = (0.01, 0.99), and its weights.
CLASSIC_X = np.array([[0.05, 0.10]])
CLASSIC_Y = np.array([[0.01, 0.99]])
CLASSIC_WEIGHTS = [
    np.array([[[0.15, 0.25], [0.20, 0.30]]]),  # W1: w1, w3 / w2, w4 (from input i to hidden j)
    np.array([[[0.35, 0.35]]]),  # b1
    np.array([[[0.40, 0.50], [0.45, 0.55]]]),  # W2: w5, w7 / w6, w8
    np.array([[[0.60, 0.60]]]),  # b2
]
CLASSIC_NET = MLP([2, 2, 2], hidden="relu", output="sigmoid", loss="half_squared_error")
FREE_WEIGHTS = ((0, (1, 0)), (2, (0, 0)))  # w2 = W1[1, 0] and w5 = W2[0, 0]


def _classic_params(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """A population of K = x.size copies of the classic weights with w1 = x, w5 = y."""
    params = [np.repeat(p, x.size, axis=0) for p in CLASSIC_WEIGHTS]
    for (layer, (i, j)), values in zip(FREE_WEIGHTS, (x, y), strict=True):
        params[layer][:, i, j] = np.ravel(values)
    return params


def _network(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    loss = CLASSIC_NET.loss_value(_classic_params(x, y), CLASSIC_X, CLASSIC_Y)
    return loss.reshape(x.shape)


def _network_grad(x, y):
    _, grads = CLASSIC_NET.loss_and_grad(
        _classic_params(np.array(x), np.array(y)), CLASSIC_X, CLASSIC_Y
    )
    return tuple(float(grads[layer][0, i, j]) for layer, (i, j) in FREE_WEIGHTS)


PATH_METHODS = ("gd", "momentum", "adagrad", "rmsprop", "adam", "adadelta")
SURFACES = (
    Surface("Rosenbrock", _rosenbrock, _rosenbrock_grad, (-1.5, 2.0), (-2, 2, -1, 3),
            {"gd": 1e-3, "momentum": 5e-4, "adagrad": 0.3, "rmsprop": 0.01, "adam": 0.05,
             "adadelta": 1.0}, minimum=(1.0, 1.0), steps=1000),
    Surface("Beale", _beale, _beale_grad, (0.7, 1.4), (-1, 4.5, -1.5, 2),
            {"gd": 1e-3, "momentum": 1e-3, "adagrad": 0.3, "rmsprop": 0.01, "adam": 0.05,
             "adadelta": 1.0}, minimum=(3.0, 0.5)),
    Surface("saddle x² − y²", _saddle, _saddle_grad, (-1.5, 1e-3), (-1.6, 1.6, -1.6, 1.6),
            {"gd": 0.02, "momentum": 0.02, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.02,
             "adadelta": 1.0}, minimum=(0.0, 0.0), log_levels=False),
    Surface("2-2-2 network over w2, w5", _network, _network_grad, (0.20, 0.40), (-6, 8, -10, 3),
            {"gd": 0.5, "momentum": 0.1, "adagrad": 0.3, "rmsprop": 0.02, "adam": 0.05,
             "adadelta": 1.0}, minimum=None),
)  # fmt: skip


def path_optimizer(method: str, lr: float) -> optimizers.Optimizer:
    """The optimizer behind a built-in method name, at ``lr`` (torch defaults otherwise)."""
    makers = {
        "gd": lambda: optimizers.SGD(lr=lr),
        "momentum": lambda: optimizers.SGD(lr=lr, momentum=0.9),
        "nesterov": lambda: optimizers.SGD(lr=lr, momentum=0.9, nesterov=True),
        "adagrad": lambda: optimizers.Adagrad(lr=lr),
        "rmsprop": lambda: optimizers.RMSprop(lr=lr),
        "adam": lambda: optimizers.Adam(lr=lr),
        "adadelta": lambda: optimizers.Adadelta(lr=lr),
    }
    if method not in makers:
        raise ValueError(f"method must be one of {', '.join(makers)}; got {method!r}")
    return makers[method]()


def optimizer_path(surface: Surface, method: str, steps: int = 300) -> np.ndarray:
    """The points (steps + 1, 2) an optimizer visits on ``surface`` from its start.

    The parameters are one K = 1 array of shape (1, 1, 2) holding (x, y); the gradient is
    the surface's hand-written one. The path stops early if it leaves a box three times
    the plotted extent (it has diverged or run off down the saddle).
    """
    opt = path_optimizer(method, surface.lrs[method])
    point = np.array([[surface.start]], dtype=float)
    state = opt.init([point])
    x_min, x_max, y_min, y_max = surface.extent
    width, height = x_max - x_min, y_max - y_min
    path = [point[0, 0].copy()]
    for _ in range(steps):
        grad = np.array([[surface.grad(*point[0, 0])]], dtype=float)
        opt.step([point], [grad], state)
        x, y = point[0, 0]
        path.append(point[0, 0].copy())
        outside = not (
            x_min - width <= x <= x_max + width and y_min - height <= y <= y_max + height
        )
        if not np.all(np.isfinite(point)) or outside:
            break
    return np.array(path)


def plot_optimizer_paths(
    out_dir: Path, methods: Sequence[str] = PATH_METHODS
) -> tuple[Path, dict[str, dict]]:
    """Figure 8: each optimizer's path over four 2-D surfaces, all from the same start.

    Returns (path, data) with data[surface name] = {"start", "lrs", "steps",
    "paths": {method: (n, 2) points, n <= steps + 1}}.
    """
    fig, axes = _panels(len(SURFACES), ncols=2, size=(5.2, 4.4))
    data = {}
    for ax, surface in zip(axes, SURFACES, strict=True):
        paths = {m: optimizer_path(surface, m, surface.steps) for m in methods}
        data[surface.name] = {
            "start": surface.start, "lrs": dict(surface.lrs), "steps": surface.steps,
            "paths": paths,
        }  # fmt: skip
        _draw_surface(ax, surface)
        for method, path in paths.items():
            ax.plot(path[:, 0], path[:, 1], linewidth=1.4, markevery=max(1, len(path) // 6),
                    markersize=4, **method_style(method, methods))  # fmt: skip
        ax.plot(*surface.start, marker="o", color="black", markersize=7, markerfacecolor="white")
        if surface.minimum is not None:
            ax.plot(*surface.minimum, marker="*", color="black", markersize=12,
                    markerfacecolor="white")  # fmt: skip
        ax.set_xlim(surface.extent[:2])
        ax.set_ylim(surface.extent[2:])
        ax.set_title(f"{surface.name}: {surface.steps} steps")
        network = surface.f is _network
        ax.set_xlabel("w2 (input 2 → hidden 1)" if network else "x")
        ax.set_ylabel("w5 (hidden 1 → output 1)" if network else "y")
    handles = _legend_handles(methods) + [
        Line2D([], [], linestyle="none", marker="o", color="black", markerfacecolor="white",
               label="start"),
        Line2D([], [], linestyle="none", marker="*", color="black", markerfacecolor="white",
               markersize=10, label="minimum / saddle point"),
    ]  # fmt: skip
    _figure_legend(fig, handles, ncol=4)
    fig.suptitle("Optimizer paths (contours of the loss, lighter = lower; a marker every "
                 "sixth of the path shows its pace)", fontsize="medium")  # fmt: skip
    return _save(fig, Path(out_dir) / "optimizer_paths.png"), data


def _draw_surface(ax, surface: Surface) -> None:
    x_min, x_max, y_min, y_max = surface.extent
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 160), np.linspace(y_min, y_max, 160))
    zz = surface.f(xx, yy)
    if surface.log_levels:
        zz = np.log10(zz - zz.min() + 1e-3)
    ax.contourf(xx, yy, zz, levels=20, cmap="Greys", alpha=0.45)
    ax.contour(xx, yy, zz, levels=20, colors="0.5", linewidths=0.4)


# ------------------------------------------------------------------------------ all


def draw_figures(results, out_dir: str | Path) -> dict[str, tuple[Path, Any]]:
    """Every figure of a Results into ``out_dir``: {key: (path, data)}.

    Keys: loss_vs_epoch, loss_vs_samples, loss_vs_seconds, lr_sensitivity, final_test,
    convergence_speed, performance_profile, ranking_heatmap, decision_boundaries:<dataset>
    (one per 2-D dataset), optimizer_paths.
    """
    out_dir = Path(out_dir)
    figures = {f"loss_vs_{axis}": plot_loss_curves(results, out_dir, axis) for axis in AXIS_LABELS}
    figures["lr_sensitivity"] = plot_lr_sensitivity(results, out_dir)
    figures["final_test"] = plot_final_test(results, out_dir)
    figures["convergence_speed"] = plot_convergence_speed(results, out_dir)
    figures["performance_profile"] = plot_performance_profile(results, out_dir)
    figures["ranking_heatmap"] = plot_rank_heatmap(results, out_dir)
    for dataset in two_d_datasets(results):
        figures[f"decision_boundaries:{dataset}"] = plot_decision_boundaries(
            results, dataset, out_dir
        )
    figures["optimizer_paths"] = plot_optimizer_paths(out_dir)
    return figures


def draw_all(results, out_dir: str | Path) -> dict[str, Path]:
    """Every figure of a Results as PNG files in ``out_dir``: {key: path} (keys: draw_figures)."""
    return {key: path for key, (path, _) in draw_figures(results, out_dir).items()}
