"""Report periods: parsing, comparison periods, buckets and time-zone cuts.

A :class:`Period` is a half-open range of *local calendar days* in the company
time zone: ``start <= day < end``.  Timestamps in the data are stored as naive
UTC, so reports filter facts with ``period.start_utc <= ts < period.end_utc``;
both bounds are local midnights converted to UTC with :mod:`zoneinfo`, so they
are correct across daylight-saving changes.  A *to-date* period is a unit (a day,
ISO week, month, quarter...) cut short at the as-of instant: its ``cut`` is that
local wall-clock time, ``end_utc`` is the cut converted to UTC, ``end`` the day
after the cut's day, and ``full_end`` the end the whole unit would have.

Period grammar (case-insensitive, surrounding whitespace ignored)::

    2025-06                  month
    2025-Q2                  calendar quarter
    2025-H1                  calendar half
    2025                     calendar year
    2025-W23                 ISO week (Monday start, ISO year rules)
    2025-06-01..2025-06-15   range, inclusive on both ends
    FY2025, FY2025-Q1, FY2025-H1
                             fiscal year / quarter / half; FY2025 is the fiscal
                             year that ENDS in calendar 2025
    this-month, last-month, this-quarter, last-quarter, ytd,
    last-7d, last-30d, last-90d
                             relative to the ``as_of`` day, whole days
    today, this-week, month-to-date, quarter-to-date
                             to date: from the start of the day, ISO week (Monday
                             start), month or quarter (fiscal, like this-quarter)
                             holding ``as_of`` up to the as-of instant (exclusive)
    2025-06 to date          the label of a to-date period, read back: a month,
                             quarter, half, year, ISO week, fiscal period or day
                             (2025-06-15 to date) cut at the as-of instant, which
                             must lie in it; its folder (slug) is 2025-06_to_date,
                             the same all month

``as_of`` is a local date (``2025-06-15``: the instant is the end of that day) or a
local wall-clock time in the company time zone (``2025-06-15T14:00``, also
``2025-06-15T14:00:30``; a space may stand for the ``T``).  A time with an offset or
``Z`` is refused: give the local time.  A wall time that a daylight-saving change
skips or repeats is read as :mod:`zoneinfo` does with ``fold=0`` (the offset before
the change).  Without an as-of, whole-day periods use today and to-date periods now
(to the second), unless ``CRMKIT_AS_OF`` pins either.

A to-date period is compared with the same elapsed part of its comparison period:
the same wall-clock time from the unit's start (month-to-date on the 15th at 14:00
with the previous month up to the 15th at 14:00), clipped to the comparison unit's
own length (31 March compares with the whole of February).

Everything that goes wrong while reading user input raises :class:`PeriodError`
(a ``ValueError``) with a one-line message that shows the offending value and the valid
choices. Team selectors are resolved by :func:`crmkit.parameters.resolve_team`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crmkit.errors import PeriodError, one_line, shown

__all__ = [
    "REPORTABLE_FIRST",
    "REPORTABLE_LAST",
    "Period",
    "PeriodError",
    "as_of_end_utc",
    "check_reportable",
    "compare_period",
    "default_as_of",
    "is_to_date",
    "month_buckets",
    "parse_as_of",
    "parse_period",
    "same_age",
    "trend_months",
    "validate_compare_to",
    "validate_timezone",
    "week_buckets",
]

_VALID_FORMS = (
    "2025-06, 2025-Q2, 2025-H1, 2025, 2025-W23, 2025-06-01..2025-06-15, "
    "FY2025, FY2025-Q1, FY2025-H1, this-month, last-month, this-quarter, "
    "last-quarter, ytd, last-7d, last-30d, last-90d, today, this-week, month-to-date, "
    "quarter-to-date, '2025-06 to date'"
)
_AS_OF_FORMS = (
    "a date YYYY-MM-DD, a local time YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, or 'today'"
)
#: Relative periods cut at the as-of instant.
_TO_DATE_KEYWORDS = ("today", "this-week", "month-to-date", "quarter-to-date")
#: The end of a to-date period's label ("2025-06 to date").
_TO_DATE = " to date"
#: Months in the whole unit of each kind a to-date period may have (weeks and days aside).
_UNIT_MONTHS = {"month": 1, "quarter": 3, "fiscal_quarter": 3, "half": 6, "fiscal_half": 6,
                "year": 12, "fiscal_year": 12}
_COMPARE_TO = ("previous", "year_ago", "none")
_KINDS = frozenset(
    {
        "month",
        "quarter",
        "half",
        "year",
        "week",
        "range",
        "fiscal_year",
        "fiscal_quarter",
        "fiscal_half",
    }
)
# Years accepted in user input.  Keeps every derived date (comparison periods,
# fiscal years starting in the previous calendar year) well inside datetime's range.
_MIN_YEAR = 1900
_MAX_YEAR = 2999
#: Pins the as-of date or instant of every run (tests, replays of a past day).
AS_OF_ENV = _AS_OF_ENV = "CRMKIT_AS_OF"
#: The days a report may be made on and cover: one year inside the years above at each end,
#: since a report also reads the months before its comparison period and after its period.
REPORTABLE_FIRST = date(_MIN_YEAR + 1, 1, 1)
REPORTABLE_LAST = date(_MAX_YEAR - 1, 12, 31)

_PERIOD_CHARS = re.compile(r"[A-Za-z0-9.\-]")
_YEAR_RE = re.compile(r"(\d{4})", re.ASCII)
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_QUARTER_RE = re.compile(r"(\d{4})-Q(\d+)", re.ASCII)
_HALF_RE = re.compile(r"(\d{4})-H(\d+)", re.ASCII)
_WEEK_RE = re.compile(r"(\d{4})-W(\d+)", re.ASCII)
_DATE_TEXT = r"\d{4}-\d{2}-\d{2}"
_DATE_RE = re.compile(_DATE_TEXT, re.ASCII)
_RANGE_RE = re.compile(rf"({_DATE_TEXT})\.\.({_DATE_TEXT})", re.ASCII)
_FY_RE = re.compile(r"FY(\d{4})(?:-([QH])(\d+))?", re.ASCII)
_LAST_ND_RE = re.compile(r"last-(\d+)d", re.ASCII)
_TZ_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*", re.ASCII)
_FISCAL_LABEL_RE = re.compile(r"FY(\d{4})(?:-([QH])([1-4]))?", re.ASCII)
_SLUG_BAD = re.compile(r"[^A-Za-z0-9_\-]")
_TO_DATE_RE = re.compile(r"(\S+) +to +date", re.ASCII | re.IGNORECASE)
_INSTANT_RE = re.compile(rf"({_DATE_TEXT})[T ](\d{{2}}):(\d{{2}})(?::(\d{{2}}))?", re.ASCII)
_OFFSET_RE = re.compile(
    rf"{_DATE_TEXT}[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?\s*(?:Z|[+-]\d{{2}}(?::?\d{{2}})?)",
    re.ASCII | re.IGNORECASE,
)


# --------------------------------------------------------------------------- helpers


def _period_error(value: object, reason: str) -> PeriodError:
    return PeriodError(f"unknown period {shown(value)}: {reason}. Valid forms: {_VALID_FORMS}")


def _add_months(day: date, months: int) -> date:
    """First-of-month arithmetic: ``day`` must be the 1st of a month."""
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _iso_weeks_in_year(year: int) -> int:
    """52 or 53: 28 December always lies in the last ISO week of its year."""
    return date(year, 12, 28).isocalendar()[1]


def _range_label(start: date, last_day: date) -> str:
    return f"{start.isoformat()}..{last_day.isoformat()}"


def _minus_one_year(day: date) -> date:
    """Same calendar day one year earlier; 29 February becomes 28 February."""
    if day.month == 2 and day.day == 29:
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


def _fiscal_year_of(day: date, start_month: int) -> int:
    """Fiscal year containing ``day``; named by the calendar year it ends in."""
    if start_month == 1:
        return day.year
    return day.year + 1 if day.month >= start_month else day.year


def _fiscal_year_start(fy: int, start_month: int) -> date:
    return date(fy, 1, 1) if start_month == 1 else date(fy - 1, start_month, 1)


def _local_to_utc(at: datetime, tz: str) -> datetime:
    """Naive UTC datetime of the naive local wall-clock time ``at`` in ``tz``.

    ``fold=0`` makes a non-existent time (a DST jump) resolve with the offset
    before the jump: a non-existent midnight is exactly the first instant of its day.
    """
    return at.replace(tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC).replace(tzinfo=None)


def _local_midnight_utc(day: date, tz: str) -> datetime:
    """Naive UTC datetime of the first instant of local ``day`` in ``tz``."""
    return _local_to_utc(datetime.combine(day, time(0)), tz)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0))


def _day_of(as_of: date) -> date:
    """The local day of an as-of date or instant."""
    return as_of.date() if isinstance(as_of, datetime) else as_of


def _cut_of(as_of: date) -> datetime:
    """The local instant of an as-of setting: itself, or the end of the as-of day."""
    return as_of if isinstance(as_of, datetime) else _midnight(as_of + timedelta(days=1))


def _end_of_cut(cut: datetime) -> date:
    """The local day after the last day a cut at ``cut`` touches (a cut at midnight
    touches nothing of its day)."""
    return cut.date() if cut.time() == time(0) else cut.date() + timedelta(days=1)


def _as_of_text(as_of: date) -> str:
    """An as-of date or instant as a message shows it."""
    return as_of.isoformat(sep=" ") if isinstance(as_of, datetime) else as_of.isoformat()


# --------------------------------------------------------------------------- Period


@dataclass(frozen=True)
class Period:
    """A half-open range of local calendar days ``start <= day < end``, or of instants
    ``start <= t < cut`` for a to-date period.

    Attributes:
        label: canonical label, e.g. ``"2025-06"``, ``"2025-W23"``,
            ``"2025-06-01..2025-06-15"``, ``"FY2025-Q1"``; a to-date period's ends in
            ``" to date"``: ``"2025-06 to date"``, ``"2025-06-15 to date"`` (today).
        kind: one of ``month, quarter, half, year, week, range, fiscal_year,
            fiscal_quarter, fiscal_half`` (a to-date period has its unit's kind;
            ``today`` is a one-day range).
        start: first local day (inclusive).
        end: local day after the last one (exclusive); for a to-date period the day
            after the day of the cut (the cut's day itself when the cut is at midnight).
        timezone: IANA time zone the days are cut in.
        requested: the relative text the user asked for (``"last-month"``),
            lower-cased; ``None`` for absolute periods.
        cut: for a to-date period, the local wall-clock instant it ends at (exclusive,
            a naive datetime in ``timezone``); ``None`` for whole days.
        range_end: for a range of several days cut short (the days of a range not over,
            counted up to the as-of instant), the day after its whole days, where its
            forecast still runs to; ``None`` otherwise.
    """

    label: str
    kind: str
    start: date
    end: date
    timezone: str = "UTC"
    requested: str | None = None
    cut: datetime | None = None
    range_end: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise PeriodError(
                f"unknown period kind {shown(self.kind)}: use one of {', '.join(sorted(_KINDS))}"
            )
        if isinstance(self.start, datetime) or isinstance(self.end, datetime):
            raise PeriodError(f"period {shown(self.label)}: start and end must be dates")
        if not self.start < self.end:
            raise PeriodError(
                f"period {shown(self.label)}: start {self.start.isoformat()} "
                f"must be before end {self.end.isoformat()}"
            )
        validate_timezone(self.timezone)
        if self.cut is not None:
            self._check_cut(self.cut)

    def _check_cut(self, cut: object) -> None:
        where = f"period {shown(self.label)}"
        if not isinstance(cut, datetime) or cut.tzinfo is not None:
            raise PeriodError(f"{where}: its cut must be a local time without a time zone")
        whole = _midnight(self.full_end)
        if not self.start_local < cut <= whole:
            raise PeriodError(f"{where}: its cut {cut.isoformat(sep=' ')} must lie after its "
                              f"start {self.start} and by {whole.isoformat(sep=' ')}")
        if self.end != _end_of_cut(cut) or not self.label.endswith(_TO_DATE):
            raise PeriodError(f"{where}: a period cut at {cut.isoformat(sep=' ')} ends on "
                              f"{_end_of_cut(cut)} and has a label ending in {_TO_DATE!r}")

    @property
    def start_utc(self) -> datetime:
        """Local midnight of ``start`` as a naive UTC datetime (inclusive bound)."""
        return _local_midnight_utc(self.start, self.timezone)

    @property
    def end_utc(self) -> datetime:
        """Local midnight of ``end``, or the ``cut``, as a naive UTC datetime (exclusive)."""
        return _local_to_utc(self.end_local, self.timezone)

    @property
    def start_local(self) -> datetime:
        """Local midnight of ``start`` (a naive local datetime)."""
        return _midnight(self.start)

    @property
    def end_local(self) -> datetime:
        """The exclusive end as a naive local datetime: the ``cut``, else midnight of ``end``."""
        return self.cut if self.cut is not None else _midnight(self.end)

    @property
    def full_end(self) -> date:
        """The day after the whole unit: ``end``, except for a to-date period, whose unit
        would end later (the month end of ``2025-06 to date``; a range ends at ``end``, or at
        its ``range_end`` when it was cut short)."""
        if self.cut is None:
            return self.end
        if self.kind == "range":
            return self.range_end or self.end
        if self.kind == "week":
            return self.start + timedelta(days=7)
        return _add_months(self.start, _UNIT_MONTHS[self.kind])

    @property
    def uncut(self) -> Period:
        """The whole unit of a to-date period (``2025-06`` for ``2025-06 to date``); the
        period itself when it is not cut."""
        if self.cut is None:
            return self
        if self.kind == "range":
            return _range(self.start, self.full_end - timedelta(days=1), self.timezone,
                          self.requested)
        label = self.label.removesuffix(_TO_DATE)
        return Period(label, self.kind, self.start, self.full_end, self.timezone, self.requested)

    @property
    def days(self) -> int:
        """Number of local calendar days in the period (a day cut short counts)."""
        return (self.end - self.start).days

    @property
    def length_days(self) -> float:
        """The time the period spans, in days: between its instants, so a day of a
        daylight-saving change counts 23 or 25 hours and a to-date period ends at its cut.
        The exposure its counts are tested over (:func:`crmkit.stats.poisson_rate_test`)."""
        return (self.end_utc - self.start_utc) / timedelta(days=1)

    @property
    def last_day(self) -> date:
        """Last local day in the period (inclusive; the cut's day for a to-date period)."""
        return self.end - timedelta(days=1)

    @property
    def slug(self) -> str:
        """The label as a safe single path component (only ``[A-Za-z0-9_-]``); a to-date
        period's does not change with the cut: ``2025-06_to_date`` all month."""
        return _SLUG_BAD.sub("_", self.label.replace("..", "_to_"))

    def to_dict(self) -> dict[str, str | None]:
        """JSON-friendly description; ``end`` is exclusive, ``last_day`` inclusive;
        ``start_at`` and ``end_at`` are the bounds as instants with their UTC offset;
        ``cut`` the local wall-clock end of a to-date period (else ``None``)."""
        return {
            "label": self.label,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "last_day": self.last_day.isoformat(),
            "timezone": self.timezone,
            "start_utc": self.start_utc.isoformat(),
            "end_utc": self.end_utc.isoformat(),
            "start_at": self._aware(self.start_utc),
            "end_at": self._aware(self.end_utc),
            "cut": self.cut.isoformat() if self.cut is not None else None,
            "requested": self.requested,
        }

    def _aware(self, utc: datetime) -> str:
        return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(self.timezone)).isoformat()

    def __str__(self) -> str:
        return self.label


# --------------------------------------------------------------------------- constructors


def _month(year: int, month: int, tz: str, requested: str | None = None) -> Period:
    start = date(year, month, 1)
    return Period(f"{year:04d}-{month:02d}", "month", start, _add_months(start, 1), tz, requested)


def _quarter(year: int, q: int, tz: str, requested: str | None = None) -> Period:
    start = date(year, 3 * (q - 1) + 1, 1)
    return Period(f"{year:04d}-Q{q}", "quarter", start, _add_months(start, 3), tz, requested)


def _half(year: int, h: int, tz: str) -> Period:
    start = date(year, 6 * (h - 1) + 1, 1)
    return Period(f"{year:04d}-H{h}", "half", start, _add_months(start, 6), tz)


def _year(year: int, tz: str) -> Period:
    return Period(f"{year:04d}", "year", date(year, 1, 1), date(year + 1, 1, 1), tz)


def _week(iso_year: int, week: int, tz: str, requested: str | None = None) -> Period:
    start = date.fromisocalendar(iso_year, week, 1)
    return Period(
        f"{iso_year:04d}-W{week:02d}", "week", start, start + timedelta(days=7), tz, requested
    )


def _range(start: date, last_day: date, tz: str, requested: str | None = None) -> Period:
    return Period(
        _range_label(start, last_day), "range", start, last_day + timedelta(days=1), tz, requested
    )


def _fiscal_year(fy: int, start_month: int, tz: str) -> Period:
    start = _fiscal_year_start(fy, start_month)
    return Period(f"FY{fy:04d}", "fiscal_year", start, _add_months(start, 12), tz)


def _fiscal_quarter(
    fy: int, q: int, start_month: int, tz: str, requested: str | None = None
) -> Period:
    start = _add_months(_fiscal_year_start(fy, start_month), 3 * (q - 1))
    return Period(f"FY{fy:04d}-Q{q}", "fiscal_quarter", start, _add_months(start, 3), tz, requested)


def _fiscal_half(fy: int, h: int, start_month: int, tz: str) -> Period:
    start = _add_months(_fiscal_year_start(fy, start_month), 6 * (h - 1))
    return Period(f"FY{fy:04d}-H{h}", "fiscal_half", start, _add_months(start, 6), tz)


def cut_at(whole: Period, cut: datetime) -> Period:
    """``whole`` cut short at the local instant ``cut`` (after its start, by its end):
    ``2025-06 to date``; a one-day range is named by its day, ``2025-06-15 to date``."""
    if not whole.start_local < cut <= whole.end_local:
        raise PeriodError(
            f"period {shown(whole.label)} cannot be cut at {cut.isoformat(sep=' ')}: the cut "
            f"must lie after {whole.start_local.isoformat(sep=' ')} and by "
            f"{whole.end_local.isoformat(sep=' ')}"
        )
    one_day = whole.kind == "range" and whole.days == 1
    base = whole.start.isoformat() if one_day else whole.label
    return Period(base + _TO_DATE, whole.kind, whole.start, _end_of_cut(cut), whole.timezone,
                  whole.requested, cut, whole.full_end if whole.kind == "range" else None)


# --------------------------------------------------------------------------- validation


def validate_timezone(name: str) -> str:
    """Return ``name`` (stripped) if it is a known IANA time zone, else raise PeriodError."""
    hint = "use an IANA name such as UTC, Europe/Berlin, America/New_York"
    if not isinstance(name, str):
        raise PeriodError(f"unknown time zone {shown(name)}: must be text; {hint}")
    candidate = name.strip()
    if not _TZ_RE.fullmatch(candidate) or ".." in candidate:
        raise PeriodError(f"unknown time zone {shown(name)}: {hint}")
    try:
        ZoneInfo(candidate)
    except Exception:  # ZoneInfoNotFoundError, ValueError, OSError on odd files
        raise PeriodError(f"unknown time zone {shown(name)}: {hint}") from None
    return candidate


def validate_compare_to(value: str) -> str:
    """Normalise a ``compare_to`` setting to ``previous``, ``year_ago`` or ``none``.

    Case and surrounding spaces are ignored (control characters are not);
    ``None`` means ``none``.
    """
    if value is None:
        return "none"
    if isinstance(value, str) and value.isprintable():
        normal = value.strip().lower()
        if normal in _COMPARE_TO:
            return normal
    raise PeriodError(
        f"unknown compare_to {shown(value)}: valid values are {', '.join(_COMPARE_TO)}"
    )


def _check_fiscal_start(month: object) -> int:
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        raise PeriodError(
            f"invalid fiscal_year_start_month {shown(month)}: must be an integer 1..12"
        )
    return month


def _parse_iso_date(text: str) -> date | None:
    """Strict ``YYYY-MM-DD`` (ASCII digits only); ``None`` if not a real date."""
    if not _DATE_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _as_of_in_range(as_of: date, what: str = "as_of") -> date:
    """``as_of`` if its year is one a period may have, else a one-line PeriodError."""
    if not _MIN_YEAR <= as_of.year <= _MAX_YEAR:
        raise PeriodError(
            f"invalid {what} {_as_of_text(as_of)}: the year must be {_MIN_YEAR}..{_MAX_YEAR}; "
            "give the day the report is made on as YYYY-MM-DD (or a local time YYYY-MM-DDTHH:MM)"
        )
    return as_of


def _as_of_error(what: str, value: object) -> PeriodError:
    day = value.strip()[:10] if isinstance(value, str) else ""
    if _DATE_RE.fullmatch(day):  # the right form, but no such day (2025-02-30)
        try:
            date.fromisoformat(day)
        except ValueError as exc:
            return PeriodError(f"invalid {what} {shown(value)}: {day} is not a day of the "
                               f"calendar ({exc})")
    return PeriodError(f"invalid {what} {shown(value)}: expected {_AS_OF_FORMS}")


def _parse_as_of_text(raw: object, text: str, what: str, tz: str) -> date:
    """A date or a local time (a naive datetime) from ``text``; a one-line error naming
    ``what`` (``as_of``, ``CRMKIT_AS_OF``) and the accepted forms otherwise."""
    day = _parse_iso_date(text)
    if day is not None:
        return _as_of_in_range(day, what)
    if m := _INSTANT_RE.fullmatch(text):
        day = _parse_iso_date(m.group(1))
        hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
        if day is not None and hour < 24 and minute < 60 and second < 60:
            return _as_of_in_range(datetime.combine(day, time(hour, minute, second)), what)
    elif _OFFSET_RE.fullmatch(text):
        raise PeriodError(
            f"invalid {what} {shown(raw)}: give the local time in the company time zone "
            f"({tz}) without an offset or Z, e.g. {text[:16]}"
        )
    raise _as_of_error(what, raw)


def default_as_of(timezone: str = "UTC", *, instant: bool = False) -> date:
    """Today in ``timezone`` (with ``instant``: now, a naive local datetime to the
    second), or the date or local time in the ``CRMKIT_AS_OF`` env var if set."""
    tz = validate_timezone(timezone)
    pinned = os.environ.get(_AS_OF_ENV, "").strip()
    if pinned:
        return _parse_as_of_text(pinned, pinned, _AS_OF_ENV, tz)
    now = datetime.now(ZoneInfo(tz))
    return now.replace(microsecond=0, tzinfo=None) if instant else now.date()


def parse_as_of(value: str | date | None, timezone: str = "UTC", *, instant: bool = False
                ) -> date:
    """Resolve an ``as_of`` setting to a local date, or to a local instant: a naive
    ``datetime``, wall-clock time in ``timezone`` (see the module docstring).

    ``None``, ``""`` and ``"today"`` mean :func:`default_as_of` (``instant``: now, for
    to-date periods).  A ``date`` is returned as is; an aware ``datetime`` is converted to
    ``timezone`` first, a naive one is taken as local wall-clock time (both to the
    second).  Text is ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM`` or ``YYYY-MM-DDTHH:MM:SS``; a
    time with an offset or ``Z`` is refused.  The result's ``isoformat()`` reads back.
    """
    if value is None:
        return default_as_of(timezone, instant=instant)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(validate_timezone(timezone))).replace(tzinfo=None)
        return _as_of_in_range(value.replace(microsecond=0))
    if isinstance(value, date):
        return _as_of_in_range(value)
    if isinstance(value, str) and value.isprintable():
        text = value.strip()
        if text == "" or text.lower() == "today":
            return default_as_of(timezone, instant=instant)
        return _parse_as_of_text(value, text, "as_of", validate_timezone(timezone))
    raise _as_of_error("as_of", value)


