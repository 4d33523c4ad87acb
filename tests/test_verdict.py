"""The one rule for showing a change (crmkit.verdict): arrow by direction, colour by whether
that direction is better, significance in words, rates in points, small samples flagged."""

import pytest

from crmkit.verdict import MINUS, signed, verdict


@pytest.mark.parametrize(
    ("higher_is_better", "value", "previous", "arrow", "css"),
    [
        (True, 0.40, 0.30, "▲", "ck-up"),
        (True, 0.30, 0.40, "▼", "ck-down"),
        (False, 0.40, 0.30, "▲", "ck-down"),
        (False, 0.30, 0.40, "▼", "ck-up"),
        (True, 0.30, 0.30, "", "ck-flat"),
        (True, 0.30, None, "", "ck-flat"),
    ],
)
def test_arrow_follows_direction_and_colour_follows_what_is_better(
        higher_is_better, value, previous, arrow, css):
    v = verdict(unit="rate", higher_is_better=higher_is_better, value=value, previous=previous)
    assert (v.arrow, v.css_class) == (arrow, css)


def test_significance_is_words_and_never_the_colour():
    """A significant rise and a non-significant rise are both green: the test is said."""
    sig = verdict(unit="score", higher_is_better=True, change_in_points=True, value=14.6,
                  previous=-9.6, p_value=0.0004, significant=True)
    not_sig = verdict(unit="score", higher_is_better=True, change_in_points=True, value=14.6,
                      previous=12.0, p_value=0.41, significant=False)
    assert sig.css_class == not_sig.css_class == "ck-up"
    assert sig.shown == "+24.2 pts" and sig.significance == "significant (p<0.001)"
    assert not_sig.significance == "not significant (p=0.410)"


def test_rates_change_in_percentage_points_and_counts_relatively():
    rate = verdict(unit="rate", higher_is_better=True, value=0.366, previous=0.388, change=-0.0567)
    assert rate.shown == f"{MINUS}2.2 pp"
    money = verdict(unit="money", higher_is_better=True, value=600.2, previous=462.5, change=0.2977)
    assert money.shown == "+29.8%"
    assert verdict(unit="count", higher_is_better=True, value=5, previous=0, change=None).shown == ""


def test_small_samples_are_flagged_below_thirty():
    assert verdict(unit="rate", higher_is_better=True, value=0.0, n=1).small
    assert not verdict(unit="rate", higher_is_better=True, value=0.0, n=30).small
    assert not verdict(unit="rate", higher_is_better=True, value=None, n=0).small


def test_signed_uses_a_true_minus_and_no_sign_on_zero():
    assert signed(-2.24) == f"{MINUS}2.2"
    assert signed(0.04) == "0.0"
    assert signed(-0.04) == "0.0"
    assert signed(1234.5, 0, "%") == "+1,234%"  # rounds half to even at the last digit
