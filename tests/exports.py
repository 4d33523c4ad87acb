"""What the import tests share: where the fixture exports are, and small helpers to query
a database and edit an export (the fixtures ``export`` and ``db`` are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
PIPELINE = FIXTURES / "pipeline"
PIPE = "sales_pipeline.csv"


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")
