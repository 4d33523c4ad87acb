"""Where ``crmkit serve`` listens and how ``crmkit run`` hands it a run.

Standard library only: a run that finds no server has lost a few milliseconds, not an
import. The socket is ``$CRMKIT_SERVE_SOCKET``, else ``serve.sock`` in
``$XDG_RUNTIME_DIR/crmkit/``, else in ``<temp>/crmkit-<uid>/``. Its folder must be a real
folder (not a link) of this user that no one else may enter (mode 0700): the server makes
it so, and neither side uses a folder that is not (the client then runs the report itself
and says why). The server also refuses a connection from another user where the system
tells (``SO_PEERCRED``).

A message is one JSON object per line. A run request carries the command's own arguments,
its folder and the ``CRMKIT_*`` and ``TZ`` variables of its environment (what a run and
its kernel read); a PostgreSQL or Spark run is never handed over, so no password travels.
The server answers with progress lines, then ``done`` (the page; a batch's summary and
exit status), ``error`` (a one-line error and the exit status) or ``declined`` (why it
will not run it: the client runs it itself).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import socket
import stat
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmkit.errors import SetupError, one_line

SOCKET_ENV = "CRMKIT_SERVE_SOCKET"
SOCKET_NAME = "serve.sock"

#: The longest message either side reads (a run request is a few hundred bytes).
MAX_MESSAGE = 1 << 16

#: The variables a run request carries: what a run and its kernel read, nothing else (no
#: database URL, no SMTP password: a run on PostgreSQL or Spark is not handed over).
RUN_VARIABLES = frozenset({"CRMKIT_DATABASE", "CRMKIT_AS_OF", "CRMKIT_NOTEBOOKS", "TZ"})
#: The server's own variables of these names are put aside during a run.
ENV_NAME = re.compile(r"CRMKIT_[A-Z0-9_]{1,40}|TZ")

#: The package whose code a server runs (a client of another checkout is declined).
PACKAGE = Path(__file__).resolve().parent.parent


def socket_path() -> Path:
    """Where the server listens (module docstring)."""
    chosen = os.environ.get(SOCKET_ENV, "").strip()
    if chosen:
        return Path(chosen).absolute()
    runtime = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if runtime and Path(runtime).is_absolute():
        return Path(runtime) / "crmkit" / SOCKET_NAME
    return Path(tempfile.gettempdir()) / f"crmkit-{os.getuid()}" / SOCKET_NAME


def private_folder(folder: Path, create: bool = False) -> bool:
    """Whether ``folder`` exists as a folder only this user may enter (made so when
    ``create``); a one-line :class:`SetupError` when it exists but is not safe to use."""
    if create:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700, parents=False)
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise SetupError(
            f"report server folder {folder} is not a folder of this user closed to others "
            f"(mode 0700, not a link); remove it, or set ${SOCKET_ENV} (or $XDG_RUNTIME_DIR) "
            "to a folder of your own"
        )
    return True


def peer_uid(conn: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (None: the system does
    not tell)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    raw = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


def send(stream: io.BufferedIOBase, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
    stream.flush()


def receive(stream: io.BufferedIOBase) -> dict[str, Any] | None:
    """The next message (None at the end of the stream); a ValueError for a line that is
    too long or not a JSON object."""
    line = stream.readline(MAX_MESSAGE + 1)
    if not line:
        return None
    if len(line) > MAX_MESSAGE or not line.endswith(b"\n"):
        raise ValueError("message too long or cut short")
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a message is a JSON object")
    return message


def run_environment(environ: dict[str, str] | os._Environ[str] | None = None) -> dict[str, str]:
    """The variables a run request carries (:data:`RUN_VARIABLES`)."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if k in RUN_VARIABLES}


def code_stamp() -> str:
    """A stamp of the package's files (every module, template, stylesheet and catalogue:
    size and modification time): a server whose code changed since it started declines runs
    rather than run the old code or publish with old templates."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        with contextlib.suppress(OSError):
            info = path.stat()
            digest.update(f"{path.relative_to(PACKAGE)}:{info.st_size}:{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Served:
    """A run the server carried out: the page written (a batch's summary), or the error;
    and the exit status."""

    code: int
    html: str = ""
    error: str = ""


def hung_up(conn: socket.socket) -> bool:
    """Whether the other end of ``conn`` has closed it (a client interrupted while it
    waits for its answer), without waiting or reading anything it sent."""
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:  # open, nothing sent
        return False
    except OSError:
        return True


def request_run(args: dict[str, Any], progress: Callable[[str], None],
                kind: str = "run", bar: Callable[[str], None] | None = None) -> Served | None:
    """Hand a ``crmkit run`` to the server (``kind`` ``batch``: a ``crmkit run-all``, whose
    answer is its summary and exit status, and whose progress bar goes to ``bar`` as it is
    redrawn). None when none is up, it declined or it stopped before answering: the caller
    runs the report itself (said through ``progress`` when it is not simply that no server
    is up)."""
    path = socket_path()
    try:
        if not private_folder(path.parent):
            return None
    except SetupError as exc:
        progress(f"not using the report server: {exc}")
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:  # no server (or a stale socket): run here
        conn.close()
        return None
    request = {"kind": kind, "root": str(PACKAGE), "cwd": os.getcwd(),
               "env": run_environment(), "args": args}
    with conn, conn.makefile("rwb") as stream:
        try:
            send(stream, request)
            served = _answer(stream, progress, bar)
        except (OSError, ValueError) as exc:
            progress(f"the report server stopped answering ({type(exc).__name__}); running here")
            return None
    if served is not None and kind != "run" and served.error.startswith("bad request: kind"):
        progress("the report server runs single reports only (an older crmkit); running here")
        return None
    return served


def _answer(stream: io.BufferedIOBase, progress: Callable[[str], None],
            bar: Callable[[str], None] | None = None) -> Served | None:
    """Read the server's progress lines (and progress bar) up to its answer."""
    while (message := receive(stream)) is not None:
        if "progress" in message:
            progress(one_line(str(message["progress"])))
        elif "bar" in message:
            if bar is not None:
                bar(one_line(str(message["bar"])))
        elif "declined" in message:
            progress(f"the report server declined ({one_line(str(message['declined']))}); running here")
            return None
        elif "done" in message:
            return Served(1 if message.get("exit") == 1 else 0, html=str(message["done"]))
        elif "error" in message:
            code = message.get("exit")
            return Served(code if code in (1, 2) else 1, error=one_line(str(message["error"])))
    progress("the report server stopped before answering; running here")
    return None
