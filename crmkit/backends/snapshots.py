"""Pipeline snapshots: crmkit's own dated record of the deals open each day.

A CRM keeps only the current state of a deal, so how the pipeline moved and how good the
forecast was cannot be read from it afterwards. :func:`take_snapshot` (``crmkit snapshot``;
``crmkit run-all`` and ``crmkit watch`` take one as they start) records every deal open at
an instant, with its stage, amount, probability, expected close, owner, customer and
creation time, in a table crmkit owns beside the canonical ones (DuckDB:
``crmkit.pipeline_snapshots``; PostgreSQL: ``crmkit_pipeline_snapshots``; see
``docs/DATA_MODEL.md``, "Tables crmkit keeps"). Reports read it as
``ctx.tables["pipeline_snapshots"]``, narrowed to a team like the deals.

One snapshot per day: the snapshot of a day holds the deals open at the end of that day in
the company time zone, or now if the day has not ended. A later call the same day replaces
it in one transaction (the day's rows are the old ones or the new ones, never a mix; other
days are never touched), unless the open deals are exactly those it holds: then nothing is
written, so a refresh loop over a quiet CRM changes nothing (and its cache stays fresh). A
day that is over can be recorded afterwards, from the deals as they are recorded now. Open
is the Sales rule (:func:`crmkit.metrics.sales.pipeline`): created before the instant and
not closed before it.

A DuckDB database is read-only for the reports; a snapshot looks first with a read-only
connection and writes only when something changed, through a short write connection: it
waits a few seconds for a process that holds the file and then says which one does.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import duckdb

from crmkit.backends._sql import quote as _q
from crmkit.backends.base import SNAPSHOT_COLUMNS, SNAPSHOTS
from crmkit.backends.duckdb import SNAPSHOT_TABLE, create_snapshot_table, read_settings
from crmkit.backends.location import Location, SparkLocation, find_database
from crmkit.backends.postgres import SNAPSHOTS_TABLE, _exists, _not_crmkit, connect
from crmkit.backends.postgres import create_snapshot_table as create_postgres_table
from crmkit.backends.postgres import read_settings as read_postgres_settings
from crmkit.errors import ParameterError, StoreError, one_line, shown
from crmkit.periods import parse_period

__all__ = ["SnapshotResult", "snapshot_instant", "take_snapshot"]

#: How long a snapshot waits for another process to release a DuckDB file (seconds).
LOCK_WAIT = 5.0
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: The columns a snapshot copies from a deal (the others are the day and the instant).
_FROM_DEALS = [c for c in SNAPSHOT_COLUMNS if c not in ("snapshot_date", "taken_at")]


@dataclass(frozen=True)
class SnapshotResult:
    """What :func:`take_snapshot` recorded (or found already recorded)."""

    day: date  # the snapshot's local day
    taken_at: datetime  # the instant its deals were open at (naive UTC)
    open_deals: int
    amount: float  # Σ amount of those deals (deals without an amount add nothing)
    outcome: str  # "new", "replaced" (an earlier snapshot of the day) or "unchanged"
    day_over: bool  # the day had ended: the deals as recorded now, open at its end
    location: str  # where, safe to show
    currency: str = ""

    @property
    def replaced(self) -> bool:
        """Whether an earlier snapshot of the same day was replaced."""
        return self.outcome == "replaced"


class _Run(Protocol):
    def __call__(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]: ...


def snapshot_instant(day: date | str | None, timezone: str, now: datetime | None = None
                     ) -> tuple[date, datetime, bool]:
    """The local day of a snapshot, the instant it describes (naive UTC: the end of that day
    in ``timezone``, or ``now`` if earlier) and whether the day is over; ``None``: today.
    A day that has not begun is an error."""
    if now is None:
        now_utc = datetime.now(UTC)
    else:
        now_utc = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    today = now_utc.astimezone(ZoneInfo(timezone)).date()
    chosen = today if day is None else _day(day)
    if chosen > today:
        raise ParameterError(f"snapshot day {chosen} has not begun (today is {today} in "
                             f"{timezone}): give today or an earlier day")
    end = parse_period(f"{chosen}..{chosen}", timezone=timezone).end_utc
    naive_now = now_utc.replace(tzinfo=None)
    return chosen, min(end, naive_now), end <= naive_now


def _day(value: date | str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ParameterError(f"snapshot day {shown(value)} is not a date: use YYYY-MM-DD") from None


def take_snapshot(database: str | Path | Location | None = None, day: date | str | None = None,
                  *, now: datetime | None = None, wait: float = LOCK_WAIT) -> SnapshotResult:
    """Record the deals open at the end of ``day`` (default: today, up to now) in the
    database's pipeline snapshots, replacing that day's earlier snapshot unless it holds
    exactly those deals already (then nothing is written: ``outcome`` "unchanged").

    ``database`` is found as every command finds it
    (:func:`crmkit.backends.location.find_database`): a DuckDB file or a PostgreSQL schema.
    ``now`` (an instant; naive means UTC) is for tests; ``wait`` is how long to wait for a
    process that holds a DuckDB file.
    """
    where = find_database(database)
    if isinstance(where, SparkLocation):
        raise ParameterError(
            f"{where.redacted()} is read through Spark: take the snapshots where the CRM data is "
            "written (the DuckDB file or PostgreSQL database), then export-parquet carries them")
    if isinstance(where, Location):
        return _postgres(where, day, now)
    return _duckdb(where, day, now, wait)


# -- the day's rows, on either engine ------------------------------------------------------


def _open_deals(deals: str) -> str:
    """``SELECT`` the snapshot's columns of the deals open at the instant ``{p}``."""
    return (f"SELECT {', '.join(_FROM_DEALS)} FROM {deals} "
            "WHERE created_at < {p} AND (closed_at IS NULL OR closed_at >= {p})")


