"""Intervals and tests against values computed by hand or published."""

from __future__ import annotations

import math

import pytest

from crmkit import stats


def test_ratio_and_change_handle_zero():
    assert stats.ratio(1, 0) is None
    assert stats.ratio(1, 4) == 0.25
    assert stats.change(110, 100) == pytest.approx(0.10)
    assert stats.change(90, -100) == pytest.approx(1.9)
    assert stats.change(5, 0) is None
    assert stats.change(None, 3) is None


def test_wilson_known_values():
    i = stats.wilson(8, 10)  # textbook: 0.4902 .. 0.9433
    assert i.low == pytest.approx(0.4902, abs=1e-4)
    assert i.high == pytest.approx(0.9433, abs=1e-4)
    assert stats.wilson(0, 0).value is None
    assert stats.wilson(0, 5).low == 0.0


def test_nps_published_example():
    # 39 responses, 8 promoters, 22 detractors -> NPS -35.9 (MeasuringU's adjusted-Wald example)
    i = stats.nps_interval(8, 22, 39)
    assert i.value == pytest.approx(-35.897, abs=1e-3)
    # adjusted: n=42, p=8.75/42, d=22.75/42; centre -33.33,
    # SE = sqrt((0.75 - 0.3333^2) / 42) = 0.12333 -> -33.33 ± 24.17 = -57.51 .. -9.16
    assert i.low == pytest.approx(-57.51, abs=0.02)
    assert i.high == pytest.approx(-9.16, abs=0.02)
    assert not i.small_sample  # 39 >= 30
    assert stats.nps_interval(3, 1, 10).small_sample


def test_t_interval():
    i = stats.mean_t_interval([1, 2, 3, 4, 5])  # mean 3, sd 1.5811, t(4)=2.7764
    assert i.value == 3
    assert i.low == pytest.approx(3 - 2.7764 * 1.5811 / 5**0.5, abs=1e-3)


def test_two_proportion_and_z_tests():
    t = stats.two_proportion_test(50, 100, 30, 100)  # pooled 0.4, z = 0.2/0.06928 = 2.887
    assert t.statistic == pytest.approx(2.887, abs=1e-3)
    assert t.p_value == pytest.approx(0.00389, abs=1e-4)
    assert t.significant
    assert stats.two_proportion_test(1, 0, 1, 2).p_value is None
    assert stats.two_sample_z_test(1.0, 0.25, 0.25).statistic == pytest.approx(1.4142, abs=1e-4)
    assert stats.poisson_rate_test(0, 0).p_value is None
    assert stats.poisson_rate_test(10, 10).p_value == pytest.approx(1.0)


def test_distribution_functions_known_values():
    assert stats.normal_sf(1.959963984540054) == pytest.approx(0.025, rel=1e-12)
    assert stats.t_ppf(0.975, 4) == pytest.approx(2.776445, abs=1e-6)  # printed t tables
    assert stats.t_sf(2.776445, 4) == pytest.approx(0.025, abs=1e-7)
    assert stats.chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-7)
    # Poisson(2): P(X <= 1) = 3 e^-2; P(X > 1) = 1 - 3 e^-2; out-of-range k
    assert stats.poisson_cdf(1, 2.0) == pytest.approx(3 * math.exp(-2), rel=1e-12)
    assert stats.poisson_sf(1, 2.0) == pytest.approx(1 - 3 * math.exp(-2), rel=1e-12)
    assert (stats.poisson_cdf(-1, 2.0), stats.poisson_sf(-1, 2.0)) == (0.0, 1.0)


def test_exact_binomial_by_hand():
    # 1 vs 9 out of 10: P(X <= 1) = 11/1024 for Binomial(10, 1/2); two-sided doubles it
    t = stats.poisson_rate_test(1, 9)
    assert t.statistic == -8
    assert t.p_value == pytest.approx(22 / 1024, rel=1e-12)
    assert stats.poisson_rate_test(9, 1).p_value == pytest.approx(22 / 1024, rel=1e-12)
    assert stats.poisson_rate_test(0, 1).p_value == 1.0  # 2 x 1/2, capped


def test_counts_over_periods_of_different_lengths_are_tested_per_day():
    """Counts are tested as rates per unit of time: 9,000 in June's 30 days against 9,300
    in May's 31 is the same 300 a day, not a significant fall (as if of equal lengths,
    p=0.03)."""
    assert stats.poisson_rate_test(9000, 9300).p_value < 0.05  # equal lengths: a fall
    assert stats.poisson_rate_test(9000, 9300, 30, 31).p_value == pytest.approx(1.0)
    # by hand: 1 against 9 when the first period is 1/3 of the time: X ~ Binomial(10, 1/4);
    # P(X = 1) = 10 (1/4) (3/4)^9 = 0.188; at most as likely: 0, 1 and 4..10 (P(4) = 0.146)
    q = [math.comb(10, k) * 0.25**k * 0.75 ** (10 - k) for k in range(11)]
    t = stats.poisson_rate_test(1, 9, 1, 3)
    assert t.p_value == pytest.approx(q[0] + q[1] + sum(q[4:]), rel=1e-12)
    assert t.statistic == pytest.approx(1 - 9 / 3)  # the count over what the rate gives
    # revenue over time: 3,000 a day in both periods is no change
    same = stats.compound_poisson_test(30 * 3000.0, 1e9, 31 * 3000.0, 1e9, 30, 31)
    assert same.statistic == pytest.approx(0.0, abs=1e-12)
    assert stats.compound_poisson_test(1.0, 0.0, 1.0, 0.0).p_value is None


