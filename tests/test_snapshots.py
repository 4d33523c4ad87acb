"""Pipeline snapshots (crmkit.backends.snapshots), the pipeline history metrics built on them
(crmkit.metrics.pipeline_history) and what the Sales page makes of them.

Snapshots are taken on copies of the pinned demo for days after its data ends (the data
runs to 2025-06-30), so between two snapshots only the changes a test plants happen and
every part of the movement has a value computed by hand. Forecast accuracy is checked
against plain SQL over the snapshot table and the deals.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import crmkit as ck
from crmkit.backends import snapshots
from crmkit.backends.base import SNAPSHOTS
from crmkit.backends.duckdb import write_database
from crmkit.backends.location import Location
from crmkit.backends.snapshots import take_snapshot
from crmkit.errors import ParameterError, StoreError
from crmkit.metrics import pipeline_history as ph
from crmkit.model import TABLES
from crmkit.periods import parse_period, trend_months
from crmkit.render.charts import sales as sales_charts
from crmkit.reports import sales
from crmkit.store import Store
from tests.databases import demo_copy

#: Two days after the pinned demo's data (it ends on 2025-06-30, in UTC), and "now" after both.
DAY1, DAY2 = date(2025, 7, 5), date(2025, 7, 10)
NOW = datetime(2025, 7, 12, 9, 0)
#: The period whose movement runs from the snapshot of DAY1 to that of DAY2.
BETWEEN = "2025-07-06..2025-07-10"
MONTH = "2025-06"


@pytest.fixture
def copy(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the pinned demo (with its generated pipeline history)."""
    return demo_copy(demo_db, tmp_path / "demo.duckdb")


def _rows(db: Path, day: date | None = None) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        where = "" if day is None else f"WHERE snapshot_date = DATE '{day}'"
        return con.execute(f"SELECT * FROM crmkit.{SNAPSHOTS} {where} ORDER BY snapshot_date, "
                           "deal_id").df()


def _run(db: Path, *statements: str) -> None:
    with duckdb.connect(str(db)) as con:
        for statement in statements:
            con.execute(statement)


def _open_at(db: Path, instant: datetime) -> tuple[int, int]:
    """Deals open at ``instant`` and their amount in cents, by plain SQL on the deals."""
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT count(*), coalesce(sum(round(coalesce(amount, 0) * 100)), 0) FROM deals "
            "WHERE created_at < ? AND (closed_at IS NULL OR closed_at >= ?)",
            [instant, instant]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


# -- taking a snapshot -------------------------------------------------------------------------


def test_a_snapshot_holds_the_deals_open_at_the_end_of_its_day(copy: Path) -> None:
    result = take_snapshot(copy, DAY1, now=NOW)
    assert (result.day, result.taken_at, result.outcome, result.day_over) == (
        DAY1, datetime(2025, 7, 6), "new", True)
    rows = _rows(copy, DAY1)
    assert (len(rows), round(rows["amount"].fillna(0).mul(100).round().sum())) == _open_at(
        copy, datetime(2025, 7, 6))
    assert (result.open_deals, result.currency) == (len(rows), "EUR")
    assert set(rows["taken_at"]) == {pd.Timestamp("2025-07-06")}
    today = take_snapshot(copy, None, now=datetime(2025, 7, 12, 9, 30))
    assert (today.day, today.taken_at, today.day_over) == (
        date(2025, 7, 12), datetime(2025, 7, 12, 9, 30), False)


def test_a_day_is_idempotent_replaced_when_deals_change_and_no_other_day_moves(copy: Path) -> None:
    take_snapshot(copy, DAY1, now=NOW)
    take_snapshot(copy, DAY2, now=NOW)
    first, other = _rows(copy, DAY2), _rows(copy, DAY1)
    stamp = copy.stat().st_mtime_ns

    again = take_snapshot(copy, DAY2, now=NOW)
    assert again.outcome == "unchanged" and not again.replaced
    assert copy.stat().st_mtime_ns == stamp  # nothing was written
    pd.testing.assert_frame_equal(_rows(copy, DAY2), first)

    deal = first["deal_id"].iloc[0]
    _run(copy, f"UPDATE deals SET amount = amount + 1 WHERE deal_id = '{deal}'")
    replaced = take_snapshot(copy, DAY2, now=NOW)
    assert replaced.outcome == "replaced" and replaced.replaced
    after = _rows(copy, DAY2)
    assert len(after) == len(first)  # one snapshot of the day, not two
    changed = after.set_index("deal_id")["amount"] - first.set_index("deal_id")["amount"]
    assert changed[changed != 0].to_dict() == {deal: 1.0}
    pd.testing.assert_frame_equal(_rows(copy, DAY1), other)  # the other day is untouched


