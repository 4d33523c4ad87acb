"""Files that readers never see half-written, folders two processes never write at once,
and the clean-up of what killed processes left behind.

- :func:`replacing` is the one way crmkit writes a file: into a temporary file beside the
  target, renamed over it only when the writer finished without an error.
- :func:`publish_together` publishes several files that belong together (a report's page,
  JSON twin and notebook) as one unit. They are written into a new version folder
  (``.<name>.versions/<pid>-<token>/``), then one symbolic link, ``.<name>.versions/current``,
  is switched to it with a single atomic rename; the public names (``<name>.html``, ...) are
  fixed relative links through ``current``. A process killed at any moment, or a full disk,
  leaves ``current`` on the old complete set or on the new one, never on a mix: a page and
  its JSON always come from the same run. (Renaming three files one after the other cannot
  give that: a kill between two renames leaves a new JSON beside an old page.) A reader
  that needs two of the files from one instant resolves ``current`` once. Where symbolic
  links are not available (Windows without the privilege), the files are renamed one by one.
- :func:`locked` is a cross-platform exclusive lock on a folder (``filelock``), held while a
  run publishes into it.
- Temporary names carry the id of the process that owns them (``.<name>.<pid>-<token>.tmp``,
  run folders ``.tmp-<pid>-<token>``, version folders ``<pid>-<token>``), so the next run of
  any kind removes what killed runs left (:func:`sweep_folder`, :func:`sweep_output`,
  and :func:`replacing` for its own target) and never a file whose process still runs (a
  process that started after the file last changed is another one with a reused id).

Every failure to write (a read-only folder, a full disk) is an :class:`OutputError`: one
line naming the path and the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from filelock import FileLock

from crmkit.errors import OutputError

LOCK_NAME = ".lock"
VERSIONS = ".versions"
CURRENT = "current"

#: ``.<target>.<pid>-<token>.tmp`` (and DuckDB's ``….tmp.wal`` beside it); older crmkit
#: versions wrote ``.<target>.<token>.tmp``, without the process id.
_TEMPORARY = re.compile(r"^\.(?P<target>.+?)\.(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+\.tmp(?:\.wal)?$")
_RUN_FOLDER = re.compile(r"^\.tmp-(?P<pid>\d+)-")
_VERSION = re.compile(r"^(?P<pid>\d+)-")


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an operating-system error while writing ``path`` into an :class:`OutputError`."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError.of(path, exc) from None


def make_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) if needed; an :class:`OutputError` if it cannot."""
    with _writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (a ``.lock`` file in it), so that two runs that
    publish into the same folder at once land their files one after the other."""
    make_folder(folder)
    with _writing(folder / LOCK_NAME):
        lock = FileLock(str(folder / LOCK_NAME))
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _temporary(folder: Path, name: str) -> Path:
    """A new empty temporary file for ``name`` in ``folder``, named after this process."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}-", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over ``path`` when the block ends without
    an error, removed when it raises. The writer must close (and flush) the file itself.
    What killed writers of the same target left beside it is removed first."""
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(path.parent, target=path.name)
        tmp = _temporary(path.parent, path.name)
    try:
        yield tmp
        with _writing(path):
            if tmp.is_file():
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a
    partial one (UTF-8 for text)."""
    with replacing(path) as tmp, _writing(path):
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def _symlink_atomic(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` in one rename (a new link replaces the old one)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every OS can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish_together(folder: Path, name: str, files: Mapping[str, str | bytes]) -> None:
    """Publish ``files`` (suffix -> content) as ``folder/<name><suffix>`` in one step: a
    reader sees the previous set or this one, never a mix (see the module's docstring).
    The caller holds :func:`locked` on ``folder``."""
    if os.name == "nt":  # no symbolic links without a privilege: rename one by one
        for suffix, data in files.items():
            write_atomic(folder / f"{name}{suffix}", data)
        return
    store = folder / f".{name}{VERSIONS}"
    with _writing(store):
        store.mkdir(parents=True, exist_ok=True)
        _adopt_plain_files(folder, name, store, files)
        version = _version_folder(store)
    try:
        for suffix, data in files.items():
            write_atomic(version / f"{name}{suffix}", data)
        with _writing(store):
            _fsync_folder(version)
            old = _current(store)
            _link_public_names(folder, name, files)
            _symlink_atomic(version.name, store / CURRENT)
            _fsync_folder(store)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    if old is not None and old != version.name:
        shutil.rmtree(store / old, ignore_errors=True)


def _version_folder(store: Path) -> Path:
    """A new version folder, readable like the files in it (a web server reads them)."""
    version = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=store))
    os.chmod(version, 0o755)
    return version


def _current(store: Path) -> str | None:
    """The version folder ``current`` points at, if any."""
    try:
        return os.readlink(store / CURRENT)
    except OSError:
        return None


def _link_public_names(folder: Path, name: str, suffixes: Mapping[str, object]) -> None:
    """``<name><suffix>`` -> ``.<name>.versions/current/<name><suffix>`` (created once)."""
    for suffix in suffixes:
        public = folder / f"{name}{suffix}"
        target = f".{name}{VERSIONS}/{CURRENT}/{name}{suffix}"
        if not (public.is_symlink() and os.readlink(public) == target):
            _symlink_atomic(target, public)


def _adopt_plain_files(folder: Path, name: str, store: Path, suffixes: Mapping[str, object]) -> None:
    """Files published one by one (by an older crmkit) become the current version before
    they are replaced by links, so the public names never show a mix on the way."""
    plain = [folder / f"{name}{s}" for s in suffixes]
    plain = [p for p in plain if p.is_file() and not p.is_symlink()]
    if not plain or _current(store) is not None:
        return
    legacy = _version_folder(store)
    for path in plain:
        try:
            os.link(path, legacy / path.name)
        except OSError:
            shutil.copy2(path, legacy / path.name)
    _symlink_atomic(legacy.name, store / CURRENT)
    _link_public_names(folder, name, {p.name[len(name):]: None for p in plain})


def pid_alive(pid: int) -> bool:
    """Whether a process runs; a zombie (dead, not yet reaped) does not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where ``/proc`` tells."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _owner_gone(match: re.Match[str] | None, unowned: bool, path: Path | None = None) -> bool:
    """Whether what ``match`` names (the file ``path``) belongs to a process that is gone
    (``unowned``: what to say of a name without a process id)."""
    if match is None:
        return False
    pid = match.group("pid")
    if pid is None:
        return unowned
    if not pid_alive(int(pid)):
        return True
    started = _started(int(pid))
    with contextlib.suppress(OSError):
        # a process that started after the file last changed did not write it: a reused id
        return path is not None and started is not None and started > path.lstat().st_mtime + 5
    return False


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def stale_temporaries(folder: Path, target: str | None = None, unowned: bool = False) -> list[Path]:
    """Temporary files of ``folder`` (of ``target`` only, when given) whose process is gone;
    ``unowned``: also those without a process id (safe only under the folder's lock)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMPORARY.match(entry.name)
            if match and (target is None or match.group("target") == target) \
                    and _owner_gone(match, unowned, Path(entry.path)):
                found.append(Path(entry.path))
    return sorted(found)


def sweep_temporaries(folder: Path, target: str | None = None, unowned: bool = False) -> None:
    """Remove :func:`stale_temporaries`."""
    for path in stale_temporaries(folder, target, unowned):
        _remove(path)


def _stale_versions(folder: Path) -> list[Path]:
    """Version folders (and link temporaries) no ``current`` points at, of dead processes."""
    stale = []
    for store in folder.glob(f".*{VERSIONS}"):
        current = _current(store)
        with contextlib.suppress(OSError):
            for entry in os.scandir(store):
                path = Path(entry.path)
                gone = _owner_gone(_VERSION.match(entry.name), False, path) or _owner_gone(
                    _TEMPORARY.match(entry.name), False, path)
                if entry.name not in (current, CURRENT) and gone:
                    stale.append(Path(entry.path))
    return stale


def sweep_folder(folder: Path) -> None:
    """Under ``folder``'s lock, remove what killed runs left in it: temporary files (also
    those without a process id: every writer of this folder holds the lock) and version
    folders no ``current`` points at. Nothing is locked when nothing is stale."""
    if not (stale_temporaries(folder, unowned=True) or _stale_versions(folder)):
        return
    with locked(folder):
        for path in [*stale_temporaries(folder, unowned=True), *_stale_versions(folder)]:
            _remove(path)


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` whose names do not start with a dot, sorted; none when it
    is gone (another process may remove its run folder or a stale version meanwhile)."""
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def report_folders(root: Path) -> list[Path]:
    """The ``<period>/<team>`` folders of an output folder: never the hidden run folders
    and version stores that other processes create and remove while this one looks."""
    return [team for period in _visible(root) if period.is_dir() and not period.is_symlink()
            for team in _visible(period) if team.is_dir() and not team.is_symlink()]


def report_files(root: Path, suffix: str) -> list[Path]:
    """The published ``<period>/<team>/<report><suffix>`` files of an output folder."""
    return [path for folder in report_folders(root) for path in _visible(folder)
            if path.name.endswith(suffix)]


def sweep_output(root: Path) -> None:
    """Remove what killed runs left anywhere in an output folder: run folders
    (``.tmp-<pid>-*``) and temporaries of dead processes at the top, and every report
    folder's leftovers (:func:`sweep_folder`)."""
    if not root.is_dir():
        return
    for path in root.glob(".tmp-*"):
        if path.is_dir() and _owner_gone(_RUN_FOLDER.match(path.name), False, path):
            shutil.rmtree(path, ignore_errors=True)
    sweep_temporaries(root)
    for folder in report_folders(root):
        with contextlib.suppress(OutputError):  # a read-only folder keeps its leftovers
            sweep_folder(folder)


@contextlib.contextmanager
def run_folder(root: Path) -> Iterator[Path]:
    """A temporary folder in ``root`` for one run (``.tmp-<pid>-<token>``), removed after."""
    with _writing(root):
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_writable(root: Path) -> None:
    """An :class:`OutputError` now if ``root`` cannot take new files (made if missing)."""
    make_folder(root)
    with _writing(root):
        _temporary(root, "probe").unlink()

