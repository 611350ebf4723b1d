"""bench.metrics: per-trial metrics, censored costs, floors and confidence intervals, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from bench import metrics

NAN = np.nan
T_975_2 = 4.302652729749462  # Student t quantile t_{0.975, 2} (tables give 4.303)
T_950_2 = 2.919985580353724  # t_{0.95, 2} (tables give 2.920)


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


def test_final_losses_are_the_last_row_and_nan_for_diverged_replicas():
    loss = np.array([[1.0, 1.0, 1.0], [0.5, 2.0, 0.4], [0.7, NAN, 0.3]])
    np.testing.assert_array_equal(
        metrics.final_losses(loss, np.array([-1, 2, -1])), [0.7, NAN, 0.3]
    )
    # a replica flagged diverged is NaN even where its last row is finite
    np.testing.assert_array_equal(
        metrics.final_losses(loss, np.array([1, -1, -1])), [NAN, NAN, 0.3]
    )
    np.testing.assert_array_equal(metrics.final_losses(None, np.array([-1, 2])), [NAN, NAN])
    assert loss[-1, 0] == 0.7  # the caller's array is left alone


def test_first_reached_is_the_first_row_at_or_below_the_target():
    loss = np.array([1.0, 0.5, 0.2, 0.05, 0.3])
    assert metrics.first_reached(loss, 0.2) == 2  # equality counts
    assert metrics.first_reached(loss, 1.0) == 0  # row 0, before training, counts too
    assert metrics.first_reached(loss, 0.01) == -1
    assert metrics.first_reached(loss, None) == -1
    assert metrics.first_reached(loss, NAN) == -1
    assert metrics.first_reached(np.array([1.0, NAN, NAN]), 0.5) == -1  # diverged


AXES = {
    "samples": np.arange(5) * 100.0,
    "steps": np.arange(5) * 4.0,
    "seconds": np.array([0.0, 0.1, 0.25, 0.3, 0.4]),
}


def test_cost_to_target_reads_every_axis_at_the_first_row_reaching_it():
    loss = np.array([1.0, 0.5, 0.2, 0.05, 0.3])
    assert metrics.cost_to_target(loss, AXES, 0.2) == {
        "epochs_to_target": 2.0,
        "samples_to_target": 200.0,
        "steps_to_target": 8.0,
        "seconds_to_target": 0.25,
    }


def test_an_unreached_target_is_censored_at_the_cost_of_one_more_epoch():
    # E = 4 epochs: censored at E + 1 = 5 epochs, each axis at axis[E] * 5 / 4
    censored = {
        "epochs_to_target": 5.0,
        "samples_to_target": 500.0,
        "steps_to_target": 20.0,
        "seconds_to_target": 0.5,
    }
    loss = np.array([1.0, 0.5, 0.2, 0.05, 0.3])
    for target in (0.01, None, NAN):
        costs = metrics.cost_to_target(loss, AXES, target)
        assert costs == pytest.approx(censored), target
    diverged = np.array([1.0, 0.5, NAN, NAN, NAN])
    assert metrics.cost_to_target(diverged, AXES, 0.2) == pytest.approx(censored)
    # slower than any reached trial, even one reaching the target at the last epoch
    assert metrics.cost_to_target(loss, AXES, 0.3)["seconds_to_target"] < 0.5
    # only epochs without other axes; no epoch trained: no cost to scale
    assert metrics.cost_to_target(loss[:3], {}, 0.1) == {"epochs_to_target": 3.0}
    assert np.isnan(metrics.cost_to_target(np.array([1.0]), {}, 0.1)["epochs_to_target"])


def test_floored_raises_values_to_the_floor_and_keeps_nan():
    values = np.array([0.0, 1e-15, 0.5, NAN, 2.0])
    np.testing.assert_array_equal(
        metrics.floored(values, metrics.LOSS_FLOOR), [1e-12, 1e-12, 0.5, NAN, 2.0]
    )
    series = pd.Series([0.0, 0.1, NAN])
    np.testing.assert_array_equal(metrics.floored(series, 0.025), [0.025, 0.1, NAN])
    assert metrics.LOSS_FLOOR == 1e-12


def test_confidence_interval_of_one_two_three_is_the_t_interval_by_hand():
    # mean 2, sd 1, n 3: half width t_{0.975, 2} / sqrt(3) = 4.3027 / 1.7321 = 2.4841
    center, lo, hi = metrics.confidence_interval([1.0, 2.0, 3.0])
    assert center == 2.0
    assert lo == pytest.approx(2 - T_975_2 / np.sqrt(3), rel=1e-12)
    assert hi == pytest.approx(2 + T_975_2 / np.sqrt(3), rel=1e-12)
    assert hi - lo == pytest.approx(4.96828, abs=1e-5)
    # the level changes the quantile: t_{0.95, 2} for 90%
    _, lo90, hi90 = metrics.confidence_interval([1.0, 2.0, 3.0], level=0.9)
    assert (lo90, hi90) == pytest.approx((2 - T_950_2 / np.sqrt(3), 2 + T_950_2 / np.sqrt(3)))
    # order does not matter; a constant sample has a zero-width interval
    assert metrics.confidence_interval([3.0, 1.0, 2.0]) == (center, lo, hi)
    assert metrics.confidence_interval([0.3, 0.3]) == (0.3, 0.3, 0.3)


def test_confidence_interval_with_log_is_the_geometric_mean_and_its_interval():
    # log10 of [1, 10, 100] is [0, 1, 2]: geometric mean 10, the t interval in log space
    center, lo, hi = metrics.confidence_interval([1.0, 10.0, 100.0], log=True)
    half = T_975_2 * np.log(10) / np.sqrt(3)
    assert center == pytest.approx(10.0, rel=1e-12)
    assert (lo, hi) == pytest.approx((10 * np.exp(-half), 10 * np.exp(half)), rel=1e-12)
    assert lo * hi == pytest.approx(100.0)  # symmetric around the center in log space
    assert lo > 0  # a geometric interval never goes below zero
    arithmetic = metrics.confidence_interval([1.0, 10.0, 100.0])
    assert arithmetic[0] == 37.0 and arithmetic[1] < 0


@pytest.mark.parametrize(
    ("values", "log"),
    [
        ([], False),
        ([0.5], False),  # one value has no spread
        ([0.5, NAN, 0.7], False),
        ([0.5, np.inf], False),
        ([0.5, 0.0], True),  # a log of zero
        ([0.5, -0.1], True),
    ],
)
def test_confidence_interval_is_nan_without_two_finite_usable_values(values, log):
    assert all(np.isnan(v) for v in metrics.confidence_interval(values, log=log))


def test_confidence_interval_accepts_negative_values_without_log():
    assert metrics.confidence_interval([-1.0, -3.0])[0] == -2.0
