"""Intervals and significance tests used by every report.

All functions take plain counts or sequences and return floats (or ``None`` when the
answer is undefined, e.g. a zero denominator), so they are easy to test by hand.

Distribution functions come from ``scipy.special`` (the same routines ``scipy.stats`` calls)
and the standard library: ``scipy.stats`` takes a second to import, which would be spent in
every report kernel (see :mod:`crmkit.render.plotting`), so no report imports it (the
tests check every function against it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def _special() -> Any:
    from crmkit._special import special  # lazy: scipy.special, 0.06 s (see crmkit._special)

    return special


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    return float(_special().stdtr(df, -t))


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom."""
    return float(_special().stdtrit(df, q))


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square X with ``df`` degrees of freedom."""
    return float(_special().chdtrc(df, x))


def poisson_cdf(k: float, mean: float) -> float:
    """P(X <= k) for a Poisson X with the given mean (0 when k < 0)."""
    return float(_special().pdtr(k, mean)) if k >= 0 else 0.0


def poisson_sf(k: float, mean: float) -> float:
    """P(X > k) for a Poisson X with the given mean (1 when k < 0)."""
    return float(_special().pdtrc(k, mean)) if k >= 0 else 1.0


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval and its sample size."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def small_sample(self) -> bool:
        """True when the sample is under 30 (METRICS.md: such samples are flagged)."""
        return self.n < SMALL_SAMPLE


SMALL_SAMPLE = 30


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when the denominator is 0 or missing."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    if isinstance(denominator, float) and math.isnan(denominator):
        return None
    return float(numerator) / float(denominator)


def change(current: float | None, previous: float | None) -> float | None:
    """(current - previous) / |previous|; None when previous is 0 or either is missing."""
    if current is None or previous is None:
        return None
    return ratio(current - previous, abs(previous))


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Share ``successes / n`` with its Wilson score interval."""
    if n <= 0:
        return Interval(None, None, None, 0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def wilson_columns(successes: Any, n: Any, z: float = Z95) -> tuple[Any, Any, Any]:
    """:func:`wilson` of every row at once, as three NumPy arrays (share, low, high; NaN
    where ``n`` is 0): the same operations in the same order, so the same numbers, without
    a Python call per row (a per-person table can hold thousands)."""
    import numpy as np

    h, k = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = h / k
        denom = 1 + z * z / k
        centre = (p + z * z / (2 * k)) / denom
        half = z * np.sqrt(p * (1 - p) / k + z * z / (4 * k * k)) / denom
        low, high = np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)
    empty = k <= 0
    return (np.where(empty, np.nan, p), np.where(empty, np.nan, low),
            np.where(empty, np.nan, high))


def ratio_columns(numerator: Any, denominator: Any) -> Any:
    """:func:`ratio` of every row at once, as a NumPy array (NaN where the denominator is 0
    or missing)."""
    import numpy as np

    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((b == 0) | np.isnan(b), np.nan, a / b)


def nps_interval(promoters: int, detractors: int, n: int, z: float = Z95) -> Interval:
    """NPS on -100..100 with the adjusted-Wald interval of METRICS.md.

    The point estimate is the plain % promoters - % detractors; the interval adds 3/4 of
    a response to promoters and to detractors and 3 to n, with
    SE = sqrt((p + d - (p - d)^2) / n_adj).
    """
    if n <= 0:
        return Interval(None, None, None, 0)
    value = 100.0 * (promoters - detractors) / n
    n_adj = n + 3
    p = (promoters + 0.75) / n_adj
    d = (detractors + 0.75) / n_adj
    se = math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n_adj)
    centre = p - d
    low = max(-1.0, centre - z * se)
    high = min(1.0, centre + z * se)
    return Interval(value, 100.0 * low, 100.0 * high, n)


def nps_variance(promoters: int, detractors: int, n: int) -> float | None:
    """Variance of the NPS estimate (as a fraction, -1..1) from the adjusted counts."""
    if n <= 0:
        return None
    n_adj = n + 3
    p = (promoters + 0.75) / n_adj
    d = (detractors + 0.75) / n_adj
    return max(p + d - (p - d) ** 2, 0.0) / n_adj


