"""Untrusted SQL on a private, sandboxed DuckDB database: one SELECT that reads the frames
it is given and nothing else (no file, no other database, no network, no extension, no
Python variable), with no way to lift the sandbox. Mapping SQL of an import and an
analyst's ``ctx.sql`` both run here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from crmkit.backends._sql import quote

__all__ = ["SANDBOX", "connect", "one_select", "permission_problem"]

#: Settings that sandbox the SQL once its tables are registered: no files, no network, no
#: extensions, no pandas frames of the caller's scope, and no way back (locked).
SANDBOX = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


def connect(tables: Mapping[str, Any], view: Callable[[str, str], str] | None = None
            ) -> duckdb.DuckDBPyConnection:
    """A private in-memory database holding one view per table (a pandas frame, an Arrow
    table), then sandboxed. ``view(name, raw)`` gives the SELECT of each view over its
    registered frame ``raw`` (default: every column as it is)."""
    con = duckdb.connect(":memory:", config={"python_enable_replacements": False})
    try:
        for name, frame in tables.items():
            raw = f"_raw_{name}"
            con.register(raw, frame)
            select = view(name, raw) if view else f"SELECT * FROM {quote(raw)}"
            con.execute(f"CREATE VIEW {quote(name)} AS {select}")
        for setting in SANDBOX:
            con.execute(setting)
    except BaseException:
        con.close()
        raise
    return con


def one_select(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """What is wrong with ``sql`` as one SELECT statement, or None."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error:
        return None  # a syntax error: running it tells what is wrong
    if len(statements) != 1:
        return f"it holds {len(statements)} statements"
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        return f"it is a{'n' if kind.name[:1] in 'AEIOU' else ''} {kind.name} statement"
    return None


def permission_problem(exc: duckdb.PermissionException) -> str:
    """The first line of a sandbox refusal, without DuckDB's prefix."""
    return str(exc).strip().splitlines()[0].removeprefix("Permission Error: ").rstrip(".")