def test_a_failure_mid_write_leaves_the_table_as_it_was(copy: Path, monkeypatch) -> None:
    take_snapshot(copy, DAY1, now=NOW)
    before = _rows(copy)
    _run(copy, "UPDATE deals SET amount = amount * 2 WHERE status = 'open'")
    real = snapshots._copy_open_deals

    def fails_after_writing(*args: Any) -> None:
        real(*args)  # the day's rows are deleted and the new ones inserted, then:
        raise OSError("disk full")

    monkeypatch.setattr(snapshots, "_copy_open_deals", fails_after_writing)
    with pytest.raises(OSError, match="disk full"):
        take_snapshot(copy, DAY1, now=NOW)
    pd.testing.assert_frame_equal(_rows(copy), before)


def test_a_file_held_by_another_process_is_one_line_naming_it(copy: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(copy)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError) as caught:
            take_snapshot(copy, DAY1, now=NOW, wait=0)
    finally:
        holder.communicate("")
    message = str(caught.value)
    assert f"locked by process {holder.pid}" in message and "\n" not in message
    assert "run it again" in message


@pytest.mark.parametrize(("day", "says"), [
    ("2025-7-5", "not a date"), ("tomorrow", "not a date"), ("2025-07-05; drop", "not a date"),
    ("2025-07-13", "has not begun"),
])
def test_a_day_is_a_calendar_day_that_has_begun(copy: Path, day: str, says: str) -> None:
    with pytest.raises(ParameterError, match=says):
        take_snapshot(copy, day, now=NOW)


def test_a_database_that_is_not_there_or_not_crmkit_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        take_snapshot(tmp_path / "missing.duckdb")
    other = tmp_path / "other.duckdb"
    _run(other, "CREATE TABLE t (x INTEGER)")
    with pytest.raises(StoreError, match="not a crmkit database"):
        take_snapshot(other)