def test_a_total_that_moved_against_its_rate_is_not_a_significant_change_of_the_total():
    # February (28 days) against January (31): the total fell 5.2%, the rate a day rose 5.0%
    t = stats.poisson_rate_test(3352, 3536, 28, 31)
    assert t.p_value < 0.05 and not t.significant
    assert t.per_day == pytest.approx((3352 / 28) / (3536 / 31) - 1)
    assert stats.poisson_rate_test(3000, 3536, 28, 31).per_day is None  # both fell
    assert stats.poisson_rate_test(3000, 3536, 28, 31).significant
    revenue = stats.compound_poisson_test(3352e3, 3352e6, 3536e3, 3536e6, 28, 31)
    assert revenue.per_day == pytest.approx(t.per_day) and not revenue.significant
    # no length, no test
    assert stats.poisson_rate_test(1, 2, 0, 31) == stats.Test(None, None)
    assert stats.compound_poisson_test(1.0, 1.0, 2.0, 1.0, 28, 0) == stats.Test(None, None)


def test_large_totals_use_the_normal_approximation_and_stay_accurate():
    """Beyond two million the exact test's log-probabilities lose its tolerance's precision
    (1.0 where binomtest said 0.05 at a billion); the normal approximation is within 0.1%."""
    from scipy.stats import binomtest

    for n, share in ((3_000_000, 30 / 61), (1_000_000_000, 0.5), (3_000_000_000, 30 / 61)):
        k = int(n * share + 1.96 * math.sqrt(n * share * (1 - share)))
        p = stats.poisson_rate_test(k, n - k, share, 1 - share).p_value
        assert p == pytest.approx(0.05, rel=2e-3)
        if n < 10**7:
            assert p == pytest.approx(binomtest(k, n, share).pvalue, rel=2e-3)


@pytest.mark.parametrize("seed", range(5))
def test_unequal_exposure_agrees_with_scipy_binomtest(seed):
    import numpy as np
    from scipy import stats as st

    rng = np.random.default_rng(seed)
    for _ in range(200):
        x1, x2 = (int(v) for v in rng.integers(0, 400, size=2))
        e1, e2 = (float(v) for v in rng.uniform(1, 40, size=2))
        if x1 + x2 == 0:
            continue
        ref = st.binomtest(x1, x1 + x2, e1 / (e1 + e2)).pvalue
        assert stats.poisson_rate_test(x1, x2, e1, e2).p_value == pytest.approx(
            ref, rel=1e-9, abs=1e-15)


def test_welch_by_hand():
    # a: mean 2, var 1 (n 3); b: mean 5, var 4 (n 3): se = sqrt(1/3 + 4/3) = 1.2910,
    # t = -3 / se = -2.3238; df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2) = 2.9412
    t = stats.welch_t_test([1, 2, 3], [3, 5, 7])
    se = math.sqrt(1 / 3 + 4 / 3)
    df = (5 / 3) ** 2 / ((1 / 3) ** 2 / 2 + (4 / 3) ** 2 / 2)
    assert df == pytest.approx(2.9412, abs=1e-4)
    assert t.statistic == pytest.approx(-3 / se, rel=1e-12)
    assert t.p_value == pytest.approx(0.104479, abs=1e-6)  # 2 P(T > 2.3238), T ~ t(2.9412)
    assert stats.welch_t_test([1, 1], [1, 1]).p_value is None  # no variance: untestable
    assert stats.welch_t_test([1], [1, 2]).p_value is None


@pytest.mark.parametrize("seed", range(5))
def test_tests_agree_with_scipy_stats(seed):
    """The scipy.special implementations give scipy.stats's answers."""
    import numpy as np
    from scipy import stats as st

    rng = np.random.default_rng(seed)
    a = rng.normal(0, rng.uniform(0.5, 3), size=rng.integers(2, 40))
    b = rng.normal(0.5, 1, size=rng.integers(2, 40))
    ref = st.ttest_ind(a, b, equal_var=False)
    got = stats.welch_t_test(list(a), list(b))
    assert (got.statistic, got.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-9)
    low, high = st.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=st.sem(a))
    i = stats.mean_t_interval(list(a))
    assert (i.low, i.high) == pytest.approx((low, high), rel=1e-9)
    x1, x2 = (int(v) for v in rng.integers(0, 300, size=2))
    if x1 + x2:
        ref_p = st.binomtest(x1, x1 + x2, 0.5).pvalue
        assert stats.poisson_rate_test(x1, x2).p_value == pytest.approx(ref_p, rel=1e-9)
    mean = float(rng.uniform(0, 50))
    for k in range(0, 80, 9):
        assert stats.poisson_sf(k - 1, mean) == pytest.approx(st.poisson.sf(k - 1, mean), rel=1e-9)
        assert stats.poisson_cdf(k, mean) == pytest.approx(st.poisson.cdf(k, mean), rel=1e-9)
    z = float(rng.uniform(0, 6))
    assert stats.normal_sf(z) == pytest.approx(st.norm.sf(z), rel=1e-12)


