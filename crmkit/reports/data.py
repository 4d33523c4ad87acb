"""What a report shows, as plain data: metrics, comparison, tests, intervals, breakdowns,
notes, and the machine-readable twin published beside the page (:meth:`ReportData.to_json`).

Nothing here renders: pages are drawn from a ``ReportData`` by :mod:`crmkit.render`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd

from crmkit import i18n
from crmkit._media import JSON_MIMETYPE
from crmkit._version import __version__
from crmkit.errors import one_line
from crmkit.i18n import gettext as _
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import json_safe
from crmkit.metrics.definitions import METRICS
from crmkit.reports.summary import summarize
from crmkit.stats import Interval, Test, change

if TYPE_CHECKING:
    from crmkit.reports.context import ReportContext

__all__ = ["JSON_MIMETYPE", "ReportData", "SameAge"]

#: A report's breakdowns: a dataclass of DataFrames (standard reports) or a dict of them
#: (custom reports).
B = TypeVar("B")
#: What a report's page shows beyond the published numbers (a report's ``Extra``
#: dataclass: sentences, the parts of a formula), or None.
E = TypeVar("E")


@dataclass(frozen=True)
class SameAge:
    """The comparison value of a metric of a cohort (the leads created in a period) taken
    when the comparison period was as old as the period is at the as-of instant: counted
    before ``before`` (naive UTC); ``by_now``: its value by the as-of instant."""

    before: datetime
    by_now: float | None

    @classmethod
    def of_lead_conversion(cls, context: ReportContext, previous: Mapping[str, Any] | None
                           ) -> dict[str, SameAge]:
        """The lead conversion of a sales or marketing comparison summary, when the page
        compares it at the same age and its leads converted since (else nothing)."""
        if previous is None or not context.compared or previous.get("converted_by") is None:
            return {}
        then = previous["metrics"].get("lead_conversion")
        by_now = previous["lead_conversion_by_now"].value
        if previous["converted_by"] >= context.as_of_end or by_now == then:
            return {}
        return {"lead_conversion": cls(previous["converted_by"], by_now)}


@dataclass
class ReportData(Generic[B, E]):
    """Everything a report shows, in machine-readable form: ``breakdowns`` (type ``B``)
    and ``extra`` (type ``E``) are typed per report."""

    context: ReportContext
    metrics: dict[str, Any]
    comparison: dict[str, Any] | None = None
    tests: dict[str, Test] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    breakdowns: B = field(default_factory=dict)  # type: ignore[assignment]
    notes: list[str] = field(default_factory=list)
    extra: E = None  # type: ignore[assignment]
    #: Metrics whose comparison value is their cohort's at the same age (:class:`SameAge`).
    same_age: dict[str, SameAge] = field(default_factory=dict)

    @classmethod
    def from_summaries(
        cls,
        context: ReportContext,
        current: Mapping[str, Any],
        previous: Mapping[str, Any] | None,
        significance: Callable[[Any, Any], dict[str, Test]],
        breakdowns: B,
        extra: E,
        notes: list[str],
        same_age: Mapping[str, SameAge] | None = None,
    ) -> ReportData[B, E]:
        """ReportData from a domain's summaries of the period and of the comparison period
        (with ``metrics`` and optionally ``intervals`` and ``samples``), with the domain's
        significance tests between them; ``same_age``: the metrics compared at the same age,
        each said in a note."""
        aged = dict(same_age or {})
        tests = significance(current, previous) if previous and context.compared else {}
        if previous is not None:
            notes = [*notes, *(context.same_age_note(name, previous["metrics"].get(name), a)
                               for name, a in aged.items()),
                     *(context.per_day_note(name, current["metrics"][name],
                                            previous["metrics"][name], test)
                       for name, test in tests.items()
                       if test.per_day is not None and test.p_value is not None
                       and test.p_value < 0.05)]
        return cls(
            context=context,
            metrics=current["metrics"],
            comparison=previous["metrics"] if previous else None,
            tests=tests,
            intervals=current.get("intervals", {}),
            samples=current.get("samples", {}),
            breakdowns=breakdowns,
            notes=notes,
            extra=extra,
            same_age=aged,
        )

    def change(self, name: str) -> float | None:
        """Relative change of a metric against the comparison period: None without one,
        and None for a metric that changes in points (see :meth:`changes_of`)."""
        return self.changes_of(name).get("change")

    def changes_of(self, name: str) -> dict[str, Any]:
        """A metric's change as the JSON's ``changes[name]`` holds it, without its test:
        ``change`` (relative, or None), and ``change_pp`` for a rate or ``change_points``
        for a score that changes in points (:meth:`Metric.change_between
        <crmkit.metrics.definitions.Metric.change_between>`; a metric outside the catalogue,
        e.g. of a custom report, changes relatively). Empty without a comparison; N/A when
        the page does not compare (:attr:`ReportContext.compared
        <crmkit.reports.context.ReportContext.compared>`)."""
        if self.comparison is None:
            return {}
        current, previous = _number(self.metrics.get(name)), _number(self.comparison.get(name))
        if not self.context.compared:
            current = previous = None
        m = self.context.custom_metrics.get(name) or METRICS.get(name)
        if m is None:
            return {"change": change(current, previous)}
        return m.change_between(current, previous)

    def card(self, name: str) -> dict[str, Any]:
        """A KPI card's data: value, interval, sample, comparison, change and test, and
        the ``metric`` definition of a custom metric of the run."""
        spec: dict[str, Any] = {"name": name, "value": self.metrics.get(name)}
        if name in self.context.custom_metrics:
            spec["metric"] = self.context.custom_metrics[name]
        if name in self.intervals:
            spec["interval"] = self.intervals[name]
        if name in self.samples:
            spec["n"] = self.samples[name]
        if self.comparison is not None:
            spec["previous"] = self.comparison.get(name)
            if name in self.same_age:
                spec["same_age"] = True
            spec.update({"change": None, **self.changes_of(name)})
            if name in self.tests:
                spec["test"] = self.tests[name]
        return spec

    def breakdown_frames(self) -> dict[str, pd.DataFrame]:
        """The breakdowns by name, in their declared order."""
        b: Any = self.breakdowns
        if dataclasses.is_dataclass(b) and not isinstance(b, type):
            return {f.name: getattr(b, f.name) for f in dataclasses.fields(b)}
        return dict(b)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable twin of the page (the same shape for every report)."""
        ctx = self.context
        notes = [str(n) for n in self.notes]
        payload = {
            "report": ctx.report,
            **ctx.describe(),
            "generated_at": ctx.generated_at,
            "data_fingerprint": ctx.store.fingerprint(),
            "version": __version__,
            "currency": ctx.currency,
            "locale": i18n.active(),
            "metrics": _numbers(self.metrics, "", notes),
            "comparison": (
                _numbers(self.comparison, " (comparison period)", notes)
                if self.comparison is not None
                else None
            ),
            "changes": self._changes(),
            "compared_at_same_age": {
                name: {"counted_before": self._aware(a.before), "comparison_by_now": a.by_now}
                for name, a in self.same_age.items()
            },
            "intervals": {
                k: {"low": i.low, "high": i.high, "n": i.n} for k, i in self.intervals.items()
            },
            "samples": self.samples,
            "breakdowns": {},
            "notes": notes,
            "definitions": {
                name: {"label": _(m.label), "unit": m.unit, "definition": _(m.definition),
                       "higher_is_better": m.higher_is_better,
                       "change_in_points": m.change_in_points, "additive": m.additive}
                for name in self.metrics
                if (m := self.context.custom_metrics.get(name) or METRICS.get(name)) is not None
            },
        }
        safe = json_safe(payload)
        # records are JSON-safe as made (the bulk of a large twin: not walked again)
        safe["breakdowns"] = {str(k): F.records(v) for k, v in self.breakdown_frames().items()}
        safe["summary"] = summarize(safe)  # written from the published values, so it traces
        return safe

    def _aware(self, utc: datetime) -> str:
        tz = ZoneInfo(self.context.period.timezone)
        return utc.replace(tzinfo=UTC).astimezone(tz).isoformat()

    def _changes(self) -> dict[str, dict[str, Any]]:
        if self.comparison is None:
            return {}
        changes = {}
        for name in self.metrics:
            test = self.tests.get(name)
            changes[name] = {
                "change": None,
                **self.changes_of(name),
                "p_value": test.p_value if test else None,
                "significant": test.significant if test else None,
            }
            if test is not None and test.per_day is not None:  # the rate moved the other way
                changes[name]["change_per_day"] = test.per_day
        return changes


