"""SQL text shared by the back-ends."""

from __future__ import annotations


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (DuckDB and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'
