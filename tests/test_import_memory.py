"""A large CSV file is imported in chunks (issue 13, item 11: memory): the database, the
notes and every error are those of the same file read whole.

The files here are small; ``STREAM_BYTES`` and ``CHUNK_ROWS`` are lowered so that the
chunked path runs (``make bench`` measures the real 200 MB case).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from crmkit.model import TABLES
from crmkit.sources.imports import ImportFailed, import_exports
from crmkit.sources.imports import sources as source_module

CANONICAL = Path(__file__).parent / "fixtures" / "exports" / "canonical"
HEADER = "activity_id,occurred_at,type,customer_id,employee_id,deal_id,direction,duration_s\n"


def _rows(n: int) -> list[str]:
    types = ("call", "Email", "meeting", "note")
    rows = []
    for i in range(1, n + 1):
        deal = f"d-{i % 4}" if i % 3 else ""  # d-0 and d-3 are not deals: notes
        direction = ("inbound", "outbound", "")[i % 3]
        rows.append(
            f'a-{i},2025-05-{1 + i % 28:02d} 10:{i % 60:02d}:00,"{types[i % 4]}",,e-{1 + i % 2},'
            f"{deal},{direction},{i * 7}\n"
        )
    return rows


def _export(tmp_path: Path, rows: list[str], name: str = "export") -> Path:
    folder = tmp_path / name
    shutil.copytree(CANONICAL, folder)
    (folder / "activities.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    return folder


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_module, "STREAM_BYTES", 1)
    monkeypatch.setattr(source_module, "CHUNK_ROWS", 7)


def _tables(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        out = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
        out["notes"] = con.execute("SELECT * FROM crmkit.data_notes ORDER BY rowid").fetchall()
    return out


def _both(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch):
    """The import of ``folder`` read whole, then in chunks: results or failures."""
    results = []
    for stream_bytes in (1 << 40, 1):
        monkeypatch.setattr(source_module, "STREAM_BYTES", stream_bytes)
        monkeypatch.setattr(source_module, "CHUNK_ROWS", 7)
        db = tmp_path / f"crm-{stream_bytes}.duckdb"
        try:
            results.append((import_exports(folder, None, db), db))
        except ImportFailed as exc:
            results.append((exc, None))
    return results


def test_chunked_import_is_the_import_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(40)
    rows.insert(10, "\n")  # a blank line: line numbers stay those of the file
    folder = _export(tmp_path, rows)
    (whole, db_whole), (chunks, db_chunks) = _both(tmp_path, folder, monkeypatch)
    assert whole.rows == chunks.rows and chunks.rows["activities"] == 40
    assert [str(n) for n in whole.notes] == [str(n) for n in chunks.notes]
    assert any(n.table == "activities" and n.column == "deal_id" for n in chunks.notes)
    assert _tables(db_whole) == _tables(db_chunks)


@pytest.mark.parametrize(
    "edit",
    [
        lambda rows: rows.__setitem__(30, rows[3]),  # a key repeated across chunks
        lambda rows: rows.__setitem__(25, rows[25].replace("2025-05-", "2025-13-")),  # a bad date
        lambda rows: rows.__setitem__(20, rows[20].replace('"Email"', '"ring"')),  # not a type
        lambda rows: rows.__setitem__(33, rows[33].replace("\n", ",9\n")),  # a field too many
        lambda rows: rows.__setitem__(17, rows[17].replace(",e-", ",,e-", 1)),  # shifted: -7 s
    ],
)
def test_chunked_errors_are_those_of_the_file_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit
) -> None:
    rows = _rows(40)
    edit(rows)
    folder = _export(tmp_path, rows)
    (whole, _), (chunks, _) = _both(tmp_path, folder, monkeypatch)
    assert isinstance(whole, ImportFailed) and isinstance(chunks, ImportFailed)
    assert str(chunks).split(" (failure report")[0] == str(whole).split(" (failure report")[0]
    assert [p.line for p in chunks.problems] == [p.line for p in whole.problems]


def test_a_failed_chunked_import_changes_nothing(tmp_path: Path, chunked: None) -> None:
    db = tmp_path / "crm.duckdb"
    import_exports(_export(tmp_path, _rows(30), "good"), None, db)
    before = db.read_bytes()
    rows = _rows(30)
    rows[29] = rows[29].replace(",e-", ",e-1,x,", 1)
    with pytest.raises(ImportFailed):
        import_exports(_export(tmp_path, rows, "bad"), None, db)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("crm")) == sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith("crm") and ".tmp" not in p.name
    )
