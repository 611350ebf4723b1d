"""bench.tables: the five tables rebuilt from a hand-made store, their CSVs, and compare.

The store holds two datasets (target loss 0.1, 40 test samples each) and E = 2 epochs:

    moons    adam  tune lr 0.01, 0.1 (+ 1.0, an extension)   eval lr 0.1 on seeds 0..3 (+ 4)
             gd    tune lr 0.3, 1.0 x momentum 0, 0.9         eval lr 1.0, momentum 0.9
             sgd   tune lr 0.1                                eval lr 0.1, seed 3 diverges
    circles  adam, gd                                         gd best, adam within 1%
             sgd   tune lr 0.1: every trial diverges          no evaluation

Evaluation seed 4 of adam on moons is stored but not among the suite's seeds, and a stored
population the suite does not list ("stale") must not show anywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from helpers import make_result, write_old_store
from scipy import stats as scipy_stats

from bench import metrics, stats
from bench.datasets import BUILTIN_DATASETS, DatasetSpec
from bench.store import Store, StoreError
from bench.tables import compare, load

NAN = np.nan
SEEDS = [0, 1, 2, 3]
TUNING_SEEDS = [100000, 100001]
MOMENTUM = ('{"momentum": 0.0}', '{"momentum": 0.9}')
N_TEST = 40
# eval curves (rows e = 0, 1, 2) of moons, seeds 0..3 (adam also seed 4)
# adam's seed 1 ends at a zero training loss, which is floored at 1e-12 before any log
ADAM_CURVES = [
    [0.7, 0.3, 0.08],
    [0.7, 0.09, 0.0],
    [0.7, 0.3, 0.2],
    [0.7, 0.2, 0.1],
    [0.7, 0.05, 0.01],
]
GD_CURVES = [[0.7, 0.5, 0.4], [0.7, 0.6, 0.5], [0.7, 0.45, 0.35], [0.7, 0.5, 0.3]]
SGD_CURVES = [[0.7, 0.2, 0.12], [0.7, 0.3, 0.2], [0.7, 0.25, 0.15], [0.7, NAN, NAN]]
ADAM_TEST_LOSS = (0.20, 0.25, 0.22, 0.30, 0.01)
ADAM_METRIC = (0.9, 0.95, 1.0, 0.9, 1.0)
GD_TEST_LOSS = (0.40, 0.55, 0.44, 0.60)  # = adam x (2, 2.2, 2, 2)
GD_METRIC = (0.8, 0.75, 0.8, 0.7)
SGD_METRIC = (0.85, 0.8, 0.8, 0.5)
SUMMARY_CRITERIA = (
    "test_loss",
    "test_metric",
    "final_train_loss",
    "seconds_to_target",
    "epochs_to_target",
)
PINNED = {
    "trials": "phase method dataset lr hyperparameters extended seed final_train_loss "
    "final_val_loss best_epoch test_loss test_metric final_test_loss diverged diverged_epoch "
    "epochs_to_target seconds_to_target",
    "curves": "phase method dataset lr hyperparameters seed epoch samples steps seconds "
    "train_loss val_loss",
    "summary": "dataset method lr hyperparameters lr_at_edge tuning_trials n_seeds "
    + " ".join(f"{c}_{part}" for c in SUMMARY_CRITERIA for part in ("center", "lo", "hi"))
    + " diverged_count rank",
    "comparisons": "dataset criterion method versus n_pairs rel_diff rel_diff_lo rel_diff_hi "
    "p_value p_adjusted verdict",
    "ranking": "method mean_rank best equivalent inconclusive worse datasets",
}


def columns(curves: list[list[float]]) -> list[list[float]]:
    """Per-trial curves as the (E + 1, K) rows of make_result."""
    return np.array(curves, dtype=float).T.tolist()


def method_spec(name: str, optimizer: str, batch_size: int | None, lrs, search=None) -> dict:
    return {
        "name": name,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "lrs": lrs,
        "args": {},
        "search": search or {},
    }


def dataset_spec(name: str) -> dict:
    params = {**BUILTIN_DATASETS[name]["params"], "n_samples": 200}
    return asdict(DatasetSpec(name, name, params, 0, 0.1))


def populations(adam_scale: float) -> list:
    """Every stored population as (key, PopulationResult), "stale" last."""
    flat3 = [[0.7] * 4, [0.5] * 4, [0.4] * 4]
    flat2, lost2 = [[0.7, 0.7], [0.5, 0.5], [0.4, 0.4]], [[0.7, 0.7], [0.3, NAN], [0.3, NAN]]
    falling2 = [[0.7, 0.7], [0.5, 0.4], [0.4, 0.3]]
    circles = [[0.7] * 4, [0.5, 0.45, 0.5, 0.45], [0.3, 0.25, 0.3, 0.25]]
    adam_loss = tuple(adam_scale * v for v in ADAM_TEST_LOSS)
    return [
        ("adam-tune", make_result("adam-tune", "adam", phase="tune", lrs=(0.01, 0.01, 0.1, 0.1),
                                  seeds=TUNING_SEEDS * 2, train_loss=flat3)),
        ("adam-ext", make_result("adam-ext", "adam", phase="tune", lrs=(1.0, 1.0),
                                 seeds=TUNING_SEEDS, train_loss=lost2)),
        ("gd-tune", make_result("gd-tune", "gd", phase="tune", lrs=(0.3, 0.3, 1.0, 1.0),
                                seeds=TUNING_SEEDS[:1] * 4, train_loss=flat3,
                                hyperparameters=MOMENTUM * 2)),
        ("sgd-tune", make_result("sgd-tune", "sgd", phase="tune", lrs=(0.1, 0.1),
                                 seeds=TUNING_SEEDS, train_loss=flat2)),
        ("adam-eval", make_result("adam-eval", "adam", lrs=(0.1,) * 5, seeds=(*SEEDS, 4),
                                  train_loss=columns(ADAM_CURVES), test_loss=adam_loss,
                                  test_metric=ADAM_METRIC)),
        ("gd-eval", make_result("gd-eval", "gd", lrs=(1.0,) * 4, seeds=SEEDS,
                                train_loss=columns(GD_CURVES), test_loss=GD_TEST_LOSS,
                                test_metric=GD_METRIC, hyperparameters=MOMENTUM[1:] * 4)),
        ("sgd-eval", make_result("sgd-eval", "sgd", lrs=(0.1,) * 4, seeds=SEEDS,
                                 train_loss=columns(SGD_CURVES), test_loss=GD_TEST_LOSS,
                                 test_metric=SGD_METRIC)),
        ("adam-tune-c", make_result("adam-tune-c", "adam", "circles", phase="tune",
                                    lrs=(0.01, 0.1), train_loss=falling2)),
        ("gd-tune-c", make_result("gd-tune-c", "gd", "circles", phase="tune", lrs=(0.3, 1.0),
                                  train_loss=falling2, hyperparameters=MOMENTUM[1:] * 2)),
        ("sgd-tune-c", make_result("sgd-tune-c", "sgd", "circles", phase="tune", lrs=(0.1, 0.1),
                                   train_loss=[[0.7, 0.7], [NAN, NAN], [NAN, NAN]])),
        ("adam-eval-c", make_result("adam-eval-c", "adam", "circles", lrs=(0.1,) * 4,
                                    seeds=SEEDS, train_loss=circles,
                                    test_loss=(0.101, 0.1515, 0.0909, 0.2525),
                                    test_metric=(0.9, 0.9, 0.9, 0.9))),
        ("gd-eval-c", make_result("gd-eval-c", "gd", "circles", lrs=(1.0,) * 4, seeds=SEEDS,
                                  train_loss=circles, test_loss=(0.1, 0.15, 0.09, 0.25),
                                  test_metric=(0.9, 0.9, 0.9, 0.9),
                                  hyperparameters=MOMENTUM[1:] * 4)),
        ("stale", make_result("stale", "adam", lrs=(0.1,) * 4, seeds=SEEDS,
                              test_loss=(9.0, 9.0, 9.0, 9.0))),
    ]  # fmt: skip


def write_store(out, adam_scale: float = 1.0):
    """The hand-made store of the module docstring in ``out``, loaded; adam's test losses on
    moons are multiplied by ``adam_scale``."""
    stored = populations(adam_scale)
    listed = [
        {
            "key": key,
            "phase": result.phase,
            "method": result.method,
            "dataset": result.dataset,
            "trials": result.size,
        }
        for key, result in stored
        if key != "stale"
    ]
    listed.append(
        {"key": "lost", "phase": "eval", "method": "sgd", "dataset": "circles", "trials": 4}
    )
    suite = {
        "name": "hand",
        "source": "tests",
        "epochs": 2,
        "seeds": SEEDS,
        "tuning_seeds": TUNING_SEEDS,
        "extend_grid": 3,
        "margin": 0.05,
        "model": {"hidden": [4], "activation": "relu"},
        "methods": {
            "adam": method_spec("adam", "Adam", 32, [0.01, 0.1]),
            "gd": method_spec("gd", "SGD", None, [0.3, 1.0], {"momentum": [0.0, 0.9]}),
            "sgd": method_spec("sgd", "SGD", 1, [0.1]),
        },
        "datasets": {"moons": dataset_spec("moons"), "circles": dataset_spec("circles")},
        "populations": listed,
    }
    with Store(out / "runs.sqlite", create=True) as store:
        for _, result in stored:
            store.save(result)
        store.set_meta(suite=suite, provenance={"python": "3.11"})
    return load(out)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("hand"))


def select(frame: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame[mask].reset_index(drop=True)


def floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=float)


# ------------------------------------------------------------------------------ trials, curves


def test_only_the_suites_populations_and_evaluation_seeds_are_tabled(results):
    trials = results.trials
    assert len(trials) == 12 + 12 + 6 + 8  # moons tune, moons eval, circles tune, circles eval
    assert len(results.tuning) == 18 and len(results.evaluation) == 20
    assert "stale" not in set(trials["population"]) and 9.0 not in set(trials["test_loss"])
    assert sorted(set(results.evaluation["seed"])) == SEEDS  # adam's seed 4 is left out
    assert 0.01 not in set(trials["test_loss"])
    assert results.missing == ["lost"]
    assert results.provenance == {"python": "3.11"} and results.suite["name"] == "hand"
    per_pop = trials.groupby("population", sort=False).size().to_dict()
    assert per_pop == {
        "adam-tune": 4,
        "adam-ext": 2,
        "gd-tune": 4,
        "sgd-tune": 2,
        "adam-eval": 4,
        "gd-eval": 4,
        "sgd-eval": 4,
        "adam-tune-c": 2,
        "gd-tune-c": 2,
        "sgd-tune-c": 2,
        "adam-eval-c": 4,
        "gd-eval-c": 4,
    }


def test_trials_carry_the_early_stopped_test_loss_error_and_final_values(results):
    adam = select(results.trials, phase="eval", method="adam", dataset="moons")
    assert adam["seed"].tolist() == SEEDS
    assert adam["lr"].tolist() == [0.1] * 4 and adam["hyperparameters"].tolist() == ["{}"] * 4
    np.testing.assert_array_equal(floats(adam["test_loss"]), [0.20, 0.25, 0.22, 0.30])
    np.testing.assert_allclose(floats(adam["final_test_loss"]), [0.21, 0.26, 0.23, 0.31])
    np.testing.assert_array_equal(floats(adam["test_metric"]), [0.9, 0.95, 1.0, 0.9])
    np.testing.assert_allclose(floats(adam["test_error"]), [0.1, 0.05, 0.0, 0.1], atol=1e-15)
    np.testing.assert_array_equal(floats(adam["final_train_loss"]), [0.08, 0.0, 0.2, 0.1])
    np.testing.assert_allclose(floats(adam["final_val_loss"]), [0.13, 0.05, 0.25, 0.15])
    np.testing.assert_allclose(floats(adam["best_val_loss"]), [0.13, 0.05, 0.25, 0.15])
    assert adam["best_epoch"].tolist() == [2, 2, 2, 2]
    assert adam["task"].tolist() == ["binary"] * 4
    assert adam["cpu"].tolist() == ["Test CPU @ 3.00GHz"] * 4
    assert not adam["diverged"].any() and adam["diverged_epoch"].tolist() == [-1] * 4


def test_a_diverged_trial_keeps_its_test_loss_and_counts_at_its_row_zero_loss(results):
    sgd = select(results.trials, phase="eval", method="sgd", dataset="moons")
    assert sgd["diverged"].tolist() == [False, False, False, True]
    assert sgd["diverged_epoch"].tolist() == [-1, -1, -1, 1]
    np.testing.assert_array_equal(floats(sgd["final_train_loss"]), [0.12, 0.2, 0.15, 0.7])
    assert sgd.loc[3, "test_loss"] == 0.60  # the early-stopped model's, finite
    assert np.isnan(sgd.loc[3, "final_test_loss"]) and np.isnan(sgd.loc[3, "final_val_loss"])
    assert sgd.loc[3, "best_epoch"] == 0 and sgd.loc[3, "best_val_loss"] == pytest.approx(0.75)
    assert not sgd.loc[3, "target_reached"] and sgd.loc[3, "epochs_to_target"] == 3.0


def test_costs_to_the_target_are_read_off_the_curves_and_censored_when_unreached(results):
    adam = select(results.trials, phase="eval", method="adam", dataset="moons")
    # target 0.1: seed 0 at row 2, seed 1 at row 1, seed 2 never, seed 3 at row 2 (equal)
    assert adam["target_reached"].tolist() == [True, True, False, True]
    assert adam["epochs_to_target"].tolist() == [2.0, 1.0, 3.0, 2.0]  # censored at E + 1 = 3
    assert adam["samples_to_target"].tolist() == [120.0, 60.0, 180.0, 120.0]
    assert adam["steps_to_target"].tolist() == [4.0, 2.0, 6.0, 4.0]
    np.testing.assert_allclose(floats(adam["seconds_to_target"]), [0.02, 0.01, 0.03, 0.02])
    gd = select(results.trials, phase="eval", method="gd", dataset="moons")
    assert not gd["target_reached"].any() and gd["epochs_to_target"].tolist() == [3.0] * 4
    tune = select(results.trials, phase="tune", method="adam", dataset="moons")
    assert tune["seconds_to_target"].isna().all()  # no calibrated seconds in tuning
    assert tune["epochs_to_target"].tolist() == [3.0] * 6


def test_extended_marks_the_lrs_outside_the_methods_grid(results):
    tune = select(results.trials, phase="tune", method="adam", dataset="moons")
    assert tune["lr"].tolist() == [0.01, 0.01, 0.1, 0.1, 1.0, 1.0]
    assert tune["extended"].tolist() == [False] * 4 + [True] * 2
    assert tune["seed"].tolist() == TUNING_SEEDS * 3
    assert not results.trials.loc[results.trials["method"] != "adam", "extended"].any()
    assert not results.evaluation["extended"].any()
    gd = select(results.trials, phase="tune", method="gd", dataset="moons")
    assert gd["hyperparameters"].tolist() == list(MOMENTUM * 2)


def test_curves_are_long_one_row_per_trial_and_epoch(results):
    curves = results.curves
    assert len(curves) == 3 * len(results.trials)
    row = select(curves, phase="eval", method="sgd", dataset="moons", seed=3)
    assert row["epoch"].tolist() == [0, 1, 2]
    assert row["lr"].tolist() == [0.1] * 3 and row["hyperparameters"].tolist() == ["{}"] * 3
    assert row["samples"].tolist() == [0.0, 60.0, 120.0]
    assert row["steps"].tolist() == [0.0, 2.0, 4.0]
    np.testing.assert_allclose(floats(row["seconds"]), [0.0, 0.01, 0.02])
    np.testing.assert_array_equal(floats(row["train_loss"]), [0.7, NAN, NAN])
    np.testing.assert_allclose(floats(row["val_loss"]), [0.75, NAN, NAN])
    tune = select(curves, phase="tune", method="gd", dataset="moons", lr=1.0)
    assert len(tune) == 6 and tune["seconds"].isna().all()
    assert tune["hyperparameters"].tolist() == [MOMENTUM[0]] * 3 + [MOMENTUM[1]] * 3
    np.testing.assert_allclose(floats(tune["train_loss"]), [0.7, 0.5, 0.4] * 2)
    assert 4 not in set(select(curves, phase="eval")["seed"])


# ------------------------------------------------------------------------------ summary


def test_summary_centers_and_intervals_come_from_the_evaluation_trials(results):
    summary = results.summary
    assert list(zip(summary["dataset"], summary["method"], strict=True)) == [
        ("moons", "adam"),
        ("moons", "gd"),
        ("moons", "sgd"),
        ("circles", "adam"),
        ("circles", "gd"),
        ("circles", "sgd"),
    ]
    adam = select(summary, dataset="moons", method="adam").iloc[0]
    assert (adam["lr"], adam["hyperparameters"], adam["n_seeds"]) == (0.1, "{}", 4)
    expected = {
        "test_loss": ([0.20, 0.25, 0.22, 0.30], True),
        "test_metric": ([0.9, 0.95, 1.0, 0.9], False),
        "final_train_loss": ([0.08, 1e-12, 0.2, 0.1], True),  # a zero loss at the floor
        "seconds_to_target": ([0.02, 0.01, 0.03, 0.02], True),
        "epochs_to_target": ([2.0, 1.0, 3.0, 2.0], True),
    }
    for criterion, (values, log) in expected.items():
        got = [adam[f"{criterion}_{part}"] for part in ("center", "lo", "hi")]
        want = metrics.confidence_interval(values, log=log)
        assert got == pytest.approx(want, rel=1e-9), criterion
    # geometric for losses, by hand; arithmetic for the metric
    assert adam["test_loss_center"] == pytest.approx((0.20 * 0.25 * 0.22 * 0.30) ** 0.25)
    assert adam["test_metric_center"] == pytest.approx(0.9375)
    assert adam["final_train_loss_center"] == pytest.approx((0.08 * 1e-12 * 0.2 * 0.1) ** 0.25)
    assert adam["test_loss_lo"] < adam["test_loss_center"] < adam["test_loss_hi"]


def test_summary_flags_edges_counts_tuning_trials_and_divergences(results):
    summary = results.summary.set_index(["dataset", "method"])
    # adam tried 0.01, 0.1 and 1.0: 0.1 is inside; gd's 1.0 and sgd's one-point grid are edges
    assert summary["lr_at_edge"].to_dict() == {
        ("moons", "adam"): False, ("moons", "gd"): True, ("moons", "sgd"): True,
        ("circles", "adam"): True, ("circles", "gd"): True, ("circles", "sgd"): False,
    }  # fmt: skip
    assert summary["tuning_trials"].tolist() == [6, 4, 2, 2, 2, 2]
    assert summary["n_seeds"].tolist() == [4, 4, 4, 4, 4, 0]
    assert summary["diverged_count"].tolist() == [0, 0, 1, 0, 0, 0]
    # every sgd candidate diverged on circles: tuned nothing, evaluated nothing
    lost = summary.loc[("circles", "sgd")]
    assert np.isnan(lost["lr"]) and lost["hyperparameters"] == ""
    assert lost[[c for c in summary.columns if c.endswith(("_center", "_lo", "_hi"))]].isna().all()
    assert summary.loc[("moons", "gd"), "hyperparameters"] == MOMENTUM[1]
    assert summary.loc[("moons", "gd"), "lr"] == 1.0
    sgd = summary.loc[("moons", "sgd")]  # the diverged seed counts at its row-0 loss 0.7
    want = metrics.confidence_interval([0.12, 0.2, 0.15, 0.7], log=True)
    assert sgd["final_train_loss_center"] == pytest.approx(want[0])


def test_summary_ranks_by_test_loss_with_ties_averaged(results):
    summary = results.summary.set_index(["dataset", "method"])
    # gd and sgd have the same test losses on moons: ranks 2 and 3 shared as 2.5
    assert summary["rank"].to_dict() == {
        ("moons", "adam"): 1.0, ("moons", "gd"): 2.5, ("moons", "sgd"): 2.5,
        ("circles", "adam"): 2.0, ("circles", "gd"): 1.0, ("circles", "sgd"): 3.0,
    }  # fmt: skip


# ------------------------------------------------------------------------------ comparisons


def test_comparisons_list_every_dataset_criterion_and_method_best_first(results):
    comparisons = results.comparisons
    assert len(comparisons) == 2 * 4 * 3
    assert comparisons["dataset"].tolist() == ["moons"] * 12 + ["circles"] * 12
    moons = select(comparisons, dataset="moons")
    assert moons["criterion"].tolist() == [c for c in stats.CRITERIA for _ in range(3)]
    for criterion in stats.CRITERIA:
        rows = select(moons, criterion=criterion)
        assert rows["method"].tolist() == ["adam", "gd", "sgd"], criterion
        assert rows["versus"].tolist() == ["adam"] * 3
        assert rows["verdict"][0] == "best" and rows["n_pairs"].tolist() == [4, 4, 4]
        assert rows.loc[0, ["rel_diff", "p_value", "p_adjusted"]].isna().all()
    circles = select(comparisons, dataset="circles", criterion="test_loss")
    assert circles["method"].tolist() == ["gd", "adam", "sgd"]
    assert circles["verdict"].tolist() == ["best", "equivalent", "inconclusive"]
    assert circles.loc[1, "rel_diff"] == pytest.approx(0.01)  # adam is 1% above gd
    assert circles["n_pairs"].tolist() == [4, 4, 0]  # sgd has no evaluation trial there
    assert np.isnan(circles.loc[2, "rel_diff"])


def test_a_comparison_by_hand_the_log_ratio_paired_by_seed(results):
    gd = select(results.comparisons, dataset="moons", criterion="test_loss", method="gd").iloc[0]
    d = np.log([0.40 / 0.20, 0.55 / 0.25, 0.44 / 0.22, 0.60 / 0.30])  # log 2, 2.2, 2, 2
    mean, se = d.mean(), d.std(ddof=1) / 2
    assert mean == pytest.approx(np.log(2) + np.log(1.1) / 4)
    assert se == pytest.approx(np.log(1.1) / 4)
    assert gd["rel_diff"] == pytest.approx(2 * 1.1**0.25 - 1)  # exp(mean log ratio) - 1
    m = 3  # methods: a one-sided level of 0.05 / (m (m - 1)) for worse
    p = scipy_stats.t.sf(mean / se, 3)
    assert gd["p_value"] == pytest.approx(p, rel=1e-6)
    assert gd["p_adjusted"] == pytest.approx(m * (m - 1) * p, rel=1e-6)
    c = scipy_stats.t.isf(0.05 / (m * (m - 1)), 3)
    assert gd["rel_diff_lo"] == pytest.approx(np.expm1(mean - c * se))
    assert gd["rel_diff_hi"] == pytest.approx(np.expm1(mean + c * se))
    assert gd["verdict"] == "worse" and gd["versus"] == "adam" and gd["n_pairs"] == 4


def test_comparisons_use_floored_values_of_the_evaluation_trials(results):
    error = select(results.comparisons, dataset="moons", criterion="test_error")
    # adam's perfect seed 2 counts at one test sample's worth, 1 / 40, not at zero
    assert error.loc[0, "center"] == pytest.approx((0.1 * 0.05 * (1 / N_TEST) * 0.1) ** 0.25)
    rows = results.evaluation[results.evaluation["dataset"] == "moons"]
    values = rows.pivot(index="seed", columns="method", values="test_error")[["adam", "gd", "sgd"]]
    want = stats.compare_to_best(values.apply(metrics.floored, floor=1 / N_TEST), margin=0.05)
    pd.testing.assert_frame_equal(
        error[stats.COMPARISON_COLUMNS], want, check_dtype=False, check_exact=False
    )
    seconds = select(results.comparisons, dataset="moons", criterion="seconds_to_target")
    # adam (0.02, 0.01, 0.03, 0.02) against gd's censored 0.03: too spread to call worse
    assert seconds["verdict"].tolist() == ["best", "inconclusive", "inconclusive"]
    assert seconds.loc[1, "rel_diff"] == pytest.approx(
        np.exp(np.mean(np.log([1.5, 3.0, 1.0, 1.5]))) - 1
    )


# ------------------------------------------------------------------------------ ranking


def test_ranking_averages_ranks_across_datasets_and_counts_verdicts_on_test_loss(results):
    ranking = results.ranking
    assert list(ranking.columns) == PINNED["ranking"].split()
    # moons: adam 1, gd 2.5, sgd 2.5; circles: gd 1, adam 2, sgd (no evaluation) last, 3
    assert ranking.to_dict("list") == {
        "method": ["adam", "gd", "sgd"],
        "mean_rank": [1.5, 1.75, 2.75],
        "best": [1, 1, 0],
        "equivalent": [1, 0, 0],
        "inconclusive": [0, 0, 1],  # sgd: no evaluation pair on circles
        "worse": [0, 1, 1],
        "datasets": [2, 2, 2],
    }
    friedman = results.friedman
    assert friedman.n_datasets == 2
    want = scipy_stats.friedmanchisquare([1, 2], [2.5, 1], [2.5, 3])
    assert friedman.statistic == pytest.approx(want.statistic)
    assert friedman.p_value == pytest.approx(want.pvalue)
    assert friedman.separated == []


# ------------------------------------------------------------------------------ files


def test_csv_tables_hold_the_pinned_columns_and_the_same_values(results):
    folder = results.write_tables()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.csv" for n in PINNED)
    for name, pinned in PINNED.items():
        table = pd.read_csv(folder / f"{name}.csv", keep_default_na=False, na_values=[""])
        frame = getattr(results, name).reset_index(drop=True).replace({"": NAN})  # as CSV
        assert set(pinned.split()) <= set(table.columns), name
        assert list(table.columns) == list(frame.columns), name
        pd.testing.assert_frame_equal(table, frame, check_dtype=False, obj=name)
    summary = pd.read_csv(folder / "summary.csv")
    assert json.loads(summary.loc[1, "hyperparameters"]) == {"momentum": 0.9}


def test_compare_reads_the_centers_and_flags_intervals_that_do_not_overlap(tmp_path, results):
    b = write_store(tmp_path / "b", adam_scale=3.0)
    table = compare(results, b)
    adam = select(table, dataset="moons", method="adam").iloc[0]
    center = (0.20 * 0.25 * 0.22 * 0.30) ** 0.25
    assert adam["test_loss_a"] == pytest.approx(center)
    assert adam["test_loss_b"] == pytest.approx(3 * center)
    assert adam["test_loss_delta"] == pytest.approx(2 * center)
    assert adam["changed"] == "test_loss"
    gd = select(table, dataset="moons", method="gd").iloc[0]
    assert (gd["lr_a"], gd["lr_b"], gd["test_loss_delta"], gd["changed"]) == (1.0, 1.0, 0.0, "")


def test_loading_a_folder_without_results_says_so(tmp_path):
    with pytest.raises(StoreError, match="no results folder"):
        load(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="no results store"):
        load(tmp_path)
    Store(tmp_path / "runs.sqlite", create=True).close()
    with pytest.raises(StoreError, match="records no suite"):
        load(tmp_path)
    (tmp_path / "old").mkdir()
    write_old_store(tmp_path / "old" / "runs.sqlite", schema=1)
    with pytest.raises(StoreError, match="older backprop-bench"):
        load(tmp_path / "old")


def test_a_suite_whose_populations_are_not_stored_yet_gives_empty_tables(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.set_meta(
            suite={
                "name": "hand",
                "seeds": SEEDS,
                "populations": [
                    {
                        "key": "later",
                        "phase": "tune",
                        "method": "adam",
                        "dataset": "moons",
                        "trials": 4,
                    }
                ],
                "methods": {},
                "datasets": {},
            }
        )
    results = load(tmp_path)
    assert results.missing == ["later"]
    for name, pinned in PINNED.items():
        table = getattr(results, name)
        assert table.empty and set(pinned.split()) <= set(table.columns), name
