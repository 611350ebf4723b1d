"""bench.metrics: per-trial metrics, tuning, bootstrap intervals, ranks and wins, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from bench import metrics

NAN = np.nan


def trials_frame(rows: list[tuple]) -> pd.DataFrame:
    """Trials from (dataset, method, lr, seed, final_val_loss, final_test_loss, diverged)."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "method",
            "lr",
            "seed",
            "final_val_loss",
            "final_test_loss",
            "diverged",
        ],
    )
    frame["final_train_loss"] = frame["final_val_loss"] / 2
    for column in ("test_metric", "epochs_to_target", *metrics.EXTRA_SUMMARY_METRICS):
        frame[column] = frame.get(column, 1.0)
    frame["tuned"] = metrics.mark_tuned(frame)
    return frame


def test_accuracy_binary_thresholds_at_one_half_per_replica():
    yhat = np.array([[[0.9], [0.2], [0.6], [0.4]], [[0.9], [0.2], [0.4], [0.6]]])
    Y = np.array([[1.0], [0.0], [0.0], [1.0]])
    np.testing.assert_array_equal(metrics.test_metric("binary", yhat, Y), [0.5, 1.0])


def test_accuracy_multiclass_is_argmax_agreement():
    yhat = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]]])
    Y = np.eye(3)[[0, 2, 0]]
    np.testing.assert_allclose(metrics.test_metric("multiclass", yhat, Y), [2 / 3])


def test_r2_by_hand_and_as_scikit_learn_averages_outputs():
    Y = np.array([[1.0], [2.0], [3.0]])
    yhat = np.array([[[1.0], [2.0], [4.0]]])  # SS_res = 1, SS_tot = 2
    np.testing.assert_allclose(metrics.test_metric("regression", yhat, Y), [0.5])
    rng = np.random.default_rng(0)
    Y2, yhat2 = rng.normal(size=(20, 3)), rng.normal(size=(2, 20, 3))
    expected = [r2_score(Y2, yhat2[k]) for k in range(2)]
    np.testing.assert_allclose(metrics.test_metric("regression", yhat2, Y2), expected)


def test_unknown_task_is_named_in_the_error():
    with pytest.raises(ValueError, match="'ranking'"):
        metrics.test_metric("ranking", np.zeros((1, 2, 1)), np.zeros((2, 1)))


def test_final_losses_are_nan_for_diverged_replicas_and_best_skips_nan():
    loss = np.array([[1.0, 1.0], [0.5, 2.0], [0.7, NAN]])
    np.testing.assert_array_equal(metrics.final_losses(loss, np.array([-1, 2])), [0.7, NAN])
    np.testing.assert_array_equal(metrics.best_losses(loss), [0.5, 1.0])
    np.testing.assert_array_equal(metrics.final_losses(None, np.array([-1, 2])), [NAN, NAN])


def test_cost_to_target_reads_every_axis_at_the_first_row_reaching_it():
    loss = np.array([1.0, 0.5, 0.2, 0.05, 0.3])
    axes = {
        "samples": np.arange(5) * 100.0,
        "steps": np.arange(5) * 4.0,
        "seconds": np.array([0, 0.1, 0.25, 0.3, 0.4]),
    }
    assert metrics.cost_to_target(loss, axes, 0.2) == {
        "epochs_to_target": 2.0,
        "samples_to_target": 200.0,
        "steps_to_target": 8.0,
        "seconds_to_target": 0.25,
    }
    unreached = metrics.cost_to_target(loss, axes, 0.01)
    assert all(np.isnan(v) for v in unreached.values())
    assert np.isnan(metrics.cost_to_target(loss, axes, None)["epochs_to_target"])


def test_auc_of_log_loss_is_the_trapezoid_over_epochs_normalised():
    # log10 = [0, -1, -2]: trapezoid = -0.5 - 1.5 = -2, over 2 epochs
    assert metrics.auc_log_loss(np.array([1.0, 0.1, 0.01])) == pytest.approx(-1.0)
    assert np.isnan(metrics.auc_log_loss(np.array([1.0, NAN, NAN])))
    assert metrics.auc_log_loss(np.array([1.0, 0.0])) == pytest.approx(-6.0)  # the 1e-12 floor


def test_bootstrap_ci_of_two_values_spans_both_and_is_reproducible():
    # resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    assert metrics.bootstrap_ci([0.0, 1.0]) == (0.5, 0.0, 1.0)
    assert metrics.bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)
    values = [0.1, 0.4, 0.35, 0.2, 0.3]
    mean, lo, hi = metrics.bootstrap_ci(values)
    assert mean == pytest.approx(0.27) and lo < mean < hi
    assert metrics.bootstrap_ci(values) == (mean, lo, hi)
    assert all(np.isnan(v) for v in metrics.bootstrap_ci([0.1, NAN]))


