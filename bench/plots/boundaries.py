"""Decision boundaries: each method's early-stopped network on a dataset with two features,
its prediction over a grid with the training points on top."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.plots.runs import datasets_of, methods_of
from bench.plots.style import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    SKY_BLUE,
    VERMILLION,
    YELLOW,
    figure_legend,
    panels,
    text,
)

BOUNDARY_RESOLUTION = 160  # grid points a side: a cell of about 2.3 px in a panel (jagged at 100)


def two_d_datasets(results) -> list[str]:
    """The datasets with two input features, whose decision boundaries can be drawn."""
    return [d for d in datasets_of(results) if results.dataset(d).n_features == 2]


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
    data: dict[str, Any] = {"dataset": dataset, "xx": xx, "yy": yy, "predictions": {}, "trials": {}}
    for method in methods_of(results):
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
    methods = methods_of(results)
    columns = 3 if len(methods) in (5, 6, 9) else 4
    fig, axes = panels(len(methods), ncols=columns, size=(3.3, 3.1))
    for ax, method in zip(axes, methods, strict=True):
        ax.set_xticks([])
        ax.set_yticks([])
        if method not in data["predictions"]:
            ax.set_title(text(method), fontsize="medium")
            ax.text(
                0.5,
                0.5,
                "no lr without divergence",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize="small",
                color="0.4",
            )
            continue
        lr, seed, epoch = data["trials"][method]
        _draw_regions(ax, data_set, data["xx"], data["yy"], data["predictions"][method])
        ax.set_title(f"{text(method)}  (lr {lr:.3g}, seed {seed}, epoch {epoch})", fontsize="small")
        ax.set_aspect("equal")
    fig.supxlabel("feature 1 (standardised)", fontsize="small")
    fig.supylabel("feature 2 (standardised)", fontsize="small")
    handles = _class_handles(data_set)
    if handles:
        figure_legend(fig, handles, loc="upper")
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
CLASS_COLOURS = (
    BLUE,
    VERMILLION,
    GREEN,
    PURPLE,
    ORANGE,
    SKY_BLUE,
    BLACK,
    YELLOW,
    "#882255",  # Tol's wine
    "#332288",  # Tol's indigo
)
CLASS_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "h", "p", "<", ">")


def _class_style(c: int) -> dict[str, str]:
    return {
        "color": CLASS_COLOURS[c % len(CLASS_COLOURS)],
        "marker": CLASS_MARKERS[c % len(CLASS_MARKERS)],
    }


def _draw_regions(ax, data_set, xx, yy, yhat: np.ndarray) -> None:
    """Pale regions of the network's prediction, the training points on top in strong colour."""
    X, Y = data_set.X_train, data_set.Y_train
    if data_set.task == "regression":
        ax.contourf(xx, yy, yhat[..., 0], levels=12, cmap="viridis", alpha=0.6)
        ax.scatter(
            X[:, 0], X[:, 1], c=Y[:, 0], cmap="viridis", s=10, edgecolors="black", linewidths=0.3
        )
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
        ax.contourf(
            xx,
            yy,
            yhat.argmax(axis=-1),
            levels=np.arange(n_classes + 1) - 0.5,
            cmap=regions,
            alpha=0.3,
        )
        labels = Y.argmax(axis=1)
    for c in np.unique(labels):
        mine = labels == c
        ax.scatter(
            X[mine, 0], X[mine, 1], s=12, edgecolors="black", linewidths=0.4, **_class_style(int(c))
        )


def _class_handles(data_set) -> list:
    if data_set.task == "regression":
        return []
    n_classes = 2 if data_set.task == "binary" else data_set.n_outputs
    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            markeredgecolor="black",
            markersize=6,
            label=f"class {c}",
            **_class_style(c),
        )
        for c in range(n_classes)
    ]
    if data_set.task == "binary":
        handles.append(Line2D([], [], color="black", label="P(class 1) = 0.5"))
    return handles