def _recorded(run: _Run, table: str, deals: str, day: date, taken: datetime
              ) -> tuple[int, float, datetime] | None:
    """The snapshot of ``day`` if it holds exactly the deals open at ``taken`` (deals,
    amount, its instant), else None."""
    [(n, amount, at)] = run(
        f"SELECT count(*), sum(amount), max(taken_at) FROM {table} WHERE snapshot_date = {{p}}",
        [day])
    if not n:
        return None
    mine = f"SELECT {', '.join(_FROM_DEALS)} FROM {table} WHERE snapshot_date = {{p}}"
    [(differ,)] = run(
        f"SELECT count(*) FROM (({mine} EXCEPT {_open_deals(deals)}) UNION ALL "
        f"({_open_deals(deals)} EXCEPT {mine})) AS d",
        [day, taken, taken, taken, taken, day])
    return None if differ else (int(n), float(amount or 0.0), at)


def _write_day(run: _Run, table: str, deals: str, day: date, taken: datetime
               ) -> tuple[int, float, str]:
    """Replace the snapshot of ``day`` by the deals open at ``taken`` (inside the caller's
    transaction): open deals, their amount, and "new" or "replaced"."""
    [(before,)] = run(f"SELECT count(*) FROM {table} WHERE snapshot_date = {{p}}", [day])
    run(f"DELETE FROM {table} WHERE snapshot_date = {{p}}", [day])
    _copy_open_deals(run, table, deals, day, taken)
    [(n, amount)] = run(f"SELECT count(*), sum(amount) FROM {table} WHERE snapshot_date = {{p}}",
                        [day])
    return int(n), float(amount or 0.0), "replaced" if before else "new"


def _copy_open_deals(run: _Run, table: str, deals: str, day: date, taken: datetime) -> None:
    """Insert the deals open at ``taken``: created before it, not closed before it."""
    run(f"INSERT INTO {table} ({', '.join(SNAPSHOT_COLUMNS)}) "
        f"SELECT {{p}}, {{p}}, * FROM ({_open_deals(deals)}) AS open_deals",
        [day, taken, taken, taken])


# -- DuckDB ----------------------------------------------------------------------------------


