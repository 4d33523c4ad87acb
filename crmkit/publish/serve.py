"""``crmkit serve``: a local report server that ``crmkit run`` and ``crmkit run-all`` hand
their runs to when it is up.

A cold ``crmkit run`` spends most of its time before the report's first line runs: a kernel
boots and imports pandas, DuckDB, narwhals and matplotlib, and nbconvert compiles its
templates. The server keeps one spare kernel booted and warm, and its HTML exporter
compiled, so a run only executes the notebook and publishes it. It runs everything the cold
path runs, with the same checks (:func:`crmkit.publish.runner.run_report`), in the client's
folder and with the client's ``CRMKIT_*`` and ``TZ`` variables.

No report sees another's state: a kernel runs one report and is shut down, and a new spare
is started for the next run. A spare started for another database, notebooks folder or
environment is replaced by a new kernel first. A server that runs another checkout's code
declines the run (the client runs the report itself); one whose code changed since it
started (:func:`crmkit.publish.channel.code_stamp`) declines it too, and starts again on
the new code. Where it listens and who may talk to it: :mod:`crmkit.publish.channel`. Runs
are served one at a time, in the order they came.

A batch (``crmkit run-all``) runs as it would in the client, on batch workers the server
keeps from one batch to the next (:class:`crmkit.publish.workers.WarmPool`): their kernels
stay booted, and are cleared between pages as in any batch. A preset that sends e-mail is
declined (the SMTP settings are the client's), as is a database other than a DuckDB file.
Its progress bar reaches the client as it is redrawn; a client that goes away (Ctrl-C)
stops the batch: the pages in progress finish, no other starts.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from crmkit.backends.location import find_database
from crmkit.errors import CrmkitError, ReportError, SetupError, one_line, plural
from crmkit.publish import channel
from crmkit.publish.batch import NOT_RUN, delivery_table, run_all, summary_table
from crmkit.publish.drawing import preload
from crmkit.publish.kernel import Kernel
from crmkit.publish.notebooks import find_notebooks, report_notebook
from crmkit.publish.presets import find_branding, load_preset
from crmkit.publish.runner import run_report, shared_exporter
from crmkit.publish.workers import WarmPool

#: The arguments of a run request, each with the types it may have.
RUN_ARGUMENTS: dict[str, tuple[type, ...]] = {
    "report": (str,), "period": (str,), "team": (str,), "compare_to": (str,),
    "as_of": (str, type(None)), "database": (str, type(None)), "timezone": (str, type(None)),
    "output": (str,), "notebooks": (str, type(None)), "timeout": (int,),
    "branding": (str, type(None)), "locale": (str, type(None)), "extra": (dict,),
}

#: The arguments of a batch request (``crmkit run-all``), each with the types it may have.
BATCH_ARGUMENTS: dict[str, tuple[type, ...]] = {
    "preset": (str,), "database": (str, type(None)), "output": (str,),
    "notebooks": (str, type(None)), "workers": (int, type(None)), "as_of": (str, type(None)),
    "progress": (bool,), "branding": (str, type(None)), "dry_run": (bool,), "force": (bool,),
    "locale": (str, type(None)),
}

#: The most batch workers a request may ask for (each boots a kernel of a few hundred MB).
MAX_WORKERS = 64

#: The arguments each kind of request carries.
ARGUMENTS = {"run": RUN_ARGUMENTS, "batch": BATCH_ARGUMENTS}

#: Seconds without a request after which the server shuts its batch workers down (a
#: worker and its kernel hold about 500 MB); the next batch starts them again.
WARM_IDLE = 900.0

#: Seconds a client has to send its request once connected.
REQUEST_TIMEOUT = 10.0

_Key = tuple[str, str, tuple[tuple[str, str], ...]]


class ReportServer:
    """The server's state: its socket, its spare kernel (and what it was started for) and
    the code stamp it started with."""

    def __init__(self, path: Path, say: Callable[[str], None]) -> None:
        self.path, self.say = path, say
        self.stamp = channel.code_stamp()
        self.spare: Kernel | None = None
        self.spare_key: _Key | None = None
        self.listener: socket.socket | None = None
        self.next_spare: tuple[Path, Path] | None = None  # what the last run read
        self.warm = WarmPool()  # the batch workers, kept between batches
        self.stale = False  # its code changed: stop serving and start again

    # -- kernels ---------------------------------------------------------------------------

    def start_spare(self, database: Path, folder: Path) -> None:
        """Boot the next run's kernel (warm for every report) with the current environment."""
        self.drop_spare()
        with contextlib.suppress(CrmkitError, OSError):
            self.spare = Kernel(database, folder)
            self.spare_key = _key(database, folder)

    def drop_spare(self) -> None:
        if self.spare is not None:
            self.spare.close()
        self.spare, self.spare_key = None, None

    def take_kernel(self, database: Path, folder: Path, report: str) -> Kernel:
        """The spare if it was started for this run's database, folder and environment and
        is still alive; else a new kernel (the spare, if any, is shut down)."""
        kernel, fits = self.spare, self.spare_key == _key(database, folder)
        self.spare, self.spare_key = None, None
        if kernel is not None and fits and kernel.alive:
            return kernel
        if kernel is not None:
            kernel.close()
        return Kernel(database, folder, reports=(report,))

    # -- one run ----------------------------------------------------------------------------

    def run(self, request: dict[str, Any], say: Callable[[str], None],
            bar: Callable[[str], None] | None = None,
            gone: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Carry out a checked run request in the client's folder and environment; the
        answer (``done``, ``error`` or ``declined``). ``say`` sends a progress line, ``bar``
        a batch's progress bar as it is redrawn; ``gone`` tells whether the client went away
        (a batch then starts no more pages)."""
        if channel.code_stamp() != self.stamp:
            self.stale = True  # it starts again, on the new code, once this is answered
            return {"declined": "crmkit changed since the server started; it restarts"}
        args = request["args"]
        with _as_client(Path(request["cwd"]), request["env"]):
            try:
                if request["kind"] == "batch":
                    return self._batch(args, say, bar, gone)
                folder = find_notebooks(args["notebooks"])
                report_notebook(args["report"], folder)
                database = find_database(args["database"])
                if not isinstance(database, Path):
                    return {"declined": "the server runs reports on DuckDB files only"}
                return {"done": self._publish(args, database, folder, say)}
            except CrmkitError as exc:
                return {"error": str(exc), "exit": 1 if isinstance(exc, ReportError) else 2}

    def _publish(self, args: dict[str, Any], database: Path, folder: Path,
                 say: Callable[[str], None]) -> str:
        kernel = self.take_kernel(database, folder, args["report"])
        self.next_spare = (database, folder)
        try:
            result = run_report(
                args["report"], period=args["period"], team=args["team"],
                compare_to=args["compare_to"], as_of=args["as_of"], database=database,
                timezone=args["timezone"], output=args["output"], notebooks=folder,
                timeout=args["timeout"], progress=say, extra=args["extra"], kernel=kernel,
                close_kernel=True, branding=find_branding(args["branding"]),
                locale=args["locale"],
            )
        finally:  # one report per kernel: the next run gets a fresh one
            if kernel.fresh and kernel.alive:  # nothing ran on it (refused parameters)
                self.spare, self.spare_key = kernel, _key(database, folder)
            else:
                kernel.close()
        return str(result.html)

    def _batch(self, args: dict[str, Any], say: Callable[[str], None],
               bar: Callable[[str], None] | None = None,
               gone: Callable[[], bool] | None = None) -> dict[str, Any]:
        """A ``crmkit run-all`` on the kept batch workers: its summary (and deliveries) as
        the client prints them, and its exit status; declined as :data:`__doc__` says. Once
        the client is ``gone`` (interrupted), the pages in progress finish and no other
        starts; the index and status are written as after any batch."""
        if not isinstance(find_database(args["database"]), Path):
            return {"declined": "the server runs reports on DuckDB files only"}
        if load_preset(args["preset"]).deliver is not None and not args["dry_run"]:
            return {"declined": "the preset sends e-mail, with the client's SMTP settings"}
        deliveries: list[Any] = []
        with contextlib.redirect_stderr(_Lines(say)):  # what the batch warns of goes to the client
            outcomes = run_all(
                args["preset"], database=args["database"], output=args["output"],
                notebooks=args["notebooks"], workers=args["workers"], as_of=args["as_of"],
                progress=args["progress"], stream=_Lines(say, bar),
                branding=find_branding(args["branding"]), dry_run=args["dry_run"],
                deliveries=deliveries, force=args["force"], locale=args["locale"], warm=self.warm,
                stop=gone,
            )
        if gone is not None and gone():
            not_started = sum(o.error == NOT_RUN for o in outcomes)
            self.say(f"{args['preset']}: its command went away: "
                     f"{not_started} {plural(not_started, 'page')} not started")
        text = summary_table(outcomes)
        if deliveries:
            text += "\n\n" + delivery_table(deliveries)
        return {"done": text, "exit": 0 if all(o.ok for o in outcomes) else 1}

    # -- the socket -------------------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        """Serve one connection: check who it is, read its request, answer."""
        uid = channel.peer_uid(conn)
        with conn, conn.makefile("rwb") as stream:
            if uid is not None and uid != os.getuid():
                _answer(stream, {"declined": "not this server's user"})
                return
            conn.settimeout(REQUEST_TIMEOUT)
            try:
                request = checked_request(channel.receive(stream))
            except Declined as exc:
                self.stale = channel.code_stamp() != self.stamp  # a newer client: start again
                _answer(stream, {"declined": str(exc)})
                return
            except (OSError, ValueError, RecursionError) as exc:  # JSON nested too deep: RecursionError
                _answer(stream, {"error": f"bad request: {one_line(str(exc)) or type(exc).__name__}",
                                 "exit": 2})
                return
            conn.settimeout(None)
            if request["kind"] == "ping":
                _answer(stream, {"pong": os.getpid(), "root": str(channel.PACKAGE)})
                return
            started = time.perf_counter()
            try:
                answer = self.run(request, lambda text: _answer(stream, {"progress": text}),
                                  lambda text: _answer(stream, {"bar": text}),
                                  lambda: channel.hung_up(conn))
            except Exception as exc:  # noqa: BLE001 - a bug in one run does not stop the server
                lines = str(exc).strip().splitlines()
                answer = {"error": f"{type(exc).__name__}: {lines[0] if lines else ''}", "exit": 1}
            _answer(stream, answer)
        names = ("preset",) if request["kind"] == "batch" else ("report", "period", "team")
        what = " ".join(str(request["args"][k]) for k in names)
        self.say(f"{what}: {next(iter(answer))} in {time.perf_counter() - started:.1f} s")
        self.refill(request)

    def refill(self, request: dict[str, Any]) -> None:
        """After a run has been answered: boot the next run's kernel (unless the run left
        its own unused), in the folder and environment of the client (the next run most
        likely comes from the same place)."""
        if self.next_spare is not None and self.spare is None:
            with _as_client(Path(request["cwd"]), request["env"]):
                self.start_spare(*self.next_spare)
        self.next_spare = None


def _key(database: Path, folder: Path) -> _Key:
    """What a kernel is started for: database, notebooks folder, run environment."""
    return str(database), str(folder), tuple(sorted(channel.run_environment().items()))


def _answer(stream: io.BufferedIOBase, message: dict[str, Any]) -> None:
    """Send; a client that went away (Ctrl-C) does not stop the run."""
    with contextlib.suppress(OSError, ValueError):
        channel.send(stream, message)


class _Lines(io.TextIOBase):
    """A text stream whose lines go to the client as progress (``say``), and a progress
    bar's redraws (each a carriage return and the bar's new state) as its bar (``bar``, the
    latest state each time; without it, only the bar's last state, the line it ends with)."""

    def __init__(self, say: Callable[[str], None], bar: Callable[[str], None] | None = None
                 ) -> None:
        self.say, self.bar, self.pending, self.shown = say, bar, "", ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            line = line.rsplit("\r", 1)[-1].strip()
            if line:
                self.say(line.removeprefix("crmkit: "))
        if "\r" in self.pending:  # a redraw: only its latest state matters
            self.pending = "\r" + self.pending.rsplit("\r", 1)[-1]
        return len(text)

    def flush(self) -> None:
        """A redraw is complete when it is flushed (a message written between redraws is
        not a state of the bar until its line ends)."""
        state = self.pending.strip()
        if self.pending.startswith("\r") and state and state != self.shown and self.bar is not None:
            self.bar(state)
            self.shown = state


class Declined(ValueError):
    """A well-formed request this server does not take (another checkout's or version's
    client): the client runs the report itself."""


def checked_request(message: dict[str, Any] | None) -> dict[str, Any]:
    """A request as the server accepts it; a ValueError naming what is wrong (a
    :class:`Declined` for one that another server could take)."""
    if message is None:
        raise ValueError("no request")
    if message.get("kind") == "ping":
        return {"kind": "ping"}
    kind = message.get("kind")
    if kind not in ARGUMENTS:
        raise ValueError("kind must be run, batch or ping")
    root, cwd, env, args = (message.get(k) for k in ("root", "cwd", "env", "args"))
    if not isinstance(root, str) or not isinstance(cwd, str) or not Path(cwd).is_absolute():
        raise ValueError("root and cwd must be absolute paths")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k in channel.RUN_VARIABLES
        and "\0" not in v for k, v in env.items()
    ):
        raise ValueError(f"env holds only {', '.join(sorted(channel.RUN_VARIABLES))}, as text")
    if root != str(channel.PACKAGE):
        raise Declined(f"the server runs crmkit from {channel.PACKAGE}")
    expected = ARGUMENTS[kind]
    if not isinstance(args, dict) or set(args) != set(expected):  # another version's client
        raise Declined(f"the server's crmkit takes other {kind} arguments")
    for name, kinds in expected.items():
        if not isinstance(args[name], kinds) or (isinstance(args[name], bool) and bool not in kinds):
            raise ValueError(f"args.{name} has the wrong type")
    if kind == "batch" and args["workers"] is not None and not 1 <= args["workers"] <= MAX_WORKERS:
        raise ValueError(f"args.workers must be 1..{MAX_WORKERS}")
    extra = args.get("extra", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise ValueError("args.extra maps names to text")
    return {"kind": kind, "root": root, "cwd": cwd, "env": env, "args": args}


@contextlib.contextmanager
def _as_client(cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """Run in the client's folder with its ``CRMKIT_*`` and ``TZ`` variables (others of the
    server's, the database URL among them, removed), then put the server's back."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for name in [k for k in os.environ if channel.ENV_NAME.match(k)]:
        del os.environ[name]
    os.environ.update(env)
    try:
        os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def serve(say: Callable[[str], None], ready: Callable[[Path], None] | None = None) -> None:
    """Listen on :func:`crmkit.publish.channel.socket_path` until SIGTERM or Ctrl-C; a
    one-line :class:`SetupError` if another server holds it or its folder is not safe."""
    path = channel.socket_path()
    channel.private_folder(path.parent, create=True)
    server = ReportServer(path, say)
    with _only_server(path), _listening(path) as listener:
        server.listener = listener
        with contextlib.suppress(CrmkitError, OSError):  # a spare for where it was started
            database = find_database(None)
            if isinstance(database, Path):
                server.start_spare(database, find_notebooks(None))
        shared_exporter()  # nbconvert's templates compile while the spare boots,
        preload()  # then what draws a chart (the server draws its kernels' charts)
        say(f"serving reports on {path} (Ctrl-C stops)")
        if ready is not None:
            ready(path)
        listener.settimeout(WARM_IDLE)
        try:
            while not server.stale:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:  # no run for a while: the batch workers' memory back
                    server.warm.close()
                    continue
                try:
                    server.handle(conn)
                except Exception as exc:  # noqa: BLE001 - one connection never stops the server
                    say(f"a connection failed: {type(exc).__name__}: {one_line(str(exc))}")
        finally:
            server.drop_spare()
            server.warm.close()
    if server.stale:  # the socket and the lock are released: the new process takes them
        say("crmkit changed since the server started: starting again on the new code")
        os.execv(sys.executable, [sys.executable, "-m", "crmkit.cli", "serve"])


@contextlib.contextmanager
def _only_server(path: Path) -> Iterator[None]:
    """Hold the server's lock beside its socket; a one-line error if another holds it."""
    lock = FileLock(path.with_name(path.name + ".lock"), mode=0o600)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise SetupError(f"a report server already listens on {path}") from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _listening(path: Path) -> Iterator[socket.socket]:
    """A listening Unix socket at ``path`` only this user may connect to (a stale one left
    by a killed server is replaced); removed when the server stops, SIGTERM included."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # we hold the lock: whatever is there is a dead server's
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    except OSError as exc:
        listener.close()
        raise SetupError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old_mask)
    listener.listen(16)
    main = threading.current_thread() is threading.main_thread()  # only it takes signals
    previous = signal.signal(signal.SIGTERM, _stop) if main else None
    try:
        yield listener
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _stop(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt

