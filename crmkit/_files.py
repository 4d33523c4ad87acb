"""Files that readers never see half-written, and folders two processes never write at once.

:func:`replacing` is the one way crmkit writes a file: into a temporary file beside the
target, renamed over it only when the writer finished without an error. :func:`locked`
is a cross-platform exclusive lock on a folder (``filelock``), held while a run publishes
into it. Temporary names start with ``.<name>.`` and end with ``.tmp``, so a later run can
recognise what a killed one left behind (:func:`stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

LOCK_NAME = ".lock"


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (a ``.lock`` file in it), so that two runs that
    publish into the same folder at once land their files one after the other."""
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / LOCK_NAME)):
        yield


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over ``path`` when the block ends without
    an error, removed when it raises. The writer must close (and flush) the file itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a
    partial one (UTF-8 for text)."""
    with replacing(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files that :func:`replacing` left in ``folder`` when its process was killed."""
    return sorted(p for p in folder.glob(".*.tmp") if p.is_file())
