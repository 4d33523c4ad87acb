"""To-date periods cut at an as-of instant, end to end: the parameters read back through
the runner and the notebook, the page says what it compares, and its numbers (deals
created, revenue, the forecast known at the instant) equal independent SQL over the two
instant ranges of its JSON twin.

The pinned demo (conftest.py) is in UTC and ends on 2025-06-30; its pages here are made on
2025-06-15 at 14:00, so the comparison is 1 May 00:00 to 15 May 14:00.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from published import unbroken

from crmkit import cli
from crmkit.metrics import sales
from crmkit.parameters import resolve
from crmkit.periods import PeriodError, compare_period, parse_as_of, parse_period
from crmkit.publish.presets import load_preset
from crmkit.reports.context import to_date_statement

CUT = "2025-06-15T14:00"
STATEMENT = ("Month to date: 1–15 June 2025 until 14:00, compared with 1–15 May 2025 until "
             "14:00 (the same elapsed part of the previous month).")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Path:
    """``crmkit run sales --period month-to-date --as-of 2025-06-15T14:00`` on the demo."""
    out = tmp_path_factory.mktemp("intraday")
    argv = ["run", "sales", "--period", "month-to-date", "--as-of", CUT, "--team", "all",
            "--database", str(demo_db), "--output", str(out)]
    assert cli.main(argv) == 0
    return out / "2025-06_to_date" / "all"


def _twin(published: Path) -> dict:
    return json.loads((published / "sales.json").read_text(encoding="utf-8"))


def _one(db: Path, query: str, *params: object) -> float:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return float(con.execute(query, list(params)).fetchone()[0] or 0.0)
    finally:
        con.close()


# -- the published page ---------------------------------------------------------------------


def test_the_page_publishes_to_a_stable_folder_and_states_both_instant_ranges(published):
    data = _twin(published)
    p, c = data["period"], data["comparison_period"]
    assert (data["title"], data["as_of"]) == ("Sales — All teams — 2025-06 to date",
                                              "2025-06-15T14:00:00")
    assert p["timezone"] == "UTC"
    assert (p["label"], p["start_utc"], p["end_utc"], p["cut"]) == (
        "2025-06 to date", "2025-06-01T00:00:00", "2025-06-15T14:00:00", "2025-06-15T14:00:00")
    assert (p["start_at"], p["end_at"]) == ("2025-06-01T00:00:00+00:00",
                                            "2025-06-15T14:00:00+00:00")
    assert (p["start"], p["end"], p["last_day"]) == ("2025-06-01", "2025-06-16", "2025-06-15")
    assert (c["label"], c["start_utc"], c["end_utc"]) == (
        "2025-05 to date", "2025-05-01T00:00:00", "2025-05-15T14:00:00")
    assert data["notes"][0] == STATEMENT


def test_the_header_says_what_is_compared(published):
    page = unbroken((published / "sales.html").read_text(encoding="utf-8"))
    assert STATEMENT in page
    assert "2025-05 to date (1–15 May 2025 until 14:00, the same elapsed part of the previous " \
           "month)" in page
    assert "1–15 June 2025 until 14:00" in page and "2025-06-15 14:00" in page


def test_the_notebook_reads_the_cut_back(published):
    notebook = (published / "sales.ipynb").read_text(encoding="utf-8")
    assert 'period = \\"2025-06 to date\\"' in notebook
    assert 'as_of = \\"2025-06-15T14:00:00\\"' in notebook


def test_counts_equal_independent_sql_over_the_two_ranges(published, demo_db):
    data = _twin(published)
    for values, span in ((data["metrics"], data["period"]),
                         (data["comparison"], data["comparison_period"])):
        start, end = datetime.fromisoformat(span["start_utc"]), datetime.fromisoformat(span["end_utc"])
        created = _one(demo_db, "select count(*) from deals where created_at >= ? and created_at < ?",
                       start, end)
        revenue = _one(demo_db, "select sum(amount) from deals where status = 'won' "
                       "and closed_at >= ? and closed_at < ?", start, end)
        assert values["deals_created"] == created > 0
        assert values["revenue"] == pytest.approx(revenue)
    # the same elapsed part: a whole-month count would be larger
    whole_may = _one(demo_db, "select count(*) from deals where created_at >= ? and created_at < ?",
                     datetime(2025, 5, 1), datetime(2025, 6, 1))
    assert data["comparison"]["deals_created"] < whole_may


def test_forecast_is_what_was_known_at_the_instant(published, demo_db):
    """Won from the period start up to the cut, plus amount × probability of the deals open
    at the cut expected to close before the month end; the comparison likewise at its cut."""
    data = _twin(published)
    query = """
        select (select coalesce(sum(amount), 0) from deals
                where status = 'won' and closed_at >= $start and closed_at < $cut)
             + (select coalesce(sum(amount * probability), 0) from deals
                where created_at < $cut and (closed_at is null or closed_at >= $cut)
                  and expected_close_at >= $cut and expected_close_at < $month_end)
    """
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        now = con.execute(query, {"start": datetime(2025, 6, 1), "cut": datetime(2025, 6, 15, 14),
                                  "month_end": datetime(2025, 7, 1)}).fetchone()[0]
        then = con.execute(query, {"start": datetime(2025, 5, 1), "cut": datetime(2025, 5, 15, 14),
                                   "month_end": datetime(2025, 6, 1)}).fetchone()[0]
    finally:
        con.close()
    assert data["metrics"]["forecast"] == pytest.approx(now)
    assert data["comparison"]["forecast"] == pytest.approx(then)
    assert data["metrics"]["forecast"] > data["metrics"]["revenue"]  # open deals add to it


# -- the forecast and the quota on a hand-made CRM ------------------------------------------


def _deals() -> pd.DataFrame:
    # fmt: off
    rows = [
        # id   created                  closed                    status  amount  prob  expected close
        ("a", datetime(2025, 5, 1),     datetime(2025, 6, 10, 10), "won",  1000.0, 0.9, datetime(2025, 6, 10)),
        ("b", datetime(2025, 6, 1),     datetime(2025, 6, 15, 13, 59), "won", 500.0, 0.9, datetime(2025, 6, 15)),
        # won exactly at the cut: open at it, expected in the rest of the month
        ("c", datetime(2025, 6, 2),     datetime(2025, 6, 15, 14), "won",  2000.0, 0.5, datetime(2025, 6, 20)),
        ("d", datetime(2025, 6, 3),     None,                     "open", 400.0,  0.25, datetime(2025, 6, 30, 23)),
        # expected at the month end, which is after the period: not counted
        ("e", datetime(2025, 6, 3),     None,                     "open", 9000.0, 0.9, datetime(2025, 7, 1)),
        # created at the cut: not known yet
        ("f", datetime(2025, 6, 15, 14), None,                    "open", 7000.0, 0.5, datetime(2025, 6, 20)),
        # expected before the cut and still open: overdue, not in the rest of the month
        ("g", datetime(2025, 6, 1),     None,                     "open", 3000.0, 0.5, datetime(2025, 6, 15, 13)),
        # lost after the cut: open at it
        ("h", datetime(2025, 5, 20),    datetime(2025, 6, 16),    "lost", 800.0,  0.5, datetime(2025, 6, 25)),
    ]
    # fmt: on
    df = pd.DataFrame(rows, columns=["deal_id", "created_at", "closed_at", "status", "amount",
                                     "probability", "expected_close_at"])
    for col in ("created_at", "closed_at", "expected_close_at"):
        df[col] = pd.to_datetime(df[col])
    return df


def test_forecast_at_an_instant_by_hand():
    deals = _deals()
    before = deals.copy()
    mtd = parse_period("month-to-date", as_of=CUT)
    fc = sales.forecast(deals, mtd, datetime(2025, 6, 15, 14))
    # won before the cut: a + b = 1500; open at it, expected before 1 July: c, d, h
    assert fc["forecast"] == pytest.approx(1500 + 2000 * 0.5 + 400 * 0.25 + 800 * 0.5)
    assert (fc["kind"], fc["revenue_so_far"], fc["open_deals_counted"]) == ("in_progress", 1500, 3)
    # the whole month made at the same instant knows exactly as much
    june = sales.forecast(deals, parse_period("2025-06"), datetime(2025, 6, 15, 14))
    assert june["forecast"] == pytest.approx(fc["forecast"])
    # a date keeps today's behaviour, the end of that day: c is won by then, f is open
    by_day = sales.forecast(deals, parse_period("month-to-date", as_of="2025-06-15"),
                            datetime(2025, 6, 16))
    assert by_day["forecast"] == pytest.approx(3500 + 400 * 0.25 + 7000 * 0.5 + 800 * 0.5)
    pd.testing.assert_frame_equal(deals, before)  # inputs are not mutated


def test_forecast_of_a_comparison_cut_at_the_month_end_is_the_month_over():
    """31 March to date compares with the whole of February: nothing is left of it."""
    feb = compare_period(parse_period("month-to-date", as_of="2025-03-31T14:00"), "previous")
    assert feb is not None and feb.end_utc == datetime(2025, 3, 1)
    fc = sales.forecast(_deals(), feb, datetime(2025, 3, 31, 14))
    assert fc["kind"] == "at_start"


def test_quota_is_prorated_to_the_instant():
    quotas = pd.DataFrame({"employee_id": ["e1"],
                           "period_start": pd.to_datetime(["2025-06-01"]),
                           "period_end": pd.to_datetime(["2025-07-01"]),
                           "target_amount": [3000.0]})
    mtd = parse_period("month-to-date", as_of="2025-06-15T12:00")
    assert sales.quota_target(quotas, mtd) == pytest.approx(3000 * 14.5 / 30)
    assert sales.quota_target(quotas, parse_period("2025-06")) == pytest.approx(3000)


# -- parameters, statements, presets --------------------------------------------------------


def test_resolved_parameters_read_back(monkeypatch):
    monkeypatch.delenv("CRMKIT_AS_OF", raising=False)
    common = {"team": "all", "compare_to": "previous", "timezone": None,
              "settings": {"timezone": "Europe/Berlin"}, "teams": {}}
    now = resolve(period="month-to-date", as_of=None, **common)
    assert isinstance(now.as_of, datetime) and now.period.cut == now.as_of
    again = resolve(period=now.period.label, as_of=now.as_of.isoformat(), **common)
    assert (again.period.end_utc, again.comparison) == (now.period.end_utc, now.comparison)
    assert now.for_notebook()["as_of"] == now.as_of.isoformat()
    # whole-day periods keep today's default: a date
    assert type(resolve(period="last-month", as_of=None, **common).as_of) is date
    # an instant with a whole period: anchors it, and is the instant the report is made at
    june = resolve(period="this-month", as_of=CUT, **common)
    assert (june.period.label, june.as_of) == ("2025-06", datetime(2025, 6, 15, 14))


def test_statements_for_the_clipped_the_year_ago_and_the_uncompared():
    march = parse_period("month-to-date", as_of="2025-03-31T14:00")
    assert to_date_statement(march, compare_period(march, "previous"), "previous") == (
        "Month to date: 1–31 March 2025 until 14:00, compared with 1–28 February 2025 "
        "(the whole previous month, shorter than the elapsed part).")
    week = parse_period("this-week", as_of="2025-06-12T09:30:15")
    assert to_date_statement(week, compare_period(week, "year_ago"), "year_ago") == (
        "Week to date: 9–12 June 2025 until 09:30:15, compared with 10–13 June 2024 until "
        "09:30:15 (the same elapsed part of the week a year earlier).")
    today = parse_period("today", as_of="2025-06-15")
    assert to_date_statement(today, None, "none") == (
        "Day to date: 15 June 2025, not compared with another period.")


def test_a_preset_takes_a_local_time(tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text("periods: [month-to-date]\nas_of: 2025-06-15T14:00:30\n", encoding="utf-8")
    assert parse_as_of(load_preset(path).as_of) == datetime(2025, 6, 15, 14, 0, 30)
    path.write_text("as_of: 2025-06-15T14:00:30Z\n", encoding="utf-8")
    with pytest.raises(PeriodError, match="without an offset or Z"):
        parse_as_of(load_preset(path).as_of)
