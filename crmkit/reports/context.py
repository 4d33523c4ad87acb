"""A report run's context: its parameters resolved and validated against the data, and the
canonical tables narrowed to its team."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import narwhals as nw
import pandas as pd

from crmkit import i18n
from crmkit._version import __version__
from crmkit.backends import sandbox
from crmkit.errors import ParameterError, one_line, shown
from crmkit.i18n import N_, ngettext
from crmkit.i18n import gettext as _
from crmkit.metrics import _frames as F
from crmkit.metrics.coverage import EVENTS, Span, spans
from crmkit.metrics.definitions import Metric, custom_metric, lookup
from crmkit.parameters import ALL_TEAMS
from crmkit.periods import Period, as_of_end_utc, cut_at, same_age
from crmkit.reports.data import ReportData, SameAge
from crmkit.reports.summary import _plain
from crmkit.stats import Test
from crmkit.store import Store, Tables, stores_kept
from crmkit.verdict import signed

#: What a page of a period without data shows, said once in words.
_EMPTY = N_("every count on this page is 0 and every other number N/A (—)")


def _kinds() -> str:
    """The kinds of record, in words: "deals, leads, activities, ..."."""
    return ", ".join(_(what) for what, _when in EVENTS.values())


#: What the unit of a to-date period is called ("the same elapsed part of the month").
_UNITS = {"month": "month", "quarter": "quarter", "fiscal_quarter": "quarter",
          "half": "half-year", "fiscal_half": "half-year", "year": "year",
          "fiscal_year": "year", "week": "week", "range": "day"}


def _days_words(first: date, last: date) -> str:
    """Days as a reader says them (:mod:`crmkit.i18n`: "1 июня 2025" in Russian): "15 June
    2025", "1–15 June 2025", "1 April – 15 May 2025", "29 December 2025 – 2 January 2026"."""
    if first == last:
        return i18n.day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{i18n.day(last)}"
    if first.year == last.year:
        return f"{i18n.day_month(first)} – {i18n.day(last)}"
    return f"{i18n.day(first)} – {i18n.day(last)}"


def clock(at: datetime) -> str:
    """A local time of day: "14:00", or "14:00:30" when it has seconds."""
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def _local(utc: datetime, timezone: str) -> datetime:
    """A naive UTC instant as a naive local one."""
    return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def _cut(as_of: date) -> datetime:
    """The local instant of an as-of day (its end) or instant."""
    return as_of if isinstance(as_of, datetime) else datetime.combine(
        as_of + timedelta(days=1), time(0))


def _until_in_words(at: datetime) -> str:
    """A local instant as the end of a day ("the end of 2025-05-30") or a time of day."""
    if at.time() == time(0):
        return _("the end of {day}").format(day=(at - timedelta(days=1)).date())
    return as_of_in_words(at)


def as_of_in_words(as_of: date) -> str:
    """An as-of day ("2025-06-15") or local instant ("2025-06-15 14:00")."""
    if isinstance(as_of, datetime):
        return f"{as_of.date()} {clock(as_of)}"
    return as_of.isoformat()


def period_in_words(period: Period) -> str:
    """A period as a title says it: "November 2026" for a month, "2026-11-01 to
    2026-11-15" for a range of days, the label for the others ("2026-Q4", "2026-W47"); a
    to-date period by its days and cut: "1–15 June 2025 until 14:00"."""
    if period.cut is not None:
        days = _days_words(period.start, period.last_day)
        if period.cut.time() == time(0):
            return days
        return _("{days} until {time}").format(days=days, time=clock(period.cut))
    if period.kind == "month":
        return i18n.month_year(period.start)
    if period.kind == "range":
        return _("{first} to {last}").format(first=period.start, last=period.last_day)
    return period.label


#: The spans of the data this process has read, by data fingerprint, team and time zone
#: (:meth:`ReportContext._spans`): the same data gives the same spans.
_SPANS: dict[tuple[str, str, str], dict[str, Span]] = {}


@dataclass(frozen=True)
class Coverage:
    """How the data covers a report's period: the sentences that say so (none when it
    covers the period and its comparison), whether the page can only be empty, and whether
    the comparison period begins before some kind of record does."""

    notes: tuple[str, ...]
    empty: bool
    comparison_before_data: bool
    #: The last local day with a record of any kind, company-wide (None without records).
    last_day: date | None = None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _unit(period: Period) -> str:
    """What a to-date period's unit is called: month, quarter, week, day..."""
    several_days = period.kind == "range" and period.days > 1
    return "period" if several_days else _UNITS.get(period.kind, "period")


