"""Per-trial metrics, floors and confidence intervals.

Per trial, from its curve (rows e = 0..E, row 0 before training):

    final loss        train_loss[E]; a diverged trial counts at its row-0 loss
    cost to target    epochs, samples, steps, seconds at the first row e with
                      train_loss[e] <= target; an unreached trial is censored at the cost of
                      E + 1 epochs, so it stays finite and slower than any reached one
    test error        1 - accuracy (classification) or 1 - R² (regression)

Values are floored before logs (``floored``): losses at 1e-12, error rates at 1 / n_test
(one test sample's worth, so that a perfect score does not dominate), costs at one step's.
Across seeds, ``confidence_interval`` gives the mean, or the geometric mean, and its
Student-t interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

LOSS_FLOOR = 1e-12  # a loss below this is taken at the floor (a zero loss)


# ------------------------------------------------------------------------------ per trial


METRIC_NAMES = {"binary": "accuracy", "multiclass": "accuracy", "regression": "R²"}


def test_metric(task: str, yhat: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The test metric of each replica, (K,): accuracy for classification, R² for regression.

    yhat: (K, n, m) network outputs; Y: (n, m) targets. Binary: the class is yhat > 0.5;
    multi-class: argmax over the m outputs. Regression: R² = 1 - SS_res / SS_tot per output,
    averaged over the m outputs (scikit-learn's ``r2_score`` default).
    """
    if task == "binary":
        return np.mean((yhat[..., 0] > 0.5) == (Y[:, 0] > 0.5), axis=-1)
    if task == "multiclass":
        return np.mean(yhat.argmax(axis=-1) == Y.argmax(axis=-1), axis=-1)
    if task == "regression":
        ss_res = np.sum((Y - yhat) ** 2, axis=-2)
        ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
        return np.mean(1.0 - ss_res / ss_tot, axis=-1)
    raise ValueError(f"task must be one of binary, multiclass, regression; got {task!r}")


def final_losses(loss: np.ndarray | None, diverged_epoch: np.ndarray) -> np.ndarray:
    """The last row of an (E + 1, K) loss curve, NaN for every diverged replica."""
    if loss is None:
        return np.full(len(diverged_epoch), np.nan)
    final = loss[-1].astype(float)
    final[diverged_epoch >= 0] = np.nan
    return final


def first_reached(train_loss: np.ndarray, target: float | None) -> int:
    """The first row e with train_loss[e] <= target, or -1 when none (or no target)."""
    if target is None or not np.isfinite(target):
        return -1
    hits = np.flatnonzero(train_loss <= target)
    return int(hits[0]) if len(hits) else -1


def cost_to_target(
    train_loss: np.ndarray, axes: dict[str, np.ndarray], target: float | None
) -> dict[str, float]:
    """``{axis}_to_target`` for epochs and each given axis, censored when unreached.

    train_loss: (E + 1,) one trial's curve; axes: cumulative (E + 1,) arrays such as
    samples, steps and seconds (epochs is the row index itself). A trial that never reaches
    the target (or has none) costs E + 1 epochs: axis[E] x (E + 1) / E.
    """
    row = first_reached(train_loss, target)
    epochs = len(train_loss) - 1
    costs = {"epochs": np.arange(epochs + 1, dtype=float), **axes}
    if row >= 0:
        return {f"{axis}_to_target": float(values[row]) for axis, values in costs.items()}
    return {
        f"{axis}_to_target": float(values[-1] * (epochs + 1) / epochs) if epochs else np.nan
        for axis, values in costs.items()
    }


def floored(values: np.ndarray | pd.Series, floor: float) -> np.ndarray:
    """``max(values, floor)``, NaN kept: the value a log or a ratio is taken of."""
    return np.where(np.isnan(values), np.nan, np.maximum(values, floor))


# ------------------------------------------------------------------------------ across seeds


def confidence_interval(
    values: Sequence[float], level: float = 0.95, log: bool = False
) -> tuple[float, float, float]:
    """(center, lo, hi): the mean and its Student-t interval, or the geometric mean with log=True.

    With log=True the interval is the t interval of mean(log v), exponentiated: the natural
    interval for positive, right-skewed values such as losses and times. NaN for all three
    with fewer than 2 values, a non-finite value, or (log=True) a value <= 0.

        center = mean(v),  half width = t_{(1 + level) / 2, n - 1} * sd(v) / sqrt(n)
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or not np.all(np.isfinite(values)) or (log and np.any(values <= 0)):
        return np.nan, np.nan, np.nan
    from scipy import special  # here, not at the top: a worker process never needs it

    x = np.log(values) if log else values
    center = x.mean()
    t = special.stdtrit(len(x) - 1, (1 + level) / 2)  # scipy.stats.t.ppf, without importing it
    half = t * x.std(ddof=1) / np.sqrt(len(x))
    lo, hi = center - half, center + half
    if log:
        return float(np.exp(center)), float(np.exp(lo)), float(np.exp(hi))
    return float(center), float(lo), float(hi)
