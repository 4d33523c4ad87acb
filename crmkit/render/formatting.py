"""The look shared by every page and the index: colours, the stylesheet, number formats.

Kept free of heavy imports (no matplotlib, no pandas) so that the command line can build
the index without loading the charting stack.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.verdict import MINUS, signed

#: Colours used by every report, so a metric looks the same everywhere.
PALETTE = {
    "primary": "#2f6db5",
    "secondary": "#9bbbe0",
    "accent": "#e08a2f",
    "good": "#2e8b57",
    "bad": "#c0392b",
    "neutral": "#7f8c8d",
    "grid": "#e5e8ec",
}
SERIES = ["#2f6db5", "#e08a2f", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"]

#: The stylesheet shared by every page and the index (``page.css`` beside this module).
CSS = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")


# -- formatting ---------------------------------------------------------------------------
#
# Every negative number a page shows carries the true minus sign (U+2212), never a hyphen,
# and a number that rounds to zero carries no sign at all ("0", "0.0%", never "-0"). Digits
# are grouped, and units named, in the active locale (crmkit.i18n): "1 234,5", "36,6 %",
# "1,20 млн ₽" in Russian.

#: Money scales, largest first: (from this size on, divide by, suffix, decimals).
_MONEY_SCALES = ((1e6, 1e6, "M", 2), (1e4, 1e3, "k", 1), (0.0, 1.0, "", 0))


def number(value: float, spec: str = ",.0f") -> str:
    """``value`` formatted by ``spec`` with a true minus, and unsigned when it rounds to 0:
    ``number(-1234.5)`` → '−1,234' (U+2212), ``number(-0.04, ".1f")`` → '0.0'."""
    text = i18n.decimal(format(abs(value), spec))
    if value < 0 and any(ch in "123456789" for ch in text):
        return MINUS + text
    return text


def money_scale(values: Iterable[Any]) -> tuple[float, str, int]:
    """The scale of a set of amounts, chosen by the largest (absolute, finite) of them, so a
    column reads in one unit: (divide by, suffix, decimals), e.g. ``(1e3, "k", 1)`` when
    the largest is 10,000 or more and under a million."""
    finite = [abs(v) for v in values if _finite(v)]
    largest = max(finite, default=0.0)
    return next(scale[1:] for scale in _MONEY_SCALES if largest >= scale[0])


def scaled(value: float, scale: tuple[float, str, int]) -> str:
    """An amount in a given scale (:func:`money_scale`): '9.1k' in thousands ('0' for 0);
    an amount the scale would show with fewer than two significant digits, in its own:
    '940' and '−46.1k' among millions, not '0.00M' and '−0.05M' (a flow of the pipeline
    beside its stock read as a fifth of what it is, or as nothing)."""
    divide, suffix, decimals = scale
    if value == 0:
        return "0"
    if _finite(value) and abs(round(value / divide, decimals)) < 10 ** (1 - decimals):
        own = money_scale([value])
        if own != scale:
            return scaled(value, own)
    return number(value / divide, f",.{decimals}f") + i18n.compact_suffix(suffix)


def fmt(value: Any, unit: str = "count", currency: str = "") -> str:
    """Format a value for people: thousands separators, %, units, a true minus; '—' for N/A."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if unit in ("money", "money_per_day"):
        suffix = f" {i18n.currency_symbol(currency)}" if currency else ""
        per_day = _("/day").replace("/", "/\u2060") if unit == "money_per_day" else ""
        return f"{compact(value)}{suffix}{per_day}"  # no line break inside "₽/день"
    if unit == "rate":
        return number(100 * value, ".1f") + i18n.percent_sign()
    spec, suffix = _UNITS.get(unit, (",.2f", ""))
    return number(round(value) if unit == "count" else value, spec) + _(suffix)


#: Unit → (format spec, suffix) of the units that are a plain number and a suffix.
_UNITS = {"count": (",.0f", ""), "days": (",.1f", i18n.N_(" d")),
          "minutes": (",.0f", i18n.N_(" min")), "hours": (",.1f", i18n.N_(" h")),
          "score": (".1f", "")}


def compact(value: float) -> str:
    """A money amount in few characters: 950, 9,999, 12.3k, 1.20M, −4.5k (cards, axes)."""
    return scaled(value, money_scale([value]))


def count_share(n: int, share: float | None) -> str:
    """A count and its share, as bar labels show them: '1,234 (36%)'."""
    return f"{number(n)} ({number(100 * (share or 0), '.0f')}{i18n.percent_sign()})"


def share(value: float | None) -> str:
    """A share in whole percent, as bar labels show it: '36%' ('0%' for none)."""
    return number(100 * (value or 0), ".0f") + i18n.percent_sign()


def fmt_change(change: float | None) -> str:
    """A relative change as a signed percentage (+12.5%, −3.0%, 0.0%); '—' without one."""
    if change is None:
        return "—"
    return signed(100 * change, 1, "%")


def _finite(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))
