"""Figures that compare the methods across datasets: the performance profiles on epochs and
seconds to target, the map of verdicts against each dataset's best, and the
critical-difference diagram of mean ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from bench.plots.curves import convergence_data
from bench.plots.names import ratio_text
from bench.plots.runs import datasets_of, methods_of
from bench.plots.style import (
    figure_legend,
    legend_handles,
    method_style,
    panels,
    plain_log_ticks,
    styled_methods,
    text,
)

# ------------------------------------------------------------------------------ performance profile


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
    costs = costs.reindex(columns=[m for m in methods_of(results) if m in costs.columns])
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
        "ratios": ratios,
        "profile": profile,
        "seconds_ratios": seconds_ratios,
        "seconds_profile": seconds_profile,
    }


def plot_performance_profile(results, data: dict[str, pd.DataFrame] | None = None) -> Figure:
    """The performance profiles on epochs and on seconds to target, side by side: step
    functions of tau (log x). data: ``performance_profiles_data(results)``, computed if not
    given."""
    data = performance_profiles_data(results) if data is None else data
    drawn = {
        "epochs": (data["ratios"], data["profile"]),
        "seconds": (data["seconds_ratios"], data["seconds_profile"]),
    }
    styles = styled_methods(results, list(drawn["epochs"][0].columns))
    fig, axes = panels(2, ncols=2, size=(5.4, 3.9))
    for ax, (cost, (ratios, profile)) in zip(axes, drawn.items(), strict=True):
        methods = list(ratios.columns)
        for offset, method in enumerate(methods):
            steps = profile[profile["method"] == method]
            # a small vertical offset keeps methods with the same profile visible
            lift = (offset - (len(methods) - 1) / 2) * 0.003
            ax.step(
                steps["tau"],
                steps["fraction"] + lift,
                where="post",
                linewidth=1.6,
                markevery=[0],
                markersize=5,
                **method_style(method, styles),
            )
        _, measure, fewest = PROFILE_COSTS[cost]
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"on {measure}")
        ax.set_xlabel(f"τ: {measure} / {fewest} of any method\non that dataset (log scale)")
        ax.set_ylabel(f"fraction of the {len(ratios)} datasets\nwithin a factor τ of the fastest")
        ax.grid(True, which="both", alpha=0.3)
    methods = list(drawn["epochs"][0].columns)
    figure_legend(fig, legend_handles(methods, styles), ncol=min(len(methods), 6))
    return fig


# ------------------------------------------------------------------------------ verdicts

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
    order += [m for m in methods_of(results) if m not in order and m in set(on["method"])]
    datasets = [d for d in datasets_of(results) if d in set(on["dataset"])]
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
        ax.add_patch(
            Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=colour, edgecolor="white", linewidth=2)
        )
        label = "best" if row.verdict == "best" else ratio_text(row.rel_diff)
        dark = row.verdict in ("best", "worse")
        ax.text(
            j,
            i,
            label,
            ha="center",
            va="center",
            fontsize="small",
            color="white" if dark else "black",
        )
    ax.set_xlim(-0.5, len(datasets) - 0.5)
    ax.set_ylim(len(methods) - 0.5, -0.5)
    ax.set_xticks(range(len(datasets)), [text(d) for d in datasets], rotation=30, ha="right")
    mean_rank = data.drop_duplicates("method").set_index("method")["mean_rank"]
    ax.set_yticks(range(len(methods)), [f"{text(m)}  ({mean_rank[m]:.1f})" for m in methods])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("dataset")
    ax.set_ylabel("method  (mean rank),\nbest first")  # on two lines: a few methods are short
    handles = [
        Patch(facecolor=VERDICT_COLOURS[v], edgecolor="0.6", label=VERDICT_LABELS[v])
        for v in VERDICT_COLOURS
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize="small")
    return fig


# ------------------------------------------------------------------------------ critical difference


def critical_difference_data(results) -> dict | None:
    """What the critical-difference diagram draws, from ``results.friedman``; None without it.

    {"mean_rank": Series (best first), "critical_difference", "p_value", "n_datasets",
    "separated": [(better, worse)], "groups": [[method, ...]]}: groups are the maximal runs
    of consecutive methods (in mean-rank order) of which no two are separated; each is
    joined by a thick line. When the Friedman test does not reject, nothing is separated and
    one group holds every method.
    """
    friedman = results.friedman
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
    styles = styled_methods(results, order)
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
        ax.vlines(
            x(tick),
            axis_y - (0.09 if whole else 0.05),
            axis_y,
            color="black",
            linewidth=1 if whole else 0.6,
        )
        if whole:
            ax.text(x(tick), axis_y - 0.12, f"{tick:g}", ha="center", va="bottom", fontsize="small")
    ax.text(0.5, top, _cd_title(data), ha="center", va="center", fontsize="small")
    if np.isfinite(cd):
        end = min(1 + cd, k)
        bar_y = axis_y - 0.42
        ax.hlines(bar_y, x(1), x(end), color="black", linewidth=1.5)
        ax.vlines([x(1), x(end)], bar_y - 0.05, bar_y + 0.05, color="black", linewidth=1.5)
        label = f"CD = {cd:.2f}" + ("  (longer than the axis)" if 1 + cd > k else "")
        ax.text(
            (x(1) + x(end)) / 2, bar_y - 0.07, label, ha="center", va="bottom", fontsize="small"
        )
    for g, group in enumerate(data["groups"]):
        y = groups_y + gap * g
        ax.hlines(
            y,
            x(mean_rank[group[0]]) - 0.01,
            x(mean_rank[group[-1]]) + 0.01,
            color="black",
            linewidth=4,
            capstyle="round",
        )
    for i, method in enumerate(order):
        rank, colour = mean_rank[method], method_style(method, styles)["color"]
        on_left = i < half
        y = labels_y + row * (i if on_left else k - 1 - i)
        end = left - 0.05 if on_left else right + 0.05
        ax.plot(
            [x(rank), x(rank), end],
            [axis_y, y, y],
            color=colour,
            linewidth=1.2,
            solid_joinstyle="miter",
        )
        ax.text(
            end + (-0.01 if on_left else 0.01),
            y,
            f"{text(method)} ({rank:.2f})",
            ha="right" if on_left else "left",
            va="center",
            fontsize="small",
        )
    return fig


def _cd_title(data: dict) -> str:
    p, n = data["p_value"], data["n_datasets"]
    friedman = (
        "Friedman test: too few datasets or methods"
        if not np.isfinite(p)
        else (f"Friedman p = {p:.2g}")
    )
    return f"Mean rank on test loss over {n} dataset{'s' * (n != 1)}; {friedman}"
