"""The data fingerprint: one short hash of the canonical tables' content, engine-neutral.

Every page and JSON states it (``data_fingerprint``), so a reader can tell whether two
reports were computed from the same data. The same data gives the same fingerprint on
DuckDB, on PostgreSQL and on in-memory pandas frames: each row is written as text in a
form both engines produce identically (text as is, integers in decimal, timestamps as
epoch microseconds, dates as epoch days, floats rounded to 1e-4 as integers), hashed with
MD5 inside the engine, and the table's row hashes are added up (order-independent, exact:
integer sums). One query per database; Python only hashes the twelve (rows, sum) pairs.

Floats are compared at 1e-4 and assumed below 1e11 in magnitude (money, probabilities,
scores); beyond that the two engines may print the rounded value differently. The
fingerprint is total: any double, however large, and NaN or infinities, have a text form
(:func:`_float_text`), so no value the model accepts can make it fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import duckdb

from crmkit.backends._sql import quote as _q
from crmkit.model import TABLES, empty_frame

Dialect = Literal["duckdb", "postgres"]

_NULL = "'\\N'"
#: Floats below this magnitude are fingerprinted as integers of 1e-4 (DECIMAL(38, 0) holds
#: them); larger ones, and NaN and infinities, by their text.
EXACT_BELOW = 1e33
_SEP = "chr(31)"


def _text(col: str, kind: str, dialect: Dialect) -> str:
    """SQL for one column as canonical text (NULL stays NULL)."""
    c = _q(col)
    duck = dialect == "duckdb"
    if kind in ("id", "str"):
        return f"CAST({c} AS VARCHAR)" if duck else f"CAST({c} AS text)"
    if kind == "int":
        return f"CAST(CAST({c} AS BIGINT) AS VARCHAR)" if duck else f"CAST({c} AS text)"
    if kind == "float":
        return _float_text(c, dialect)
    if kind == "timestamp":
        if duck:
            return f"CAST(epoch_us(CAST({c} AS TIMESTAMP)) AS VARCHAR)"
        return f"CAST(CAST(extract(epoch FROM {c}) * 1000000 AS bigint) AS text)"
    if kind == "date":
        if duck:
            return f"CAST(CAST({c} AS DATE) - DATE '1970-01-01' AS VARCHAR)"
        return f"CAST({c} - DATE '1970-01-01' AS text)"
    raise ValueError(f"unknown logical type {kind!r}")  # pragma: no cover


def _float_text(c: str, dialect: Dialect) -> str:
    """A float column as text: below :data:`EXACT_BELOW` in magnitude, rounded to 1e-4 and
    written as an integer; beyond (where that integer would overflow), ``e`` and the
    shortest exact form, which both engines print alike; ``nan``, ``inf``, ``-inf``."""
    if dialect == "duckdb":
        x, text = f"CAST({c} AS DOUBLE)", "VARCHAR"
        small = f"CAST(CAST(floor({x} * 10000 + 0.5) AS DECIMAL(38, 0)) AS VARCHAR)"
    else:
        x, text = c, "text"
        small = f"CAST(CAST(floor({c} * 10000 + 0.5) AS numeric(38, 0)) AS text)"
    double = "DOUBLE" if dialect == "duckdb" else "double precision"
    special = " ".join(
        f"WHEN {x} = CAST('{value}' AS {double}) THEN '{label}'"
        for value, label in (("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"))
    )
    return (
        f"CASE WHEN {x} IS NULL THEN NULL {special} WHEN abs({x}) < {EXACT_BELOW:.0e} "
        f"THEN {small} ELSE 'e' || CAST({x} AS {text}) END"
    )


def table_sql(name: str, source: str, dialect: Dialect, present: Iterable[str] | None = None) -> str:
    """``SELECT name, rows, sum_of_row_hashes`` for one canonical table read from
    ``source`` (a qualified table name). Columns not in ``present`` count as NULL."""
    have = set(present) if present is not None else None
    parts = []
    for c in TABLES[name].columns:
        expr = _text(c.name, c.type, dialect) if have is None or c.name in have else "NULL"
        parts.append(f"coalesce({expr}, {_NULL})")
    row = f" || {_SEP} || ".join(parts)
    if dialect == "duckdb":
        h = f"CAST(('0x' || substr(md5({row}), 1, 15)) AS BIGINT)"
        total = f"CAST(coalesce(sum({h}), 0) AS VARCHAR)"
    else:
        h = f"CAST(CAST(('x' || substr(md5({row}), 1, 15)) AS bit(60)) AS bigint)"
        total = f"CAST(coalesce(sum({h}), 0) AS text)"
    return f"SELECT '{name}' AS name, count(*) AS n, {total} AS h FROM {source}"


def combine(rows: Iterable[tuple[Any, Any, Any]]) -> str:
    """The fingerprint from each table's (name, rows, hash sum), in canonical order."""
    found = {str(name): (int(n), str(h)) for name, n, h in rows}
    digest = hashlib.sha256()
    for name in TABLES:
        n, h = found.get(name, (0, "0"))
        digest.update(f"{name}:{n}:{h};".encode())
    return digest.hexdigest()[:16]


def query(qualify: Callable[[str], str], dialect: Dialect, present: Mapping[str, Any] | None = None) -> str:
    """One query that returns (name, rows, hash sum) for every canonical table."""
    return "\nUNION ALL\n".join(
        table_sql(name, qualify(name), dialect, None if present is None else present[name]) for name in TABLES
    )


def of_duckdb(con: Any, schema: str = "main") -> str:
    """Fingerprint of the canonical tables of a DuckDB connection."""
    return combine(con.execute(query(lambda n: f"{_q(schema)}.{_q(n)}", "duckdb")).fetchall())


def of_postgres(con: Any, schema: str) -> str:
    """Fingerprint of the canonical tables in a PostgreSQL schema (psycopg connection)."""
    with con.cursor() as cur:
        rows = cur.execute(query(lambda n: f"{_q(schema)}.{_q(n)}", "postgres")).fetchall()
    return combine(rows)


def of_frames(frames: Mapping[str, Any]) -> str:
    """Fingerprint of pandas frames, one per canonical table (missing: empty), computed
    with an in-memory DuckDB so that it equals the fingerprint of the same data in a
    database."""
    con = duckdb.connect()
    try:
        present: dict[str, list[str]] = {}
        for name in TABLES:
            df = frames.get(name)
            if df is None:
                df = empty_frame(name)
            con.register(f"_fp_{name}", df)
            present[name] = [str(c) for c in df.columns]
        return combine(con.execute(query(lambda n: f"_fp_{n}", "duckdb", present)).fetchall())
    finally:
        con.close()