def test_an_import_over_the_database_keeps_its_snapshots(copy: Path) -> None:
    take_snapshot(copy, DAY1, now=NOW)
    history = _rows(copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        frames = {name: con.execute(f"SELECT * FROM {name}").df() for name in TABLES}
    write_database(copy, frames, settings={"timezone": "UTC", "currency": "EUR"},
                   validate_first=False)
    pd.testing.assert_frame_equal(_rows(copy), history)


def test_the_command_line_says_the_day_the_deals_and_what_happened(copy: Path) -> None:
    def snapshot(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "crmkit.cli", "snapshot", "--database",
                               str(copy), *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    n, cents = _open_at(copy, datetime(2025, 7, 6))
    first = snapshot("--day", str(DAY1))
    assert first.startswith(f"snapshot {DAY1}: {n:,} open deals, {cents / 100:,.0f} EUR; ")
    assert "first snapshot of that day" in first and "\n" not in first
    assert "same deals" in snapshot("--day", str(DAY1))


# -- the movement between two snapshots ---------------------------------------------------------


def _pick(con: Any, stage: str, offset: int = 0) -> tuple[str, int]:
    """An open deal at ``stage`` with an amount and a probability: id, amount in cents."""
    row = con.execute(
        "SELECT deal_id, round(amount * 100) FROM deals WHERE status = 'open' AND stage = ? "
        "AND amount IS NOT NULL AND probability IS NOT NULL ORDER BY deal_id "
        f"LIMIT 1 OFFSET {offset}", [stage]).fetchone()
    return str(row[0]), int(row[1])


def _plant(demo_db: Path) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """The changes planted between the two snapshots (SQL that DuckDB and PostgreSQL both
    run) and the movement parts they make: (deals, cents)."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        advanced, _ = _pick(con, "proposal")
        raised, _ = _pick(con, "qualification")
        slipped, _ = _pick(con, "negotiation")
        revised, _ = _pick(con, "discovery")
        won, won_cents = _pick(con, "commitment")
        lost, lost_cents = _pick(con, "discovery", 1)
        deleted, deleted_cents = _pick(con, "proposal", 1)
        later, _ = _pick(con, "negotiation", 1)
        owner = con.execute("SELECT min(employee_id) FROM employees WHERE role = 'sales'").fetchone()
    statements = [
        f"UPDATE deals SET stage = 'negotiation', probability = 0.75 WHERE deal_id = '{advanced}'",
        f"UPDATE deals SET stage = 'discovery', probability = 0.25, amount = amount + 1000 "
        f"WHERE deal_id = '{raised}'",
        f"UPDATE deals SET stage = 'discovery', probability = 0.25 WHERE deal_id = '{slipped}'",
        f"UPDATE deals SET amount = amount + 250.5 WHERE deal_id = '{revised}'",
        f"UPDATE deals SET status = 'won', closed_at = '2025-07-07 10:00:00' WHERE deal_id = '{won}'",
        f"UPDATE deals SET status = 'lost', closed_at = '2025-07-08 10:00:00', lost_reason = "
        f"'price' WHERE deal_id = '{lost}'",
        f"DELETE FROM deals WHERE deal_id = '{deleted}'",
        # won after the second snapshot: open in both, so in no part
        f"UPDATE deals SET status = 'won', closed_at = '2025-07-11 12:00:00' WHERE deal_id = '{later}'",
        "INSERT INTO deals (deal_id, owner_id, created_at, status, stage, amount, probability, "
        f"expected_close_at) VALUES ('d-planted', '{owner[0]}', '2025-07-08 09:00:00', 'open', "
        "'qualification', 4321.0, 0.1, '2025-08-15 00:00:00')",
    ]
    parts = {"new": (1, 432_100), "advanced": (2, 100_000), "slipped": (1, 0),
             "amount_changes": (1, 25_050), "won": (1, -won_cents), "lost": (1, -lost_cents),
             "removed": (1, -deleted_cents)}
    return statements, parts


def _cents(movement: ph.Movement) -> dict[str, tuple[int, int]]:
    return {r["part"]: (int(r["deals"]), round(r["amount"] * 100))
            for r in movement["parts"].to_dict("records")}


def _check_planted(found: dict[str, tuple[int, int]], opening: tuple[int, int],
                   planted: dict[str, tuple[int, int]]) -> None:
    assert found["opening"] == opening
    assert {k: v for k, v in found.items() if k not in ("opening", "closing")} == planted
    gone = ("won", "lost", "removed")
    deals = opening[0] + planted["new"][0] - sum(planted[k][0] for k in gone)
    assert found["closing"] == (deals, opening[1] + sum(c for _, c in planted.values()))


def test_planted_changes_make_the_movement_parts_and_they_add_up(demo_db: Path, copy: Path) -> None:
    statements, planted = _plant(demo_db)
    take_snapshot(copy, DAY1, now=NOW)
    _run(copy, *statements)
    take_snapshot(copy, DAY2, now=NOW)
    store = Store.open(copy)
    try:
        t = store.tables
        movement = ph.pipeline_movement(t[SNAPSHOTS], t["deals"], parse_period(BETWEEN))
        assert movement is not None
        assert (movement["start"]["snapshot_date"], movement["end"]["snapshot_date"]) == (DAY1, DAY2)
        found = _cents(movement)
        _check_planted(found, _open_at(demo_db, datetime(2025, 7, 6)), planted)
        assert found["closing"] == _open_at(copy, datetime(2025, 7, 11))
        # the same function on pandas frames of the same tables gives the same parts
        frames = {SNAPSHOTS: t[SNAPSHOTS].collect().to_pandas(),
                  "deals": t["deals"].collect().to_pandas()}
        again = ph.pipeline_movement(frames[SNAPSHOTS], frames["deals"], parse_period(BETWEEN))
        assert again is not None and _cents(again) == found
    finally:
        store.close()


@pytest.mark.parametrize("period", ["2025-06", "2025-Q2", "2025-06-10..2025-06-20", "2024-11"])
def test_on_the_demo_history_every_team_s_parts_add_up_exactly(demo_db: Path, period: str) -> None:
    store = Store.open(demo_db)
    try:
        days = ph.snapshot_days(store.tables[SNAPSHOTS])
        for team in ["all", *store.teams()]:
            t = store.scoped(team)
            movement = ph.pipeline_movement(t[SNAPSHOTS], t["deals"], parse_period(period), days=days)
            assert movement is not None
            found = _cents(movement)
            inner = sum(c for part, (_, c) in found.items() if part not in ("opening", "closing"))
            assert inner == found["closing"][1] - found["opening"][1], (period, team)
    finally:
        store.close()


def test_the_demo_history_shows_every_part_and_ends_with_the_deals(demo_db: Path) -> None:
    """The demo's history is as plausible as its deals: a snapshot a day for 90 days and
    one a month before, every kind of movement, and the last snapshot is the open deals."""
    days = ph.snapshot_days(_rows(demo_db))
    generated = days[days["snapshot_date"] <= date(2025, 6, 30)]  # later: taken by a run
    assert len(generated) == 90 + 21  # 2025-04-02 .. 06-30, and each month start before
    assert len(generated[generated["snapshot_date"] >= date(2025, 4, 2)]) == 90
    assert generated["snapshot_date"].iloc[0] == date(2023, 7, 31)  # August 2023 begins
    store = Store.open(demo_db)
    try:
        movement = ph.pipeline_movement(store.tables[SNAPSHOTS], store.tables["deals"],
                                        parse_period(MONTH))
    finally:
        store.close()
    assert movement is not None
    assert all(deals > 0 for _, (deals, _) in _cents(movement).items())
    with duckdb.connect(str(demo_db), read_only=True) as con:
        cols = "deal_id, owner_id, customer_id, created_at, stage, amount, probability, expected_close_at"
        differ = con.execute(
            f"SELECT count(*) FROM ((SELECT {cols} FROM crmkit.{SNAPSHOTS} WHERE snapshot_date = "
            f"DATE '2025-06-30' EXCEPT SELECT {cols} FROM deals WHERE status = 'open') UNION ALL "
            f"(SELECT {cols} FROM deals WHERE status = 'open' EXCEPT SELECT {cols} FROM "
            f"crmkit.{SNAPSHOTS} WHERE snapshot_date = DATE '2025-06-30'))").fetchone()
    assert differ == (0,)


# -- forecast accuracy ---------------------------------------------------------------------------


ACCURACY_SQL = """
WITH chosen AS (
    SELECT m.label, m.s, m.e,
           (SELECT max(taken_at) FROM crmkit.pipeline_snapshots
            WHERE taken_at <= m.s AND taken_at >= m.s - INTERVAL 7 DAY) AS t
    FROM months AS m
), team_deals AS (
    SELECT d.* FROM deals AS d JOIN employees AS e ON e.employee_id = d.owner_id
    WHERE $team = 'all' OR e.team_id = $team
), team_snapshots AS (
    SELECT p.* FROM crmkit.pipeline_snapshots AS p JOIN employees AS e ON e.employee_id = p.owner_id
    WHERE $team = 'all' OR e.team_id = $team
)
SELECT c.label AS month,
       coalesce((SELECT sum(amount * probability) FROM team_snapshots AS p WHERE p.taken_at = c.t
                 AND p.expected_close_at >= c.s AND p.expected_close_at < c.e), 0) AS forecast,
       coalesce((SELECT sum(amount) FROM team_deals AS d WHERE d.status = 'won'
                 AND d.closed_at >= c.s AND d.closed_at < c.e), 0) AS actual
FROM chosen AS c WHERE c.t IS NOT NULL ORDER BY c.label
"""


@pytest.mark.parametrize("team", ["all", "midmarket"])
def test_forecast_accuracy_is_what_plain_sql_computes(demo_db: Path, team: str) -> None:
    months = trend_months(parse_period(MONTH), 12)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        con.execute("CREATE TEMP TABLE months (label VARCHAR, s TIMESTAMP, e TIMESTAMP)")
        con.executemany("INSERT INTO months VALUES (?, ?, ?)",
                        [(m.label, m.start_utc, m.end_utc) for m in months])
        expected = con.execute(ACCURACY_SQL, {"team": team}).df()
    store = Store.open(demo_db)
    try:
        t = store.scoped(team)
        found = ph.forecast_accuracy(t[SNAPSHOTS], t["deals"], months,
                                     days=ph.snapshot_days(store.tables[SNAPSHOTS]))
    finally:
        store.close()
    assert found["month"].tolist() == expected["month"].tolist() == [m.label for m in months]
    for column in ("forecast", "actual"):
        assert found[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-9)
    error = expected["forecast"] - expected["actual"]
    assert found["error"].tolist() == pytest.approx(error.tolist(), rel=1e-9, abs=1e-6)
    assert found["relative_error"].tolist() == pytest.approx((error / expected["actual"]).tolist())
    bias = ph.forecast_bias(found)
    assert bias["bias"] == pytest.approx(error.mean())
    assert bias["bias_relative"] == pytest.approx(error.sum() / expected["actual"].sum())


def test_a_month_counts_only_with_a_snapshot_in_the_7_days_before_it(demo_db: Path) -> None:
    frame = _rows(demo_db)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        deals = con.execute("SELECT * FROM deals").df()
    months = trend_months(parse_period(MONTH), 3)
    day = frame["snapshot_date"]
    # May begins 2025-05-01: the snapshot of 2025-04-23 was taken 7 days before, to the second
    kept = frame[(day < pd.Timestamp("2025-04-24")) | (day > pd.Timestamp("2025-04-30"))]
    found = ph.forecast_accuracy(kept, deals, months)
    assert found["month"].tolist() == ["2025-04", "2025-05", "2025-06"]
    assert found["snapshot_date"].tolist()[1] == date(2025, 4, 23)
    older = kept[kept["snapshot_date"] != pd.Timestamp("2025-04-23")]
    assert ph.forecast_accuracy(older, deals, months)["month"].tolist() == ["2025-04", "2025-06"]


# -- the Sales page --------------------------------------------------------------------------------


def test_the_sales_page_says_how_much_moved_and_how_good_the_forecast_was(demo_db: Path) -> None:
    ctx = ck.open_report("sales", period=MONTH, as_of="2025-07-01", database=demo_db)
    data = sales.build(ctx)
    payload = json.loads(json.dumps(data.to_json(), allow_nan=False))
    parts = payload["breakdowns"]["pipeline_movement"]
    assert [p["part"] for p in parts] == list(ph.PARTS)
    assert parts[0]["snapshot_date"] == "2025-05-31" and parts[-1]["snapshot_date"] == "2025-06-30"
    accuracy = payload["breakdowns"]["forecast_accuracy"]
    assert [row["month"] for row in accuracy][-1] == MONTH and len(accuracy) == 12
    bias = data.extra.bias["bias_relative"]
    way = "above" if bias > 0 else "below"
    assert f"was {abs(bias):.0%} {way} what was won" in data.extra.accuracy
    html = sales_charts.pipeline_movement(data.breakdowns.pipeline_movement, data.extra.movement,
                                          ctx.currency)._repr_html_()
    assert "<img" in html and "From the pipeline snapshot at the end of 2025-05-31" in html
    styled = sales_charts.forecast_accuracy(data.breakdowns.forecast_accuracy,
                                            data.extra.accuracy, ctx.currency)
    assert styled.data["month"].tolist() == [row["month"] for row in accuracy]  # a Styler
    table = styled._repr_html_()
    assert "Forecast at start (EUR)" in table and data.extra.accuracy.split(":")[0] in table
    assert table.index("</table>") < table.index(data.extra.accuracy.split(":")[0])  # under it
    assert "pipeline_opening" in sales.definitions(data)


@pytest.mark.parametrize("statement", [f"DELETE FROM crmkit.{SNAPSHOTS}",
                                       f"DROP TABLE crmkit.{SNAPSHOTS}"])
def test_without_snapshots_the_sales_page_says_how_to_start(demo_db: Path, tmp_path: Path,
                                                           statement: str) -> None:
    db = demo_copy(demo_db, tmp_path / "bare.duckdb", statement)
    ctx = ck.open_report("sales", period=MONTH, as_of="2025-07-01", database=db)
    data = sales.build(ctx)
    html = sales_charts.pipeline_movement(data.breakdowns.pipeline_movement, data.extra.movement,
                                          ctx.currency)._repr_html_()
    assert "No pipeline snapshots yet" in html and "crmkit snapshot" in html
    assert "crmkit watch" in html and "<img" not in html
    assert sales_charts.forecast_accuracy(data.breakdowns.forecast_accuracy, data.extra.accuracy,
                                          ctx.currency).data == ""
    payload = json.loads(json.dumps(data.to_json(), allow_nan=False))
    assert payload["breakdowns"]["pipeline_movement"] == []
    assert payload["breakdowns"]["forecast_accuracy"] == []
    assert "pipeline_opening" not in sales.definitions(data)


def test_a_period_the_snapshots_do_not_bracket_says_which_days_they_cover(demo_db: Path) -> None:
    ctx = ck.open_report("sales", period="2023-06", as_of="2025-07-01", database=demo_db)
    data = sales.build(ctx)
    assert data.breakdowns.pipeline_movement.empty
    assert "the snapshots run from 2023-07-31 to " in data.extra.movement


def test_a_team_reads_the_snapshots_of_its_deals_owners(demo_db: Path) -> None:
    store = Store.open(demo_db)
    try:
        owners = store.scoped("smb")[SNAPSHOTS].select("owner_id").unique().collect().to_pandas()
        members = store.employees().query("team_id == 'smb'")["employee_id"]
        assert len(owners) and set(owners["owner_id"]) <= set(members)
    finally:
        store.close()


def test_frames_without_snapshots_read_as_an_empty_table_of_the_right_columns() -> None:
    store = Store.from_frames({}, settings={"timezone": "UTC"})
    frame = store.tables[SNAPSHOTS].collect().to_pandas()
    assert frame.empty and list(frame.columns)[:3] == ["snapshot_date", "taken_at", "deal_id"]
    assert ph.pipeline_movement(store.tables[SNAPSHOTS], store.tables["deals"],
                                parse_period(MONTH)) is None


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture
def pg_schema(demo_db: Path, postgres_server: Location) -> Iterator[Location]:
    """The pinned demo (with its history) loaded into a fresh schema, dropped afterwards."""
    from crmkit.backends import postgres as pg

    server = postgres_server
    location = server.with_schema(f"crmkit_snap_{os.getpid()}_{secrets.token_hex(3)}")
    pg.load(demo_db, location)
    yield location
    con = pg.connect(server)
    con.execute(f'drop schema "{location.schema}" cascade')
    con.close()


def _on_postgres(location: Location, statements: list[str]) -> None:
    from crmkit.backends import postgres as pg

    con = pg.connect(location)
    try:
        con.execute(f'set search_path to "{location.schema}"')
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def test_postgres_keeps_the_same_history_and_moves_the_same_way(demo_db: Path,
                                                                pg_schema: Location) -> None:
    months = trend_months(parse_period(MONTH), 12)

    def accuracy(store: Store) -> pd.DataFrame:
        return ph.forecast_accuracy(store.tables[SNAPSHOTS], store.tables["deals"], months)

    duck, post = Store.open(demo_db), Store.open(pg_schema)
    try:
        pd.testing.assert_frame_equal(accuracy(post), accuracy(duck), check_dtype=False)
    finally:
        duck.close()
        post.close()
    statements, planted = _plant(demo_db)
    assert take_snapshot(pg_schema, DAY1, now=NOW).outcome == "new"
    assert take_snapshot(pg_schema, DAY1, now=NOW).outcome == "unchanged"
    _on_postgres(pg_schema, statements)
    assert take_snapshot(pg_schema, DAY2, now=NOW).outcome == "new"
    post = Store.open(pg_schema)
    try:
        movement = ph.pipeline_movement(post.tables[SNAPSHOTS], post.tables["deals"],
                                        parse_period(BETWEEN))
    finally:
        post.close()
    assert movement is not None
    _check_planted(_cents(movement), _open_at(demo_db, datetime(2025, 7, 6)), planted)


def test_stages_of_the_same_mean_probability_are_ordered_by_name():
    """Means that are equal but were added up in another order (0.1 + 0.2 against 0.15 +
    0.15) tie, and the tie goes by name: a move between the two is neither advanced nor
    slipped by accident."""
    from crmkit.metrics import pipeline_history

    found = pd.DataFrame({"_stage0": ["b", "a", None], "_stage1": [None, "a", "b"],
                          "p0s": [0.15, 0.1 + 0.2, 0.0], "p0n": [1, 2, 0],
                          "p1s": [0.0, 0.0, 0.15], "p1n": [0, 0, 1]})
    assert (0.1 + 0.2) / 2 != 0.15  # the sums differ in their last bit
    assert pipeline_history._stage_order(found) == ["a", "b"]