def test_report_libraries_load_without_scipy_stats():
    """seaborn is loaded without scipy.stats (a second per kernel), which still imports."""
    import subprocess
    import sys

    code = (
        "import sys, crmkit.render.blocks, crmkit.render.charts.sales, crmkit.metrics.sales, crmkit.metrics.satisfaction;"
        "assert 'scipy.stats' not in sys.modules, 'scipy.stats was imported';"
        "import scipy.stats; print(scipy.stats.norm.sf(0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.5"


def test_scipy_special_loads_without_numpy_s_fortran_wrappers_and_test_tools():
    """The distribution functions' module leaves NumPy's f2py and testing unloaded (a third
    of its import in every kernel) and NumPy as it was: both load when first used, also
    through the names scipy's array-API layer copied."""
    import subprocess
    import sys

    code = (
        "import sys, numpy, crmkit.stats as s;"
        "p = s.t_sf(2.0, 10);"
        "assert 'numpy.f2py' not in sys.modules and 'numpy.testing' not in sys.modules, 'loaded';"
        "assert 'f2py' not in vars(numpy) and 'testing' not in vars(numpy), 'numpy changed';"
        "from scipy._lib.array_api_compat import numpy as xp;"
        "assert callable(xp.testing.assert_allclose) and 'numpy.testing' in sys.modules;"
        "import numpy.f2py; assert numpy.f2py is sys.modules['numpy.f2py'];"
        "print(p)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(0.036694017385370, rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_mann_whitney_agrees_with_scipy_stats(seed):
    """The Mann-Whitney test without scipy.stats gives scipy.stats.mannwhitneyu's answer
    (method "auto"): the exact distribution when a sample has at most 8 values and no
    value repeats, else the normal approximation with its tie and continuity corrections."""
    import numpy as np
    from scipy import stats as st

    rng = np.random.default_rng(seed)
    sizes = [(1, 1), (1, 5), (3, 4), (8, 8), (8, 9), (9, 9), (2, 60), (7, 400), (40, 33),
             (5, 3000), (300, 250), (1, 1)][seed]
    for ties in (False, True):
        if ties:  # whole minutes: values repeat
            a, b = (rng.integers(0, 12, size=n).astype(float) for n in sizes)
        else:
            a, b = rng.exponential(30, size=sizes[0]), rng.exponential(45, size=sizes[1])
        ref = st.mannwhitneyu(a, b, alternative="two-sided")
        got = stats.mann_whitney_test(list(a), list(b))
        assert got.statistic == ref.statistic
        assert got.p_value == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)


def test_mann_whitney_edge_cases_agree_with_scipy_stats():
    """All values equal (no spread), one value each, and samples apart."""
    from scipy import stats as st

    for a, b in (([5.0] * 4, [5.0] * 6), ([1.0], [2.0]), ([1.0, 2.0], [10.0, 11.0, 12.0]),
                 ([3.0] * 12, [3.0] * 10 + [4.0]), (list(range(20)), list(range(100, 130)))):
        ref = st.mannwhitneyu(a, b, alternative="two-sided")
        got = stats.mann_whitney_test(a, b)
        assert got.statistic == ref.statistic
        assert got.p_value == pytest.approx(float(ref.pvalue), rel=1e-12)
    assert stats.mann_whitney_test([], [1.0]) == stats.Test(None, None)


def test_mann_whitney_does_not_import_scipy_stats():
    """The performance report's median-time tests cost no scipy.stats import (about a
    second in every kernel that runs the report)."""
    import subprocess
    import sys

    code = ("import sys, crmkit.stats as s; t = s.mann_whitney_test([1.0, 2.5, 3.0] * 5, [2.0, 4.0] * 9);"
            "assert 'scipy.stats' not in sys.modules, 'scipy.stats was imported'; print(t.p_value)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 0 < float(out.stdout) < 1


def test_mann_whitney_with_millions_of_ties_agrees_with_scipy_stats():
    """The tie correction of millions of equal values (t**3 beyond whole numbers)."""
    import numpy as np
    from scipy import stats as st

    a = np.concatenate([np.zeros(2_200_000), np.arange(1.0, 6.0)])
    b = np.concatenate([np.zeros(1_100_000), np.arange(3.0, 9.0)])
    ref = st.mannwhitneyu(a, b, alternative="two-sided")
    got = stats.mann_whitney_test(a, b)
    assert got.statistic == ref.statistic
    assert got.p_value == pytest.approx(float(ref.pvalue), rel=1e-9)
