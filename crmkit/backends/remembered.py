"""The data fingerprint of a DuckDB file, remembered for each state of the file.

Hashing every row of every table costs seconds on a large database (8 s for 8 million rows
on 2 cores), and every report states the fingerprint. So the fingerprint of a DuckDB file
is kept in the user's cache folder (``platformdirs``; ``$CRMKIT_CACHE_DIR`` moves it), one
small JSON file per database path, with the state of the file it was computed from
(:func:`crmkit.backends.location.file_state`: device, inode, size, modification and change
times of the file and of its write-ahead log).

The state is the one the connection opened: it is read just before and just after DuckDB
opens the file, and kept only when both agree (:func:`opened_state`). While the same file
stays open read-only, no other process can write it; but a file can be renamed over the
open one (crmkit's own database writer replaces a database that way) or deleted, so the
cache is read and written only while the file at the path is still in the opened state.

Three more safeguards keep a remembered value from outliving its data:

- **racy states are not remembered**: a write within the file system's timestamp
  granularity of the previous one (a few milliseconds) may leave the times unchanged, so a
  state whose newest write is under :data:`SETTLED_SECONDS` old is computed every time
  (git's rule for its index);
- **a cache entry is untrusted**: anything but an entry for this very path and state, with
  a fingerprint of 16 hexadecimal digits, is ignored and recomputed;
- **the cache folder must be private**: a folder that is a symbolic link, belongs to
  another user, or that others may write (a shared ``$CRMKIT_CACHE_DIR``) is not used.

A cache folder that cannot be used costs the computation, never a failure. PostgreSQL and
Spark are not remembered: PostgreSQL's write counters trail a commit by up to a second, and
Spark has no cheap state to compare.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import platformdirs

from crmkit._files import write_atomic
from crmkit.backends.location import file_state

__all__ = ["CACHE_ENV", "SETTLED_SECONDS", "State", "cache_folder", "fingerprint_of", "opened_state",
           "settled"]

#: Moves the cache folder (``platformdirs.user_cache_dir("crmkit")`` otherwise).
CACHE_ENV = "CRMKIT_CACHE_DIR"

#: A state whose newest write is younger than this is computed, not remembered.
SETTLED_SECONDS = 2.0

#: A file's state (:func:`crmkit.backends.location.file_state`); None: not to be remembered.
State = tuple[tuple[object, ...], ...] | None

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
T = TypeVar("T")


def cache_folder() -> Path:
    """Where remembered fingerprints are kept."""
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("crmkit")) / "fingerprints"


def opened_state(path: Path, connect: Callable[[], T]) -> tuple[T, State]:
    """``connect()``'s connection to the file at ``path``, and the file's state as opened:
    None when the file changed while it was being opened or is not there."""
    path = Path(path).resolve()
    before = file_state(path)
    connection = connect()
    same = file_state(path) == before and len(before[0]) > 1
    return connection, before if same else None


def _private(folder: Path) -> bool:
    """A folder of this user's only: not a link, not writable (nor readable) by others."""
    try:
        st = folder.lstat()
    except OSError:
        return False
    mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & 0o077


def _entry(path: Path) -> Path:
    return cache_folder() / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"


def _read(entry: Path, path: Path, state: State) -> str | None:
    if not _private(entry.parent):
        return None
    try:
        found = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("database") != str(path):
        return None
    if found.get("state") != _jsonable(state):
        return None
    value = found.get("fingerprint")
    return value if isinstance(value, str) and _FINGERPRINT.fullmatch(value) else None


def _write(entry: Path, path: Path, state: State, value: str) -> None:
    with contextlib.suppress(Exception):  # an optimisation: a folder we cannot use costs time only
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _private(entry.parent):
            found = {"database": str(path), "state": _jsonable(state), "fingerprint": value}
            write_atomic(entry, json.dumps(found))


def _jsonable(state: State) -> list[list[object]] | None:
    return None if state is None else [list(part) for part in state]


def settled(state: tuple[tuple[object, ...], ...]) -> bool:
    """Whether the newest write (or change) of the files is :data:`SETTLED_SECONDS` old."""
    times = [t for part in state for t in part[4:] if isinstance(t, int)]
    return bool(times) and time.time_ns() - max(times) >= SETTLED_SECONDS * 1e9


def fingerprint_of(path: Path, opened: State, compute: Callable[[], str]) -> str:
    """The fingerprint of the DuckDB file at ``path``, open read-only in state ``opened``
    (:func:`opened_state`): remembered for that state while the file at the path is still
    in it, else ``compute()``, remembered when the state has settled."""
    path = Path(path).resolve()
    usable = opened is not None and file_state(path) == opened
    entry = _entry(path)
    known = _read(entry, path, opened) if usable else None
    if known is not None:
        return known
    value = compute()
    if usable and opened is not None and settled(opened) and file_state(path) == opened:
        _write(entry, path, opened, value)
    return value
