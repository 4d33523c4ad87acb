"""One rule for how a change is shown, on every card, table, index row and summary.

* The arrow follows the direction of the change (▲ up, ▼ down, none when flat or unknown).
* The colour says whether that direction is good: ``ck-up`` (better, green) when the metric
  moved the way that is better for it, ``ck-down`` (worse, red) the other way, ``ck-flat``
  (grey) when it did not move or the change is unknown. Significance never changes the
  colour: it is said in words beside the change ("significant (p<0.001)").
* Rates and shares change in percentage points ("+3.1 pp"), NPS and other signed scores
  in points ("+24.2 pts"); counts, money and times change relatively ("−5.5%").
* A rate or score from fewer than :data:`crmkit.stats.SMALL_SAMPLE` observations is flagged.

Every word and number is in the active locale (:mod:`crmkit.i18n`): "+3,1 п.п.",
"значимо (p<0,001)" in Russian.

Kept free of heavy imports: the index uses it without the charting stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from crmkit import i18n
from crmkit.i18n import N_
from crmkit.i18n import gettext as _
from crmkit.stats import SMALL_SAMPLE

__all__ = ["MINUS", "Verdict", "in_points", "p_words", "signed", "small_sample", "verdict"]

#: The minus sign every page uses (never a hyphen).
MINUS = "\u2212"


@dataclass(frozen=True)
class Verdict:
    """A change as shown: ``arrow`` (▲, ▼ or ''), ``css_class`` (ck-up, ck-down, ck-flat),
    ``shown`` (e.g. '+3.1 pp', '−5.5%', '' when there is none), ``significance`` in words
    ('significant (p=0.012)', 'not significant (p=0.41)', '' without a test),
    ``better`` (True, False, or None when flat or unknown) and ``small`` (a small sample)."""

    arrow: str
    css_class: str
    shown: str
    significance: str
    better: bool | None
    small: bool


#: The units a change is stated in, as messages ("%" is the locale's percent sign).
_SUFFIXES = {" pp": N_(" pp"), " pts": N_(" pts")}


def signed(value: float, decimals: int = 1, suffix: str = "") -> str:
    """``value`` with an explicit sign and a true minus: '+3.1', '−0.4' ('0.0' unsigned),
    in the active locale's digits; a ``suffix`` of ``%``, `` pp`` or `` pts`` in its words."""
    text = f"{abs(value):,.{decimals}f}"
    zero = float(text.replace(",", "")) == 0
    text = i18n.decimal(text)
    suffix = i18n.percent_sign() if suffix == "%" else _(_SUFFIXES.get(suffix, suffix))
    if zero:
        return f"{text}{suffix}"
    return f"{'+' if value > 0 else MINUS}{text}{suffix}"


def p_words(p_value: float | None) -> str:
    """A p-value in words a manager can read ("p < 0.001: very unlikely to be chance"), in
    the active locale (:meth:`crmkit.stats.Test.words` in English)."""
    if p_value is None:
        return _("not testable (no data on one side)")
    if p_value < 0.001:
        return _("p < 0.001: very unlikely to be chance").replace("0.001", i18n.decimal("0.001"))
    if p_value < 0.05:
        return _("p = {p}: unlikely to be chance").format(p=i18n.decimal(f"{p_value:.3f}"))
    return _("p = {p}: could well be chance").format(p=i18n.decimal(f"{p_value:.2f}"))


def in_points(unit: str, change_in_points: bool) -> bool:
    """Whether a metric's change is a difference in points: every rate or share, and the
    signed scores marked so (NPS)."""
    return unit == "rate" or change_in_points


def small_sample(n: Any) -> bool:
    """Whether a sample size is small enough to flag (1..29 observations)."""
    return isinstance(n, int | float) and not isinstance(n, bool) and 0 < n < SMALL_SAMPLE


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def movement(unit: str, change_in_points: bool, value: Any, previous: Any, change: Any
             ) -> tuple[str, float | None]:
    """A metric's change as :func:`verdict` shows it ('+3.1 pp', '−4.0%'; '' without one)
    and as the rounded number behind those words (None without one): a table of thousands
    of people states only this."""
    if in_points(unit, change_in_points):
        if not (_finite(value) and _finite(previous)):
            return "", None
        scale = 100.0 if unit == "rate" else 1.0
        delta = scale * (value - previous)
        return signed(delta, 1, " pp" if unit == "rate" else " pts"), round(delta, 1)
    if not _finite(change):
        return "", None
    return signed(100 * change, 1, "%"), round(100 * change, 1)


def verdict(
    *,
    unit: str,
    higher_is_better: bool,
    change_in_points: bool = False,
    value: Any = None,
    previous: Any = None,
    change: Any = None,
    p_value: Any = None,
    significant: Any = None,
    n: Any = None,
    per_day: Any = None,
) -> Verdict:
    """How the change of one metric is shown. ``change`` is the relative change (counts,
    money, times); for metrics that change in points it is ignored and the difference of
    ``value`` and ``previous`` is used. ``per_day``: the change of the rate a day when it
    moved against the total's (:attr:`crmkit.stats.Test.per_day`): a significant test
    then speaks of it ("a day +4.9%, significant (p=0.045)"), not of the total's change."""
    shown, moved = movement(unit, change_in_points, value, previous, change)
    better = None if not moved else (moved > 0) == higher_is_better
    words = ""
    if _finite(p_value) and _finite(per_day) and p_value < 0.05:
        rate = signed(100 * per_day, 1, "%")
        words = (_("a day {change}, significant (p<0.001)").replace("0.001", i18n.decimal("0.001"))
                 if p_value < 0.001 else _("a day {change}, significant (p={p})").replace(
                     "{p}", i18n.decimal(f"{p_value:.3f}"))).replace("{change}", rate)
    elif _finite(p_value):
        if p_value < 0.001:
            words = _("significant (p<0.001)") if significant else _("not significant (p<0.001)")
            words = words.replace("0.001", i18n.decimal("0.001"))
        else:
            p = i18n.decimal(f"{p_value:.3f}")
            words = (_("significant (p={p})") if significant
                     else _("not significant (p={p})")).format(p=p)
    return Verdict(
        arrow="" if not moved else ("▲" if moved > 0 else "▼"),
        css_class={True: "ck-up", False: "ck-down", None: "ck-flat"}[better],
        shown=shown,
        significance=words,
        better=better,
        small=small_sample(n),
    )
