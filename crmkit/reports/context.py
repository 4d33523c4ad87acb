"""A report run's context: its parameters resolved and validated against the data, and the
canonical tables narrowed to its team."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crmkit._version import __version__
from crmkit.periods import Period, parse_period
from crmkit.reports.data import ReportData
from crmkit.store import Store, Tables


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class ReportContext:
    """Parameters of one report run, resolved and validated against the data."""

    report: str
    title: str
    store: Store
    period: Period
    comparison: Period | None
    compare_to: str
    team: str
    as_of: date
    generated_at: str = field(default_factory=_now)

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

    def compute(self, metrics: Callable[[Period], dict[str, Any]]) -> ReportData[dict[str, Any]]:
        """ReportData from a function of a period that returns named metrics, evaluated for
        the report's period and its comparison period (custom reports start here)."""
        return ReportData(
            self,
            metrics=metrics(self.period),
            comparison=metrics(self.comparison) if self.comparison else None,
            breakdowns={},
        )

    def import_notes(self, *tables: str, columns: dict[str, tuple[str, ...]] | None = None) -> list[str]:
        """The import's data-quality findings about the tables a report reads (for a table
        in ``columns``, only findings about those columns)."""
        columns = columns or {}
        return [
            f"Import: {note.table}.{note.column}: {note.count:,} row(s) {note.rule}."
            for note in self.store.notes
            if note.table in tables or note.column in columns.get(note.table, ())
        ]

    def describe(self) -> dict[str, Any]:
        """Which period, team and comparison the report covers, as JSON fields."""
        p, c = self.period, self.comparison
        return {
            "period": {
                "label": p.label,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "last_day": p.last_day.isoformat(),
                "timezone": p.timezone,
                "start_utc": p.start_utc.isoformat(),
                "end_utc": p.end_utc.isoformat(),
            },
            "team": self.team,
            "team_name": self.team_name,
            "compare_to": self.compare_to,
            "comparison_period": (
                {"label": c.label, "start": c.start.isoformat(), "end": c.end.isoformat()}
                if c
                else None
            ),
            "as_of": self.as_of.isoformat(),
        }

    def meta(self) -> dict[str, Any]:
        """The header fields of the page."""
        p, c = self.period, self.comparison
        return {
            "title": f"{self.title} report",
            "period_label": p.label,
            "period_dates": f"{p.start.isoformat()} to {p.last_day.isoformat()}",
            "team_name": f"{self.team_name} ({self.team})",
            "comparison": f"{c.label} ({c.start} to {c.last_day})" if c else None,
            "timezone": p.timezone,
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at,
            "fingerprint": self.store.fingerprint(),
            "version": __version__,
        }