def mean_t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean with a Student t interval; None bounds when n < 2."""
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = float(sum(values)) / n
    if n < 2:
        return Interval(mean, None, None, n)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class Test:
    """Result of a significance test: statistic, two-sided p-value, and words for it."""

    statistic: float | None
    p_value: float | None
    #: A count or total tested as a rate over periods of different lengths, whose rate a day
    #: moved against its total (February's 28 days against January's 31: the total fell,
    #: the rate a day rose): the relative change of the rate. The test is of the rate, so
    #: the change of the total is not called significant.
    per_day: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < 0.05 and self.per_day is None

    def words(self) -> str:
        """The p-value in words a manager can read."""
        if self.p_value is None:
            return "not testable (no data on one side)"
        if self.p_value < 0.001:
            return "p < 0.001: very unlikely to be chance"
        if self.p_value < 0.05:
            return f"p = {self.p_value:.3f}: unlikely to be chance"
        return f"p = {self.p_value:.2f}: could well be chance"


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> Test:
    """Two-sided z-test that two shares x1/n1 and x2/n2 differ (pooled variance)."""
    if n1 <= 0 or n2 <= 0:
        return Test(None, None)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return Test(0.0, 1.0)
    z = (x1 / n1 - x2 / n2) / se
    return Test(z, 2 * normal_sf(abs(z)))


def two_sample_z_test(diff: float, var1: float | None, var2: float | None) -> Test:
    """Two-sided z-test of a difference of two independent estimates given their variances."""
    if var1 is None or var2 is None:
        return Test(None, None)
    se = math.sqrt(var1 + var2)
    if se == 0:
        return Test(0.0, 1.0)
    z = diff / se
    return Test(z, 2 * normal_sf(abs(z)))


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> Test:
    """Two-sided Welch t-test of two means."""
    if len(a) < 2 or len(b) < 2:
        return Test(None, None)
    moments = []
    for values in (a, b):
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
        moments.append((mean, var, len(values)))
    return welch_from_moments(*moments[0], *moments[1])


def welch_from_moments(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int
) -> Test:
    """Two-sided Welch t-test from each sample's mean, variance (ddof 1) and size, as
    ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``. Untestable (None) when a
    sample has fewer than 2 values or both variances are 0."""
    if n1 < 2 or n2 < 2 or None in (mean1, var1, mean2, var2):
        return Test(None, None)
    s1, s2 = var1 / n1, var2 / n2
    if s1 + s2 == 0 or any(math.isnan(x) for x in (mean1, mean2, s1, s2)):
        return Test(None, None)
    t = (mean1 - mean2) / math.sqrt(s1 + s2)
    df = (s1 + s2) ** 2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
    return Test(t, min(1.0, 2 * t_sf(abs(t), df)))


def mann_whitney_test(a: Sequence[float], b: Sequence[float]) -> Test:
    """Two-sided Mann-Whitney U test (for medians such as the sales cycle): the statistic
    U of ``a`` and the p-value ``scipy.stats.mannwhitneyu`` gives with its defaults. When a
    sample has at most 8 values and no value repeats, the p-value is exact (the
    distribution of U); otherwise it is the normal approximation with the tie and
    continuity corrections."""
    import numpy as np

    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return Test(None, None)
    both = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    if np.isnan(both).any():
        return Test(math.nan, math.nan)
    values, where, counts = np.unique(both, return_inverse=True, return_counts=True)
    ties = counts.astype(float)  # t**3 of a million ties overflows whole numbers
    ranks = (np.cumsum(ties) - (ties - 1) / 2.0)[where]  # tied values share their mean rank
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    u = max(u1, n1 * n2 - u1)
    if (n1 <= 8 or n2 <= 8) and len(values) == len(both):
        p = 2.0 * _u_sf(int(u), min(n1, n2), max(n1, n2))
    else:
        n = n1 + n2
        spread = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - float((ties**3 - ties).sum()) / (n * (n - 1))))
        shift = u - n1 * n2 / 2.0 - 0.5  # continuity: the mass at U itself counts
        z = shift / spread if spread else math.copysign(math.inf, shift) if shift else math.nan
        p = 2.0 * float(_special().ndtr(-z))
    return Test(u1, min(max(p, 0.0), 1.0))


def _u_sf(u: int, m: int, n: int) -> float:
    """P(U >= u) under the null hypothesis, for samples of ``m`` <= ``n`` values without
    ties. The number of arrangements with each U is the coefficient of the Gaussian
    binomial (n + m choose m) in q, the product over i = 1..m of (1 - q^(n+i)) / (1 - q^i):
    multiplied and divided out in exact integers (m is at most 8 here)."""
    ways = [0] * (m * n + m + 1)
    ways[0] = 1
    top = 0  # the degree so far
    for i in range(1, m + 1):
        shift = n + i
        for k in range(top + shift, shift - 1, -1):  # times (1 - q^shift)
            ways[k] -= ways[k - shift]
        for k in range(i, top + shift + 1):  # divided by (1 - q^i): exact, no remainder
            ways[k] += ways[k - i]
        top += n
    return sum(ways[u:top + 1]) / sum(ways[:top + 1])


def poisson_rate_test(count1: int, count2: int, exposure1: float = 1.0,
                      exposure2: float = 1.0) -> Test:
    """Two-sided exact test that two counts' rates differ, each over its exposure (the
    length of its period): a conditional binomial test.

    Given the total n, count1 is Binomial(n, e1 / (e1 + e2)) when the rates are equal. The
    two-sided p-value sums the outcomes at most as likely as the observed one (``scipy.stats.
    binomtest``'s answer); over equal exposures, by symmetry, 2 P(X <= min(count1, count2)),
    capped at 1. The statistic is count1 less what count2's rate gives over exposure1.
    """
    total = count1 + count2
    if total == 0 or exposure1 <= 0 or exposure2 <= 0:
        return Test(None, None)
    statistic = float(count1 - count2 * exposure1 / exposure2)
    if total > _EXACT_UP_TO:
        p = _binomial_normal(count1, total, exposure1 / (exposure1 + exposure2))
        return Test(statistic, p, _against(count1, count2, statistic, exposure1, exposure2))
    if exposure1 == exposure2:
        low = min(count1, count2)
        p = 1.0 if 2 * low == total else min(1.0, 2 * float(_special().bdtr(low, total, 0.5)))
        return Test(statistic, p)
    p = _binomial_two_sided(count1, total, exposure1 / (exposure1 + exposure2))
    return Test(statistic, p, _against(count1, count2, statistic, exposure1, exposure2))


def _against(total1: float, total2: float, statistic: float, exposure1: float,
             exposure2: float) -> float | None:
    """The relative change of the rate a day when it moved against the totals' change
    (:attr:`Test.per_day`), else None."""
    if (total1 - total2) * statistic >= 0 or total2 == 0:
        return None
    return (total1 / exposure1) / (total2 / exposure2) - 1


#: The largest total the exact test takes: beyond it the log-probabilities it compares lose
#: the precision of its tolerance (1e-7), and the normal approximation with continuity
#: correction is within 0.1% of the exact p-value (0.05006 against 0.05002 at 3 million).
_EXACT_UP_TO = 2_000_000


def _binomial_normal(k: int, n: int, p: float) -> float:
    """The two-sided p-value of ``k`` of Binomial(n, p) by the normal approximation with
    continuity correction (for a large ``n``, where it is as good as exact)."""
    z = (abs(k - n * p) - 0.5) / math.sqrt(n * p * (1 - p))
    return min(1.0, 2 * normal_sf(max(z, 0.0)))


def _log_binomial_pmf(k: int, n: int, p: float) -> float:
    sp = _special()
    return float(sp.gammaln(n + 1) - sp.gammaln(k + 1) - sp.gammaln(n - k + 1)
                 + sp.xlogy(k, p) + sp.xlog1py(n - k, -p))


def _binomial_two_sided(k: int, n: int, p: float) -> float:
    """P of the outcomes of Binomial(n, p) at most as likely as ``k`` (with binomtest's
    relative tolerance of 1e-7): the tail beyond ``k`` and the far tail, whose start a binary
    search finds on the other side of the mode (the mass function falls away from it)."""
    sp = _special()
    mean = p * n
    if k == mean:
        return 1.0
    limit = _log_binomial_pmf(k, n, p) + math.log1p(1e-7)
    if k < mean:  # the far tail: the first outcome above the mean at most as likely
        lo, hi = math.ceil(mean), n
        if _log_binomial_pmf(hi, n, p) > limit:
            return min(1.0, float(sp.bdtr(k, n, p)))
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _log_binomial_pmf(mid, n, p) <= limit else (mid + 1, hi)
        return min(1.0, float(sp.bdtr(k, n, p)) + float(sp.bdtrc(lo - 1, n, p)))
    lo, hi = 0, math.floor(mean)  # the far tail: the last outcome below the mean ...
    if _log_binomial_pmf(lo, n, p) > limit:
        return min(1.0, float(sp.bdtrc(k - 1, n, p)))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _log_binomial_pmf(mid, n, p) <= limit else (lo, mid - 1)
    return min(1.0, float(sp.bdtr(lo, n, p)) + float(sp.bdtrc(k - 1, n, p)))


def compound_poisson_test(total1: float, sumsq1: float, total2: float, sumsq2: float,
                          exposure1: float = 1.0, exposure2: float = 1.0) -> Test:
    """Two-sided z-test that two totals of amounts (revenue) accrue at different rates,
    each over its exposure (the length of its period): each total is compound Poisson,
    with variance the sum of its amounts squared; the second is scaled to the first's
    exposure (the statistic is total1 less what total2's rate gives over exposure1)."""
    if sumsq1 + sumsq2 <= 0 or exposure1 <= 0 or exposure2 <= 0:
        return Test(None, None)
    r = exposure1 / exposure2
    test = two_sample_z_test(total1 - r * total2, sumsq1, r * r * sumsq2)
    if r == 1 or test.statistic is None:
        return test
    return Test(test.statistic, test.p_value,
                _against(total1, total2, total1 - r * total2, exposure1, exposure2))
