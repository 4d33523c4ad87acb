"""KPI cards: a metric's value, its interval and sample, and its change against the
comparison period shown by the one rule of :mod:`crmkit.verdict` (arrow by direction,
colour by whether that direction is better, significance in words, rates in "pp", NPS in
"pts", counts, money and times relative, small samples flagged).

Re-exported by :mod:`crmkit.render.blocks`, where notebooks call them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.display import HTML

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.metrics.definitions import Metric, lookup
from crmkit.render.formatting import fmt
from crmkit.render.templating import html_block
from crmkit.reports.context import ReportContext
from crmkit.reports.data import ReportData
from crmkit.verdict import small_sample, verdict

__all__ = ["card_specs", "cards", "empty_note", "kpi_cards"]


def cards(data: ReportData[Any, Any], *names: str) -> HTML:
    """KPI cards of the named metrics of a report, with their comparison, change and test;
    nothing on a page that can only be empty (its header already says why, in words)."""
    if data.context.coverage.empty:
        return HTML("")
    specs = card_specs(data, *names)
    return kpi_cards(specs, data.context.currency, note=empty_note(data.context, specs))


def card_specs(data: ReportData[Any, Any], *names: str) -> list[dict[str, Any]]:
    """The cards' data (:meth:`~crmkit.reports.data.ReportData.card`). Against a comparison
    period that begins before some kind of record does, a comparison value of 0 or N/A is
    missing data, not a quiet period: such a card drops its change and test and says so. So
    does every card of a period that is not over, against a whole comparison period
    (:attr:`~crmkit.reports.context.ReportContext.in_progress`)."""
    specs = [data.card(name) for name in names]
    ctx = data.context
    if ctx.comparison is not None and ctx.in_progress:  # so far against a whole period
        for spec in specs:
            spec.update(change=None, not_compared=ctx.comparison.label)
            spec.pop("test", None)
    elif ctx.coverage.comparison_before_data:
        for spec in specs:
            if "previous" in spec and spec["previous"] in (None, 0):
                spec.update(change=None, before_data=True)
                spec.pop("test", None)
    return specs


def empty_note(ctx: ReportContext, cards: Sequence[Mapping[str, Any]]) -> str | None:
    """The sentence shown above KPI cards that all have nothing to show (every count 0,
    every other value N/A), so a row of zeros and dashes never stands without a reason
    (none when the page header already says that the whole page is empty)."""
    if ctx.coverage.empty or any(card.get("value") not in (None, 0) for card in cards):
        return None
    return _("Nothing was recorded for these numbers for {team} in {period} ({first} to "
             "{last}): counts are 0 and rates, averages and times are N/A (—).").format(
        team=ctx.team_name, period=ctx.period.label, first=ctx.period.start,
        last=ctx.period.last_day)


@dataclass(frozen=True)
class _Change:
    words: str | None  # a change that cannot be shown, in words (never "— vs —")
    css_class: str  # ck-up (better), ck-down (worse) or ck-flat (crmkit.verdict)
    arrow: str
    shown: str
    previous: str
    same_age: bool  # the previous value is its cohort's at the same age
    significance: str  # "significant (p=0.012)", or "" without a test


@dataclass(frozen=True)
class _Card:
    name: str
    label: str
    value: str
    interval: tuple[str, str] | None
    n: str | None
    small: bool
    change: _Change | None


def kpi_cards(cards: Sequence[Mapping[str, Any]], currency: str = "", note: str | None = None
              ) -> HTML:
    """KPI cards. Each card: ``name`` (a catalogue name, or any name with its ``metric``
    definition), ``value``, optional ``previous``,
    ``change`` (relative; metrics that change in points use value − previous), ``test``
    (a :class:`~crmkit.stats.Test`), ``interval`` and ``n``; ``note`` is a sentence shown
    above them (see :func:`empty_note`)."""
    return html_block("cards.html.j2", cards=[_card(card, currency) for card in cards],
                      note=note)


def _plain(value: Any) -> Any:
    """A numpy number as the Python number the verdict rule reads (others unchanged)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return float(value) if isinstance(value, numbers.Real) else value


def _card(card: Mapping[str, Any], currency: str) -> _Card:
    m = card.get("metric") or lookup(card["name"])
    interval = card.get("interval")
    n = _plain(card.get("n"))
    return _Card(
        name=m.name,
        label=m.label,
        value=fmt(card.get("value"), m.unit, currency),
        interval=(
            (fmt(interval.low, m.unit, currency), fmt(interval.high, m.unit, currency))
            if interval is not None and interval.low is not None
            else None
        ),
        n=None if n is None else (i18n.decimal(f"{n:,}") if n else _("0 (no data)")),
        small=small_sample(n),
        change=_change(card, m, currency) if "previous" in card else None,
    )


def _no_change(value: Any, previous: Any, before_data: bool | None) -> str | None:
    if before_data:
        return _("no comparison: that period is before the data")
    if value == 0 and previous == 0:
        return _("0 in both periods")
    if previous is None:
        return _("N/A in both periods") if value is None else _("N/A in the comparison period")
    return None


def _change(card: Mapping[str, Any], m: Metric, currency: str) -> _Change:
    """The card's last line by :func:`crmkit.verdict.verdict`: the change, its arrow and
    colour, the previous value and the test in words."""
    test = card.get("test")
    previous = fmt(card.get("previous"), m.unit, currency)
    words = _no_change(card.get("value"), card.get("previous"), card.get("before_data"))
    if card.get("not_compared"):
        words = _("{previous} in all of {period}: not compared, this period is not over").format(
            previous=previous, period=card["not_compared"])
    shown = verdict(
        unit=m.unit, higher_is_better=m.higher_is_better, change_in_points=m.change_in_points,
        value=_plain(card.get("value")), previous=_plain(card.get("previous")),
        change=_plain(card.get("change")),
        p_value=None if test is None else _plain(test.p_value),
        significant=None if test is None else test.significant,
        per_day=None if test is None else test.per_day,
    )
    return _Change(
        words=words,
        css_class=shown.css_class,
        arrow=shown.arrow,
        shown=shown.shown or "—",
        previous=previous,
        same_age=bool(card.get("same_age")),
        significance=shown.significance,
    )
