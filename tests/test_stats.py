"""bench.stats and bench.metrics.confidence_interval: error rates and power by simulation,
Friedman and Nemenyi against published and scipy values, and the edge cases by hand.

Every simulation has a fixed RNG seed, so each rate below is one number that either meets its
bound or not. The verdict simulations draw value = base * (1 + planted) * exp(0.05 z) per
method and seed, times a per-seed factor exp(0.5 z) shared by all methods (which pairing by
seed cancels): a 5% per-seed spread of each method, so a log ratio's sd is 0.05 * sqrt(2)
(the equivalence checks use a 0.1% and a 1% spread instead, as their comments say).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special
from scipy import stats as scipy_stats

from bench import stats
from bench.metrics import confidence_interval

DRAWS = 1000
SEEDS = 10
SPREAD = 0.05  # per-method, per-seed log spread of the verdict simulations
ALPHA = 0.05
MARGIN = 0.05
POWER_DRAWS = 500  # for checking seeds_needed: a power near 0.8 then has a simulation sd of 0.018


def simulate(planted: list[float], seed: int, spread: float = SPREAD) -> list[pd.DataFrame]:
    """DRAWS tables of SEEDS seeds x len(planted) methods m0, m1, ...: 2.0 * (1 + planted)
    * exp(spread z) * exp(0.5 z_seed), z_seed shared by the methods of a seed."""
    rng = np.random.default_rng(seed)
    m = len(planted)
    noise = np.exp(spread * rng.standard_normal((DRAWS, SEEDS, m)))
    shared = np.exp(0.5 * rng.standard_normal((DRAWS, SEEDS, 1)))
    values = 2.0 * (1 + np.asarray(planted)) * noise * shared
    columns = [f"m{i}" for i in range(m)]
    return [pd.DataFrame(v, columns=columns) for v in values]


def verdicts(planted: list[float], seed: int, spread: float = SPREAD) -> pd.DataFrame:
    """compare_to_best of every simulated draw, stacked, with a ``draw`` column."""
    tables = [stats.compare_to_best(v, MARGIN, ALPHA) for v in simulate(planted, seed, spread)]
    table = pd.concat(tables, ignore_index=True)
    table["draw"] = np.repeat(np.arange(DRAWS), len(planted))
    return table


def rate(flags: pd.Series, by: pd.Series) -> float:
    """The share of draws where any row is flagged."""
    return float(flags.groupby(by).any().mean())


# ------------------------------------------------------------------------------ intervals


@pytest.mark.slow
@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("log", [False, True])
def test_confidence_interval_covers_the_true_center_about_95_percent(n, log):
    # 2000 draws: a coverage of 0.95 has a simulation sd of 0.0049, so the bounds sit 4 sd
    # away; a too narrow (e.g. normal instead of t) or too wide interval fails. Normal
    # samples sd 1 around 3 (log=False); lognormal sigma = 1 around a median of e (log=True).
    rng = np.random.default_rng(100 + n + 10 * log)
    draws = 2000
    if log:
        samples, truth = np.exp(1 + rng.standard_normal((draws, n))), np.e
    else:
        samples, truth = 3 + rng.standard_normal((draws, n)), 3.0
    covered = 0
    for sample in samples:
        center, lo, hi = confidence_interval(sample, level=0.95, log=log)
        assert lo < center < hi
        covered += lo <= truth <= hi
    assert 0.93 <= covered / draws <= 0.97


def test_confidence_interval_is_nan_below_two_values_or_with_a_non_finite_one():
    cases = [[], [1.0], [1.0, np.nan, 2.0], [1.0, np.inf], [1.0, -np.inf, 2.0]]
    for values in cases:
        for log in (False, True):
            assert np.all(np.isnan(confidence_interval(values, log=log))), (values, log)
    assert np.all(np.isnan(confidence_interval([1.0, 0.0, 2.0], log=True)))  # log of 0
    center, lo, hi = confidence_interval([1.0, 4.0], log=True)
    assert center == pytest.approx(2.0)
    assert lo * hi == pytest.approx(4.0)  # symmetric in log around the geometric mean


# ------------------------------------------------------------------------------ verdicts


@pytest.mark.slow
def test_two_identical_methods_are_rarely_called_worse():
    table = verdicts([0.0, 0.0], seed=1)
    others = table[table["verdict"] != "best"]
    assert rate(others["verdict"] == "worse", others["draw"]) <= 0.06
    # The margin alone filters most of these; without it the corrected test still holds
    # alpha (0.05 expected, exact for two methods), whereas the one-sided test against the
    # observed best, the m - 1 = 1 factor of Hsu's comparisons with the best, rejects about
    # twice as often (0.10 expected): the observed best is the lower one by construction.
    assert rate(others["p_adjusted"] < ALPHA, others["draw"]) <= 0.065
    assert rate(others["p_value"] < ALPHA, others["draw"]) > 0.065


@pytest.mark.slow
def test_six_identical_methods_rarely_give_any_worse_and_the_correction_is_what_does_it():
    table = verdicts([0.0] * 6, seed=2)
    others = table[table["verdict"] != "best"]
    worse, draw = others["verdict"] == "worse", others["draw"]
    assert rate(worse, draw) <= 0.10  # 0.03 expected (20,000-draw simulation)
    assert rate(others["p_adjusted"] < ALPHA, draw) <= 0.06  # significance, margin ignored
    uncorrected = (others["p_value"] < ALPHA) & (others["rel_diff"] > MARGIN)
    assert rate(uncorrected, draw) > 0.10  # 0.23 expected
    hsu_bonferroni = others["p_value"] * 5 < ALPHA  # factor m - 1: 0.17 expected
    assert rate(hsu_bonferroni, draw) > 0.10


@pytest.mark.slow
def test_a_planted_ten_percent_difference_between_two_methods_is_found():
    table = verdicts([0.0, 0.10], seed=3)
    planted = table[table["method"] == "m1"]
    assert (planted["verdict"] == "worse").mean() >= 0.90  # 0.96 expected


@pytest.fixture(scope="module")
def six_with_one_planted() -> pd.DataFrame:
    """Six methods, the last 10% worse: found in 0.84 of draws, so both verdicts occur."""
    return verdicts([0.0] * 5 + [0.10], seed=4)


@pytest.mark.slow
def test_a_planted_ten_percent_difference_among_six_methods_is_found_and_only_it(
    six_with_one_planted,
):
    table = six_with_one_planted
    planted = table[table["method"] == "m5"]
    assert (planted["verdict"] == "worse").mean() >= 0.78  # 0.84 expected
    others = table[(table["method"] != "m5") & (table["verdict"] != "best")]
    assert rate(others["verdict"] == "worse", others["draw"]) <= 0.05


@pytest.mark.slow
def test_worse_agrees_with_the_interval_and_the_adjusted_p_value(six_with_one_planted):
    rows = six_with_one_planted[six_with_one_planted["verdict"] != "best"]
    worse = rows["verdict"] == "worse"
    assert worse.any() and not worse.all()
    significant = rows["rel_diff_lo"] > 0
    pd.testing.assert_series_equal(
        worse, significant & (rows["rel_diff"] > MARGIN), check_names=False
    )
    pd.testing.assert_series_equal(significant, rows["p_adjusted"] < ALPHA, check_names=False)
    assert np.all(rows["rel_diff_lo"] <= rows["rel_diff"])
    assert np.all(rows["rel_diff"] <= rows["rel_diff_hi"])


@pytest.mark.slow
def test_a_tiny_difference_at_a_tiny_spread_is_equivalent_and_never_worse():
    table = verdicts([0.0, 0.001], seed=6, spread=0.001)
    others = table[table["verdict"] != "best"]
    assert (others["verdict"] == "equivalent").mean() >= 0.90
    assert not (others["verdict"] == "worse").any()


@pytest.mark.slow
def test_a_difference_at_the_margin_is_rarely_equivalent():
    # TOST at 5% per side: a true ratio of exactly 1 + margin is called equivalent about 5%
    # of the time at a 1% spread; an 80% interval instead of 90% would give about 10%.
    table = verdicts([0.0, MARGIN], seed=7, spread=0.01)
    others = table[table["verdict"] != "best"]
    assert (others["verdict"] == "equivalent").mean() <= 0.07


def test_statistics_by_hand_against_a_paired_t_test():
    values = pd.DataFrame(
        {"a": [1.0, 1.1, 1.2, 1.0, 0.9], "b": [1.3, 1.2, 1.5, 1.2, 1.2], "c": [2.0] * 5}
    )
    table = stats.compare_to_best(values, margin=0.05, alpha=0.05).set_index("method")
    assert list(table.index) == ["a", "b", "c"]
    d = np.log(values["b"] / values["a"])
    test = scipy_stats.ttest_1samp(d, 0.0, alternative="greater")
    row = table.loc["b"]
    assert row["versus"] == "a"
    assert row["n_pairs"] == 5
    assert row["center"] == pytest.approx(np.exp(np.log(values["b"]).mean()))
    assert row["rel_diff"] == pytest.approx(np.exp(d.mean()) - 1)
    assert row["p_value"] == pytest.approx(test.pvalue)
    assert row["p_adjusted"] == pytest.approx(6 * test.pvalue)  # m (m - 1) = 6
    half = scipy_stats.t.ppf(1 - 0.05 / 6, 4) * d.std(ddof=1) / np.sqrt(5)
    assert row["rel_diff_lo"] == pytest.approx(np.exp(d.mean() - half) - 1)
    assert row["rel_diff_hi"] == pytest.approx(np.exp(d.mean() + half) - 1)
    assert row["verdict"] == "worse"
    assert table.loc["c", "rel_diff_lo"] > 0
    assert table.loc["c", "verdict"] == "worse"


def test_best_row_comes_first_with_its_own_count_and_no_statistics():
    values = pd.DataFrame({"x": [3.0, 3.0, 3.0, 3.0], "y": [1.0, np.nan, 1.0, 1.0]})
    table = stats.compare_to_best(values)
    assert list(table.columns) == stats.COMPARISON_COLUMNS
    best = table.iloc[0]
    assert best[["method", "versus", "n_pairs", "verdict"]].tolist() == ["y", "y", 3, "best"]
    assert best["center"] == pytest.approx(1.0)
    assert best[["rel_diff", "rel_diff_lo", "rel_diff_hi", "p_value", "p_adjusted"]].isna().all()
    assert set(table["verdict"]) <= set(stats.VERDICTS)


def test_ties_for_best_go_to_the_first_column_and_identical_values_are_equivalent():
    values = pd.DataFrame({"p": [1.0, 2.0, 3.0], "q": [1.0, 2.0, 3.0]})
    table = stats.compare_to_best(values)
    assert list(table["method"]) == ["p", "q"]
    assert table.loc[1, "verdict"] == "equivalent"  # zero spread, zero difference
    assert table.loc[1, "rel_diff"] == 0.0
    assert table.loc[1, "p_value"] == 0.5


def test_nan_pairs_are_dropped_and_fewer_than_three_pairs_are_inconclusive():
    values = pd.DataFrame(
        {
            "best": [1.0, 1.0, 1.0, np.nan, 1.0],
            "three": [2.0, 2.1, np.inf, 2.0, 2.2],  # pairs at seeds 0, 1, 4
            "two": [5.0, np.nan, np.nan, 5.0, 5.1],  # pairs at seeds 0, 4
            "none": [np.nan] * 5,
        }
    )
    table = stats.compare_to_best(values).set_index("method")
    assert table["n_pairs"].to_dict() == {"best": 4, "three": 3, "two": 2, "none": 0}
    assert table.loc["three", "verdict"] == "worse"
    assert table.loc["three", "rel_diff"] == pytest.approx(
        np.exp(np.log([2.0, 2.1, 2.2]).mean()) - 1
    )
    assert table.loc["two", "verdict"] == "inconclusive"
    assert table.loc["two", "rel_diff"] == pytest.approx(np.sqrt(5.0 * 5.1) - 1)
    assert table.loc["two", ["rel_diff_lo", "p_value", "p_adjusted"]].isna().all()
    assert table.loc["none", "verdict"] == "inconclusive"
    assert table.loc["none", ["center", "rel_diff"]].isna().all()


def test_one_method_or_no_finite_value_at_all():
    single = stats.compare_to_best(pd.DataFrame({"only": [1.0, np.nan, 2.0]}))
    assert single[["method", "versus", "n_pairs", "verdict"]].values.tolist() == [
        ["only", "only", 2, "best"]
    ]
    empty = stats.compare_to_best(pd.DataFrame({"a": [np.nan, np.nan], "b": [np.nan, np.inf]}))
    assert list(empty["method"]) == ["a", "b"]
    assert list(empty["verdict"]) == ["inconclusive", "inconclusive"]
    assert list(empty["versus"]) == ["", ""]
    assert list(empty["n_pairs"]) == [0, 0]


def test_bad_arguments_are_named_in_the_error():
    values = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 0.0, 3.0]})
    with pytest.raises(ValueError, match=r"positive, got 0.0 for method 'b' at seed 1"):
        stats.compare_to_best(values)
    with pytest.raises(ValueError, match=r"margin must be in \(0, 1\), got 1.5"):
        stats.compare_to_best(values.abs() + 1, margin=1.5)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\), got 0"):
        stats.compare_to_best(values.abs() + 1, alpha=0)


# ------------------------------------------------------------------------------ across datasets


def test_nemenyi_critical_difference_matches_demsar():
    # Demsar (2006), section 3.2.2: k = 4 classifiers, N = 14 datasets, q_0.05 = 2.569, CD = 1.25.
    scores = pd.DataFrame(np.random.default_rng(8).random((14, 4)), columns=list("abcd"))
    result = stats.friedman(scores)
    assert result.n_datasets == 14
    q = result.critical_difference / np.sqrt(4 * 5 / (6 * 14))
    assert q == pytest.approx(2.569, abs=5e-4)
    assert result.critical_difference == pytest.approx(1.25, abs=5e-3)


@pytest.mark.parametrize("k", [2, 3, 4, 6, 10, 20, 50, 100])
def test_range_quantile_matches_scipy_studentized_range_at_infinite_df(k):
    for p in (0.5, 0.9, 0.95, 0.99, 0.999):
        expected = scipy_stats.studentized_range.ppf(p, k, np.inf)
        assert stats.range_quantile(p, k) == pytest.approx(expected, rel=1e-11)
    if k == 2:  # the range of two normals is |z1 - z2|, sqrt(2) times a half-normal
        exact = np.sqrt(2) * scipy_stats.norm.ppf(0.975)
        assert stats.range_quantile(0.95, 2) == pytest.approx(exact, rel=1e-13)


def test_range_quantile_rejects_what_has_no_quantile():
    with pytest.raises(ValueError, match="p must be in"):
        stats.range_quantile(1.0, 4)
    with pytest.raises(ValueError, match="k must be >= 2"):
        stats.range_quantile(0.95, 1)


def test_the_special_functions_used_give_scipy_stats_numbers_exactly():
    # bench.stats and the figures call scipy.special instead of importing scipy.stats
    rng = np.random.default_rng(12)
    q, df = rng.uniform(1e-6, 0.5, 500), rng.integers(1, 10_000, 500).astype(float)
    x, k = rng.normal(0, 5, 500), rng.integers(1, 30, 500).astype(float)
    assert np.array_equal(-special.stdtrit(df, q), scipy_stats.t.isf(q, df))
    assert np.array_equal(special.stdtrit(df, 1 - q), scipy_stats.t.ppf(1 - q, df))
    assert np.array_equal(special.ndtr(x), scipy_stats.norm.cdf(x))
    assert np.array_equal(special.chdtrc(k, abs(x) * 5), scipy_stats.chi2.sf(abs(x) * 5, k))
    scores = rng.integers(0, 4, (40, 6)).astype(float)
    scores[scores == 3] = np.inf
    ranks = stats.friedman(pd.DataFrame(scores)).ranks.to_numpy()
    assert np.array_equal(ranks, scipy_stats.rankdata(scores, axis=1))


def test_friedman_statistic_matches_scipy_with_ties():
    table = np.array([[1, 2, 2, 4], [3, 1, 2, 2], [1, 1, 1, 2], [4, 3, 2, 1], [2, 1, 3, 3.0]])
    result = stats.friedman(pd.DataFrame(table, columns=list("abcd")))
    expected = scipy_stats.friedmanchisquare(*table.T)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_ranks_average_ties_and_put_nan_last():
    scores = pd.DataFrame(
        {"a": [1.0, 0.5, np.nan], "b": [1.0, np.nan, 0.1], "c": [2.0, np.inf, 0.2]},
        index=["tied", "nan_and_inf", "a_nan"],
    )
    ranks = stats.friedman(scores).ranks
    assert ranks.loc["tied"].tolist() == [1.5, 1.5, 3.0]
    assert ranks.loc["nan_and_inf"].tolist() == [1.0, 2.5, 2.5]
    assert ranks.loc["a_nan"].tolist() == [3.0, 1.0, 2.0]


def test_separated_pairs_differ_by_more_than_the_cd_only_when_friedman_rejects():
    scores = pd.DataFrame(np.tile([1.0, 2.0, 3.0, 4.0], (14, 1)), columns=list("abcd"))
    result = stats.friedman(scores)  # mean ranks 1, 2, 3, 4 and CD 1.25
    assert result.mean_rank.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert result.p_value < 1e-6
    assert result.separated == [("a", "c"), ("a", "d"), ("b", "d")]
    noise = pd.DataFrame(np.random.default_rng(9).random((6, 4)), columns=list("abcd"))
    noisy = stats.friedman(noise)
    assert noisy.p_value > 0.05 and noisy.separated == []


def test_friedman_needs_three_methods_and_two_datasets_and_skips_empty_datasets():
    two = stats.friedman(pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 1.0]}))
    assert np.isnan(two.p_value) and np.isnan(two.statistic)
    one = stats.friedman(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}))
    assert np.isnan(one.p_value) and one.separated == []
    empty_row = pd.DataFrame(
        {"a": [1.0, np.nan, 1.0], "b": [2.0, np.nan, 3.0], "c": [3, np.nan, 2]}
    )
    assert stats.friedman(empty_row).n_datasets == 2


# ------------------------------------------------------------------------------ seeds needed


def exact_sample(mu: float, sigma: float, n: int = 20) -> np.ndarray:
    """n values with mean exactly mu and standard deviation (ddof=1) exactly sigma."""
    z = np.random.default_rng(10).standard_normal(n)
    return mu + sigma * (z - z.mean()) / z.std(ddof=1)


@pytest.mark.slow
def test_seeds_needed_for_worse_reaches_the_stated_power_by_simulation():
    # A true log difference of 0.08 (8.3%) at the 5% per-method spread (log-ratio sd 0.0707).
    n = stats.seeds_needed(exact_sample(0.08, SPREAD * np.sqrt(2)), MARGIN, n_comparisons=1)
    assert n == 9
    rng = np.random.default_rng(11)
    worse = 0
    for _ in range(POWER_DRAWS):
        x = np.exp(np.array([0.0, 0.08]) + SPREAD * rng.standard_normal((n, 2)))
        table = stats.compare_to_best(pd.DataFrame(x, columns=["a", "b"]))
        worse += table.loc[1, "verdict"] == "worse"
    assert 0.72 <= worse / POWER_DRAWS <= 0.90  # 0.80 stated, 0.82 in a 4000-draw simulation


@pytest.mark.slow
def test_seeds_needed_for_equivalence_reaches_about_the_stated_power_by_simulation():
    # Two identical methods, log-ratio sd 0.0707. The observed best is the lower of the two,
    # which costs the equivalence test a little: 0.79 in a 4000-draw simulation, 0.80 stated.
    n = stats.seeds_needed(exact_sample(0.0, SPREAD * np.sqrt(2)), MARGIN, n_comparisons=1)
    assert n == 19
    rng = np.random.default_rng(12)
    equivalent = 0
    for _ in range(POWER_DRAWS):
        x = np.exp(SPREAD * rng.standard_normal((n, 2)))
        table = stats.compare_to_best(pd.DataFrame(x, columns=["a", "b"]))
        equivalent += table.loc[1, "verdict"] == "equivalent"
    assert 0.70 <= equivalent / POWER_DRAWS <= 0.88


def test_seeds_needed_matches_the_closed_form_and_is_monotone():
    # Large n: t quantiles are close to normal ones, n ~ ((z_{1-alpha/2} + z_power) sigma / mu)^2.
    z = scipy_stats.norm.ppf
    closed = ((z(1 - 0.05 / 2) + z(0.8)) * 1.0 / 0.2) ** 2
    assert stats.seeds_needed(exact_sample(0.2, 1.0), 0.05, 1) == pytest.approx(closed, rel=0.03)

    def needed(mu, sigma=0.07, comparisons=1, margin=MARGIN):
        return stats.seeds_needed(exact_sample(mu, sigma), margin, comparisons)

    assert needed(0.06) > needed(0.08) > needed(0.12)  # worse: a larger difference, fewer
    assert needed(0.08, sigma=0.1) > needed(0.08)  # a larger spread, more
    assert needed(0.08, comparisons=5) > needed(0.08)  # more comparisons, more
    assert needed(0.03) > needed(0.02) > needed(0.0)  # equivalence: nearer the bound, more
    assert needed(-0.03) > needed(-0.02)


def test_seeds_needed_gives_none_when_it_cannot_be_estimated():
    assert stats.seeds_needed([0.1], MARGIN, 1) is None
    assert stats.seeds_needed([0.1, np.nan, np.inf], MARGIN, 1) is None
    assert stats.seeds_needed([0.0, 0.0, 0.0], MARGIN, 1) is None  # no spread, no difference
    assert stats.seeds_needed([0.2, 0.2, 0.2], MARGIN, 1) == 3  # no spread: the fewest pairs
    assert stats.seeds_needed(exact_sample(np.log1p(MARGIN), 0.07), MARGIN, 1) is None
    assert stats.seeds_needed(exact_sample(0.051, 0.5), MARGIN, 1) is None  # > 10,000
    with pytest.raises(ValueError, match="n_comparisons must be >= 1, got 0"):
        stats.seeds_needed([0.1, 0.2], MARGIN, 0)
    with pytest.raises(ValueError, match=r"power must be in \(0, 1\), got 1"):
        stats.seeds_needed([0.1, 0.2], MARGIN, 1, power=1)


def test_a_shared_variance_widens_the_interval_that_pairing_cannot_narrow():
    """Seconds = epochs x one calibrated cost per method: with equal epochs on every seed the
    per-seed log ratio has zero spread, and only the calibrations' own noise is left."""
    values = pd.DataFrame({"a": [1.0] * 10, "b": [1.1] * 10})
    certain = stats.compare_to_best(values).set_index("method")
    assert certain.loc["b", "verdict"] == "worse"
    assert certain.loc["b", "rel_diff_lo"] == pytest.approx(0.1)
    noisy = stats.compare_to_best(values, shared_variance=[0.05**2, 0.05**2]).set_index("method")
    se = np.sqrt(2) * 0.05  # both methods' calibrations, log scale
    crit = scipy_stats.t.isf(0.05 / 2, 9)  # m (m - 1) = 2 one-sided tests
    assert noisy.loc["b", "rel_diff_lo"] == pytest.approx(np.expm1(np.log(1.1) - crit * se))
    assert noisy.loc["b", "verdict"] == "inconclusive"