#: How a to-date comparison was cut, per unit (whole, previous): messages of the catalogue,
#: whole sentences so that a language can inflect the unit.
_SAME_PART = {
    (False, True): N_("the same elapsed part of the previous {unit}"),
    (False, False): N_("the same elapsed part of the {unit} a year earlier"),
    (True, True): N_("the whole previous {unit}, shorter than the elapsed part"),
    (True, False): N_("the whole {unit} a year earlier, shorter than the elapsed part"),
}
#: The kinds of record (:data:`crmkit.metrics.coverage.EVENTS`), for the catalogue.
_RECORDS = (N_("activities"), N_("deals"), N_("leads"), N_("tickets"), N_("tasks"),
            N_("survey responses"))
#: The units of a to-date period, for the catalogue (the text is the unit's message).
_UNIT_WORDS = (N_("month"), N_("quarter"), N_("half-year"), N_("year"), N_("week"), N_("day"),
               N_("period"))


def _same_part(period: Period, comparison: Period, compare_to: str) -> str:
    """How a to-date period's comparison was cut, in words: "the same elapsed part of the
    previous month", or "the whole previous month, shorter than the elapsed part"."""
    whole = comparison.end_local - comparison.start_local < period.end_local - period.start_local
    text = _SAME_PART[whole, compare_to == "previous"]
    return _(text).format(unit=_(_unit(period)))


def to_date_statement(period: Period, comparison: Period | None, compare_to: str) -> str:
    """What a to-date page covers and compares, said once under its header: "Month to
    date: 1–15 June 2025 until 14:00, compared with 1–15 May 2025 until 14:00 (the same
    elapsed part of the previous month)."""
    head = _("{unit} to date: {days}").format(unit=_(_unit(period)), days=period_in_words(period))
    head = head[:1].upper() + head[1:]
    if comparison is None:
        return _("{head}, not compared with another period.").format(head=head)
    return _("{head}, compared with {days} ({part}).").format(
        head=head, days=period_in_words(comparison),
        part=_same_part(period, comparison, compare_to))


