"""What every report notebook shares: its context (parameters resolved against the data),
its standard header, and its machine-readable twin (the JSON published beside the page).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from crmkit import __version__
from crmkit._docstrings import doc
from crmkit.metrics import _frames as F
from crmkit.metrics.definitions import METRICS
from crmkit.parameters import JSON_MIMETYPE, resolve
from crmkit.periods import Period, parse_period
from crmkit.stats import Interval, Test
from crmkit.store import ALL_TEAMS, Store, Tables

if TYPE_CHECKING:
    from IPython.display import HTML


#: Report ids and titles. A report id is also the notebook's file name.
TITLES = {
    "sales": "Sales",
    "activity": "Customer activity",
    "marketing": "Marketing campaigns",
    "performance": "Employee performance",
    "satisfaction": "Customer satisfaction",
}


@dataclass
class ReportContext:
    """Parameters of one report run, resolved and validated against the data."""

    report: str
    store: Store
    period: Period
    comparison: Period | None
    compare_to: str
    team: str
    as_of: date
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    )

    @property
    def title(self) -> str:
        return TITLES.get(self.report, self.report.replace("_", " ").title())

    @property
    def team_name(self) -> str:
        return self.store.team_name(self.team)

    @property
    def currency(self) -> str:
        return self.store.currency

    @property
    def tables(self) -> Tables:
        """The canonical tables narrowed to the team."""
        if not hasattr(self, "_tables"):
            self._tables = self.store.scoped(self.team)
        return self._tables

    @property
    def as_of_end(self) -> datetime:
        """The instant the report is made at: the end of the as-of day, naive UTC."""
        day = parse_period(f"{self.as_of}..{self.as_of}", timezone=self.period.timezone)
        return day.end_utc

    def meta(self) -> dict[str, Any]:
        """The header fields shared by the page and the JSON."""
        p = self.period
        return {
            "title": f"{self.title} report",
            "period_label": p.label,
            "period_dates": f"{p.start.isoformat()} to {p.last_day.isoformat()}",
            "team_name": f"{self.team_name} ({self.team})",
            "comparison": (
                f"{self.comparison.label} ({self.comparison.start} to {self.comparison.last_day})"
                if self.comparison
                else None
            ),
            "timezone": p.timezone,
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at,
            "fingerprint": self.store.fingerprint(),
            "version": __version__,
        }

    def compute(self, metrics: Callable[[Period], dict[str, Any]]) -> ReportData:
        """ReportData from a function of a period that returns named metrics, evaluated
        for the report's period and its comparison period (custom reports start here)."""
        return ReportData(
            self,
            metrics=metrics(self.period),
            comparison=metrics(self.comparison) if self.comparison else None,
        )

    def header(self) -> HTML:
        """The standard header block (report, period and dates, team, provenance)."""
        from crmkit.render import blocks

        return blocks.header(self.meta())


def open_report(
    report: str,
    *,
    period: str = "last-month",
    team: str = ALL_TEAMS,
    compare_to: str = "previous",
    as_of: str | date | None = None,
    database: str | os.PathLike[str] | None = None,
    timezone: str | None = None,
    store: Store | None = None,
) -> ReportContext:
    """Resolve a report's parameters against the data; raise a one-line error if invalid."""
    store = store or Store.open(database)
    params = resolve(
        period=period,
        team=team,
        compare_to=compare_to,
        as_of=as_of,
        timezone=timezone,
        settings=store.settings,
        teams=store.teams(),
    )
    return ReportContext(
        report,
        store,
        params.period,
        params.comparison,
        params.compare_to,
        params.team,
        params.as_of,
    )


open_report.__doc__ = (
    (open_report.__doc__ or "")
    + "\n\n"
    + doc("period", "team", "compare_to", "as_of", "database", "timezone")
)


@dataclass
class ReportData:
    """Everything a report shows, in machine-readable form."""

    context: ReportContext
    metrics: dict[str, Any]
    comparison: dict[str, Any] | None = None
    tests: dict[str, Test] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)
    comparison_intervals: dict[str, Interval] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    breakdowns: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_summaries(
        cls,
        context: ReportContext,
        current: dict[str, Any],
        previous: dict[str, Any] | None,
        significance: Callable[[dict[str, Any], dict[str, Any]], dict[str, Test]],
        **fields: Any,
    ) -> ReportData:
        """ReportData from a domain's summaries of the period and of the comparison period
        (dicts with ``metrics`` and optionally ``intervals`` and ``samples``), with the
        domain's significance tests between them; other fields (``breakdowns``, ``extra``)
        pass through."""
        return cls(
            context=context,
            metrics=current["metrics"],
            comparison=previous["metrics"] if previous else None,
            tests=significance(current, previous) if previous else {},
            intervals=current.get("intervals", {}),
            comparison_intervals=previous.get("intervals", {}) if previous else {},
            samples=current.get("samples", {}),
            **fields,
        )

    def change(self, name: str) -> float | None:
        from crmkit.stats import change

        if self.comparison is None:
            return None
        return change(self.metrics.get(name), self.comparison.get(name))

    def card(self, name: str) -> dict[str, Any]:
        """A KPI card spec for :func:`crmkit.render.blocks.kpi_cards`."""
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

    def cards(self, *names: str) -> HTML:
        """KPI cards of the named metrics with their comparison, change and test."""
        from crmkit.render import blocks

        return blocks.kpi_cards([self.card(n) for n in names], self.context.currency)

    def to_json(self) -> dict[str, Any]:
        ctx = self.context
        changes = {}
        for name in self.metrics:
            if self.comparison is None:
                break
            test = self.tests.get(name)
            changes[name] = {
                "change": self.change(name),
                "p_value": test.p_value if test else None,
                "significant": test.significant if test else None,
            }
        return {
            "report": ctx.report,
            "period": {
                "label": ctx.period.label,
                "start": ctx.period.start.isoformat(),
                "end": ctx.period.end.isoformat(),
                "last_day": ctx.period.last_day.isoformat(),
                "timezone": ctx.period.timezone,
                "start_utc": ctx.period.start_utc.isoformat(),
                "end_utc": ctx.period.end_utc.isoformat(),
            },
            "team": ctx.team,
            "team_name": ctx.team_name,
            "compare_to": ctx.compare_to,
            "comparison_period": (
                {
                    "label": ctx.comparison.label,
                    "start": ctx.comparison.start.isoformat(),
                    "end": ctx.comparison.end.isoformat(),
                }
                if ctx.comparison
                else None
            ),
            "as_of": ctx.as_of.isoformat(),
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
            "changes": changes,
            "intervals": {
                k: {"low": i.low, "high": i.high, "n": i.n} for k, i in self.intervals.items()
            },
            "samples": self.samples,
            "breakdowns": {k: F.records(v) for k, v in self.breakdowns.items()},
            "notes": self.notes,
            "definitions": {
                name: {"label": m.label, "unit": m.unit, "definition": m.definition,
                       "higher_is_better": m.higher_is_better,
                       "change_in_points": m.change_in_points}
                for name in self.metrics
                if (m := METRICS.get(name)) is not None
            },
        }

    def publish(self) -> None:
        """Emit the JSON twin as a notebook output that the runner saves beside the page."""
        from IPython.display import display

        display(
            {
                JSON_MIMETYPE: self.to_json(),
                "text/plain": f"crmkit {self.context.report} report data ({len(self.metrics)} metrics)",
            },
            raw=True,
        )