def test_tuned_lr_has_best_mean_validation_loss_and_never_a_diverged_seed():
    trials = trials_frame(
        [
            ("moons", "adam", 0.01, 0, 0.6, 0.6, False),
            ("moons", "adam", 0.01, 1, 0.6, 0.6, False),
            ("moons", "adam", 0.1, 0, 0.3, 0.3, False),
            ("moons", "adam", 0.1, 1, 0.5, 0.5, False),
            ("moons", "adam", 1.0, 0, 0.1, 0.1, False),  # best mean, but a seed diverged
            ("moons", "adam", 1.0, 1, NAN, NAN, True),
            ("moons", "sgd", 10.0, 0, NAN, NAN, True),
            ("moons", "sgd", 10.0, 1, NAN, NAN, True),
        ]
    )
    tuned = metrics.tuned_lrs(trials).set_index("method")["lr"]
    assert tuned["adam"] == 0.1 and np.isnan(tuned["sgd"])
    assert trials["tuned"].tolist() == [False, False, True, True, False, False, False, False]


def test_summary_means_ranks_and_all_diverged_method_at_the_bottom():
    trials = trials_frame(
        [
            ("moons", "adam", 0.1, 0, 0.2, 0.2, False),
            ("moons", "adam", 0.1, 1, 0.4, 0.4, False),
            ("moons", "adam", 1.0, 0, NAN, NAN, True),
            ("moons", "adam", 1.0, 1, 0.1, 0.1, False),
            ("moons", "gd", 0.1, 0, 0.1, 0.1, False),
            ("moons", "gd", 0.1, 1, 0.2, 0.2, False),
            ("moons", "sgd", 10.0, 0, NAN, NAN, True),
            ("moons", "sgd", 10.0, 1, NAN, NAN, True),
        ]
    )
    summary = metrics.summarise(trials).set_index("method")
    assert list(summary.columns[:4]) == ["dataset", "lr", "n_seeds", "final_train_loss_mean"]
    assert summary.loc["adam", "final_test_loss_mean"] == pytest.approx(0.3)
    assert summary.loc["adam", "final_train_loss_mean"] == pytest.approx(0.15)
    assert summary.loc["adam", ["lr", "n_seeds", "diverged_count", "rank"]].tolist() == [
        0.1, 2, 1, 2
    ]  # fmt: skip
    assert summary.loc["gd", "rank"] == 1
    assert summary.loc["sgd", ["n_seeds", "diverged_count", "rank"]].tolist() == [0, 2, 3]
    assert np.isnan(summary.loc["sgd", "lr"]) and np.isnan(summary.loc["sgd", "final_test_loss_hi"])


def test_relative_target_is_five_percent_above_the_best_tuned_mean_final_train_loss():
    trials = trials_frame(
        [
            ("moons", "adam", 0.1, 0, 0.2, 0.2, False),  # final_train_loss = val / 2
            ("moons", "adam", 0.1, 1, 0.4, 0.4, False),
            ("moons", "gd", 0.1, 0, 0.8, 0.8, False),
            ("moons", "gd", 0.1, 1, 0.8, 0.8, False),
        ]
    )
    assert metrics.relative_targets(trials)["moons"] == pytest.approx(1.05 * 0.15)


def test_wins_need_an_interval_below_every_other_and_mean_rank_averages_datasets():
    def row(dataset, method, mean, lo, hi, rank):
        return {
            "dataset": dataset,
            "method": method,
            "final_test_loss_mean": mean,
            "final_test_loss_lo": lo,
            "final_test_loss_hi": hi,
            "rank": rank,
        }

    summary = pd.DataFrame(
        [
            row("moons", "adam", 0.1, 0.05, 0.15, 1),  # separated from both: a win
            row("moons", "gd", 0.3, 0.2, 0.4, 2),
            row("moons", "sgd", NAN, NAN, NAN, 3),
            row("digits", "adam", 0.3, 0.2, 0.4, 2),
            row("digits", "gd", 0.25, 0.15, 0.35, 1),  # overlaps adam: no win
            row("digits", "sgd", 0.5, 0.45, 0.55, 3),
        ]
    )
    ranking = metrics.rank_methods(summary)
    assert ranking["method"].tolist() == ["adam", "gd", "sgd"]
    assert ranking["mean_rank"].tolist() == [1.5, 1.5, 3.0]
    assert ranking["wins"].tolist() == [1, 0, 0]
    assert ranking["datasets"].tolist() == [2, 2, 2]