def as_of_end_utc(as_of: date, timezone: str) -> datetime:
    """The instant a report is made at, as naive UTC: the as-of local time, or the end
    of the as-of day."""
    return _local_to_utc(_cut_of(as_of), validate_timezone(timezone))


def same_age(period: Period, comparison: Period, as_of: date) -> datetime:
    """The instant (naive UTC) at which ``comparison`` was as old as ``period`` is at the
    as-of day or instant: the same wall-clock time after its start (the local midnight 30
    days after 1 May for June on 30 June). A cohort of each period (the leads created in
    it) is compared as it stood at that age, not one with a month to convert against one
    with days. ``comparison``'s start when ``period`` has not begun."""
    elapsed = max(_cut_of(as_of) - period.start_local, timedelta(0))
    return _local_to_utc(comparison.start_local + elapsed, comparison.timezone)


def is_to_date(text: object) -> bool:
    """Whether a period setting is cut at the as-of instant (``today``, ``this-week``,
    ``month-to-date``, ``quarter-to-date``, ``2025-06 to date``): its default as-of is
    now, not today."""
    if not isinstance(text, str):
        return False
    key = text.strip().lower()
    return key in _TO_DATE_KEYWORDS or bool(_TO_DATE_RE.fullmatch(key))


# --------------------------------------------------------------------------- parsing


