"""Issue 13, item 4: every report publishes, with honest empty states, on an empty database,
for a team without data, for a period before the data, for the first month of history and
for a very long range.

Each report notebook runs end to end (one warm kernel per database) and its page must say
in words why it shows zeros and N/A: no chart of nothing (empty axes, "0, 0, 0, -0" tick
labels), no "small sample" flag on n = 0, no row of dashes without a sentence.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from published import AS_OF, Pack

from crmkit import model
from crmkit.backends import postgres as pg
from crmkit.backends.duckdb import write_database
from crmkit.publish.kernel import Kernel
from crmkit.publish.runner import run_report
from crmkit.render import blocks, plotting
from crmkit.render.charts import sales as sales_charts
from crmkit.render.formatting import compact
from crmkit.reports import REPORTS, open_report
from crmkit.store import Store

ROOT = Path(__file__).resolve().parent.parent

#: case -> (database, period, team, a sentence the page and its JSON notes must carry)
CASES: dict[str, tuple[str, str, str, str]] = {
    "empty-database": ("empty", "2025-06", "all", "The data holds no records at all"),
    "team-without-data": ("demo", "2025-06", "ghost", "Team Ghost has no records in the data"),
    "before-the-data": ("demo", "2020-01", "all", "This period lies before the data"),
    "first-month": ("demo", "2023-07", "all", "The comparison period 2023-06 (2023-06-01 to "
                    "2023-06-30) begins before the data has activities"),
    "long-range": ("demo", "2000-01-01..2030-12-31", "all", "The data covers only"),
}
#: Cases in which the report's team and period have no records: no chart may be drawn,
#: except the company-wide ones listed here (other teams do have data).
NOTHING = {"empty-database", "team-without-data", "before-the-data"}
COMPANY_WIDE = {("satisfaction", "team-without-data"): {"NPS by team"}}
#: Charts a case with data must draw: the range of 2000-2030, not over on the as-of day,
#: counts up to it, so its revenue trend is the twelve months to July 2025 (it was those of
#: 2030, empty, and not drawn).
DRAWN = {("sales", "long-range"): {"Revenue trend"}}

_FIGURE = re.compile(r"""<figure[^>]*data-chart=["']([^"']*)["']""")
_CARDS = re.compile(r"""<div class=["']ck ck-cards["']>(.*?)</div></div></div>""")


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory, monthly_pack: Pack) -> dict[str, Path]:
    """An empty database with one team, and the pinned demo plus a team with no records
    (the one the session's monthly pack is published from, tests/conftest.py)."""
    folder = tmp_path_factory.mktemp("hd")
    empty = folder / "empty.duckdb"
    team = pd.DataFrame({"team_id": ["solo"], "name": ["Solo"]})
    write_database(empty, {n: model.empty_frame(n) for n in model.TABLES} | {"teams": team},
                   settings={"timezone": "UTC", "currency": "EUR"})
    return {"empty": empty, "demo": monthly_pack.database}


@pytest.fixture(scope="module")
def published(databases: dict[str, Path], monthly_pack: Pack,
              tmp_path_factory: pytest.TempPathFactory):
    """case -> {report: (page, JSON)}, each case run once, every report of it on one warm
    kernel per database; the pages the session's monthly pack holds (the team without
    records in June, the period before the data) are read from it."""
    assert monthly_pack.database == databases["demo"]
    out = tmp_path_factory.mktemp("hd-out")
    kernels: dict[str, Kernel] = {}
    pages: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
    packed = {(o.job.report, o.job.period, o.job.team): o for o in monthly_pack.outcomes}

    def page(report: str, case: str) -> tuple[Path, Path]:
        db, period, team, _ = CASES[case]
        if db == "demo" and (report, period, team) in packed:
            outcome = packed[report, period, team]
            assert outcome.ok and outcome.html, outcome.error
            return Path(outcome.html), Path(outcome.html).with_suffix(".json")
        if db not in kernels:
            kernels[db] = Kernel(databases[db], ROOT / "notebooks")
        result = run_report(report, period=period, team=team, as_of=AS_OF,
                            database=databases[db], output=out / case, kernel=kernels[db],
                            update_index=False)
        return result.html, result.json

    def get(case: str) -> dict[str, tuple[str, dict[str, Any]]]:
        if case not in pages:
            pages[case] = {}
            for report in REPORTS:
                html_path, json_path = page(report, case)
                payload = json.loads(json_path.read_text(), parse_constant=_no_constant)
                pages[case][report] = (html_path.read_text(), payload)
        return pages[case]

    yield get
    for kernel in kernels.values():
        kernel.close()


