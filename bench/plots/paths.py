"""Optimizer paths: the suite's methods run for a few hundred steps on analytic 2-D surfaces
(Rosenbrock, Beale, a saddle, and the classic 2-2-2 network over two of its weights), each at
the lr that suits the surface, drawn over the surface's contours.

The only figure that runs the optimizers; nothing is computed until it is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from backprop import MLP
from bench.methods import MethodSpec
from bench.plots.style import figure_legend, method_style, panels, text


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
PATH_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # half decades


def path_methods(results) -> dict[tuple[str, ...], Any]:
    """The suite's methods whose paths differ: {(method, ...): its MethodSpec}.

    A 2-D surface has no samples, so methods that differ only in batch size (gd, sgd,
    minibatch) follow one path; they are grouped, in suite order.
    """
    groups: dict[str, tuple[list[str], MethodSpec]] = {}
    for name, spec in results.suite["methods"].items():
        method = MethodSpec.from_dict(spec)
        key = repr((method.optimizer, sorted(method.args.items())))
        groups.setdefault(key, ([], method))[0].append(name)
    return {tuple(names): method for names, method in groups.values()}


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
    steps_taken = np.empty((steps + 1, K, 2))  # every replica's point after each step
    steps_taken[0] = point[:, 0]
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            grad = np.stack(surface.grad(point[:, 0, 0], point[:, 0, 1]), axis=-1)[:, None, :]
            optimizer.step([point], [grad], state)
            steps_taken[t] = point[:, 0]
        x, y = steps_taken[1:, :, 0], steps_taken[1:, :, 1]
        stays = (  # (steps, K): the point after step t + 1 is finite and in the box
            np.isfinite(x)
            & np.isfinite(y)
            & (x_min - width <= x)
            & (x <= x_max + width)
            & (y_min - height <= y)
            & (y <= y_max + height)
        )
        inside = stays.all(axis=0)
        ends = np.where(inside, steps, stays.argmin(axis=0))  # the last step before leaving
        # the path stops where its replica left: later rows repeat its last point
        track = steps_taken[np.minimum(np.arange(steps + 1)[:, None], ends), np.arange(K)]
        jump = np.hypot(*np.diff(track, axis=0).transpose(2, 0, 1)).max(axis=0)
        losses = surface.f(track[..., 0], track[..., 1])
        score = np.log10(np.maximum(losses - surface.floor, 0) + 1e-8).mean(axis=0)
    calm = jump <= MAX_JUMP * np.hypot(width, height)
    score = np.where(inside & calm & np.isfinite(score), score, np.inf)
    chosen = int(np.argmin(score)) if np.isfinite(score).any() else None
    return {
        "paths": [track[: ends[k] + 1, k] for k in range(K)],
        "left": ~inside,
        "final_loss": losses[-1],
        "score": score,
        "chosen": chosen,
    }


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
            "start": surface.start,
            "steps": surface.steps,
            "minima": surface.minima,
            "lrs": lrs_of,
            "paths": paths,
            "final_loss": finals,
            "distance": distances,
            "closest": closest,
        }
    return data


def plot_optimizer_paths(results, data: dict | None = None) -> Figure:
    """The suite's methods on four 2-D surfaces, all from the same start, each at the lr of
    ``PATH_LRS`` that ends lowest on that surface (the lr in the legend); a large marker
    ends each path. data: ``optimizer_paths_data(results)``, computed if not given."""
    data = optimizer_paths_data(results) if data is None else data
    labels = [" = ".join(names) for names in path_methods(results)]
    styles = [label.split(" = ")[0] for label in labels]
    fig, axes = panels(len(SURFACES), ncols=2, size=(5.6, 4.6))
    for ax, surface in zip(axes, SURFACES, strict=True):
        drawn = data[surface.name]
        _draw_surface(ax, surface)
        handles = []
        for label, first in zip(labels, styles, strict=True):
            style = method_style(first, styles)
            lr = drawn["lrs"].get(label)
            if lr is None:
                handles.append(
                    Line2D(
                        [],
                        [],
                        label=f"{text(label)}: every lr left",
                        **{**style, "linestyle": "none"},
                    )
                )
                continue
            path = drawn["paths"][label]
            ax.plot(
                path[:, 0],
                path[:, 1],
                linewidth=1.3,
                markevery=max(1, len(path) // 6),
                markersize=3,
                **style,
            )
            ax.plot(
                *path[-1],
                linestyle="none",
                marker=style["marker"],
                markersize=10,
                color=style["color"],
                markeredgecolor="black",
                zorder=5,
            )
            handles.append(Line2D([], [], label=f"{text(label)}, lr {lr:g}", markersize=6, **style))
        ax.plot(*surface.start, marker="o", color="black", markersize=7, markerfacecolor="white")
        for minimum in surface.minima:
            ax.plot(
                *minimum,
                marker="*",
                color="black",
                markersize=13,
                markerfacecolor="white",
                zorder=6,
            )
        ax.set_xlim(surface.extent[:2])
        ax.set_ylim(surface.extent[2:])
        ax.set_title(f"{surface.name}: {surface.steps} steps")
        network = surface.f is _network
        ax.set_xlabel("w2 (input 2 → hidden 1)" if network else "x")
        ax.set_ylabel("w5 (hidden 1 → output 1)" if network else "y")
        ax.legend(handles=handles, fontsize="x-small", loc=surface.legend, framealpha=0.85)
    figure_legend(
        fig,
        [
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                color="black",
                markerfacecolor="white",
                label="start",
            ),
            Line2D(
                [],
                [],
                linestyle="none",
                marker="*",
                color="black",
                markerfacecolor="white",
                markersize=10,
                label="minimum",
            ),
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                color="0.5",
                markeredgecolor="black",
                markersize=8,
                label="end of a path",
            ),
        ],
        ncol=3,
    )
    fig.suptitle(
        "Optimizer paths, each at its best lr for the surface (contours of the loss, "
        "lighter = lower; small markers every sixth of a path show its pace)",
        fontsize="medium",
    )
    return fig


def _draw_surface(ax, surface: Surface) -> None:
    x_min, x_max, y_min, y_max = surface.extent
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 160), np.linspace(y_min, y_max, 160))
    zz = surface.f(xx, yy)
    if surface.log_levels:
        zz = np.log10(zz - zz.min() + 1e-3)
    ax.contourf(xx, yy, zz, levels=20, cmap="Greys", alpha=0.45)
    ax.contour(xx, yy, zz, levels=20, colors="0.5", linewidths=0.4)
