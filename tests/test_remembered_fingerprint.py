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


@pytest.fixture
def settled_at_once(monkeypatch) -> None:
    """A state counts as settled as soon as it is written (the tests' files are new)."""
    monkeypatch.setattr(remembered, "SETTLED_SECONDS", 0.0)


def _settled_copy(demo_db: Path, folder: Path) -> Path:
    db = folder / "crm.duckdb"
    shutil.copy(demo_db, db)
    return db


def _fingerprint(db: Path) -> str:
    return Store.open(db).fingerprint()


def test_a_settled_file_is_hashed_once(demo_db, tmp_path, cache, counted, settled_at_once):
    db = _settled_copy(demo_db, tmp_path)
    first = _fingerprint(db)
    assert [_fingerprint(db), _fingerprint(db)] == [first, first]
    assert len(counted) == 1
    entries = list(cache.glob("*.json"))
    assert len(entries) == 1 and json.loads(entries[0].read_text())["fingerprint"] == first


def test_a_changed_row_changes_the_fingerprint(demo_db, tmp_path, cache, counted, settled_at_once):
    db = _settled_copy(demo_db, tmp_path)
    before = _fingerprint(db)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE deals SET amount = amount + 1 WHERE deal_id = (SELECT min(deal_id) FROM deals)")
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
def test_a_tampered_entry_is_ignored(demo_db, tmp_path, cache, counted, settled_at_once, entry):
    db = _settled_copy(demo_db, tmp_path)
    true = _fingerprint(db)
    (path,) = cache.glob("*.json")
    state = json.loads(path.read_text())["state"]
    path.write_text(entry.replace('"SAME"', json.dumps(str(db.resolve()))).replace('"STATE"', json.dumps(state)))
    assert _fingerprint(db) == true
    assert len(counted) == 2


def test_a_forged_entry_for_this_state_is_what_a_cache_entry_is(demo_db, tmp_path, cache, counted,
                                                                settled_at_once):
    # the check that makes the tampered cases above meaningful: a well-formed entry for
    # this path and state is used as is (the cache folder is the user's own, 0700)
    db = _settled_copy(demo_db, tmp_path)
    _fingerprint(db)
    (path,) = cache.glob("*.json")
    found = json.loads(path.read_text())
    path.write_text(json.dumps({**found, "fingerprint": "0123456789abcdef"}))
    assert _fingerprint(db) == "0123456789abcdef"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"


def test_an_unwritable_cache_costs_time_not_the_report(demo_db, tmp_path, monkeypatch, counted, settled_at_once):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv(remembered.CACHE_ENV, str(blocker))
    db = _settled_copy(demo_db, tmp_path)
    assert _fingerprint(db) == _fingerprint(db)
    assert len(counted) == 2


def test_a_database_renamed_over_the_open_one_is_not_given_its_fingerprint(
        demo_db, tmp_path, cache, counted, settled_at_once):
    # crmkit's writer replaces a database by renaming a new file over it; a report that
    # opened the old file must not file the old data's fingerprint under the new file
    db = _settled_copy(demo_db, tmp_path)
    newer = tmp_path / "newer.duckdb"
    shutil.copy(demo_db, newer)
    with duckdb.connect(str(newer)) as con:
        con.execute("UPDATE deals SET amount = amount + 1 WHERE deal_id = (SELECT min(deal_id) FROM deals)")
    store = Store.open(db)  # opened on the old data
    os.replace(newer, db)
    old_data = store.fingerprint()
    store.close()  # (a process has one DuckDB instance per path: the next open reads the new file)
    assert not list(cache.glob("*.json"))
    new_data = _fingerprint(db)
    assert new_data != old_data
    assert _fingerprint(db) == new_data
    shutil.rmtree(cache)
    assert _fingerprint(db) == new_data  # what hashing the new file gives, with no cache


def test_a_database_deleted_while_open_is_not_remembered(demo_db, tmp_path, cache, counted, settled_at_once):
    db = _settled_copy(demo_db, tmp_path)
    store = Store.open(db)
    db.unlink()
    store.fingerprint()
    store.close()
    assert not list(cache.glob("*.json"))


@pytest.mark.parametrize("how", ["shared", "link"])
def test_a_cache_folder_others_can_write_is_not_used(demo_db, tmp_path, monkeypatch, counted,
                                                      settled_at_once, how):
    # anyone who can write the folder could choose the fingerprint every page prints
    root = tmp_path / "cache"
    if how == "shared":
        (root / "fingerprints").mkdir(parents=True)
        (root / "fingerprints").chmod(0o777)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        root.mkdir()
        (root / "fingerprints").symlink_to(elsewhere)
    monkeypatch.setenv(remembered.CACHE_ENV, str(root))
    db = _settled_copy(demo_db, tmp_path)
    assert _fingerprint(db) == _fingerprint(db)
    assert len(counted) == 2
    assert not list((root / "fingerprints").glob("*.json"))