def _no_constant(name: str) -> None:
    raise AssertionError(f"JSON holds {name}")


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("report", list(REPORTS))
def test_every_report_publishes_with_honest_empty_states(published, report, case):
    page, payload = published(case)[report]
    text = _text(page)
    sentence = CASES[case][3]
    # why the page shows zeros and N/A: under the header and in the JSON twin
    assert sentence in text, f"{report}/{case}: the page does not say why it is empty"
    assert any(sentence in note for note in payload["notes"]), payload["notes"]
    # no chart of nothing
    charts = set(_FIGURE.findall(page))
    if case in NOTHING:
        assert charts <= COMPANY_WIDE.get((report, case), set()), charts
    assert DRAWN.get((report, case), set()) <= charts, charts
    # no "small sample" on no sample, no bare "— vs —"
    assert not re.search(r"n = 0\b[^<]*<span class=.ck-flag.>small sample", page), \
        f"{report}/{case}: n = 0 flagged as a small sample"
    assert "— vs —" not in text
    assert not re.search(r" 0 0 0 0 — — small sample", text), "a row of no responses flagged"
    # a row of KPI cards with nothing in it has a sentence above it (the header's, when the
    # whole page is empty)
    for block in _CARDS.findall(page):
        values = re.findall(r"""<div class=["']v["']>([^<]*)</div>""", block)
        if all(v in ("—", "0", "0 EUR") for v in values) and case not in NOTHING:
            assert "ck-empty" in page.split(block)[0][-600:], f"{report}/{case}: {values}"
    # nobody in touch before: nobody went quiet (not "everyone was in touch again")
    if case in NOTHING:
        assert "was in touch again" not in text


def test_the_demo_month_needs_no_coverage_sentence(demo_db):
    """Normal data keeps its page and JSON: no sentence for a period the data covers."""
    for team in ("all", "enterprise"):
        ctx = open_report("sales", period="2025-06", team=team, as_of=AS_OF, database=demo_db)
        assert ctx.coverage_notes() == [] and ctx.meta()["coverage"] == []


def test_coverage_is_remembered_per_state_of_the_data(demo_db, tmp_path, monkeypatch):
    """A kernel that renders page after page reads the data's spans once per team and
    time zone, and again when the data changes (its fingerprint does)."""
    import shutil

    import duckdb

    from crmkit import store as store_module
    from crmkit.reports import context

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    read: list[str] = []
    real = context.spans
    monkeypatch.setattr(context, "spans", lambda tables, tz: read.append(tz) or real(tables, tz))
    monkeypatch.setattr(context, "_SPANS", {})
    monkeypatch.setattr(store_module, "_KEEP_STORES", True)  # a kernel crmkit runs
    monkeypatch.setattr(store_module, "_KEPT", {})

    def notes(report: str, team: str) -> list[str]:
        ctx = open_report(report, period="2025-09", team=team, as_of="2025-10-01", database=db)
        found = ctx.coverage_notes()
        ctx.store.close()
        return found

    before = notes("sales", "enterprise")
    assert "lies after the data, which ends on 2025-06-30" in before[0]
    assert len(read) == 2  # the company's and the team's
    assert notes("activity", "enterprise") == before and notes("sales", "all") == before
    assert len(read) == 2  # remembered
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO activities SELECT * REPLACE ('new-1' AS activity_id, "
                "TIMESTAMP '2025-09-20 10:00' AS occurred_at) FROM activities "
                "WHERE employee_id IN (SELECT employee_id FROM employees WHERE team_id = "
                "'enterprise') LIMIT 1")
    con.close()
    after = notes("sales", "enterprise")
    assert len(read) == 4 and after != before
    assert "2025-09-20" in after[0], after
    monkeypatch.setattr(store_module, "_KEEP_STORES", False)  # an analyst's session
    assert notes("sales", "enterprise") == after and len(read) == 6  # read again


def test_reports_of_a_batch_kernel_share_the_store_of_an_unchanged_file(demo_db, tmp_path,
                                                                         monkeypatch):
    """In a kernel crmkit runs reports in (keep_stores), the next report of the same DuckDB
    file reuses the store, its team scopes and its connection, until the file changes or
    the store is closed; an analyst's session (the default) gets a store of its own each
    time, so that no connection is left open behind it."""
    import shutil

    import duckdb

    from crmkit import store as store_module

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    monkeypatch.setattr(store_module, "_KEPT", {})
    first = open_report("sales", period="2025-06", team="enterprise", as_of=AS_OF, database=db)
    again = open_report("sales", period="2025-06", team="enterprise", as_of=AS_OF, database=db)
    assert first.store is not again.store  # not kept: an analyst's session
    first.store.close()
    again.store.close()

    monkeypatch.setattr(store_module, "_KEEP_STORES", True)
    one = open_report("sales", period="2025-06", team="enterprise", as_of=AS_OF, database=db)
    two = open_report("activity", period="2025-05", team="all", as_of=AS_OF, database=str(db))
    assert two.store is one.store
    assert one.store.scoped("enterprise") is one.tables  # narrowed once
    one.store.close()
    three = open_report("sales", period="2025-06", team="enterprise", as_of=AS_OF, database=db)
    assert three.store is not one.store  # a closed store is not handed out again
    three.store.close()  # kept open, it would keep the writer below from the file
    con = duckdb.connect(str(db))
    con.execute("UPDATE deals SET amount = amount + 1 WHERE status = 'won'")
    con.close()
    four = open_report("sales", period="2025-06", team="enterprise", as_of=AS_OF, database=db)
    assert four.store is not three.store  # the file changed
    five = open_report("sales", period="2025-06", team="enterprise", as_of=AS_OF, database=db)
    assert five.store is four.store
    four.store.close()


