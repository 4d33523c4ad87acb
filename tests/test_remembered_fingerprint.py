"""The data fingerprint of a DuckDB file is remembered per state of the file
(crmkit.backends.remembered): computed once per change of the data, never stale, and a
cache entry is untrusted input."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest

from crmkit.backends import duckdb as duck_backend
from crmkit.backends import remembered
from crmkit.store import Store


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(remembered.CACHE_ENV, str(folder))
    return folder / "fingerprints"


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """How many times every row was hashed."""
    calls: list[int] = []
    real = duck_backend.of_duckdb

    def counting(con, *args, **kwargs):
        calls.append(1)
        return real(con, *args, **kwargs)

    monkeypatch.setattr(duck_backend, "of_duckdb", counting)
    return calls


def _settled_copy(demo_db: Path, folder: Path) -> Path:
    """A copy of the demo database whose last write is long past."""
    db = folder / "crm.duckdb"
    shutil.copy(demo_db, db)
    _age(db)
    return db


def _age(db: Path) -> None:
    old = time.time() - 60
    os.utime(db, (old, old))


def _fingerprint(db: Path) -> str:
    return Store.open(db).fingerprint()


def test_a_settled_file_is_hashed_once(demo_db, tmp_path, cache, counted):
    db = _settled_copy(demo_db, tmp_path)
    first = _fingerprint(db)
    assert [_fingerprint(db), _fingerprint(db)] == [first, first]
    assert len(counted) == 1
    entries = list(cache.glob("*.json"))
    assert len(entries) == 1 and json.loads(entries[0].read_text())["fingerprint"] == first


def test_a_changed_row_changes_the_fingerprint(demo_db, tmp_path, cache, counted):
    db = _settled_copy(demo_db, tmp_path)
    before = _fingerprint(db)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE deals SET amount = amount + 1 WHERE deal_id = (SELECT min(deal_id) FROM deals)")
    _age(db)
    after = _fingerprint(db)
    assert after != before
    assert _fingerprint(db) == after  # remembered for the new state, hashed once for it
    assert len(counted) == 2
    shutil.rmtree(cache)  # the same value as hashing without any cache
    assert _fingerprint(db) == after


def test_a_file_written_just_now_is_not_remembered(demo_db, tmp_path, cache, counted):
    # racy: a second write within the file system's time granularity could leave the
    # state unchanged, so a fresh state is hashed every time
    db = tmp_path / "crm.duckdb"
    shutil.copy(demo_db, db)
    now = time.time()
    os.utime(db, (now, now))
    _fingerprint(db)
    _fingerprint(db)
    assert len(counted) == 2
    assert not list(cache.glob("*.json"))


@pytest.mark.parametrize("entry", [
    "not json",
    json.dumps(["a list"]),
    json.dumps({"database": "/elsewhere.duckdb", "state": None, "fingerprint": "0123456789abcdef"}),
    json.dumps({"database": "SAME", "state": "STATE", "fingerprint": "<script>alert(1)</script>"}),
    json.dumps({"database": "SAME", "state": "STATE", "fingerprint": "0123456789abcdef0"}),
    json.dumps({"database": "SAME", "state": [["other", 1, 2, 3]], "fingerprint": "0123456789abcdef"}),
])
def test_a_tampered_entry_is_ignored(demo_db, tmp_path, cache, counted, entry):
    db = _settled_copy(demo_db, tmp_path)
    true = _fingerprint(db)
    (path,) = cache.glob("*.json")
    state = json.loads(path.read_text())["state"]
    path.write_text(entry.replace('"SAME"', json.dumps(str(db.resolve()))).replace('"STATE"', json.dumps(state)))
    assert _fingerprint(db) == true
    assert len(counted) == 2


def test_a_forged_entry_for_this_state_is_what_a_cache_entry_is(demo_db, tmp_path, cache, counted):
    # the check that makes the tampered cases above meaningful: a well-formed entry for
    # this path and state is used as is (the cache folder is the user's own, 0700)
    db = _settled_copy(demo_db, tmp_path)
    _fingerprint(db)
    (path,) = cache.glob("*.json")
    found = json.loads(path.read_text())
    path.write_text(json.dumps({**found, "fingerprint": "0123456789abcdef"}))
    assert _fingerprint(db) == "0123456789abcdef"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"


def test_an_unwritable_cache_costs_time_not_the_report(demo_db, tmp_path, monkeypatch, counted):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv(remembered.CACHE_ENV, str(blocker))
    db = _settled_copy(demo_db, tmp_path)
    assert _fingerprint(db) == _fingerprint(db)
    assert len(counted) == 2
