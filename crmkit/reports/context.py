"""A report run's context: its parameters resolved and validated against the data, and the
canonical tables narrowed to its team."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import narwhals as nw
import pandas as pd

from crmkit._version import __version__
from crmkit.backends import sandbox
from crmkit.errors import ParameterError, one_line, shown
from crmkit.metrics.coverage import EVENTS, Span, spans
from crmkit.metrics.definitions import Metric, custom_metric, lookup
from crmkit.parameters import ALL_TEAMS
from crmkit.periods import Period, parse_period
from crmkit.reports.data import ReportData
from crmkit.store import Store, Tables

#: What a page of a period without data shows, said once in words.
_EMPTY = "every count on this page is 0 and every other number N/A (—)"
_KINDS = ", ".join(what for what, _ in EVENTS.values())

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def period_in_words(period: Period) -> str:
    """A period as a title says it: "November 2026" for a month, "2026-11-01 to
    2026-11-15" for a range of days, the label for the others ("2026-Q4", "2026-W47")."""
    if period.kind == "month":
        return f"{_MONTHS[period.start.month - 1]} {period.start.year}"
    if period.kind == "range":
        return f"{period.start} to {period.last_day}"
    return period.label


@dataclass(frozen=True)
class Coverage:
    """How the data covers a report's period: the sentences that say so (none when it
    covers the period and its comparison), whether the page can only be empty, and whether
    the comparison period begins before some kind of record does."""

    notes: tuple[str, ...]
    empty: bool
    comparison_before_data: bool


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
    #: The custom metrics of this run by name (:meth:`metric`), beside the catalogue's.
    custom_metrics: dict[str, Metric] = field(default_factory=dict)

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

    @property
    def coverage(self) -> Coverage:
        """How the data covers the period and its comparison (computed once)."""
        if not hasattr(self, "_coverage"):
            self._coverage = self._coverage_of(spans(self.store.tables, self.period.timezone))
        return self._coverage

    def coverage_notes(self) -> list[str]:
        """Sentences that say why a page shows zeros and N/A (an empty database, a team
        without records, a period before or after the data or only partly in it, a
        comparison period before a kind of record starts); none when the data covers the
        period and its comparison. Shown under the page header and kept in the JSON notes."""
        return list(self.coverage.notes)

    def page_notes(self, notes: Sequence[str]) -> list[str]:
        """The notes listed under the page's "Data notes": ``notes`` without the coverage
        sentences, which the page says once, under its header (the JSON keeps them all)."""
        said = set(self.coverage.notes)
        return [note for note in notes if note not in said]

    def _coverage_of(self, found: dict[str, Span]) -> Coverage:
        c = self.comparison
        later = [s for s in found.values() if c is not None and s.first > c.start]
        if not found:
            return Coverage((f"The data holds no records at all (no {_KINDS}): {_EMPTY}.",),
                            empty=True, comparison_before_data=False)
        if self.team != ALL_TEAMS and not spans(self.tables, self.period.timezone):
            return Coverage((f"Team {self.team_name} has no records in the data (no {_KINDS} of "
                             f"its members or of its customers): {_EMPTY}.",),
                            empty=True, comparison_before_data=False)
        first = min(s.first for s in found.values())
        last = max(s.last for s in found.values())
        p = self.period
        if p.last_day < first or p.start > last:
            where = f"before the data, which starts on {first}" if p.last_day < first else (
                f"after the data, which ends on {last}")
            return Coverage((f"This period lies {where}: {_EMPTY}.",), empty=True,
                            comparison_before_data=bool(later))
        notes = []
        if p.start < first or p.last_day > last:
            notes.append(f"The data covers only {max(first, p.start)} to {min(last, p.last_day)} "
                         f"of this period (its records run from {first} to {last}).")
        if c is not None and later:
            kinds = ", ".join(f"{s.what} (from {s.first})" for s in later)
            notes.append(f"The comparison period {c.label} ({c.start} to {c.last_day}) begins "
                         f"before the data has {kinds}: for those its numbers are 0 or N/A "
                         "because nothing was recorded yet, and a change against it compares "
                         "with missing data.")
        return Coverage(tuple(notes), empty=False, comparison_before_data=bool(later))

    def compute(self, metrics: Callable[[Period], dict[str, Any]]) -> ReportData[dict[str, Any], None]:
        """ReportData from a function of a period that returns named metrics, evaluated for
        the report's period and its comparison period (custom reports start here)."""
        return ReportData(
            self,
            metrics=metrics(self.period),
            comparison=metrics(self.comparison) if self.comparison else None,
            breakdowns={},
            notes=self.coverage_notes(),
        )

    # -- the analyst's side ----------------------------------------------------------------

    def metric(self, name: str, label: str, unit: str, definition: str, *,
               higher_is_better: bool = True, **how: bool) -> Metric:
        """Define a custom metric for this run, so that its card, its definition and the
        JSON twin can show it: ``label`` on the page, ``unit`` (count, money, rate, days,
        ...), ``definition`` in words; ``how``: ``change_in_points`` or ``additive`` when the
        unit's default does not fit. Defining the same name again replaces it."""
        m = custom_metric(name, label, unit, definition, higher_is_better=higher_is_better,
                          **how)
        self.custom_metrics[name] = m
        return m

    def definition(self, name: str) -> Metric:
        """The definition of metric ``name``: this run's custom metric, else the
        catalogue's; an undefined name raises an error that names the fix."""
        return lookup(name, self.custom_metrics)

    def frame(self, table: str, period: str | None = None) -> pd.DataFrame:
        """A canonical table narrowed to the report's team, as a pandas frame; with
        ``period``, only the rows whose timestamp column ``period`` lies in the report's
        period (e.g. ``ctx.frame("deals", period="closed_at")``)."""
        if table not in self.tables:
            raise ParameterError(f"there is no table {shown(table)}; the tables are "
                                 f"{', '.join(self.tables)}")
        lf = self.tables[table]
        if period is not None:
            if period not in lf.collect_schema().names():
                raise ParameterError(f"table {table} has no column {shown(period)}")
            lf = lf.filter((nw.col(period) >= self.period.start_utc)
                           & (nw.col(period) < self.period.end_utc))
        return lf.collect().to_pandas()

    def sql_parameters(self) -> dict[str, Any]:
        """The scope a query of :meth:`sql` reads as parameters: ``$start``, ``$end`` (the
        period as naive UTC instants, end exclusive), ``$team`` (an id, or ``all``) and,
        with a comparison period, ``$previous_start`` and ``$previous_end``."""
        scope: dict[str, Any] = {"start": self.period.start_utc, "end": self.period.end_utc,
                                 "team": self.team}
        if self.comparison is not None:
            scope.update(previous_start=self.comparison.start_utc,
                         previous_end=self.comparison.end_utc)
        return scope

    def sql(self, query: str, **params: Any) -> pd.DataFrame:
        """Run one SELECT on the canonical tables narrowed to the report's team, with the
        scope of :meth:`sql_parameters` and ``params`` as ``$name`` parameters, and return
        the result as pandas. The query runs sandboxed on a private DuckDB database that
        holds only the tables it names (whatever the report's engine): it reads no file,
        no other database, no network."""
        scope = self.sql_parameters()
        taken = sorted(set(params) & set(scope))
        if taken:
            raise ParameterError(f"parameter {', '.join(taken)} is the report's scope already "
                                 "(ctx.sql_parameters()); give yours another name")
        used = set(re.findall(r"\$([A-Za-z_]\w*)", query))
        values = {k: v for k, v in {**scope, **params}.items() if k in used}
        words = set(re.findall(r"[a-z_]+", query.lower()))
        named = {t: self.tables[t].collect().to_arrow() for t in self.tables if t in words}
        con = sandbox.connect(named)
        try:
            return _run(con, query, values)
        finally:
            con.close()

    def import_notes(self, *tables: str, columns: dict[str, tuple[str, ...]] | None = None,
                     said: dict[str, tuple[str, ...]] | None = None) -> list[str]:
        """The import's data-quality findings about the tables a report reads (for a table
        in ``columns``, only findings about those columns), except findings about the
        columns in ``said``, which the report's own notes state for its period."""
        columns, said = columns or {}, said or {}
        return [
            f"Import: {note.table}{f'.{note.column}' if note.column else ''}: "
            f"{note.count:,} row(s) {note.rule}."
            for note in self.store.notes
            if (note.table in tables or note.column in columns.get(note.table, ()))
            and note.column not in said.get(note.table, ())
        ]

    def describe(self) -> dict[str, Any]:
        """Which period, team and comparison the report covers, as JSON fields; ``title``
        names all three, as the page's title and heading: "Sales — Mid-Market — 2026-11"."""
        p, c = self.period, self.comparison
        return {
            "title": " — ".join((self.title, self.team_name, p.label)),
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
            "coverage": {"empty": self.coverage.empty,
                         "comparison_before_data": self.coverage.comparison_before_data},
        }

    def meta(self) -> dict[str, Any]:
        """The header fields of the page (its heading is the title of :meth:`describe`)."""
        p, c = self.period, self.comparison
        return {
            "title": self.describe()["title"],
            "period_label": p.label,
            "period_dates": f"{p.start.isoformat()} to {p.last_day.isoformat()}",
            "team_name": self.team_name,
            "comparison": f"{c.label} ({c.start} to {c.last_day})" if c else None,
            "timezone": p.timezone,
            "as_of": self.as_of.isoformat(),
            "generated_at": self.generated_at,
            "fingerprint": self.store.fingerprint(),
            "version": __version__,
            "coverage": self.coverage_notes(),
        }


def _run(con: duckdb.DuckDBPyConnection, query: str, values: dict[str, Any]) -> pd.DataFrame:
    """One SELECT in the sandbox; every refusal says what is allowed."""
    wrong = sandbox.one_select(con, query)
    if wrong:
        raise ParameterError(f"ctx.sql runs one SELECT statement, but {wrong}")
    try:
        return con.execute(query, values).df()
    except duckdb.PermissionException as exc:
        raise ParameterError(f"ctx.sql reaches outside the report's tables "
                             f"({sandbox.permission_problem(exc)}): it reads only the "
                             "canonical tables, narrowed to the report's team") from None
    except duckdb.Error as exc:
        first = one_line(str(exc).strip().splitlines()[0])
        raise ParameterError(f"DuckDB cannot run the query: {first}") from None
