"""Test databases made from the pinned demo: a copy with a few statements applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

#: A team without any record: its pages can only be empty.
GHOST_TEAM = "insert into teams values ('ghost', 'Ghost')"


def demo_copy(demo_db: Path, target: Path, *statements: str) -> Path:
    """``target``: a copy of the pinned demo database with ``statements`` run on it."""
    shutil.copy(demo_db, target)
    con = duckdb.connect(str(target))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    return target