def _numbers(metrics: Mapping[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    """Metric values as JSON numbers: a missing value (NaN, NA) is null, and anything else
    that is not a finite number (infinity, text, a list, ... from a custom report) is null
    with a note."""
    out: dict[str, Any] = {}
    for name, raw in metrics.items():
        value = F.clean(raw)
        if isinstance(value, Decimal | Fraction):
            value = float(value) if math.isfinite(value) else None
        if value is not None and not isinstance(value, bool | int | float):
            notes.append(f"Metric {name}{where} is {_shown(raw)}, not a number: published as null.")
            value = None
        elif value is None and not _missing(raw):
            notes.append(
                f"Metric {name}{where} is {_shown(raw)}, not a finite number: published as null."
            )
        out[str(name)] = value
    return out


def _number(value: Any) -> float | int | None:
    """``value`` as a finite number, or None (missing, infinite or not a number)."""
    value = F.clean(value)
    if isinstance(value, Decimal | Fraction):
        return float(value) if math.isfinite(value) else None
    return value if isinstance(value, int | float) else None


def _missing(value: Any) -> bool:
    """Whether ``value`` is a missing value (None, NaN, NaT, NA): null without a note."""
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _shown(value: Any) -> str:
    text = one_line(repr(value))
    return text if len(text) <= 40 else text[:40] + "..."
