"""What a report shows, as plain data: metrics, comparison, tests, intervals, breakdowns,
notes, and the machine-readable twin published beside the page (:meth:`ReportData.to_json`).

Nothing here renders: pages are drawn from a ``ReportData`` by :mod:`crmkit.render`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pandas as pd

from crmkit._media import JSON_MIMETYPE
from crmkit._version import __version__
from crmkit.metrics import _frames as F
from crmkit.metrics.definitions import METRICS
from crmkit.stats import Interval, Test, change

if TYPE_CHECKING:
    from crmkit.reports.context import ReportContext

__all__ = ["JSON_MIMETYPE", "ReportData"]

#: A report's breakdowns: a dataclass of DataFrames (standard reports) or a dict of them
#: (custom reports).
B = TypeVar("B")


@dataclass
class ReportData(Generic[B]):
    """Everything a report shows, in machine-readable form."""

    context: ReportContext
    metrics: dict[str, Any]
    comparison: dict[str, Any] | None = None
    tests: dict[str, Test] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    breakdowns: B = field(default_factory=dict)  # type: ignore[assignment]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_summaries(
        cls,
        context: ReportContext,
        current: Mapping[str, Any],
        previous: Mapping[str, Any] | None,
        significance: Callable[[Any, Any], dict[str, Test]],
        breakdowns: B,
        **fields: Any,
    ) -> ReportData[B]:
        """ReportData from a domain's summaries of the period and of the comparison period
        (with ``metrics`` and optionally ``intervals`` and ``samples``), with the domain's
        significance tests between them; other fields (``notes``, ``extra``) pass through."""
        return cls(
            context=context,
            metrics=current["metrics"],
            comparison=previous["metrics"] if previous else None,
            tests=significance(current, previous) if previous else {},
            intervals=current.get("intervals", {}),
            samples=current.get("samples", {}),
            breakdowns=breakdowns,
            **fields,
        )

    def change(self, name: str) -> float | None:
        """Relative change of a metric against the comparison period (None without one)."""
        if self.comparison is None:
            return None
        return change(self.metrics.get(name), self.comparison.get(name))

    def card(self, name: str) -> dict[str, Any]:
        """A KPI card's data: value, interval, sample, comparison, change and test."""
        spec: dict[str, Any] = {"name": name, "value": self.metrics.get(name)}
        if name in self.intervals:
            spec["interval"] = self.intervals[name]
        if name in self.samples:
            spec["n"] = self.samples[name]
        if self.comparison is not None:
            spec["previous"] = self.comparison.get(name)
            spec["change"] = self.change(name)
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
        return {
            "report": ctx.report,
            **ctx.describe(),
            "generated_at": ctx.generated_at,
            "data_fingerprint": ctx.store.fingerprint(),
            "version": __version__,
            "currency": ctx.currency,
            "metrics": {k: F.clean(v) for k, v in self.metrics.items()},
            "comparison": (
                {k: F.clean(v) for k, v in self.comparison.items()}
                if self.comparison is not None
                else None
            ),
            "changes": self._changes(),
            "intervals": {
                k: {"low": i.low, "high": i.high, "n": i.n} for k, i in self.intervals.items()
            },
            "samples": self.samples,
            "breakdowns": {k: F.records(v) for k, v in self.breakdown_frames().items()},
            "notes": self.notes,
            "definitions": {
                name: {"label": m.label, "unit": m.unit, "definition": m.definition,
                       "higher_is_better": m.higher_is_better,
                       "change_in_points": m.change_in_points}
                for name in self.metrics
                if (m := METRICS.get(name)) is not None
            },
        }

    def _changes(self) -> dict[str, dict[str, Any]]:
        if self.comparison is None:
            return {}
        changes = {}
        for name in self.metrics:
            test = self.tests.get(name)
            changes[name] = {
                "change": self.change(name),
                "p_value": test.p_value if test else None,
                "significant": test.significant if test else None,
            }
        return changes
