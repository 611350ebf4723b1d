"""Verdicts for the report: each method against the best, paired by seed, and ranks across datasets.

Per dataset and criterion (``compare_to_best``) the best method is the one with the lowest
geometric mean, and every other method is compared with it on the per-seed log ratio
log(other / best), so that whatever a seed does to all methods alike cancels. Across datasets
(``friedman``) methods are ranked per dataset, tested with the Friedman test and separated
with the Nemenyi critical difference. ``seeds_needed`` says how many evaluation seeds would
settle a comparison that came out inconclusive.

Why ``worse`` is corrected as for all m (m - 1) / 2 pairs. A ``worse`` verdict claims that a
method is strictly worse than the truly best one; it is wrong only when the method is itself
a truly best one (tied best when several are). Comparing with the *observed* best is what
breaks the naive rule: with two identical methods the observed best is the lower one by
construction, so a one-sided test at alpha against it rejects as often as a two-sided test,
2 alpha. A wrong claim needs a truly best method i and another method j with the paired
t(i, j) above the critical value. When t methods tie for best, the t (t - 1) / 2 pairs within
the tied set contribute both tails (t(i, j) and t(j, i) on the same seeds) and the t (m - t)
pairs with the others one tail each: t (m - 1) one-sided tails in all, at most m (m - 1).
So a one-sided level of alpha / (m (m - 1)) bounds the chance of any wrong ``worse`` of a
dataset and criterion by alpha, whatever the means, the per-method spreads and the missing
seeds. Hsu's multiple comparisons with the best use the one-sided correction for m - 1
comparisons: that bounds the claim "not the unique best", which a tied-best method
satisfies, not "worse".

Simulated (20,000 draws, 10 seeds, each method with a 5% per-seed log spread; significance
alone, without the margin), the chance that m identical methods give any significant
difference was: factor m - 1 (Hsu with Bonferroni) 0.099 (m = 2), 0.17 (m = 6), 0.22
(m = 10); factor 2 (m - 1) 0.052, 0.096, 0.13; Tukey's studentized range with n - 1 df on the
paired t 0.052, 0.061, 0.074 (liberal: the pairs' variances are estimated apart); factor
m (m - 1), used here, 0.052, 0.034, 0.031. Its power to call a planted 10% difference worse
was 0.96 with 2 methods and 0.84 with 6 (Tukey 0.91, factor m - 1 0.98).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy.optimize import brentq

# scipy.special's functions, not scipy.stats' distributions: they are what scipy.stats
# computes with (t.isf(q, df) = -stdtrit(df, q), t.ppf = stdtrit, norm.cdf = ndtr,
# chi2.sf(x, df) = chdtrc(df, x): the same numbers, tests/test_stats.py), and importing
# scipy.stats takes half a second, a tenth of `bench report`'s.

CRITERIA = ("test_loss", "test_error", "final_train_loss", "seconds_to_target")
VERDICTS = ("best", "equivalent", "inconclusive", "worse")
COMPARISON_COLUMNS = [
    "method",
    "versus",
    "n_pairs",
    "center",
    "rel_diff",
    "rel_diff_lo",
    "rel_diff_hi",
    "p_value",
    "p_adjusted",
    "verdict",
]
_STATISTICS = COMPARISON_COLUMNS[4:9]  # rel_diff .. p_adjusted: NaN on the best's row
MIN_PAIRS = 3  # with fewer pairs than this every verdict but ``best`` is ``inconclusive``
MAX_SEEDS = 10_000  # seeds_needed returns None above this


def _check_fraction(name: str, value: float) -> None:
    """Raise ValueError unless 0 < value < 1."""
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def _worse_tail(n_methods: int, alpha: float) -> float:
    """The one-sided level of each ``worse`` test: alpha / (m (m - 1)), m >= 2 methods."""
    return alpha / (n_methods * (n_methods - 1))


# ------------------------------------------------------------------------------ against the best


def compare_to_best(
    values: pd.DataFrame,
    margin: float = 0.05,
    alpha: float = 0.05,
    shared_variance: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Each method against the best of one dataset and criterion, paired by evaluation seed.

    values: index = evaluation seed, columns = method names, positive floats (already
    floored by the caller), NaN where missing (a non-finite value counts as missing).
    Returns one row per method with COMPARISON_COLUMNS, the best first, then the others in
    column order.

    center: each method's geometric mean over its finite values, exp(mean_s log v_s). The
    best is the lowest center (ties: the first column); its row has versus = itself,
    n_pairs = its count of finite values, verdict ``best`` and NaN statistics.

    Every other method is paired with the best on the seeds where both are finite
    (n_pairs of them), d_s = log(v_s / best_s), with mean d, standard deviation s_d and
    se = s_d / sqrt(n):

        rel_diff             = exp(d) - 1
        p_value              = P(T_{n-1} > d / se)        one-sided, "other is worse"
        p_adjusted           = min(1, m (m - 1) p_value)
        rel_diff_lo, _hi     = exp(d -+ c se) - 1,  c = t_{1 - alpha / (m (m - 1)), n-1}

    where m is the number of methods with a finite value. [rel_diff_lo, rel_diff_hi] is the
    two-sided Bonferroni interval that holds simultaneously, with probability 1 - alpha, for
    all m (m - 1) / 2 pairwise ratios, so it stays valid although the best was picked from
    the same data (see the module docstring for why the factor is m (m - 1), not m - 1).
    Its lower end is the corrected one-sided bound of the ``worse`` test. Zero spread gives
    d / se = +-inf (p 0 or 1), or 0 (p 0.5) when d = 0 too. Verdicts:

        worse         rel_diff_lo > 0 (i.e. p_adjusted < alpha) and rel_diff > margin
        equivalent    exp(d -+ t_{1 - alpha, n-1} se) - 1 lies inside (-margin, +margin):
                      two one-sided tests at alpha each, the 90% interval at alpha = 0.05
                      (not reported: it is narrower than rel_diff_lo .. rel_diff_hi)
        inconclusive  otherwise, and always with n_pairs < 3 (rel_diff_lo, _hi, p_value and
                      p_adjusted are then NaN; rel_diff is NaN with no pair at all)

    A method with no finite value is inconclusive with n_pairs 0. When no method has a
    finite value there is no best: every row is inconclusive and versus is empty.

    shared_variance: per method (column order), the variance of a log-scale factor common to
    all of its values, such as the calibrated cost per epoch that turns each seed's epochs
    into seconds: pairing cannot cancel it, so se^2 = s_d^2 / n + v_method + v_best.
    """
    _check_fraction("margin", margin)
    _check_fraction("alpha", alpha)
    methods = list(values.columns)
    x = values.to_numpy(dtype=float)
    bad = ~np.isnan(x) & (x <= 0)
    if bad.any():
        seed, column = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(
            f"values must be positive, got {float(x[seed, column])!r} for method "
            f"{methods[column]!r} at seed {values.index[seed]}"
        )
    finite = np.isfinite(x)
    logs = np.log(np.where(finite, x, 1.0))
    count = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = np.exp(np.where(finite, logs, 0.0).sum(axis=0) / count)
    if not count.any():
        return pd.DataFrame(
            {
                "method": methods,
                "versus": "",
                "n_pairs": count,
                "center": center,
                **{column: np.full(len(methods), np.nan) for column in _STATISTICS},
                "verdict": "inconclusive",
            },
            columns=COMPARISON_COLUMNS,
        )
    best = int(np.nanargmin(center))

    paired = finite & finite[:, [best]]
    n = paired.sum(axis=0)
    d = np.where(paired, logs - logs[:, [best]], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = d.sum(axis=0) / n
        se = np.sqrt(np.where(paired, (d - mean) ** 2, 0.0).sum(axis=0) / (n - 1) / n)
        if shared_variance is not None:
            shared = np.nan_to_num(np.asarray(shared_variance, dtype=float))
            se = np.sqrt(se**2 + shared + shared[best])
        t_stat = np.where(se > 0, mean / se, np.sign(mean) * np.inf)
    t_stat[(se == 0) & (mean == 0)] = 0.0
    testable = n >= MIN_PAIRS
    testable[best] = False

    n_methods = int((count > 0).sum())
    tail = _worse_tail(n_methods, alpha) if n_methods >= 2 else alpha
    df = np.maximum(n - 1, 1)
    # scipy.special's Student t CDF and its inverse, the functions behind scipy.stats.t,
    # without its argument checks (a tenth of the time): sf(t) = stdtr(df, -t) and
    # isf(q) = -stdtrit(df, q).
    p_value = special.stdtr(df, -t_stat)
    crit, tost = -special.stdtrit(df, np.array([[tail], [alpha]]))
    lo, hi = np.expm1(mean - crit * se), np.expm1(mean + crit * se)
    rel_diff = np.expm1(mean)
    worse = testable & (lo > 0) & (rel_diff > margin)
    equivalent = (
        testable & (np.expm1(mean - tost * se) > -margin) & (np.expm1(mean + tost * se) < margin)
    )
    verdict = np.select([worse, equivalent], ["worse", "equivalent"], "inconclusive")
    verdict[best] = "best"
    n[best] = count[best]
    shown = n > 0
    shown[best] = False
    table = {
        "n_pairs": n,
        "center": center,
        "rel_diff": np.where(shown, rel_diff, np.nan),
        "rel_diff_lo": np.where(testable, lo, np.nan),
        "rel_diff_hi": np.where(testable, hi, np.nan),
        "p_value": np.where(testable, p_value, np.nan),
        "p_adjusted": np.where(testable, np.minimum(1.0, p_value * alpha / tail), np.nan),
        "verdict": verdict,
    }
    order = [best, *(i for i in range(len(methods)) if i != best)]
    return pd.DataFrame(
        {
            "method": [methods[i] for i in order],
            "versus": methods[best],
            **{column: array[order] for column, array in table.items()},
        }
    )


def seeds_needed(
    log_ratios: Sequence[float],
    margin: float,
    n_comparisons: int,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int | None:
    """How many evaluation seeds (pairs) would likely settle an inconclusive comparison.

    log_ratios: the per-seed log(other / best) of one comparison (non-finite values are
    dropped); n_comparisons: the number of methods compared with the best (m - 1, the rows of
    compare_to_best other than the best). From the observed mean mu and standard deviation
    sigma, taken as the truth, with the normal approximation mean(d) ~ N(mu, sigma^2 / n) and
    the t critical values of compare_to_best, it returns the smallest n >= 3 whose power
    reaches ``power``:

    - |mu| > delta = log(1 + margin): the ``worse`` test (one-sided at alpha / (m (m - 1)),
      c_n = t_{1 - alpha / (m (m - 1)), n-1}) together with rel_diff > margin, in the
      direction of the observed difference (with mu < 0 the other method would become the
      best and the present best the worse one),

          power(n) = Phi((|mu| - max(c_n sigma / sqrt(n), delta)) sqrt(n) / sigma)

    - otherwise the two one-sided tests of ``equivalent`` (c_n = t_{1 - alpha, n-1}),

          power(n) = Phi((log(1 + margin) - mu) sqrt(n) / sigma - c_n)
                     + Phi((mu - log(1 - margin)) sqrt(n) / sigma - c_n) - 1

    None when it cannot be estimated (fewer than 2 finite values, or zero spread with a zero
    mean) or when more than MAX_SEEDS = 10,000 seeds would be needed (also when mu lies on
    or beyond an equivalence bound, where equivalence is out of reach); saying "more than
    10,000" is the caller's job. Zero spread with a non-zero mean needs the minimum, 3.
    """
    _check_fraction("margin", margin)
    _check_fraction("alpha", alpha)
    _check_fraction("power", power)
    if n_comparisons < 1:
        raise ValueError(f"n_comparisons must be >= 1, got {n_comparisons!r}")
    d = np.asarray(log_ratios, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return None
    mu, sigma = float(d.mean()), float(d.std(ddof=1))
    if sigma == 0:
        return MIN_PAIRS if mu != 0 else None
    n = np.arange(MIN_PAIRS, MAX_SEEDS + 1)
    root = np.sqrt(n) / sigma
    delta = np.log1p(margin)
    if abs(mu) > delta:
        crit = -special.stdtrit(n - 1, _worse_tail(n_comparisons + 1, alpha))  # t's isf
        achieved = special.ndtr((abs(mu) - np.maximum(crit / root, delta)) * root)  # Phi
    else:
        crit = -special.stdtrit(n - 1, alpha)
        achieved = (
            special.ndtr((delta - mu) * root - crit)
            + special.ndtr((mu - np.log1p(-margin)) * root - crit)
            - 1
        )
    reached = np.flatnonzero(achieved >= power)
    return int(n[reached[0]]) if len(reached) else None


# ------------------------------------------------------------------------------ across datasets


@dataclass
class Friedman:
    """Ranks across datasets, the Friedman test and the Nemenyi critical difference."""

    ranks: pd.DataFrame  # dataset x method, average ranks per dataset (ties averaged), 1 = best
    mean_rank: pd.Series  # per method, ascending
    statistic: float  # Friedman chi-square (NaN when it cannot be computed)
    p_value: float  # NaN with < 3 methods or < 2 datasets
    critical_difference: float  # Nemenyi CD at alpha
    n_datasets: int
    separated: list[tuple[str, str]]  # (better, worse) with mean ranks further apart than the CD


def friedman(scores: pd.DataFrame, alpha: float = 0.05) -> Friedman:
    """Rank methods per dataset, test that they differ, and find the pairs that do.

    scores: index = dataset, columns = method, lower is better; a NaN (no finite value:
    every seed diverged), like any non-finite score, ranks last on that dataset, tied with
    any other. A dataset with no finite score at all is left out. With N datasets, k methods,
    R_j the rank sum of method j and t the sizes of the groups of tied ranks per dataset:

        chi2 = (12 / (N k (k + 1)) sum_j R_j^2 - 3 N (k + 1)) / C
        C    = 1 - sum (t^3 - t) / (N k (k^2 - 1))          (the correction for ties)
        p    = P(chi2_{k-1} > chi2)                      (NaN with k < 3 or N < 2)
        CD   = q_{1-alpha, k, inf} / sqrt(2) * sqrt(k (k + 1) / (6 N))   (Nemenyi)

    the tie-corrected statistic of scipy.stats.friedmanchisquare, and q the studentized range
    quantile with df = inf (``range_quantile``). ``separated`` lists the pairs
    (better, worse) whose mean ranks differ by more than the CD, only when p < alpha; it is
    ordered by the better's mean rank, then the worse's.
    """
    _check_fraction("alpha", alpha)
    values = scores.to_numpy(dtype=float)
    used = scores[np.isfinite(values).any(axis=1)]
    n_datasets, k = used.shape
    filled = np.array(used.to_numpy(dtype=float))
    filled[~np.isfinite(filled)] = np.inf
    ranks = pd.DataFrame(filled, index=used.index, columns=used.columns).rank(axis=1)
    rank_values = ranks.to_numpy()
    mean_rank = ranks.mean(axis=0).sort_values(kind="stable")

    statistic = p_value = np.nan
    if k >= 3 and n_datasets >= 2:
        ties = sum(
            float(np.sum(c**3 - c))
            for c in (np.unique(row, return_counts=True)[1] for row in filled)
        )
        correction = 1 - ties / (n_datasets * k * (k**2 - 1))
        if correction > 0:
            rank_sums = rank_values.sum(axis=0)
            raw = 12 / (n_datasets * k * (k + 1)) * np.sum(rank_sums**2) - 3 * n_datasets * (k + 1)
            statistic = float(raw / correction)
            p_value = float(special.chdtrc(k - 1, statistic))  # chi2's sf

    critical_difference = np.nan
    if k >= 2 and n_datasets >= 1:
        q = range_quantile(1 - alpha, k)
        critical_difference = float(q / np.sqrt(2) * np.sqrt(k * (k + 1) / (6 * n_datasets)))

    separated = []
    if p_value < alpha:
        order = list(mean_rank.index)
        separated = [
            (better, worse)
            for i, better in enumerate(order)
            for worse in order[i + 1 :]
            if mean_rank[worse] - mean_rank[better] > critical_difference
        ]
    return Friedman(
        ranks=ranks,
        mean_rank=mean_rank,
        statistic=statistic,
        p_value=p_value,
        critical_difference=critical_difference,
        n_datasets=n_datasets,
        separated=separated,
    )


# the grid of range_quantile's integral: the standard normal's density and CDF on [-12, 12]
_Z = np.linspace(-12.0, 12.0, 4801)
_DENSITY, _CDF = np.exp(-0.5 * _Z**2) / np.sqrt(2 * np.pi), special.ndtr(_Z)


def range_quantile(p: float, k: int) -> float:
    """q_{p, k, inf}: the p quantile of the range of k independent standard normals, which is
    the studentized range quantile with infinite degrees of freedom (what
    ``scipy.stats.studentized_range.ppf(p, k, np.inf)`` gives, 1e-13 apart in the tests),
    the root q of

        F(q) = k  integral phi(z) (Phi(z + q) - Phi(z))^(k - 1) dz  =  p

    with the integral by the trapezoid rule on a grid of step 0.005 over [-12, 12] (exact to
    rounding for this smooth, fast-decaying integrand). k = 2 gives sqrt(2) Phi^-1((1 + p) / 2).
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k!r}")

    def below(q: float) -> float:
        inner = special.ndtr(_Z + q) - _CDF
        return k * float(np.trapezoid(_DENSITY * inner ** (k - 1), _Z)) - p

    return brentq(below, 0.0, 40.0, xtol=1e-13, rtol=1e-14)