def _duckdb(path: Path, day: date | str | None, now: datetime | None, wait: float
            ) -> SnapshotResult:
    con = _connect(path, wait, read_only=True)
    try:
        settings, has_table = _duckdb_settings(con, path)
        chosen, taken, over = snapshot_instant(day, settings.get("timezone") or "UTC", now)
        same = _recorded(_runner(con), SNAPSHOT_TABLE, "main.deals", chosen, taken) if has_table else None
    except duckdb.Error as exc:
        raise StoreError(f"cannot take a snapshot in {path}: {_first_line(exc)}") from None
    finally:
        con.close()
    currency = settings.get("currency") or ""
    if same is not None:
        return SnapshotResult(chosen, same[2], same[0], same[1], "unchanged", over, str(path), currency)
    con = _connect(path, wait, read_only=False)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            create_snapshot_table(con)
            n, amount, outcome = _write_day(_runner(con), SNAPSHOT_TABLE, "main.deals", chosen, taken)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise StoreError(f"cannot take a snapshot in {path}: {_first_line(exc)}") from None
    finally:
        con.close()
    return SnapshotResult(chosen, taken, n, amount, outcome, over, str(path), currency)


def _runner(con: duckdb.DuckDBPyConnection) -> _Run:
    def run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return con.execute(sql.replace("{p}", "?"), params).fetchall()

    return run


def _duckdb_settings(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[dict[str, str], bool]:
    """The database's settings, and whether it has a snapshots table yet."""
    tables = {(s, t) for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    if ("main", "deals") not in tables:
        raise StoreError(f"{path} is not a crmkit database: it has no deals table; build one "
                         "with `crmkit import` or `crmkit demo`")
    settings = read_settings(con) if ("crmkit", "settings") in tables else {}
    return settings, ("crmkit", SNAPSHOTS) in tables


def _connect(path: Path, wait: float, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to ``path``, waiting up to ``wait`` seconds for another process to
    release the file."""
    if not path.is_file():
        raise StoreError(f"no database at {path}: build the demo with `crmkit demo` or point "
                         "--database / CRMKIT_DATABASE at your crmkit database")
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise StoreError(f"cannot open {path} to take a snapshot: {_first_line(exc)}"
                                 ) from None
            if time.monotonic() >= deadline:
                raise StoreError(_locked(path, text)) from None
            time.sleep(0.2)


def _locked(path: Path, text: str) -> str:
    holder = re.search(r"\(PID (\d+)\)", text)
    who = f"process {holder.group(1)}" if holder else "another process"
    return (f"cannot take a snapshot: {path} is locked by {who}, which has it open; a "
            "snapshot needs to write to it for a moment: run it again when that process has "
            "finished (a report run, an import, a demo build or another snapshot)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return one_line(text.splitlines()[0]) if text else type(exc).__name__


# -- PostgreSQL ------------------------------------------------------------------------------


def _postgres(location: Location, day: date | str | None, now: datetime | None
              ) -> SnapshotResult:
    import psycopg  # lazy: psycopg is an optional extra; connect() below needs it too

    con = connect(location)
    schema = location.schema
    try:
        if not _exists(con, schema, "deals"):
            raise _not_crmkit(location, ["deals"])
        settings = read_postgres_settings(con, schema)
        chosen, taken, over = snapshot_instant(day, settings.get("timezone") or "UTC", now)
        table, deals = f"{_q(schema)}.{SNAPSHOTS_TABLE}", f"{_q(schema)}.deals"

        def run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
            cur = con.execute(sql.replace("{p}", "%s"), params)
            return cur.fetchall() if cur.description else []

        with con.transaction():
            create_postgres_table(con, schema)
            con.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")  # one at a time
            same = _recorded(run, table, deals, chosen, taken)
            if same is None:
                n, amount, outcome = _write_day(run, table, deals, chosen, taken)
            else:
                (n, amount, taken), outcome = same, "unchanged"
    except psycopg.Error as exc:
        first = location.scrub(_first_line(exc))
        raise StoreError(f"cannot take a snapshot in {location}: {first}") from None
    finally:
        con.close()
    return SnapshotResult(chosen, taken, n, amount, outcome, over, str(location),
                          settings.get("currency") or "")
