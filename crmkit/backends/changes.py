"""What changed in a database since the last look, at two costs.

:func:`stamp` is cheap, read from the engine's bookkeeping without reading any table: a
DuckDB file's identity, size and modification time (and its write-ahead log's), or
PostgreSQL's per-table write counters and storage ids. It moves whenever the data may have
changed (sometimes when it has not: a checkpoint, an aborted insert), never stays put when
it did, with one exception documented in ``docs/refresh.md``: PostgreSQL publishes its
counters within a second or so of a commit, so a change committed that instant is seen at
the next check.

:func:`frame_hashes` is exact: the row count and an order-independent sum of row hashes of
any lazy frame (a table narrowed to one team, a join), computed in the engine in one query,
so the refresh cache can tell which team's inputs of which table changed. The hashes are
only ever compared with hashes from the same engine.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import narwhals as nw
import pandas as pd

from crmkit.backends import Backend
from crmkit.backends.duckdb import DuckDBBackend, reading
from crmkit.backends.location import Database, Location, SparkLocation, file_state
from crmkit.backends.postgres import PostgresBackend
from crmkit.backends.postgres import connect as connect_postgres

__all__ = ["frame_hashes", "stamp"]

#: Relations whose changes PostgreSQL's counters cannot see (their data lives elsewhere):
#: with one of them among a schema's tables, the stamp changes on every look.
_OPAQUE_KINDS = ("v", "f", "m")

_PG_STAMP = """
SELECT c.relname, c.relkind, c.relfilenode,
       coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0),
       coalesce(s.n_live_tup, 0)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'f', 'm')
ORDER BY c.relname
"""


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:24]


def stamp(database: Database) -> str:
    """A short text that changes whenever the data of ``database`` may have changed."""
    if isinstance(database, Location):
        return _postgres_stamp(database)
    if isinstance(database, SparkLocation):  # no cheap look at what Spark reads: never the same
        return f"spark:{time.time_ns()}"
    return _file_stamp(database)


def _file_stamp(path: Path) -> str:
    """A DuckDB file (and its write-ahead log): :func:`crmkit.backends.location.file_state`."""
    return _digest(file_state(path))


def _postgres_stamp(location: Location) -> str:
    """A PostgreSQL schema: every relation's storage id and write counters."""
    con = connect_postgres(location)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            rows = cur.execute(_PG_STAMP, (location.schema,)).fetchall()
    finally:
        con.close()
    if any(row[1] in _OPAQUE_KINDS for row in rows):  # a stamp that cannot see changes never repeats
        rows.append(("opaque", time.time_ns()))
    return _digest(rows)


def frame_hashes(backend: Backend, frames: Mapping[str, nw.LazyFrame]) -> dict[str, str] | None:
    """``name -> "rows:hash-sum"`` of every frame, computed where the data is (one query);
    None on an engine that cannot say (in-memory frames): everything counts as changed."""
    if not isinstance(backend, DuckDBBackend | PostgresBackend):
        return None
    native = {name: frame for name, frame in frames.items() if not _in_memory(frame)}
    found = {name: _memory_hash(frame) for name, frame in frames.items() if name not in native}
    if not native:
        return found
    if isinstance(backend, DuckDBBackend):
        sql = " UNION ALL ".join(_duckdb_sql(name, frame) for name, frame in native.items())
        with reading(backend.location):
            rows = backend.connection.execute(sql).fetchall()
    else:
        sql = " UNION ALL ".join(_postgres_sql(backend, name, frame) for name, frame in native.items())
        with backend.connection.cursor() as cur:
            rows = cur.execute(sql).fetchall()
    return found | {str(name): f"{n}:{h}" for name, n, h in rows}


def _in_memory(frame: nw.LazyFrame) -> bool:
    """A frame held in memory beside the database (e.g. the empty snapshots of a database
    that keeps none), not a query of it."""
    return frame.implementation in (nw.Implementation.PANDAS, nw.Implementation.POLARS,
                                     nw.Implementation.PYARROW)


def _memory_hash(frame: nw.LazyFrame) -> str:
    df = frame.collect().to_pandas()
    return f"{len(df)}:{int(pd.util.hash_pandas_object(df, index=False).sum()) if len(df) else 0}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duckdb_sql(name: str, frame: nw.LazyFrame) -> str:
    query = frame.to_native().sql_query()
    return (f"SELECT {_literal(name)} AS name, count(*) AS n, "
            f"CAST(coalesce(sum(CAST(hash(_t) AS HUGEINT)), 0) AS VARCHAR) AS h FROM ({query}) AS _t")


def _postgres_sql(backend: PostgresBackend, name: str, frame: nw.LazyFrame) -> str:
    query = str(backend.ibis.compile(frame.to_native()))
    row_hash = "CAST(CAST(('x' || substr(md5(CAST(_t AS text)), 1, 15)) AS bit(60)) AS bigint)"
    return (f"SELECT {_literal(name)} AS name, count(*) AS n, "
            f"CAST(coalesce(sum({row_hash}), 0) AS text) AS h FROM ({query}) AS _t")
