"""Convergence metrics: final losses, cost to a target, tuning, confidence intervals, ranks.

Per trial, from its curve (rows e = 0..E, row 0 before training):

    final loss        train_loss[E] (NaN when the trial diverged)
    best train loss   min_e train_loss[e]
    cost to target    epochs, samples, steps, seconds at the first row e with
                      train_loss[e] <= target; NaN when no row reaches it
    AUC of log loss   (1 / E) * trapezoid of log10(train_loss[e]) over e = 0..E

Per method x dataset, the tuned lr is the one with the lowest mean final validation loss
across seeds; an lr where any seed diverged is never tuned. At the tuned lr every metric
gets its mean over seeds and a 95% percentile-bootstrap confidence interval. Methods are
ranked per dataset by mean final test loss (1 = best); a method wins a dataset only when its
interval on the final test loss lies entirely below every other method's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

RELATIVE_TOLERANCE = 0.05  # the relative target: within 5% of the best tuned final train loss
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 2000  # fixed, so that the same values always give the same interval
CI_LEVEL = 0.95
LOG_LOSS_FLOOR = 1e-12  # log10 of a loss below this is taken at the floor (a zero loss)
SUMMARY_METRICS = ("final_train_loss", "final_test_loss", "test_metric", "epochs_to_target")
EXTRA_SUMMARY_METRICS = (
    "final_val_loss",
    "seconds_to_target",
    "epochs_to_relative_target",
    "auc_log_loss",
)
SUMMARY_COLUMNS = [
    "dataset",
    "method",
    "lr",
    "n_seeds",
    *(f"{m}_{part}" for m in SUMMARY_METRICS for part in ("mean", "lo", "hi")),
    "diverged_count",
    "rank",
    *(f"{m}_{part}" for m in EXTRA_SUMMARY_METRICS for part in ("mean", "lo", "hi")),
    "target_reached",
]
RANKING_COLUMNS = ["method", "mean_rank", "wins", "datasets"]


# ------------------------------------------------------------------------------ per trial


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


def best_losses(train_loss: np.ndarray) -> np.ndarray:
    """min over the rows of an (E + 1, K) loss curve, skipping NaN rows, (K,)."""
    finite = np.where(np.isfinite(train_loss), train_loss, np.inf)
    best = finite.min(axis=0)
    return np.where(np.isinf(best), np.nan, best)


def first_reached(train_loss: np.ndarray, target: float | None) -> int:
    """The first row e with train_loss[e] <= target, or -1 when none (or no target)."""
    if target is None or not np.isfinite(target):
        return -1
    hits = np.flatnonzero(train_loss <= target)
    return int(hits[0]) if len(hits) else -1


def cost_to_target(
    train_loss: np.ndarray, axes: dict[str, np.ndarray], target: float | None
) -> dict[str, float]:
    """``{axis}_to_target`` for epochs and each given axis; NaN when the target is unreached.

    train_loss: (E + 1,) one trial's curve; axes: cumulative (E + 1,) arrays such as
    samples, steps and seconds (epochs is the row index itself).
    """
    row = first_reached(train_loss, target)
    costs = {"epochs": np.arange(len(train_loss)), **axes}
    return {
        f"{axis}_to_target": float(values[row]) if row >= 0 else np.nan
        for axis, values in costs.items()
    }


def auc_log_loss(train_loss: np.ndarray) -> float:
    """(1 / E) * trapezoid of log10(train_loss) over epochs 0..E; NaN if any row is NaN.

    Lower is better: it rewards reaching a low loss early, not just ending low.
    """
    epochs = len(train_loss) - 1
    if epochs < 1 or not np.all(np.isfinite(train_loss)):
        return np.nan
    log_loss = np.log10(np.maximum(train_loss, LOG_LOSS_FLOOR))
    return float(np.trapezoid(log_loss) / epochs)


# ------------------------------------------------------------------------------ across seeds


def bootstrap_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean over seeds and its 95% percentile-bootstrap interval.

    2000 resamples of the seeds with replacement, from a fixed RNG seed, so the interval
    is reproducible. NaN for all three when any value is NaN (e.g. a seed that never
    reached the target) or there are no values.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or not np.all(np.isfinite(values)):
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    index = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    means = values[index].mean(axis=1)
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(lo), float(hi)


def tuned_lrs(trials: pd.DataFrame) -> pd.DataFrame:
    """The tuned lr of each dataset x method: columns dataset, method, lr (NaN: none valid).

    trials: one row per trial with dataset, method, lr, seed, final_val_loss, diverged.
    An lr is a candidate only when no seed diverged and every final validation loss is
    finite; among candidates the lowest mean final validation loss wins (ties: smaller lr).
    """
    rows = []
    for (dataset, method), group in trials.groupby(["dataset", "method"], sort=False):
        by_lr = group.groupby("lr", sort=True)
        valid = by_lr["diverged"].sum().eq(0) & by_lr["final_val_loss"].apply(
            lambda v: bool(np.all(np.isfinite(v)))
        )
        score = by_lr["final_val_loss"].mean()[valid]
        lr = score.idxmin() if len(score) else np.nan
        rows.append({"dataset": dataset, "method": method, "lr": lr})
    return pd.DataFrame(rows, columns=["dataset", "method", "lr"])


def mark_tuned(trials: pd.DataFrame) -> pd.Series:
    """A boolean column: True for the trials at their method x dataset's tuned lr."""
    tuned = tuned_lrs(trials).rename(columns={"lr": "tuned_lr"})
    merged = trials[["dataset", "method", "lr"]].merge(tuned, on=["dataset", "method"], how="left")
    return pd.Series(merged["lr"].to_numpy() == merged["tuned_lr"].to_numpy(), index=trials.index)