def _check_year(raw: str, year: int) -> int:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise _period_error(raw, f"year must be {_MIN_YEAR}..{_MAX_YEAR}")
    return year


def _quarter_of(day: date, step: int, tz: str, fiscal_start: int, key: str) -> Period:
    """The quarter holding ``day`` (``step`` quarters back), fiscal unless it starts in January."""
    if fiscal_start == 1:
        index = day.year * 4 + (day.month - 1) // 3 - step
        return _quarter(index // 4, index % 4 + 1, tz, key)
    fy = _fiscal_year_of(day, fiscal_start)
    q = ((day.month - fiscal_start) % 12) // 3 + 1
    index = fy * 4 + (q - 1) - step
    return _fiscal_quarter(index // 4, index % 4 + 1, fiscal_start, tz, key)


def _to_date(raw: str, key: str, as_of_value: str | date | None, tz: str, fiscal_start: int
             ) -> Period:
    """A to-date keyword: the unit holding the as-of day, cut at the as-of instant."""
    as_of = parse_as_of(as_of_value, tz, instant=True)
    day = _day_of(as_of)
    if key == "today":
        unit = _range(day, day, tz, key)
    elif key == "this-week":
        iso_year, week, _ = day.isocalendar()
        unit = _week(iso_year, week, tz, key)
    elif key == "month-to-date":
        unit = _month(day.year, day.month, tz, key)
    else:
        unit = _quarter_of(day, 0, tz, fiscal_start, key)
    if _cut_of(as_of) <= unit.start_local:
        raise PeriodError(f"period {shown(raw)} as of {_as_of_text(as_of)} is empty: the as-of "
                          "instant is its first instant; give a later --as-of")
    return cut_at(unit, _cut_of(as_of))


def _parse_relative(
    raw: str, key: str, as_of_value: str | date | None, tz: str, fiscal_start: int
) -> Period | None:
    """Resolve a relative keyword, or return None if ``key`` is not one."""
    keywords = ("this-month", "last-month", "this-quarter", "last-quarter", "ytd")
    if key in _TO_DATE_KEYWORDS:
        return _to_date(raw, key, as_of_value, tz, fiscal_start)
    last_nd = _LAST_ND_RE.fullmatch(key)
    if key not in keywords and not last_nd:
        return None
    as_of = _day_of(parse_as_of(as_of_value, tz))
    if key == "this-month":
        return _month(as_of.year, as_of.month, tz, key)
    if key == "last-month":
        prev = _add_months(_month_start(as_of), -1)
        return _month(prev.year, prev.month, tz, key)
    if key in ("this-quarter", "last-quarter"):
        return _quarter_of(as_of, 0 if key == "this-quarter" else 1, tz, fiscal_start, key)
    if key == "ytd":
        start = _fiscal_year_start(_fiscal_year_of(as_of, fiscal_start), fiscal_start)
        return _range(start, as_of, tz, key)
    assert last_nd is not None
    n = int(last_nd.group(1))
    if n not in (7, 30, 90):
        raise _period_error(raw, "relative day windows are last-7d, last-30d and last-90d")
    return _range(as_of - timedelta(days=n - 1), as_of, tz, key)


def _parse_label_to_date(
    raw: str, base: str, as_of_value: str | date | None, tz: str, fiscal_start: int
) -> Period:
    """``<period> to date``: a month, quarter, half, year, ISO week, fiscal period or day
    cut at the as-of instant, which must lie in it."""
    day = _parse_iso_date(base)
    unit: Period | None
    if day is not None:
        _check_year(raw, day.year)
        unit = _range(day, day, tz)
    else:
        unit = _parse_absolute(raw, base.upper(), tz, fiscal_start)
    if unit is None or (unit.kind == "range" and day is None):
        raise _period_error(raw, "'to date' follows a month, quarter, half, year, ISO week, "
                            "fiscal period or day, e.g. 2025-06 to date")
    as_of = parse_as_of(as_of_value, tz, instant=True)
    if not unit.start_local < _cut_of(as_of) <= unit.end_local:
        raise _period_error(raw, f"the as-of {_as_of_text(as_of)} is not inside {unit.label} "
                            f"({unit.start} to {unit.last_day}); give an --as-of in it")
    return cut_at(unit, _cut_of(as_of))


def _parse_absolute(raw: str, key: str, tz: str, fiscal_start: int) -> Period | None:
    """Parse an absolute form (``key`` is upper-cased), or return None if none matches."""
    if m := _YEAR_RE.fullmatch(key):
        return _year(_check_year(raw, int(m.group(1))), tz)
    if m := _MONTH_RE.fullmatch(key):
        year, month = _check_year(raw, int(m.group(1))), int(m.group(2))
        if not 1 <= month <= 12:
            raise _period_error(raw, "month must be 01..12")
        return _month(year, month, tz)
    if m := _QUARTER_RE.fullmatch(key):
        year, q = _check_year(raw, int(m.group(1))), int(m.group(2))
        if not 1 <= q <= 4:
            raise _period_error(raw, "quarter must be Q1..Q4")
        return _quarter(year, q, tz)
    if m := _HALF_RE.fullmatch(key):
        year, h = _check_year(raw, int(m.group(1))), int(m.group(2))
        if h not in (1, 2):
            raise _period_error(raw, "half must be H1 or H2")
        return _half(year, h, tz)
    if m := _WEEK_RE.fullmatch(key):
        year, week = _check_year(raw, int(m.group(1))), int(m.group(2))
        if len(m.group(2)) != 2:
            raise _period_error(raw, "ISO week must be two digits, W01..W53")
        weeks = _iso_weeks_in_year(year)
        if not 1 <= week <= 53:
            raise _period_error(raw, "ISO week must be W01..W53")
        if week > weeks:
            raise _period_error(raw, f"ISO year {year} has no week 53 (it has W01..W{weeks})")
        return _week(year, week, tz)
    if m := _RANGE_RE.fullmatch(key):
        first = _parse_iso_date(m.group(1))
        last = _parse_iso_date(m.group(2))
        for text, day in ((m.group(1), first), (m.group(2), last)):
            if day is None:
                raise _period_error(raw, f"{text} is not a valid date")
        assert first is not None and last is not None
        _check_year(raw, first.year)
        _check_year(raw, last.year)
        if first > last:
            raise _period_error(
                raw, f"range start {first.isoformat()} is after its end {last.isoformat()}"
            )
        return _range(first, last, tz)
    if m := _FY_RE.fullmatch(key):
        fy = _check_year(raw, int(m.group(1)))
        unit, number = m.group(2), m.group(3)
        if unit is None:
            return _fiscal_year(fy, fiscal_start, tz)
        n = int(number)
        if unit == "Q":
            if not 1 <= n <= 4:
                raise _period_error(raw, "fiscal quarter must be Q1..Q4")
            return _fiscal_quarter(fy, n, fiscal_start, tz)
        if n not in (1, 2):
            raise _period_error(raw, "fiscal half must be H1 or H2")
        return _fiscal_half(fy, n, fiscal_start, tz)
    return None


def parse_period(
    text: str,
    *,
    as_of: str | date | None = None,
    timezone: str = "UTC",
    fiscal_year_start_month: int = 1,
) -> Period:
    """Parse a period setting into a :class:`Period` (see the module docstring).

    Args:
        text: the period as typed; case-insensitive, surrounding whitespace ignored.
            A bare integer year (e.g. ``2025`` from YAML) is accepted.
        as_of: local "today" (a date) or now (a naive local datetime) for relative and
            to-date forms, or text :func:`parse_as_of` reads; default
            :func:`default_as_of` (now for to-date forms). Only consulted for those forms.
        timezone: IANA name of the company time zone.
        fiscal_year_start_month: 1..12; with a value other than 1, ``this-quarter``,
            ``last-quarter`` and ``ytd`` follow the fiscal calendar.

    Raises:
        PeriodError: for any invalid input (one-line message with the valid forms).
    """
    try:
        tz = validate_timezone(timezone)
        fiscal_start = _check_fiscal_start(fiscal_year_start_month)
        if isinstance(text, int) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str):
            raise _period_error(text, f"a period must be text, got {type(text).__name__}")
        for ch in text:
            if not ch.isprintable():
                raise _period_error(text, f"character {ch!r} is not allowed")
        key = text.strip()
        if not key:
            raise _period_error(text, "the period is empty")
        to_date = _TO_DATE_RE.fullmatch(key)
        for ch in to_date.group(1) if to_date else key:
            if not _PERIOD_CHARS.fullmatch(ch):
                raise _period_error(text, f"character {ch!r} is not allowed")
        if to_date:
            return _parse_label_to_date(text, to_date.group(1), as_of, tz, fiscal_start)
        relative = _parse_relative(text, key.lower(), as_of, tz, fiscal_start)
        if relative is not None:
            if relative.start.year < _MIN_YEAR:
                raise _period_error(
                    text, f"it would be {relative.label}, before the year {_MIN_YEAR}; "
                    "give a later --as-of"
                )
            return relative
        period = _parse_absolute(text, key.upper(), tz, fiscal_start)
        if period is not None:
            return period
        if _DATE_RE.fullmatch(key):
            raise _period_error(text, f"a single day is written as a range, e.g. {key}..{key}")
        raise _period_error(text, "not a recognised period form")
    except PeriodError:
        raise
    except Exception as exc:  # defensive: never leak another exception type
        raise _period_error(text, one_line(f"cannot be parsed ({type(exc).__name__})")) from None


def check_reportable(period: Period, as_of: date, data_last_day: date | None = None) -> None:
    """Refuse (one line) a report that cannot be made: an as-of day or a period outside
    :data:`REPORTABLE_FIRST` .. :data:`REPORTABLE_LAST`, or a period that starts after the
    as-of day (nothing in it has happened yet) or after the data's last day (a UTC date, so
    a day of slack for time zones ahead of UTC). ``as_of`` is a date or a local instant."""
    first, last = REPORTABLE_FIRST.isoformat(), REPORTABLE_LAST.isoformat()
    shown_as_of, as_of = _as_of_text(as_of), _day_of(as_of)
    if not REPORTABLE_FIRST <= as_of <= REPORTABLE_LAST:
        raise PeriodError(
            f"as_of {shown_as_of} is out of range: reports are made on days from "
            f"{first} to {last}"
        )
    if period.start < REPORTABLE_FIRST or period.last_day > REPORTABLE_LAST:
        raise PeriodError(
            f"period {shown(period.label)} ({period.start} to {period.last_day}) is out of "
            f"range: a report covers days from {first} to {last}"
        )
    if period.start > as_of:
        raise PeriodError(
            f"period {shown(period.label)} starts after the as-of day {as_of.isoformat()}: "
            f"nothing in it has happened yet; choose a period that starts by "
            f"{as_of.isoformat()}, or pass --as-of (a later day the report is made on)"
        )
    if data_last_day is not None and period.start > data_last_day + timedelta(days=1):
        raise PeriodError(
            f"period {shown(period.label)} starts after the data's last day "
            f"{data_last_day.isoformat()}: its page would have no data; choose a period that "
            f"starts by {data_last_day.isoformat()}, or import newer data"
        )


# --------------------------------------------------------------------------- comparison


def _fiscal_parts(period: Period) -> tuple[int, int, int]:
    """(fiscal year, unit number, fiscal start month) from a fiscal period's label."""
    m = _FISCAL_LABEL_RE.fullmatch(period.label)
    if not m:
        raise PeriodError(f"period {shown(period.label)}: not a fiscal label like FY2025-Q1")
    fy = int(m.group(1))
    number = int(m.group(3)) if m.group(3) else 1
    months_in = {"fiscal_year": 12, "fiscal_quarter": 3, "fiscal_half": 6}[period.kind]
    offset = 0 if period.kind == "fiscal_year" else months_in * (number - 1)
    start_month = (period.start.month - 1 - offset) % 12 + 1
    return fy, number, start_month


def compare_period(period: Period, compare_to: str) -> Period | None:
    """The comparison period for ``compare_to`` (``previous``, ``year_ago``, ``none``).

    ``previous`` is the unit just before (ranges: the same number of days just
    before); ``year_ago`` is the same unit one year earlier (ISO weeks: same week
    number of the previous ISO year, W52 when it has no W53; ranges: both
    inclusive ends one calendar year back, 29 Feb -> 28 Feb).  The result keeps
    the time zone and has ``requested=None``.

    A to-date period is compared with the same elapsed part of that unit: cut after the
    same wall-clock time from its start (the 15th at 14:00 of the previous month, the
    same weekday and time of the previous week, yesterday at the same time), or whole
    when it is shorter (31 March to date compares with the whole of February).
    """
    mode = validate_compare_to(compare_to)
    if mode == "none":
        return None
    if period.cut is None:
        return _compare_whole(period, mode)
    other = _compare_whole(period.uncut, mode)
    elapsed = period.cut - period.start_local
    return cut_at(other, min(other.start_local + elapsed, other.end_local))


def _compare_whole(period: Period, mode: str) -> Period:
    """:func:`compare_period` of a period of whole days, ``mode`` previous or year_ago."""
    tz = period.timezone
    kind = period.kind
    back_year = mode == "year_ago"
    if kind == "month":
        start = _add_months(period.start, -12 if back_year else -1)
        return _month(start.year, start.month, tz)
    if kind == "quarter":
        start = _add_months(period.start, -12 if back_year else -3)
        return _quarter(start.year, (start.month - 1) // 3 + 1, tz)
    if kind == "half":
        start = _add_months(period.start, -12 if back_year else -6)
        return _half(start.year, (start.month - 1) // 6 + 1, tz)
    if kind == "year":
        return _year(period.start.year - 1, tz)
    if kind == "week":
        iso_year, week, _ = period.start.isocalendar()
        if back_year:
            year = iso_year - 1
            return _week(year, min(week, _iso_weeks_in_year(year)), tz)
        prev = (period.start - timedelta(days=7)).isocalendar()
        return _week(prev[0], prev[1], tz)
    if kind == "range":
        if back_year:
            return _range(_minus_one_year(period.start), _minus_one_year(period.last_day), tz)
        return _range(period.start - timedelta(days=period.days), period.start - timedelta(1), tz)
    fy, number, start_month = _fiscal_parts(period)
    if kind == "fiscal_year":
        return _fiscal_year(fy - 1, start_month, tz)
    if kind == "fiscal_quarter":
        if back_year:
            return _fiscal_quarter(fy - 1, number, start_month, tz)
        index = fy * 4 + number - 2
        return _fiscal_quarter(index // 4, index % 4 + 1, start_month, tz)
    # fiscal_half
    if back_year:
        return _fiscal_half(fy - 1, number, start_month, tz)
    index = fy * 2 + number - 2
    return _fiscal_half(index // 2, index % 2 + 1, start_month, tz)


# --------------------------------------------------------------------------- buckets


def _clipped(period: Period, start: date, end: date, whole: Period) -> Period:
    """``whole`` if it lies inside ``period``, else the clipped part as a range; the part
    that holds a to-date period's cut is cut there too."""
    lo, hi = max(start, period.start), min(end, period.end)
    if lo == start and (hi == end or (period.cut is not None and hi == period.end)):
        return _cut_in(whole, period)  # whole, or the whole unit cut short: 2025-06 to date
    return _cut_in(_range(lo, hi - timedelta(days=1), period.timezone), period)


def _cut_in(part: Period, period: Period) -> Period:
    """``part`` cut at ``period``'s cut when the cut falls inside it, else ``part``."""
    if period.cut is not None and part.start_local < period.cut < part.end_local:
        return cut_at(part, period.cut)
    return part


def _month_starts(first: date, last: date) -> Iterator[date]:
    current = _month_start(first)
    while current <= last:
        yield current
        current = _add_months(current, 1)


def month_buckets(period: Period) -> list[Period]:
    """Calendar months overlapping ``period``, each clipped to it, in order.

    Whole months are ``kind="month"``; partial ones are ``kind="range"``; the one that
    holds a to-date period's cut is cut there (``2025-06 to date``).
    """
    buckets = []
    for start in _month_starts(period.start, period.last_day):
        whole = _month(start.year, start.month, period.timezone)
        buckets.append(_clipped(period, whole.start, whole.end, whole))
    return buckets


def week_buckets(period: Period) -> list[Period]:
    """ISO weeks overlapping ``period``, each clipped to it, in order.

    Whole weeks are ``kind="week"``; partial ones are ``kind="range"``; the one that holds
    a to-date period's cut is cut there (``2025-W24 to date``).
    """
    buckets = []
    current = period.start - timedelta(days=period.start.weekday())
    while current < period.end:
        iso_year, week, _ = current.isocalendar()
        whole = _week(iso_year, week, period.timezone)
        buckets.append(_clipped(period, whole.start, whole.end, whole))
        current += timedelta(days=7)
    return buckets


def trend_months(period: Period, n: int = 12) -> list[Period]:
    """The ``n`` whole calendar months ending with the month of ``period.last_day``.

    Oldest first; every item is ``kind="month"`` in the period's time zone; the last is
    cut where a to-date period is (``2025-06 to date``), so it counts nothing after it.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise PeriodError(f"invalid number of trend months {shown(n)}: must be an integer >= 1")
    last = _month_start(period.last_day)
    first = _add_months(last, -(n - 1))
    months = [_month(d.year, d.month, period.timezone) for d in _month_starts(first, last)]
    return [*months[:-1], _cut_in(months[-1], period)]
