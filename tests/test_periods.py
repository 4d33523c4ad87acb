"""Tests for crmkit.periods.  Every expected value below is computed by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from crmkit.errors import TeamError
from crmkit.parameters import resolve_team
from crmkit.periods import (
    Period,
    PeriodError,
    check_reportable,
    compare_period,
    default_as_of,
    is_to_date,
    month_buckets,
    parse_as_of,
    parse_period,
    same_age,
    trend_months,
    validate_compare_to,
    validate_timezone,
    week_buckets,
)

D = date
AS_OF = D(2026, 11, 28)


def span(p: Period) -> tuple[str, str, str, date, date]:
    return (p.label, p.kind, str(p.requested), p.start, p.end)


def labels(periods: list[Period]) -> list[str]:
    return [p.label for p in periods]


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    "text, label, kind, start, end",
    [
        ("2025-06", "2025-06", "month", D(2025, 6, 1), D(2025, 7, 1)),
        ("2025-12", "2025-12", "month", D(2025, 12, 1), D(2026, 1, 1)),
        ("2024-02", "2024-02", "month", D(2024, 2, 1), D(2024, 3, 1)),
        ("2025-Q1", "2025-Q1", "quarter", D(2025, 1, 1), D(2025, 4, 1)),
        ("2025-Q2", "2025-Q2", "quarter", D(2025, 4, 1), D(2025, 7, 1)),
        ("2025-Q4", "2025-Q4", "quarter", D(2025, 10, 1), D(2026, 1, 1)),
        ("2025-H1", "2025-H1", "half", D(2025, 1, 1), D(2025, 7, 1)),
        ("2025-H2", "2025-H2", "half", D(2025, 7, 1), D(2026, 1, 1)),
        ("2025", "2025", "year", D(2025, 1, 1), D(2026, 1, 1)),
        ("2025-W23", "2025-W23", "week", D(2025, 6, 2), D(2025, 6, 9)),
        # ISO week 1 of 2025 starts in calendar 2024 (1 Jan 2025 is a Wednesday)
        ("2025-W01", "2025-W01", "week", D(2024, 12, 30), D(2025, 1, 6)),
        ("2025-W52", "2025-W52", "week", D(2025, 12, 22), D(2025, 12, 29)),
        # 2020 and 2026 have 53 ISO weeks
        ("2020-W53", "2020-W53", "week", D(2020, 12, 28), D(2021, 1, 4)),
        ("2026-W53", "2026-W53", "week", D(2026, 12, 28), D(2027, 1, 4)),
        ("2026-W01", "2026-W01", "week", D(2025, 12, 29), D(2026, 1, 5)),
        (
            "2025-06-01..2025-06-15",
            "2025-06-01..2025-06-15",
            "range",
            D(2025, 6, 1),
            D(2025, 6, 16),
        ),
        ("2025-06-01..2025-06-01", "2025-06-01..2025-06-01", "range", D(2025, 6, 1), D(2025, 6, 2)),
        (
            "2024-02-29..2024-03-01",
            "2024-02-29..2024-03-01",
            "range",
            D(2024, 2, 29),
            D(2024, 3, 2),
        ),
        (
            "2025-12-31..2026-01-01",
            "2025-12-31..2026-01-01",
            "range",
            D(2025, 12, 31),
            D(2026, 1, 2),
        ),
        # fiscal year starting in January == calendar
        ("FY2025", "FY2025", "fiscal_year", D(2025, 1, 1), D(2026, 1, 1)),
        ("FY2025-Q2", "FY2025-Q2", "fiscal_quarter", D(2025, 4, 1), D(2025, 7, 1)),
        ("FY2025-H2", "FY2025-H2", "fiscal_half", D(2025, 7, 1), D(2026, 1, 1)),
    ],
)
def test_absolute_forms(text: str, label: str, kind: str, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.label, p.kind, p.start, p.end) == (label, kind, start, end)
    assert p.timezone == "UTC"
    assert p.requested is None
    assert str(p) == label


@pytest.mark.parametrize(
    "text, label",
    [
        ("2025-q2", "2025-Q2"),
        ("2025-h1", "2025-H1"),
        ("2025-w23", "2025-W23"),
        ("fy2025-q1", "FY2025-Q1"),
        ("Fy2025-h2", "FY2025-H2"),
        ("fy2025", "FY2025"),
        ("  2025-06  ", "2025-06"),
        (" 2025-06-01..2025-06-15 ", "2025-06-01..2025-06-15"),
    ],
)
def test_case_insensitive_and_stripped(text: str, label: str) -> None:
    assert parse_period(text).label == label


def test_integer_year_is_accepted() -> None:
    p = parse_period(2025)  # type: ignore[arg-type]  # e.g. an unquoted YAML value
    assert (p.label, p.start, p.end) == ("2025", D(2025, 1, 1), D(2026, 1, 1))


def test_properties() -> None:
    p = parse_period("2025-06-01..2025-06-15")
    assert p.days == 15
    assert p.last_day == D(2025, 6, 15)
    assert p.slug == "2025-06-01_to_2025-06-15"
    assert parse_period("2025-W23").slug == "2025-W23"
    assert parse_period("2024").days == 366
    assert parse_period("2025-02").days == 28
    assert parse_period("2025-Q1").last_day == D(2025, 3, 31)


def test_to_dict() -> None:
    p = parse_period("2025-06", timezone="Europe/Berlin")
    assert p.to_dict() == {
        "label": "2025-06",
        "kind": "month",
        "start": "2025-06-01",
        "end": "2025-07-01",
        "last_day": "2025-06-30",
        "timezone": "Europe/Berlin",
        "start_utc": "2025-05-31T22:00:00",
        "end_utc": "2025-06-30T22:00:00",
        "start_at": "2025-06-01T00:00:00+02:00",
        "end_at": "2025-07-01T00:00:00+02:00",
        "cut": None,
        "requested": None,
    }


def test_period_is_frozen_and_checked() -> None:
    p = parse_period("2025-06")
    with pytest.raises(AttributeError):
        p.label = "x"  # type: ignore[misc]
    with pytest.raises(PeriodError):
        Period("bad", "month", D(2025, 7, 1), D(2025, 7, 1))
    with pytest.raises(PeriodError):
        Period("bad", "decade", D(2025, 1, 1), D(2035, 1, 1))
    with pytest.raises(PeriodError):
        Period("2025-06", "month", D(2025, 6, 1), D(2025, 7, 1), "Mars/Olympus")


# --------------------------------------------------------------------------- relative


@pytest.mark.parametrize(
    "text, label, kind, start, end",
    [
        ("this-month", "2026-11", "month", D(2026, 11, 1), D(2026, 12, 1)),
        ("last-month", "2026-10", "month", D(2026, 10, 1), D(2026, 11, 1)),
        ("this-quarter", "2026-Q4", "quarter", D(2026, 10, 1), D(2027, 1, 1)),
        ("last-quarter", "2026-Q3", "quarter", D(2026, 7, 1), D(2026, 10, 1)),
        ("ytd", "2026-01-01..2026-11-28", "range", D(2026, 1, 1), D(2026, 11, 29)),
        ("last-7d", "2026-11-22..2026-11-28", "range", D(2026, 11, 22), D(2026, 11, 29)),
        ("last-30d", "2026-10-30..2026-11-28", "range", D(2026, 10, 30), D(2026, 11, 29)),
        ("last-90d", "2026-08-31..2026-11-28", "range", D(2026, 8, 31), D(2026, 11, 29)),
    ],
)
def test_relative_forms(text: str, label: str, kind: str, start: date, end: date) -> None:
    p = parse_period(text, as_of=AS_OF)
    assert span(p) == (label, kind, text, start, end)


def test_relative_is_case_insensitive_and_records_normalised_text() -> None:
    p = parse_period(" Last-Month ", as_of=AS_OF)
    assert (p.label, p.requested) == ("2026-10", "last-month")


@pytest.mark.parametrize(
    "text, as_of, label, start, end",
    [
        ("last-month", D(2026, 1, 15), "2025-12", D(2025, 12, 1), D(2026, 1, 1)),
        ("last-quarter", D(2026, 1, 15), "2025-Q4", D(2025, 10, 1), D(2026, 1, 1)),
        ("this-quarter", D(2026, 3, 31), "2026-Q1", D(2026, 1, 1), D(2026, 4, 1)),
        ("ytd", D(2026, 1, 1), "2026-01-01..2026-01-01", D(2026, 1, 1), D(2026, 1, 2)),
        ("last-7d", D(2024, 3, 1), "2024-02-24..2024-03-01", D(2024, 2, 24), D(2024, 3, 2)),
        ("last-7d", D(2026, 1, 3), "2025-12-28..2026-01-03", D(2025, 12, 28), D(2026, 1, 4)),
    ],
)
def test_relative_edges(text: str, as_of: date, label: str, start: date, end: date) -> None:
    p = parse_period(text, as_of=as_of)
    assert (p.label, p.start, p.end) == (label, start, end)


def test_relative_uses_env_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "2026-11-28")
    assert parse_period("last-month").label == "2026-10"


def test_relative_as_of_may_be_text() -> None:
    p = parse_period("this-month", as_of="2026-02-10")  # type: ignore[arg-type]
    assert p.label == "2026-02"


def test_absolute_forms_ignore_bad_env_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "not-a-date")
    assert parse_period("2025-06").label == "2025-06"
    with pytest.raises(PeriodError, match="CRMKIT_AS_OF"):
        parse_period("this-month")


# --------------------------------------------------------------------------- fiscal


@pytest.mark.parametrize(
    "text, kind, start, end",
    [
        ("FY2025", "fiscal_year", D(2024, 4, 1), D(2025, 4, 1)),
        ("FY2025-Q1", "fiscal_quarter", D(2024, 4, 1), D(2024, 7, 1)),
        ("FY2025-Q2", "fiscal_quarter", D(2024, 7, 1), D(2024, 10, 1)),
        ("FY2025-Q3", "fiscal_quarter", D(2024, 10, 1), D(2025, 1, 1)),
        ("FY2025-Q4", "fiscal_quarter", D(2025, 1, 1), D(2025, 4, 1)),
        ("FY2025-H1", "fiscal_half", D(2024, 4, 1), D(2024, 10, 1)),
        ("FY2025-H2", "fiscal_half", D(2024, 10, 1), D(2025, 4, 1)),
    ],
)
def test_fiscal_april(text: str, kind: str, start: date, end: date) -> None:
    p = parse_period(text, fiscal_year_start_month=4)
    assert (p.label, p.kind, p.start, p.end) == (text, kind, start, end)


@pytest.mark.parametrize(
    "text, start, end",
    [
        ("FY2025", D(2024, 7, 1), D(2025, 7, 1)),
        ("FY2025-Q1", D(2024, 7, 1), D(2024, 10, 1)),
        ("FY2025-Q2", D(2024, 10, 1), D(2025, 1, 1)),
        ("FY2025-Q3", D(2025, 1, 1), D(2025, 4, 1)),
        ("FY2025-Q4", D(2025, 4, 1), D(2025, 7, 1)),
        ("FY2025-H1", D(2024, 7, 1), D(2025, 1, 1)),
        ("FY2025-H2", D(2025, 1, 1), D(2025, 7, 1)),
    ],
)
def test_fiscal_july(text: str, start: date, end: date) -> None:
    p = parse_period(text, fiscal_year_start_month=7)
    assert (p.label, p.start, p.end) == (text, start, end)


def test_calendar_forms_unaffected_by_fiscal_setting() -> None:
    p = parse_period("2025-Q2", fiscal_year_start_month=4)
    assert (p.label, p.kind, p.start, p.end) == ("2025-Q2", "quarter", D(2025, 4, 1), D(2025, 7, 1))
    assert parse_period("this-month", as_of=AS_OF, fiscal_year_start_month=4).label == "2026-11"


@pytest.mark.parametrize(
    "fy_start, text, as_of, label, start, end",
    [
        # April start: 2026-11-28 lies in FY2027 (2026-04-01..2027-03-31), its Q3
        (4, "this-quarter", AS_OF, "FY2027-Q3", D(2026, 10, 1), D(2027, 1, 1)),
        (4, "last-quarter", AS_OF, "FY2027-Q2", D(2026, 7, 1), D(2026, 10, 1)),
        (4, "ytd", AS_OF, "2026-04-01..2026-11-28", D(2026, 4, 1), D(2026, 11, 29)),
        # February lies in the last quarter of FY2026
        (4, "this-quarter", D(2026, 2, 10), "FY2026-Q4", D(2026, 1, 1), D(2026, 4, 1)),
        (4, "ytd", D(2026, 2, 10), "2025-04-01..2026-02-10", D(2025, 4, 1), D(2026, 2, 11)),
        # April 1st starts FY2027-Q1; the quarter before is FY2026-Q4
        (4, "this-quarter", D(2026, 4, 1), "FY2027-Q1", D(2026, 4, 1), D(2026, 7, 1)),
        (4, "last-quarter", D(2026, 4, 1), "FY2026-Q4", D(2026, 1, 1), D(2026, 4, 1)),
        # July start
        (7, "this-quarter", AS_OF, "FY2027-Q2", D(2026, 10, 1), D(2027, 1, 1)),
        (7, "last-quarter", AS_OF, "FY2027-Q1", D(2026, 7, 1), D(2026, 10, 1)),
        (7, "last-quarter", D(2026, 8, 15), "FY2026-Q4", D(2026, 4, 1), D(2026, 7, 1)),
        (7, "ytd", D(2026, 8, 15), "2026-07-01..2026-08-15", D(2026, 7, 1), D(2026, 8, 16)),
        (7, "ytd", D(2026, 6, 30), "2025-07-01..2026-06-30", D(2025, 7, 1), D(2026, 7, 1)),
    ],
)
def test_fiscal_relative(
    fy_start: int, text: str, as_of: date, label: str, start: date, end: date
) -> None:
    p = parse_period(text, as_of=as_of, fiscal_year_start_month=fy_start)
    assert (p.label, p.start, p.end, p.requested) == (label, start, end, text)


@pytest.mark.parametrize("bad", [0, 13, -1, True, "4", 4.0])
def test_bad_fiscal_start_month(bad: object) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period("2025", fiscal_year_start_month=bad)  # type: ignore[arg-type]
    assert "fiscal_year_start_month" in str(err.value)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- compare_to


@pytest.mark.parametrize(
    "text, fy_start, prev, prev_start, prev_end",
    [
        ("2025-06", 1, "2025-05", D(2025, 5, 1), D(2025, 6, 1)),
        ("2025-01", 1, "2024-12", D(2024, 12, 1), D(2025, 1, 1)),
        ("2024-03", 1, "2024-02", D(2024, 2, 1), D(2024, 3, 1)),
        ("2025-Q1", 1, "2024-Q4", D(2024, 10, 1), D(2025, 1, 1)),
        ("2025-Q3", 1, "2025-Q2", D(2025, 4, 1), D(2025, 7, 1)),
        ("2025-H1", 1, "2024-H2", D(2024, 7, 1), D(2025, 1, 1)),
        ("2025-H2", 1, "2025-H1", D(2025, 1, 1), D(2025, 7, 1)),
        ("2025", 1, "2024", D(2024, 1, 1), D(2025, 1, 1)),
        ("2025-W23", 1, "2025-W22", D(2025, 5, 26), D(2025, 6, 2)),
        ("2021-W01", 1, "2020-W53", D(2020, 12, 28), D(2021, 1, 4)),
        ("2026-W01", 1, "2025-W52", D(2025, 12, 22), D(2025, 12, 29)),
        ("2025-W01", 1, "2024-W52", D(2024, 12, 23), D(2024, 12, 30)),
        ("2025-06-01..2025-06-15", 1, "2025-05-17..2025-05-31", D(2025, 5, 17), D(2025, 6, 1)),
        ("2024-03-01..2024-03-01", 1, "2024-02-29..2024-02-29", D(2024, 2, 29), D(2024, 3, 1)),
        ("2024-02-29..2024-03-10", 1, "2024-02-18..2024-02-28", D(2024, 2, 18), D(2024, 2, 29)),
        ("FY2025", 4, "FY2024", D(2023, 4, 1), D(2024, 4, 1)),
        ("FY2025-Q1", 4, "FY2024-Q4", D(2024, 1, 1), D(2024, 4, 1)),
        ("FY2025-Q3", 4, "FY2025-Q2", D(2024, 7, 1), D(2024, 10, 1)),
        ("FY2025-H1", 4, "FY2024-H2", D(2023, 10, 1), D(2024, 4, 1)),
        ("FY2025-H2", 7, "FY2025-H1", D(2024, 7, 1), D(2025, 1, 1)),
        ("FY2025-Q1", 7, "FY2024-Q4", D(2024, 4, 1), D(2024, 7, 1)),
        ("FY2025-Q1", 1, "FY2024-Q4", D(2024, 10, 1), D(2025, 1, 1)),
    ],
)
def test_compare_previous(
    text: str, fy_start: int, prev: str, prev_start: date, prev_end: date
) -> None:
    p = parse_period(text, fiscal_year_start_month=fy_start)
    c = compare_period(p, "previous")
    assert c is not None
    assert (c.label, c.kind, c.start, c.end) == (prev, p.kind, prev_start, prev_end)


@pytest.mark.parametrize(
    "text, fy_start, ago, ago_start, ago_end",
    [
        ("2025-06", 1, "2024-06", D(2024, 6, 1), D(2024, 7, 1)),
        ("2024-02", 1, "2023-02", D(2023, 2, 1), D(2023, 3, 1)),
        ("2025-Q1", 1, "2024-Q1", D(2024, 1, 1), D(2024, 4, 1)),
        ("2025-H2", 1, "2024-H2", D(2024, 7, 1), D(2025, 1, 1)),
        ("2025", 1, "2024", D(2024, 1, 1), D(2025, 1, 1)),
        ("2025-W23", 1, "2024-W23", D(2024, 6, 3), D(2024, 6, 10)),
        ("2021-W01", 1, "2020-W01", D(2019, 12, 30), D(2020, 1, 6)),
        # 2025 has no week 53 -> W52
        ("2026-W53", 1, "2025-W52", D(2025, 12, 22), D(2025, 12, 29)),
        ("2020-W53", 1, "2019-W52", D(2019, 12, 23), D(2019, 12, 30)),
        # 2015 has 53 ISO weeks (starts 2015-12-28)
        ("2016-W01", 1, "2015-W01", D(2014, 12, 29), D(2015, 1, 5)),
        ("2025-06-01..2025-06-15", 1, "2024-06-01..2024-06-15", D(2024, 6, 1), D(2024, 6, 16)),
        ("2024-02-29..2024-03-10", 1, "2023-02-28..2023-03-10", D(2023, 2, 28), D(2023, 3, 11)),
        ("2024-02-01..2024-02-29", 1, "2023-02-01..2023-02-28", D(2023, 2, 1), D(2023, 3, 1)),
        ("2024-02-29..2024-02-29", 1, "2023-02-28..2023-02-28", D(2023, 2, 28), D(2023, 3, 1)),
        ("2025-02-28..2025-03-01", 1, "2024-02-28..2024-03-01", D(2024, 2, 28), D(2024, 3, 2)),
        ("FY2025", 4, "FY2024", D(2023, 4, 1), D(2024, 4, 1)),
        ("FY2025-Q1", 4, "FY2024-Q1", D(2023, 4, 1), D(2023, 7, 1)),
        ("FY2025-H2", 7, "FY2024-H2", D(2024, 1, 1), D(2024, 7, 1)),
    ],
)
def test_compare_year_ago(
    text: str, fy_start: int, ago: str, ago_start: date, ago_end: date
) -> None:
    p = parse_period(text, fiscal_year_start_month=fy_start)
    c = compare_period(p, "year_ago")
    assert c is not None
    assert (c.label, c.kind, c.start, c.end) == (ago, p.kind, ago_start, ago_end)


def test_compare_ytd_range() -> None:
    ytd = parse_period("ytd", as_of=AS_OF)  # 2026-01-01..2026-11-28, 332 days
    assert ytd.days == 332
    prev = compare_period(ytd, "previous")
    ago = compare_period(ytd, "year_ago")
    assert prev is not None and ago is not None
    assert (prev.label, prev.start, prev.end) == (
        "2025-02-03..2025-12-31",
        D(2025, 2, 3),
        D(2026, 1, 1),
    )
    assert (ago.label, ago.start, ago.end) == (
        "2025-01-01..2025-11-28",
        D(2025, 1, 1),
        D(2025, 11, 29),
    )


def test_compare_keeps_timezone_and_drops_requested() -> None:
    p = parse_period("last-month", as_of=AS_OF, timezone="Europe/Berlin")
    assert p.requested == "last-month"
    c = compare_period(p, "previous")
    assert c is not None
    assert (c.label, c.timezone, c.requested) == ("2026-09", "Europe/Berlin", None)
    # 2026-09-01 00:00 CEST (UTC+2)
    assert c.start_utc == datetime(2026, 8, 31, 22, 0)


def test_compare_none() -> None:
    assert compare_period(parse_period("2025-06"), "none") is None
    assert compare_period(parse_period("2025-06"), " NONE ") is None


def test_compare_bad_value() -> None:
    with pytest.raises(PeriodError) as err:
        compare_period(parse_period("2025-06"), "last_year")
    msg = str(err.value)
    assert "last_year" in msg and "previous" in msg and "year_ago" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "value, expected",
    [("previous", "previous"), ("Year_Ago", "year_ago"), (" none ", "none"), (None, "none")],
)
def test_validate_compare_to(value: str, expected: str) -> None:
    assert validate_compare_to(value) == expected


@pytest.mark.parametrize("bad", ["", "prev", "year-ago", "previous\n", "x\ny", 1])
def test_validate_compare_to_rejects(bad: object) -> None:
    with pytest.raises(PeriodError) as err:
        validate_compare_to(bad)  # type: ignore[arg-type]
    msg = str(err.value)
    assert "\n" not in msg
    assert "previous, year_ago, none" in msg


# --------------------------------------------------------------------------- time zones


def test_utc_bounds_default_timezone() -> None:
    p = parse_period("2025-06")
    assert (p.start_utc, p.end_utc) == (datetime(2025, 6, 1), datetime(2025, 7, 1))
    assert p.start_utc.tzinfo is None and p.end_utc.tzinfo is None


def test_utc_bounds_berlin_summer() -> None:
    p = parse_period("2025-06", timezone="Europe/Berlin")
    assert p.start_utc == datetime(2025, 5, 31, 22, 0)
    assert p.end_utc == datetime(2025, 6, 30, 22, 0)


def test_utc_bounds_across_dst_start() -> None:
    # Berlin switches CET (+1) -> CEST (+2) on 2025-03-30
    p = parse_period("2025-03", timezone="Europe/Berlin")
    assert p.start_utc == datetime(2025, 2, 28, 23, 0)
    assert p.end_utc == datetime(2025, 3, 31, 22, 0)
    # New York switches EST (-5) -> EDT (-4) on 2025-03-09: that local day lasts 23 hours
    day = parse_period("2025-03-09..2025-03-09", timezone="America/New_York")
    assert day.start_utc == datetime(2025, 3, 9, 5, 0)
    assert day.end_utc == datetime(2025, 3, 10, 4, 0)
    assert day.end_utc - day.start_utc == timedelta(hours=23)


def test_utc_bounds_across_dst_end() -> None:
    # New York switches back to EST on 2025-11-02: that local day lasts 25 hours
    day = parse_period("2025-11-02..2025-11-02", timezone="America/New_York")
    assert day.start_utc == datetime(2025, 11, 2, 4, 0)
    assert day.end_utc == datetime(2025, 11, 3, 5, 0)


def test_utc_bounds_when_midnight_does_not_exist() -> None:
    # Santiago jumps from 2025-09-07 00:00 (-04) to 01:00 (-03): the day starts at 04:00 UTC
    p = parse_period("2025-09-07..2025-09-07", timezone="America/Santiago")
    assert p.start_utc == datetime(2025, 9, 7, 4, 0)
    assert p.end_utc == datetime(2025, 9, 8, 3, 0)


def test_utc_bounds_half_hour_offset() -> None:
    p = parse_period("2025-06", timezone="Asia/Kolkata")  # UTC+05:30, no DST
    assert p.start_utc == datetime(2025, 5, 31, 18, 30)
    assert p.end_utc == datetime(2025, 6, 30, 18, 30)


def test_validate_timezone() -> None:
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    assert validate_timezone("UTC") == "UTC"
    assert validate_timezone(" America/New_York ") == "America/New_York"


@pytest.mark.parametrize(
    "bad", ["Mars/Olympus", "", "utc\n", "../../etc/passwd", "/etc/passwd", "Europe", None]
)
def test_validate_timezone_rejects(bad: object) -> None:
    with pytest.raises(PeriodError) as err:
        validate_timezone(bad)  # type: ignore[arg-type]
    msg = str(err.value)
    assert "\n" not in msg and "time zone" in msg


def test_parse_period_bad_timezone() -> None:
    with pytest.raises(PeriodError, match="Mars/Olympus"):
        parse_period("2025-06", timezone="Mars/Olympus")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("2025-13", "month must be 01..12"),
        ("2025-00", "month must be 01..12"),
        ("2025-Q5", "quarter must be Q1..Q4"),
        ("2025-Q0", "quarter must be Q1..Q4"),
        ("2025-H3", "half must be H1 or H2"),
        ("2025-W60", "W01..W53"),
        ("2025-W00", "W01..W53"),
        ("2025-W53", "no week 53"),
        ("2021-W53", "no week 53"),
        ("2025-W1", "two digits"),
        ("2025-02-30..2025-03-01", "2025-02-30 is not a valid date"),
        ("2025-02-29..2025-03-01", "2025-02-29 is not a valid date"),
        ("2025-06-01..2025-06-31", "2025-06-31 is not a valid date"),
        ("2025-06-15..2025-06-01", "after its end"),
        ("2025-06-01", "single day"),
        ("../../etc", "'/' is not allowed"),
        ("..", "not a recognised period form"),
        ('2025-06"', "is not allowed"),
        ("'2025-06'", "is not allowed"),
        ("x\ny", "'\\n' is not allowed"),
        ("2025-06\n", "'\\n' is not allowed"),
        ("2025\x00", "'\\x00' is not allowed"),
        ("2025-06 ; rm -rf", "' ' is not allowed"),
        ("", "empty"),
        ("   ", "empty"),
        ("last-60d", "last-7d, last-30d and last-90d"),
        ("next-month", "not a recognised period form"),
        ("FY2025-Q5", "fiscal quarter must be Q1..Q4"),
        ("FY2025-H3", "fiscal half must be H1 or H2"),
        ("FY25", "not a recognised period form"),
        ("1899", "year must be 1900..2999"),
        ("3000-01", "year must be 1900..2999"),
        ("2025-6", "not a recognised period form"),
        ("\u0662\u0660\u0662\u0665", "is not allowed"),  # Arabic-Indic digits
    ],
)
def test_parse_errors(bad: str, reason: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period(bad, as_of=AS_OF)
    msg = str(err.value)
    assert "\n" not in msg and "\r" not in msg
    assert repr(bad) in msg  # the bad value, escaped onto one line
    assert reason in msg
    assert "Valid forms: 2025-06, 2025-Q2" in msg and "last-90d" in msg


def test_parse_error_message_format() -> None:
    with pytest.raises(PeriodError) as err:
        parse_period("2025-13")
    assert str(err.value) == (
        "unknown period '2025-13': month must be 01..12. Valid forms: 2025-06, 2025-Q2, "
        "2025-H1, 2025, 2025-W23, 2025-06-01..2025-06-15, FY2025, FY2025-Q1, FY2025-H1, "
        "this-month, last-month, this-quarter, last-quarter, ytd, last-7d, last-30d, last-90d, "
        "today, this-week, month-to-date, quarter-to-date, '2025-06 to date'"
    )


@pytest.mark.parametrize("bad", [None, 2025.0, b"2025", ["2025"], True])
def test_parse_non_text(bad: object) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period(bad)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_long_value_is_truncated_in_message() -> None:
    with pytest.raises(PeriodError) as err:
        parse_period("9" * 500)
    msg = str(err.value)
    assert "9" * 80 + "..." in msg and "9" * 81 not in msg


def test_period_error_is_value_error() -> None:
    assert issubclass(PeriodError, ValueError)
    assert issubclass(TeamError, ValueError)


# --------------------------------------------------------------------------- as_of


def test_default_as_of_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "2026-11-28")
    assert default_as_of() == D(2026, 11, 28)
    assert default_as_of("Asia/Tokyo") == D(2026, 11, 28)


def test_default_as_of_bad_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "28.11.2026")
    with pytest.raises(PeriodError) as err:
        default_as_of()
    assert "28.11.2026" in str(err.value) and "CRMKIT_AS_OF" in str(err.value)


def test_default_as_of_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMKIT_AS_OF", raising=False)
    utc_today = datetime.now(UTC).date()
    # any zone's "today" is within one day of the UTC date
    for tz in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        assert abs((default_as_of(tz) - utc_today).days) <= 1


def test_parse_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "2026-11-28")
    assert parse_as_of("2025-06-15") == D(2025, 6, 15)
    assert parse_as_of(" 2025-06-15 ") == D(2025, 6, 15)
    assert parse_as_of(D(2025, 6, 15)) == D(2025, 6, 15)
    assert parse_as_of(None) == D(2026, 11, 28)
    assert parse_as_of("") == D(2026, 11, 28)
    assert parse_as_of("today") == D(2026, 11, 28)
    # an aware datetime is the local time in the company time zone: 23:30 UTC is 01:30 of the
    # next day in Berlin; a naive one is local wall-clock time (both to the second)
    aware = datetime(2025, 6, 15, 23, 30, tzinfo=UTC)
    assert parse_as_of(aware, "Europe/Berlin") == datetime(2025, 6, 16, 1, 30)
    assert parse_as_of(datetime(2025, 6, 15, 23, 30, 5, 999)) == datetime(2025, 6, 15, 23, 30, 5)


@pytest.mark.parametrize(
    "bad", ["2025-13-01", "20250615", "2025-06", "yesterday", "x\ny", "2025-06-15\n", 5]
)
def test_parse_as_of_rejects(bad: object) -> None:
    with pytest.raises(PeriodError) as err:
        parse_as_of(bad)  # type: ignore[arg-type]
    msg = str(err.value)
    assert "\n" not in msg and repr(str(bad)) in msg


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-06-15T14:00", datetime(2025, 6, 15, 14, 0)),
        ("2025-06-15T14:00:30", datetime(2025, 6, 15, 14, 0, 30)),
        (" 2025-06-15 14:00 ", datetime(2025, 6, 15, 14, 0)),
        ("2025-06-15T00:00", datetime(2025, 6, 15, 0, 0)),
        ("2024-02-29T23:59:59", datetime(2024, 2, 29, 23, 59, 59)),
    ],
)
def test_parse_as_of_local_time(text: str, expected: datetime) -> None:
    as_of = parse_as_of(text, "Europe/Berlin")
    assert as_of == expected and as_of.tzinfo is None  # type: ignore[attr-defined]
    assert parse_as_of(as_of.isoformat()) == as_of  # what the batch passes on reads back


@pytest.mark.parametrize(
    "bad", ["2025-06-15T14:00Z", "2025-06-15T14:00:30z", "2025-06-15T14:00+02:00",
            "2025-06-15T14:00-0500", "2025-06-15 14:00:00.5+01:00"],
)
def test_parse_as_of_refuses_an_offset(bad: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_as_of(bad, "Europe/Berlin")
    msg = str(err.value)
    assert "\n" not in msg and repr(bad) in msg
    assert "local time in the company time zone (Europe/Berlin) without an offset or Z" in msg


@pytest.mark.parametrize(
    "bad", ["2025-06-15T24:00", "2025-06-15T14:60", "2025-06-15T14",
            "2025-06-15T1400", "2025-06-15T14:00:00.250", "14:00", "now", "2025-06-15TT14:00"],
)
def test_parse_as_of_rejects_nonsense_times(bad: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_as_of(bad)
    msg = str(err.value)
    assert "\n" not in msg and repr(bad) in msg
    assert "YYYY-MM-DD, a local time YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS" in msg


def test_default_as_of_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "2026-11-28T09:15")
    assert default_as_of() == datetime(2026, 11, 28, 9, 15)
    assert parse_as_of(None, instant=True) == datetime(2026, 11, 28, 9, 15)
    monkeypatch.setenv("CRMKIT_AS_OF", "2026-11-28T09:15+01:00")
    with pytest.raises(PeriodError, match="CRMKIT_AS_OF.*without an offset"):
        default_as_of()
    monkeypatch.delenv("CRMKIT_AS_OF")
    now = default_as_of("Asia/Tokyo", instant=True)
    assert isinstance(now, datetime) and now.tzinfo is None and now.microsecond == 0
    assert type(default_as_of("Asia/Tokyo")) is date  # whole-day periods keep today


# --------------------------------------------------------------------------- to date

NOON = datetime(2026, 11, 18, 14, 0)  # a Wednesday


@pytest.mark.parametrize(
    "text, label, kind, start, end, full_end",
    [
        ("today", "2026-11-18 to date", "range", D(2026, 11, 18), D(2026, 11, 19),
         D(2026, 11, 19)),
        ("this-week", "2026-W47 to date", "week", D(2026, 11, 16), D(2026, 11, 19),
         D(2026, 11, 23)),
        ("month-to-date", "2026-11 to date", "month", D(2026, 11, 1), D(2026, 11, 19),
         D(2026, 12, 1)),
        ("quarter-to-date", "2026-Q4 to date", "quarter", D(2026, 10, 1), D(2026, 11, 19),
         D(2027, 1, 1)),
    ],
)
def test_to_date_forms(text: str, label: str, kind: str, start: date, end: date,
                       full_end: date) -> None:
    p = parse_period(text, as_of=NOON)
    assert span(p) == (label, kind, text, start, end)
    assert (p.cut, p.full_end, p.last_day) == (NOON, full_end, D(2026, 11, 18))
    assert (p.start_utc, p.end_utc) == (datetime.combine(start, datetime.min.time()), NOON)
    assert p.days == (end - start).days and p.uncut.end == full_end
    # the label reads back with the same as-of: the runner hands it to the notebook
    assert parse_period(p.label, as_of=NOON.isoformat()) == replace(p, requested=None)


def test_to_date_slug_is_stable_all_month() -> None:
    slugs = {parse_period("month-to-date", as_of=at).slug
             for at in (datetime(2025, 6, 1, 0, 0, 1), datetime(2025, 6, 15, 14, 0),
                        D(2025, 6, 30), "2025-06-30T23:59:59")}
    assert slugs == {"2025-06_to_date"}
    assert parse_period("today", as_of=NOON).slug == "2026-11-18_to_date"
    assert parse_period("this-week", as_of=NOON).slug == "2026-W47_to_date"


def test_to_date_with_a_date_runs_to_the_end_of_that_day() -> None:
    p = parse_period("month-to-date", as_of=D(2026, 11, 18), timezone="Europe/Berlin")
    assert (p.label, p.start, p.end, p.cut) == ("2026-11 to date", D(2026, 11, 1),
                                                D(2026, 11, 19), datetime(2026, 11, 19))
    assert p.end_utc == datetime(2026, 11, 18, 23, 0)  # midnight in Berlin (UTC+1)
    # a cut at midnight touches nothing of its day
    q = parse_period("month-to-date", as_of="2026-11-18T00:00")
    assert (q.end, q.last_day, q.days) == (D(2026, 11, 18), D(2026, 11, 17), 17)


def test_quarter_to_date_follows_the_fiscal_calendar() -> None:
    p = parse_period("quarter-to-date", as_of="2025-05-15T14:00", fiscal_year_start_month=4)
    assert (p.label, p.kind, p.start, p.full_end) == ("FY2026-Q1 to date", "fiscal_quarter",
                                                      D(2025, 4, 1), D(2025, 7, 1))
    back = parse_period(p.label, as_of="2025-05-15T14:00", fiscal_year_start_month=4)
    assert back.cut == p.cut and back.start == p.start


@pytest.mark.parametrize(
    "text, as_of, needle",
    [
        ("today", "2026-11-18T00:00", "is empty"),
        ("month-to-date", "2026-11-01T00:00", "is empty"),
        ("2026-11 to date", "2026-12-02T10:00", "is not inside 2026-11"),
        ("2026-11 to date", "2026-11-01T00:00", "is not inside 2026-11"),
        ("2026-11-01..2026-11-18 to date", "2026-11-18T10:00", "'to date' follows"),
        ("2026-13 to date", "2026-11-18T10:00", "month must be 01..12"),
        ("soon to date", "2026-11-18T10:00", "'to date' follows"),
        ("2026-11 to date!", "2026-11-18T10:00", "not allowed"),
        ("2026-11\tto date", "2026-11-18T10:00", "not allowed"),
        ("month-to-date", "2026-11-18T14:00Z", "without an offset"),
    ],
)
def test_to_date_errors(text: str, as_of: str, needle: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period(text, as_of=as_of)
    msg = str(err.value)
    assert "\n" not in msg and needle in msg


def test_to_date_default_as_of_is_now_or_the_pinned_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMKIT_AS_OF", "2026-11-18T09:30")
    assert parse_period("today").cut == datetime(2026, 11, 18, 9, 30)
    assert is_to_date(" Month-To-Date ") and is_to_date("2026-11 to date")
    assert not is_to_date("this-month") and not is_to_date(2026)


def test_cut_period_is_checked() -> None:
    cut = datetime(2025, 6, 15, 14, 0)
    ok = Period("2025-06 to date", "month", D(2025, 6, 1), D(2025, 6, 16), cut=cut)
    assert ok.full_end == D(2025, 7, 1)
    for bad in (
        dict(cut=datetime(2025, 7, 1, 0, 1)),  # after the month
        dict(cut=datetime(2025, 6, 1, 0, 0)),  # at its start: empty
        dict(cut=cut.replace(tzinfo=UTC)),  # aware
        dict(end=D(2025, 6, 17)),  # end does not follow the cut
        dict(label="2025-06"),  # a cut period's label says so
    ):
        with pytest.raises(PeriodError):
            replace(ok, **bad)


@pytest.mark.parametrize(
    "text, as_of, mode, label, start, cut",
    [
        # month-to-date on the 15th at 14:00: the previous month up to the 15th at 14:00
        ("month-to-date", "2025-06-15T14:00", "previous", "2025-05 to date", D(2025, 5, 1),
         datetime(2025, 5, 15, 14, 0)),
        ("month-to-date", "2025-06-15T14:00", "year_ago", "2024-06 to date", D(2024, 6, 1),
         datetime(2024, 6, 15, 14, 0)),
        # 31 March: the elapsed part is longer than February, which is compared whole
        ("month-to-date", "2025-03-31T14:00", "previous", "2025-02 to date", D(2025, 2, 1),
         datetime(2025, 3, 1)),
        ("month-to-date", "2024-03-30T10:00", "previous", "2024-02 to date", D(2024, 2, 1),
         datetime(2024, 3, 1)),
        ("month-to-date", "2024-03-29T10:00", "previous", "2024-02 to date", D(2024, 2, 1),
         datetime(2024, 2, 29, 10, 0)),
        ("today", "2025-06-15T14:00", "previous", "2025-06-14 to date", D(2025, 6, 14),
         datetime(2025, 6, 14, 14, 0)),
        ("today", "2024-02-29T09:00", "year_ago", "2023-02-28 to date", D(2023, 2, 28),
         datetime(2023, 2, 28, 9, 0)),
        # this-week on Wednesday 14:00: last week up to Wednesday 14:00
        ("this-week", "2026-11-18T14:00", "previous", "2026-W46 to date", D(2026, 11, 9),
         datetime(2026, 11, 11, 14, 0)),
        ("this-week", "2026-01-01T08:00", "previous", "2025-W52 to date", D(2025, 12, 22),
         datetime(2025, 12, 25, 8, 0)),
        # quarter-to-date: 44 days and 14 hours into Q2, the same into Q1
        ("quarter-to-date", "2025-05-15T14:00", "previous", "2025-Q1 to date", D(2025, 1, 1),
         datetime(2025, 2, 14, 14, 0)),
        ("quarter-to-date", "2025-05-15T14:00", "year_ago", "2024-Q2 to date", D(2024, 4, 1),
         datetime(2024, 5, 15, 14, 0)),
    ],
)
def test_compare_to_date_with_the_same_elapsed_part(
    text: str, as_of: str, mode: str, label: str, start: date, cut: datetime
) -> None:
    c = compare_period(parse_period(text, as_of=as_of), mode)
    assert c is not None
    assert (c.label, c.start, c.cut, c.requested) == (label, start, cut, None)
    assert compare_period(parse_period(text, as_of=as_of), "none") is None


def test_to_date_buckets_carry_the_cut() -> None:
    p = parse_period("month-to-date", as_of="2025-06-15T14:00")
    assert labels(month_buckets(p)) == ["2025-06 to date"]
    weeks = week_buckets(p)
    assert labels(weeks) == ["2025-06-01..2025-06-01", "2025-W23", "2025-W24 to date"]
    assert weeks[-1].end_utc == p.end_utc and weeks[-1].start == D(2025, 6, 9)
    months = trend_months(p, 3)
    assert labels(months) == ["2025-04", "2025-05", "2025-06 to date"]
    assert months[-1].end_utc == p.end_utc  # the trend counts nothing after the cut
    q = parse_period("quarter-to-date", as_of="2025-05-15T14:00")
    assert labels(month_buckets(q)) == ["2025-04", "2025-05 to date"]
    # a cut at midnight leaves whole days: the week ending there is whole
    whole = parse_period("month-to-date", as_of=D(2025, 6, 15))
    assert labels(week_buckets(whole))[-1] == "2025-W24"


def test_cut_on_dst_change_days_in_berlin() -> None:
    berlin = "Europe/Berlin"
    # 30 March 2025: clocks jump from 02:00 to 03:00 (UTC+1 -> UTC+2)
    spring = parse_period("today", as_of="2025-03-30T14:00", timezone=berlin)
    assert (spring.start_utc, spring.end_utc) == (datetime(2025, 3, 29, 23), datetime(2025, 3, 30, 12))
    assert spring.to_dict()["end_at"] == "2025-03-30T14:00:00+02:00"
    yesterday = compare_period(spring, "previous")
    assert yesterday is not None and yesterday.cut == datetime(2025, 3, 29, 14, 0)
    assert (yesterday.start_utc, yesterday.end_utc) == (datetime(2025, 3, 28, 23),
                                                        datetime(2025, 3, 29, 13))
    # 26 October 2025: clocks fall back from 03:00 to 02:00 (UTC+2 -> UTC+1)
    autumn = parse_period("month-to-date", as_of="2025-10-26T14:00", timezone=berlin)
    assert (autumn.start_utc, autumn.end_utc) == (datetime(2025, 9, 30, 22), datetime(2025, 10, 26, 13))
    before = compare_period(autumn, "previous")
    assert before is not None and before.end_utc == datetime(2025, 9, 26, 12)
    # a wall time the jump skips reads with the offset before it (fold=0): 02:30 -> 01:30 UTC
    gap = parse_period("today", as_of="2025-03-30T02:30", timezone=berlin)
    assert gap.end_utc == datetime(2025, 3, 30, 1, 30) and gap.end_utc > gap.start_utc


def test_check_reportable_takes_an_instant() -> None:
    p = parse_period("month-to-date", as_of="2025-06-15T14:00")
    check_reportable(p, datetime(2025, 6, 15, 14, 0), D(2025, 6, 30))
    with pytest.raises(PeriodError, match="as_of 1900-06-15 14:00:00 is out of range"):
        check_reportable(p, datetime(1900, 6, 15, 14, 0))
    with pytest.raises(PeriodError, match="starts after the data's last day"):
        check_reportable(p, datetime(2025, 6, 15, 14, 0), D(2025, 5, 1))


# --------------------------------------------------------------------------- buckets


def test_month_buckets_whole_months() -> None:
    buckets = month_buckets(parse_period("2025-Q2", timezone="Europe/Berlin"))
    assert labels(buckets) == ["2025-04", "2025-05", "2025-06"]
    assert [b.kind for b in buckets] == ["month", "month", "month"]
    assert buckets[0].start == D(2025, 4, 1) and buckets[-1].end == D(2025, 7, 1)
    assert {b.timezone for b in buckets} == {"Europe/Berlin"}
    assert {b.requested for b in buckets} == {None}


def test_month_buckets_clipped() -> None:
    buckets = month_buckets(parse_period("2025-06-15..2025-08-10"))
    assert [(b.label, b.kind, b.start, b.end) for b in buckets] == [
        ("2025-06-15..2025-06-30", "range", D(2025, 6, 15), D(2025, 7, 1)),
        ("2025-07", "month", D(2025, 7, 1), D(2025, 8, 1)),
        ("2025-08-01..2025-08-10", "range", D(2025, 8, 1), D(2025, 8, 11)),
    ]


def test_month_buckets_of_week_crossing_months() -> None:
    # 2025-W27 = 2025-06-30 .. 2025-07-06
    buckets = month_buckets(parse_period("2025-W27"))
    assert labels(buckets) == ["2025-06-30..2025-06-30", "2025-07-01..2025-07-06"]


def test_month_buckets_fiscal_year() -> None:
    buckets = month_buckets(parse_period("FY2025", fiscal_year_start_month=4))
    assert len(buckets) == 12
    assert (buckets[0].label, buckets[-1].label) == ("2024-04", "2025-03")


def test_week_buckets() -> None:
    # June 2025: 1 June is a Sunday (end of W22), 30 June a Monday (start of W27)
    buckets = week_buckets(parse_period("2025-06"))
    assert [(b.label, b.kind, b.start, b.end) for b in buckets] == [
        ("2025-06-01..2025-06-01", "range", D(2025, 6, 1), D(2025, 6, 2)),
        ("2025-W23", "week", D(2025, 6, 2), D(2025, 6, 9)),
        ("2025-W24", "week", D(2025, 6, 9), D(2025, 6, 16)),
        ("2025-W25", "week", D(2025, 6, 16), D(2025, 6, 23)),
        ("2025-W26", "week", D(2025, 6, 23), D(2025, 6, 30)),
        ("2025-06-30..2025-06-30", "range", D(2025, 6, 30), D(2025, 7, 1)),
    ]


def test_week_buckets_across_iso_year() -> None:
    buckets = week_buckets(parse_period("2020-12-28..2021-01-10"))
    assert labels(buckets) == ["2020-W53", "2021-W01"]
    assert labels(week_buckets(parse_period("2025-W23"))) == ["2025-W23"]


def test_trend_months() -> None:
    months = trend_months(parse_period("2025-06-01..2025-06-15"), 3)
    assert labels(months) == ["2025-04", "2025-05", "2025-06"]
    year = trend_months(parse_period("2025-Q1", timezone="Europe/Berlin"))
    assert labels(year) == [
        "2024-04",
        "2024-05",
        "2024-06",
        "2024-07",
        "2024-08",
        "2024-09",
        "2024-10",
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
        "2025-03",
    ]
    assert {m.kind for m in year} == {"month"}
    assert {m.timezone for m in year} == {"Europe/Berlin"}
    # 2025-W01 = 2024-12-30 .. 2025-01-05: its last day is in January 2025
    assert labels(trend_months(parse_period("2025-W01"), 2)) == ["2024-12", "2025-01"]
    assert labels(trend_months(parse_period("2025-01"), 1)) == ["2025-01"]


@pytest.mark.parametrize("bad", [0, -3, True, 2.5])
def test_trend_months_rejects_bad_n(bad: object) -> None:
    with pytest.raises(PeriodError):
        trend_months(parse_period("2025-06"), bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- teams

TEAMS = {"t1": "Sales North", "t2": "Sales South", "KA": "Key Accounts"}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("t1", "t1"),
        ("T2", "t2"),
        ("ka", "KA"),
        ("KA", "KA"),
        ("sales north", "t1"),
        ("SALES SOUTH", "t2"),
        ("  Key Accounts ", "KA"),
        ("all", "all"),
        ("ALL", "all"),
    ],
)
def test_resolve_team(value: str, expected: str) -> None:
    assert resolve_team(value, TEAMS) == expected


def test_resolve_team_exact_id_beats_names() -> None:
    teams = {"north": "South", "south": "North"}
    assert resolve_team("north", teams) == "north"
    assert resolve_team("NORTH", teams) == "north"


def test_resolve_team_unknown() -> None:
    with pytest.raises(TeamError) as err:
        resolve_team("t9", TEAMS)
    msg = str(err.value)
    assert msg == (
        "unknown team 't9'. Valid teams: all, t1 (Sales North), t2 (Sales South), KA (Key Accounts)"
    )


def test_resolve_team_ambiguous_name() -> None:
    with pytest.raises(TeamError) as err:
        resolve_team("OPS", {"a": "Ops", "b": "ops"})
    msg = str(err.value)
    assert "'OPS'" in msg and "a, b" in msg and "\n" not in msg


def test_resolve_team_message_stays_one_line_with_odd_names() -> None:
    with pytest.raises(TeamError) as err:
        resolve_team("zz", {"t1": "Line\nbreak"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("../../etc", "'..' is not allowed"),
        ("a/b", "'/' is not allowed"),
        ("a\\b", "'\\\\' is not allowed"),
        ('a"b', "'\"' is not allowed"),
        ("a'b", '"\'" is not allowed'),
        ("a`b", "'`' is not allowed"),
        ("x\ny", "'\\n' is not allowed"),
        ("t1\n", "'\\n' is not allowed"),
        ("a\tb", "'\\t' is not allowed"),
        ("a\x00b", "'\\x00' is not allowed"),
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 65, "longer than 64"),
    ],
)
def test_resolve_team_rejects_unsafe(bad: str, reason: str) -> None:
    with pytest.raises(TeamError) as err:
        resolve_team(bad, {**TEAMS, bad: "Sneaky"})  # rejected even if it were a real id
    msg = str(err.value)
    assert "\n" not in msg
    assert reason in msg
    if len(bad) <= 64:
        assert repr(bad) in msg


def test_resolve_team_non_text() -> None:
    with pytest.raises(TeamError):
        resolve_team(None, TEAMS)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["2025-02-30", "2025-06-31T10:00", "2024-13-01"])
def test_an_as_of_day_that_does_not_exist_is_named_so(text: str) -> None:
    """A day in the right form that is not in the calendar says so, not that the form is
    wrong (it said: "expected a date YYYY-MM-DD")."""
    with pytest.raises(PeriodError) as err:
        parse_as_of(text)
    message = str(err.value)
    assert f"{text[:10]} is not a day of the calendar" in message and "\n" not in message
    assert "expected a date" not in message


def test_same_age_is_as_long_after_the_comparison_start() -> None:
    """June's leads on 30 June (a day as of: its end) are as old as May's were at the end of
    30 May; at 14:00 on the 15th (local, Moscow) as May's at 14:00 on the 15th; a year ago
    the same; a period not begun yet has no age."""
    june, may = parse_period("2025-06", timezone="UTC"), parse_period("2025-05", timezone="UTC")
    assert same_age(june, may, date(2025, 6, 30)) == datetime(2025, 5, 31)
    moscow = parse_period("2025-06", timezone="Europe/Moscow")
    before = compare_period(moscow, "previous")
    assert before is not None
    assert same_age(moscow, before, datetime(2025, 6, 15, 14)) == datetime(2025, 5, 15, 11)
    year_ago = compare_period(june, "year_ago")
    assert year_ago is not None
    assert same_age(june, year_ago, date(2025, 7, 9)) == datetime(2024, 7, 10)
    assert same_age(june, may, date(2025, 5, 20)) == may.start_utc