def _span(p: Period) -> dict[str, Any]:
    """A period's range for the JSON twin: its days and its bounds as instants (naive UTC
    and with the local offset), and the local cut of a to-date period."""
    fields = p.to_dict()
    return {key: fields[key] for key in ("label", "start", "end", "last_day", "timezone",
                                         "start_utc", "end_utc", "start_at", "end_at", "cut")}


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
    #: The local day the report is made on, or a local instant (a naive datetime).
    as_of: date
    generated_at: str = field(default_factory=_now)
    #: The custom metrics of this run by name (:meth:`metric`), beside the catalogue's.
    custom_metrics: dict[str, Metric] = field(default_factory=dict)

    @property
    def team_name(self) -> str:
        """The team's name; the whole company's in the active locale ("All teams")."""
        name = self.store.team_name(self.team)
        return _(name) if self.team == ALL_TEAMS else name

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
        """The instant the report is made at, naive UTC: the as-of instant when one is
        given (a to-date period's cut), else the end of the as-of day."""
        return as_of_end_utc(self.as_of, self.period.timezone)

    @property
    def coverage(self) -> Coverage:
        """How the data covers the period and its comparison (computed once)."""
        if not hasattr(self, "_coverage"):
            found = self._coverage_of(self._spans(ALL_TEAMS))
            if self.period.cut is not None:  # a to-date page says first what it compares
                said = to_date_statement(self.period, self.comparison, self.compare_to)
                found = dataclasses.replace(found, notes=(said, *found.notes))
            elif self.in_progress and not found.empty:
                found = dataclasses.replace(found, notes=(self._in_progress_note(), *found.notes))
            self._coverage = found
        return self._coverage

    @property
    def in_progress(self) -> bool:
        """Whether the period, of whole days, is not over at the as-of instant
        (``this-month`` on the 10th): its numbers are those so far (:attr:`counted`), and
        they are not compared with a whole comparison period (:attr:`compared`). A to-date
        period is compared with the same elapsed part of its comparison period."""
        return self.period.cut is None and self.as_of_end < self.period.end_utc

    @property
    def counted(self) -> Period:
        """The span whose records the page counts: the period, or, while a period of whole
        days is not over at the as-of instant, the period up to that instant (``2025-06 to
        date``). A page of June made as of the 10th on data that runs to the 30th (made
        late, or made again for the record) counts nothing of 11-30 June, as June to date
        would not; its title, its comparison and its quota target stay the whole month's.
        The period itself (the same object) when it counts whole."""
        if not hasattr(self, "_counted"):
            p, cut = self.period, _cut(self.as_of)
            self._counted = (cut_at(p, cut) if p.cut is None and p.start_local < cut < p.end_local
                             else p)
        return self._counted

    def before_quotas(self, summaries: Sequence[tuple[Period, Any]]) -> list[str]:
        """For each ``(period, summary)`` that starts before the company's first quota: its
        quota attainment N/A (its target covers only part of it: a whole year's revenue
        against half a year's quotas read 200.1%, and the next year "fell" by 100.8 pp),
        and a note saying so."""
        if "quotas" not in self.store.tables:
            return []
        first = F.one_row(F.lazy(self.store.tables["quotas"]).select(
            nw.col("period_start").min().alias("first")))["first"]
        if first is None:
            return []
        first = pd.Timestamp(first).date()
        notes = []
        for period, summary in summaries:
            if period.start < first and summary["metrics"].get("quota_attainment") is not None:
                summary["metrics"]["quota_attainment"] = None
                notes.append(_("Quotas begin on {day}: {period} starts before them, so its "
                               "quota target covers only part of it and its quota attainment "
                               "is N/A.").format(day=first, period=period.label))
        return notes

    @property
    def compared(self) -> bool:
        """Whether the page states and tests changes against its comparison period: there is
        one, the period is over (:attr:`in_progress`) and has data (not
        :attr:`Coverage.empty`). Otherwise every change is N/A in the JSON, the cards say
        why, and nothing is called up or down (a month's first ten days fell "significantly"
        against the whole month before, and a period after the data by 100%)."""
        return self.comparison is not None and not self.in_progress and not self.coverage.empty

    @property
    def converted_by(self) -> list[datetime]:
        """The instants before which the leads of the period, and of its comparison period,
        count as converted: the as-of instant for the period, and the instant at which the
        comparison period was as old (:func:`~crmkit.periods.same_age`), so the two cohorts
        are compared at the same age (June's leads on 30 June with May's as they stood on
        31 May, not with May's after a month more to convert); the as-of instant for both
        when the period is not compared (:attr:`compared`: in progress, the comparison is
        shown whole; or without data). The period's age is taken at the end of the data's
        last day when that comes first (no conversion after it can be in the data); its leads
        are those created by then, and the comparison period's those created as long after
        its start."""
        at = self.as_of_end
        if self.comparison is None:
            return [at]
        if not self.compared:
            return [at, at]
        return [at, same_age(self.period, self.comparison, self._seen())]

    def _seen(self) -> date:
        """The as-of day or instant, or the end of the data's last day when that is earlier
        (a local instant): up to when the data can show what became of the period's leads."""
        last = self.coverage.last_day
        if last is not None:
            end = datetime.combine(last + timedelta(days=1), time(0))
            if end < _cut(self.as_of):
                return end
        return self.as_of

    def same_age_note(self, name: str, then: Any, aged: SameAge) -> str:
        """The data note of a metric compared at the same age (:class:`SameAge`): up to
        when the comparison period's leads count, its value then and by now."""
        c = self.comparison
        assert c is not None  # compared
        m = lookup(name)
        before = _local(aged.before, c.timezone)
        until = _until_in_words(before)
        as_of = _until_in_words(_cut(self._seen()))
        then_shown, by_now = (_plain(v, m.unit, self.currency) if v is not None else "—"
                              for v in (then, aged.by_now))
        return _("{metric} is compared at the same age: the leads of {period} have had until "
                 "{as_of} to convert, so of {comparison} only the leads created and converted "
                 "by {until}, as long after its start, are counted: {then}, while {by_now} of "
                 "all its leads have converted so far.").format(
            metric=_(m.label), period=self.period.label, as_of=as_of, comparison=c.label,
            until=until, then=then_shown, by_now=by_now)

    def per_day_note(self, name: str, now: float, then: float, test: Test) -> str:
        """The data note of a count or total whose rate a day moved significantly against
        its total, the periods being of different lengths (:attr:`crmkit.stats.Test.per_day`)."""
        c = self.comparison
        assert c is not None  # compared
        text = (_("{metric}: {total} in total, but {period} is shorter than {comparison}: a "
                  "day it is {rate} ({p}), a significant change of the rate; the change "
                  "of the total is not called significant.")
                if self.counted.length_days < c.length_days else
                _("{metric}: {total} in total, but {period} is longer than {comparison}: a "
                  "day it is {rate} ({p}), a significant change of the rate; the change "
                  "of the total is not called significant."))
        assert test.p_value is not None and test.per_day is not None
        p = (f"p < {i18n.decimal('0.001')}" if test.p_value < 0.001
             else f"p = {i18n.decimal(f'{test.p_value:.3f}')}")
        return text.format(metric=_(self.definition(name).label), period=self.counted.label,
                           comparison=c.label, total=signed(100 * (now / then - 1), 1, "%"),
                           rate=signed(100 * test.per_day, 1, "%"), p=p)

    def _in_progress_note(self) -> str:
        p, c = self.period, self.comparison
        if c is None:
            return _("{period} is not over (as of {as_of}): its numbers are those so "
                     "far.").format(period=p.label, as_of=as_of_in_words(self.as_of))
        said = _("{period} is not over (as of {as_of}): its numbers so far are not compared "
                 "with the whole of {comparison}, so no change is shown or tested.").format(
            period=p.label, as_of=as_of_in_words(self.as_of), comparison=c.label)
        if p.kind == "range":
            return said
        return " ".join((said, _("{period} to date, a period of its own, compares them with "
                                 "the same part of {comparison}.").format(period=p.label,
                                                                          comparison=c.label)))

    def coverage_notes(self) -> list[str]:
        """Sentences that say why a page shows zeros and N/A (an empty database, a team
        without records, a period before or after the data or only partly in it, a
        comparison period before a kind of record starts); none when the data covers the
        period and its comparison. A to-date period's page says first what it covers and
        compares (:func:`to_date_statement`). Shown under the page header and kept in the
        JSON notes."""
        return list(self.coverage.notes)

    def page_notes(self, notes: Sequence[str]) -> list[str]:
        """The notes listed under the page's "Data notes": ``notes`` without the coverage
        sentences, which the page says once, under its header (the JSON keeps them all)."""
        said = set(self.coverage.notes)
        return [note for note in notes if note not in said]

    def _spans(self, team: str) -> dict[str, Span]:
        """The spans of the team's records (:func:`spans`), remembered by the data's
        fingerprint in a kernel crmkit runs reports in (:func:`crmkit.store.keep_stores`),
        which renders page after page of the same data, each of which asks; not in an
        analyst's session, whose store's tables may have been changed."""
        tables = self.store.tables if team == ALL_TEAMS else self.tables
        if self.store.database is None or not stores_kept():  # frames, or an analyst's tables
            return spans(tables, self.period.timezone)
        key = (self.store.fingerprint(), team, self.period.timezone)
        if key not in _SPANS:
            if len(_SPANS) >= 64:
                _SPANS.clear()
            _SPANS[key] = spans(tables, self.period.timezone)
        return _SPANS[key]

    def _coverage_of(self, found: dict[str, Span]) -> Coverage:
        c = self.comparison
        later = [s for s in found.values() if c is not None and s.first > c.start]
        if not found:
            return Coverage((_("The data holds no records at all (no {kinds}): {empty}.").format(
                kinds=_kinds(), empty=_(_EMPTY)),), empty=True, comparison_before_data=False)
        if self.team != ALL_TEAMS and not self._spans(self.team):
            return Coverage((_("Team {team} has no records in the data (no {kinds} of its members "
                               "or of its customers): {empty}.").format(
                team=self.team_name, kinds=_kinds(), empty=_(_EMPTY)),),
                empty=True, comparison_before_data=False)
        first = min(s.first for s in found.values())
        last = max(s.last for s in found.values())
        p = self.period
        if p.last_day < first or p.start > last:
            where = (_("This period lies before the data, which starts on {day}: {empty}.")
                     if p.last_day < first else
                     _("This period lies after the data, which ends on {day}: {empty}."))
            return Coverage((where.format(day=first if p.last_day < first else last,
                                          empty=_(_EMPTY)),), empty=True,
                            comparison_before_data=bool(later), last_day=last)
        notes = []
        if p.start < first or p.last_day > last:
            notes.append(_("The data covers only {start} to {end} of this period (its records run "
                           "from {first} to {last}).").format(
                start=max(first, p.start), end=min(last, p.last_day), first=first, last=last))
        if c is not None and later:
            kinds = ", ".join(_("{what} (from {first})").format(what=_(s.what), first=s.first)
                              for s in later)
            notes.append(_("The comparison period {period} ({start} to {end}) begins before the "
                           "data has {kinds}: for those its numbers are 0 or N/A because nothing "
                           "was recorded yet, and a change against it compares with missing "
                           "data.").format(period=c.label, start=c.start, end=c.last_day,
                                           kinds=kinds))
        return Coverage(tuple(notes), empty=False, comparison_before_data=bool(later),
                        last_day=last)

    def compute(self, metrics: Callable[[Period], dict[str, Any]],
                significance: Callable[[Any, Any], dict[str, Any]] | None = None,
                ) -> ReportData[dict[str, Any], None]:
        """ReportData from a function of a period that returns named metrics, evaluated for
        the report's period (up to the as-of instant while it is not over: :attr:`counted`)
        and its comparison period (custom reports start here). With
        ``significance``, a domain's tests of two periods' summaries (such as
        :func:`crmkit.metrics.sales.significance`), the function returns a summary (its
        ``metrics``, with the ``samples`` and ``intervals`` the tests read, as
        :func:`crmkit.metrics.sales.summary` does): each change is then tested, and the page
        says which are significant. A quota target a summary computes is then that of the
        span counted, prorated (the built-in reports keep the whole period's)."""
        previous = metrics(self.comparison) if self.comparison else None
        if significance is None:
            return ReportData(self, metrics=metrics(self.counted), comparison=previous,
                              breakdowns={}, notes=self.coverage_notes())
        return ReportData.from_summaries(self, metrics(self.counted), previous, significance,
                                         breakdowns={}, extra=None, notes=self.coverage_notes())

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
        period, up to the as-of instant while it is not over (:attr:`counted`; e.g.
        ``ctx.frame("deals", period="closed_at")``)."""
        if table not in self.tables:
            raise ParameterError(f"there is no table {shown(table)}; the tables are "
                                 f"{', '.join(self.tables)}")
        lf = self.tables[table]
        if period is not None:
            if period not in lf.collect_schema().names():
                raise ParameterError(f"table {table} has no column {shown(period)}")
            lf = lf.filter((nw.col(period) >= self.counted.start_utc)
                           & (nw.col(period) < self.counted.end_utc))
        return lf.collect().to_pandas()

    def sql_parameters(self) -> dict[str, Any]:
        """The scope a query of :meth:`sql` reads as parameters: ``$start``, ``$end`` (the
        period as naive UTC instants, end exclusive, up to the as-of instant while it is not
        over: :attr:`counted`), ``$team`` (an id, or ``all``) and, with a comparison period,
        ``$previous_start`` and ``$previous_end``."""
        scope: dict[str, Any] = {"start": self.counted.start_utc, "end": self.counted.end_utc,
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
            ngettext("Import: {where}: {count} row: {rule}.", "Import: {where}: {count} rows: {rule}.",
                     note.count).format(
                where=f"{note.table}{f'.{note.column}' if note.column else ''}",
                count=i18n.decimal(f"{note.count:,}"), rule=_(note.rule))
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
            "period": _span(p),
            "team": self.team,
            "team_name": self.team_name,
            "compare_to": self.compare_to,
            "comparison_period": _span(c) if c else None,
            "as_of": self.as_of.isoformat(),
            "coverage": {"empty": self.coverage.empty,
                         "comparison_before_data": self.coverage.comparison_before_data,
                         "in_progress": self.in_progress, "compared": self.compared,
                         "counted_until": (None if self.counted is self.period
                                           else _span(self.counted)["end_at"])},
        }

    def meta(self) -> dict[str, Any]:
        """The header fields of the page (its heading is the title of :meth:`describe`)."""
        p, c = self.period, self.comparison
        dates = _("{first} to {last}").format(first=p.start.isoformat(),
                                              last=p.last_day.isoformat())
        compared = None
        if c is not None:
            compared = f"{c.label} ({_('{first} to {last}').format(first=c.start, last=c.last_day)})"
        if p.cut is not None:  # to date: the days and the cut, the part compared
            dates = period_in_words(p)
            if c is not None:
                compared = (f"{c.label} ({period_in_words(c)}, "
                            f"{_same_part(p, c, self.compare_to)})")
        return {
            "title": self.describe()["title"],
            "period_label": p.label,
            "period_dates": dates,
            "team_name": self.team_name,
            "comparison": compared,
            "timezone": p.timezone,
            "as_of": as_of_in_words(self.as_of),
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
