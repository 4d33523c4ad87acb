"""The data fingerprint of a DuckDB file, remembered for each state of the file.

Hashing every row of every table costs seconds on a large database (8 s for 8 million rows
on 2 cores), and every report states the fingerprint. So the fingerprint of a DuckDB file
is kept in the user's cache folder (``platformdirs``; ``$CRMKIT_CACHE_DIR`` moves it), one
small JSON file per database path, with the file's state when it was computed: the inode,
size and modification time of the file and of its write-ahead log. While the state is the
same, the data is: DuckDB lets no other process write while a read-only connection is
open, and the state is read with the connection open.

Two safeguards keep a remembered value from outliving its data:

- **racy states are not remembered**: a write within the file system's timestamp
  granularity of the previous one (a few milliseconds) may leave size and time unchanged,
  so a state whose newest write is under :data:`SETTLED_SECONDS` old is computed every
  time (git's rule for its index);
- **a cache entry is untrusted**: anything but an entry for this very path and state, with
  a fingerprint of 16 hexadecimal digits, is ignored and recomputed. A cache folder that
  cannot be read or written costs the computation, never a failure.

PostgreSQL and Spark are not remembered: PostgreSQL's write counters trail a commit by up
to a second, and Spark has no cheap state to compare.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import platformdirs

from crmkit._files import write_atomic

__all__ = ["CACHE_ENV", "SETTLED_SECONDS", "cache_folder", "fingerprint_of"]

#: Moves the cache folder (``platformdirs.user_cache_dir("crmkit")`` otherwise).
CACHE_ENV = "CRMKIT_CACHE_DIR"

#: A state whose newest write is younger than this is computed, not remembered.
SETTLED_SECONDS = 2.0

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")


def cache_folder() -> Path:
    """Where remembered fingerprints are kept."""
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("crmkit")) / "fingerprints"


def _state(path: Path) -> tuple[list[list[object]], float]:
    """The file's and its write-ahead log's identity, size and modification time, and the
    newest of those times."""
    parts: list[list[object]] = []
    newest = 0.0
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            st = file.stat()
        except FileNotFoundError:
            parts.append([file.name, None])
            continue
        parts.append([file.name, st.st_ino, st.st_size, st.st_mtime_ns])
        newest = max(newest, st.st_mtime)
    return parts, newest


def _entry(path: Path) -> Path:
    return cache_folder() / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"


def _read(entry: Path, path: Path, state: list[list[object]]) -> str | None:
    try:
        found = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("database") != str(path) or found.get("state") != state:
        return None
    value = found.get("fingerprint")
    return value if isinstance(value, str) and _FINGERPRINT.fullmatch(value) else None


def _write(entry: Path, path: Path, state: list[list[object]], value: str) -> None:
    with contextlib.suppress(Exception):  # an optimisation: a folder we cannot write costs time only
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(entry, json.dumps({"database": str(path), "state": state, "fingerprint": value}))


def fingerprint_of(path: Path, compute: Callable[[], str]) -> str:
    """The fingerprint of the DuckDB file at ``path`` (open read-only by the caller):
    remembered for its current state, else ``compute()``, remembered when the state has
    settled (:data:`SETTLED_SECONDS`)."""
    path = Path(path).resolve()
    state, newest = _state(path)
    entry = _entry(path)
    known = _read(entry, path, state)
    if known is not None:
        return known
    value = compute()
    if time.time() - newest >= SETTLED_SECONDS and _state(path)[0] == state:
        _write(entry, path, state, value)
    return value