def test_a_replaced_file_is_read_anew_and_its_fingerprint_remembered_right(demo_db, tmp_path,
                                                                           monkeypatch):
    """The importer replaces the database file (a new file renamed over it). A kept store
    of the old file is closed and the new one read (DuckDB would hand a new connection the
    old database while one is open); in an analyst's session that still holds the old
    store, the new connection may read the old data, so nothing is remembered for the new
    file's state (the old data's fingerprint under it would mislead every later run)."""
    import shutil

    import duckdb

    from crmkit import store as store_module
    from crmkit.backends import remembered
    from crmkit.backends.fingerprint import of_duckdb

    db, new = tmp_path / "demo.duckdb", tmp_path / "new.duckdb"
    shutil.copy(demo_db, db)
    shutil.copy(demo_db, new)
    con = duckdb.connect(str(new))
    con.execute("UPDATE teams SET name = 'Renamed' WHERE team_id = 'smb'")
    truth = of_duckdb(con)
    con.close()
    monkeypatch.setattr(store_module, "_KEPT", {})
    monkeypatch.setattr(store_module, "_KEEP_STORES", True)
    monkeypatch.setattr(remembered, "SETTLED_SECONDS", 0.0)  # the files are new

    old = open_report("sales", period="2025-06", as_of=AS_OF, database=db)
    before = old.store.fingerprint()
    os.replace(new, db)
    kept = open_report("sales", period="2025-06", as_of=AS_OF, database=db)
    assert kept.store is not old.store and kept.store.teams()["smb"] == "Renamed"
    assert kept.store.fingerprint() == truth != before
    kept.store.close()

    monkeypatch.setattr(store_module, "_KEEP_STORES", False)  # an analyst's session
    held = Store.open(db)
    shutil.copy(demo_db, new)
    os.replace(new, db)
    second = Store.open(db)  # while `held` is open: may read the replaced database
    assert second._backend.opened is None
    second.fingerprint()
    held.close()
    second.close()
    assert Store.open(db).fingerprint() == before  # the demo's again, not what was read


def test_coverage_on_frames_and_on_postgresql(databases, request):
    """The same sentences from every engine (PostgreSQL refuses an aggregate of nulls for a
    NOT NULL column, so the spans must not ask for one)."""
    store = Store.from_frames({n: model.empty_frame(n) for n in model.TABLES})
    ctx = open_report("sales", period="2025-06", as_of=AS_OF, store=store)
    assert ctx.coverage.empty and "The data holds no records at all" in ctx.coverage_notes()[0]
    server = request.getfixturevalue("postgres_server")  # the frames' part runs without it
    location = server.with_schema(f"crmkit_hd_{os.getpid()}_{secrets.token_hex(3)}")
    pg.load(databases["demo"], location)
    try:
        on_pg, on_duckdb = Store.open(location), Store.open(databases["demo"])
        for db, period, team, _ in CASES.values():
            notes = [open_report("sales", period=period, team=team, as_of=AS_OF, store=engine)
                     .coverage_notes() for engine in (on_pg, on_duckdb)]
            assert notes[0] == notes[1] and (notes[0] or db == "empty"), (period, team)
        on_pg.close()
    finally:
        con = pg.connect(server)
        con.execute(f'drop schema "{location.schema}" cascade')
        con.close()


def test_a_chart_of_nothing_is_a_sentence():
    fig, ax = plotting.figure()
    ax.bar(["2025-05", "2025-06"], [0, 0])
    ax.plot([0, 1], [float("nan"), float("nan")])
    ax.axhline(0)
    shown = blocks.chart(fig, "Revenue trend")._repr_html_()
    assert "<img" not in shown and "nothing to chart" in shown
    fig, ax = plotting.figure()
    ax.bar(["2025-05", "2025-06"], [0, 3])
    assert "<img" in blocks.chart(fig, "Revenue trend")._repr_html_()


def test_revenue_trend_of_an_empty_window_says_so():
    month = pd.DataFrame({"month": ["2030-11", "2030-12"], "revenue": [0.0, 0.0],
                          "win_rate": [float("nan")] * 2})
    shown = sales_charts.revenue_trend(month, ["2030-12"], "EUR")._repr_html_()
    assert "<img" not in shown and "no deal was won or lost from 2030-11 to 2030-12" in shown


def test_a_money_axis_never_repeats_a_tick_label():
    assert compact(-0.0) == "0" and compact(-0.2) == "0" and compact(-12) == "\u221212"
    fig, ax = plotting.figure()
    ax.bar(["a", "b"], [0.0, 0.0])
    plotting.money_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) == len(set(labels)), labels
    assert "-0" not in labels
    plotting.plt.close(fig)


def test_a_card_without_data_is_not_a_small_sample():
    shown = blocks.kpi_cards([{"name": "win_rate", "value": None, "n": 0, "previous": None,
                               "change": None}]).data
    assert "small sample" not in shown and "n = 0 (no data)" in shown
    assert "N/A in both periods" in shown and "— vs —" not in _text(shown)