def relative_targets(trials: pd.DataFrame) -> pd.Series:
    """Per dataset, (1 + 5%) x the best mean final train loss of any method at its tuned lr.

    trials: needs dataset, method, final_train_loss and the boolean ``tuned``. The mean is
    over seeds; NaN for a dataset where no method has a tuned lr.
    """
    tuned = trials[trials["tuned"]]
    means = tuned.groupby(["dataset", "method"], sort=False)["final_train_loss"].mean()
    best = means.groupby(level="dataset", sort=False).min()
    best = best.reindex(trials["dataset"].unique())
    return (1 + RELATIVE_TOLERANCE) * best


def summarise(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x method at the tuned lr, with means and 95% CIs over seeds.

    trials: one row per trial with at least dataset, method, lr, seed, diverged, tuned and
    the metrics of SUMMARY_METRICS and EXTRA_SUMMARY_METRICS. Columns: dataset, method, lr,
    n_seeds, {metric}_{mean,lo,hi} for SUMMARY_METRICS, diverged_count (diverged trials over
    the method's whole lr grid), rank (by final_test_loss_mean, 1 = best, methods without a
    tuned lr last), then the extra metrics' columns and target_reached (seeds at the tuned
    lr that reached the absolute target).
    """
    rows = []
    for (dataset, method), group in trials.groupby(["dataset", "method"], sort=False):
        at_lr = group[group["tuned"]]
        row = {
            "dataset": dataset,
            "method": method,
            "lr": at_lr["lr"].iloc[0] if len(at_lr) else np.nan,
            "n_seeds": len(at_lr),
            "diverged_count": int(group["diverged"].sum()),
            "target_reached": int(at_lr["epochs_to_target"].notna().sum()),
        }
        for metric in SUMMARY_METRICS + EXTRA_SUMMARY_METRICS:
            mean, lo, hi = bootstrap_ci(at_lr[metric]) if len(at_lr) else (np.nan,) * 3
            row.update({f"{metric}_mean": mean, f"{metric}_lo": lo, f"{metric}_hi": hi})
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary["rank"] = (
        summary.groupby("dataset", sort=False)["final_test_loss_mean"]
        .rank(method="min", na_option="bottom")
        .astype(int)
    )
    return summary[SUMMARY_COLUMNS]


def wins(summary: pd.DataFrame) -> pd.Series:
    """Per method, the datasets where its final-test-loss CI lies below every other's.

    A method without an interval (no tuned lr) never wins and is beaten by every interval;
    a dataset with a single method gives no win.
    """
    counts = pd.Series(0, index=pd.Index(summary["method"].unique(), name="method"))
    for _, group in summary.groupby("dataset", sort=False):
        lo = group["final_test_loss_lo"].fillna(np.inf).to_numpy()
        hi = group["final_test_loss_hi"].to_numpy()
        for i, method in enumerate(group["method"]):
            others = np.delete(lo, i)
            if len(others) and np.isfinite(hi[i]) and np.all(hi[i] < others):
                counts[method] += 1
    return counts


def rank_methods(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per method: method, mean_rank (over datasets), wins, datasets; best first."""
    grouped = summary.groupby("method", sort=False)
    ranking = pd.DataFrame(
        {
            "mean_rank": grouped["rank"].mean(),
            "wins": wins(summary),
            "datasets": grouped["dataset"].nunique(),
        }
    ).reset_index(names="method")
    ranking = ranking.sort_values(["mean_rank", "method"], kind="stable").reset_index(drop=True)
    return ranking[RANKING_COLUMNS]
