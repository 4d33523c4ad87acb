"""Intervals and tests against values computed by hand or published."""

from __future__ import annotations

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
