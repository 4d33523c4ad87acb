"""The fixed ``crmkit`` Jupyter kernel: installing it, and keeping one warm.

Every notebook names this kernel and the runner passes it explicitly, so no analyst's local
kernel list can break a scheduled run. A :class:`Kernel` imports the report libraries as it
starts (the modules every report of the catalogue names), then runs notebooks one after
another; batch runs keep one per worker process, a single run starts one while it
validates its parameters, and the report server (:mod:`crmkit.publish.serve`) keeps one
booted for the next run and uses each for one report only.

Between two notebooks the user namespace is cleared, which is all a standard report needs.
Code that is not a standard report (a custom report: ``trusted=False``) may change library
state that ``%reset`` does not touch (``matplotlib.rcParams``, warnings filters, a patched
``html.escape``...), so the kernel is restarted before it runs anything after such a
notebook: no report ever runs after untrusted code in the same process. A cell timeout or a
dead kernel still gives back what ran until then (:data:`ENGINE`), the failing cell marked.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from crmkit._media import CHARTS_HANDED_OVER
from crmkit.backends.location import ENV_URL, Database, Location, SparkLocation
from crmkit.catalog import CATALOG
from crmkit.errors import SetupError
from crmkit.publish.launcher import FROZEN_START
from crmkit.publish.notebooks import load_papermill, shipped
from crmkit.publish.spawn import LAUNCHER, Early, start_early

if TYPE_CHECKING:
    import nbformat

KERNEL_NAME = "crmkit"

#: The papermill engine the kernel runs notebooks with (:func:`_register_engine`).
ENGINE = "crmkit"

#: Also imported when the data is read from PostgreSQL.
WARM_UP_POSTGRES = ("crmkit.backends.postgres", "ibis.backends.postgres")

#: What every report imports as it first runs, not as it is imported (narwhals loads its
#: DuckDB, Arrow and pandas back-ends on first use; the tests' distributions): imported as
#: the kernel starts, they are not on a run's critical path.
WARM_UP_RUNTIME = ("narwhals._duckdb.dataframe", "narwhals._arrow.dataframe",
                   "narwhals._pandas_like.dataframe", "pyarrow.pandas_compat", "crmkit._special")

#: IPython's history is off in the kernels crmkit starts: each cell a report ran was
#: written to the user's history database (report code in an analyst's history), by
#: every kernel of a batch into the same SQLite file.
_QUIET = ("--HistoryManager.enabled=False",)


def install_kernel() -> Path:
    """Install the ``crmkit`` kernelspec into this environment (``sys.prefix``).

    The kernel logs errors only (ipykernel's start-up notice about unencrypted local TCP
    would otherwise print on every run), and starts through :data:`LAUNCHER`.
    """
    from ipykernel.kernelspec import install  # lazy: ipykernel costs 0.3 s of CLI start-up

    from crmkit._files import write_atomic  # lazy: see _sync

    path = Path(install(kernel_name=KERNEL_NAME, display_name="Python (crmkit)", prefix=sys.prefix))
    spec_file = path / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["argv"] = _launched(spec["argv"])
    if "--IPKernelApp.log_level=ERROR" not in spec["argv"]:
        spec["argv"].append("--IPKernelApp.log_level=ERROR")
    write_atomic(spec_file, json.dumps(spec, indent=1))
    return path


#: The kernel's entry point (:mod:`crmkit.publish.launcher`), in place of ipykernel's:
#: :data:`crmkit.publish.spawn.LAUNCHER`.


def _launched(argv: list[str]) -> list[str]:
    """ipykernel's kernel command with :data:`LAUNCHER` for ``ipykernel_launcher``."""
    at = argv.index("-m") if "-m" in argv else None
    if at is None or at + 1 >= len(argv) or argv[at + 1] not in ("ipykernel_launcher", LAUNCHER):
        raise SetupError(f"unexpected kernel command from ipykernel: {argv}")
    return [*argv[:at + 1], LAUNCHER, *argv[at + 2:]]


def warm_up_modules(reports: tuple[str, ...] | None = None) -> list[str]:
    """The modules the catalogue's reports name (only ``reports``, when given), each once,
    in page order."""
    chosen = [report for report in CATALOG if reports is None or report in reports]
    return [m for report in chosen for m in report_modules(report)]


def report_modules(report: str) -> tuple[str, ...]:
    """The modules a standard report runs on: ``crmkit.reports.<id>`` and its charts
    (a report id is the same name in every layer)."""
    return (f"crmkit.reports.{report}", f"crmkit.render.charts.{report}")


def warm_up(reports: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> None:
    """Import the report modules, :data:`WARM_UP_RUNTIME` and ``extra``: what a new kernel
    runs as it starts, so its first report runs warm, then freeze what they made out of
    the garbage collector's scans. A library that fails to import is left for the notebook
    to report. Its reports share the store of a database (:func:`crmkit.store.keep_stores`)."""
    with _artists_without_property_lists():
        for name in dict.fromkeys([*warm_up_modules(reports), *WARM_UP_RUNTIME, *extra]):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    from crmkit.store import keep_stores  # lazy: runs in the kernel

    keep_stores()
    # What the imports made lives as long as the kernel: out of the collector's sight, a
    # full collection (IPython's %reset runs one between two reports; pandas and matplotlib
    # trigger them as they go) scans what a report made only: 0.04 s instead of 0.2 s.
    gc.freeze()


#: What the ``set`` method of a matplotlib artist class says of its properties when the
#: class was defined during :func:`warm_up`.
ARTIST_PROPERTIES = ("Properties: not listed in a kernel crmkit started for reports; "
                     "matplotlib.artist.kwdoc(artist) lists them.")


@contextlib.contextmanager
def _artists_without_property_lists() -> Iterator[None]:
    """While matplotlib loads, its artist classes' docstrings without their property lists.

    As it defines each artist class (about a hundred), matplotlib writes the docstring of
    its ``set`` method, and of the plotting functions that take its properties, with a list
    of every property and its valid values, which it reads from the docstring of each setter
    (``matplotlib.artist.kwdoc``): 0.1 s of the kernel's start, for docstrings no report
    reads. Here they say :data:`ARTIST_PROPERTIES` instead; the signatures are whole, and
    afterwards ``kwdoc`` is matplotlib's own again, and so are the lists in docstrings made
    later. A matplotlib loaded already is left as it is."""
    if "matplotlib.artist" in sys.modules:
        yield
        return
    try:
        import matplotlib.artist as artist  # lazy: the kernel's start imports it anyway
    except ImportError:  # left for the notebook to report
        yield
        return
    kwdoc = artist.kwdoc
    artist.kwdoc = lambda artist: ARTIST_PROPERTIES  # noqa: ARG005 - matplotlib's signature
    try:
        yield
    finally:
        artist.kwdoc = kwdoc
        with contextlib.suppress(Exception):  # the lists its docstrings fill in later, whole
            import matplotlib._docstring as docstrings  # lazy: loaded by now

            params = docstrings.interpd.params  # type: ignore[attr-defined]  # set in __init__
            for key in [k for k, v in params.items() if v == ARTIST_PROPERTIES]:
                del params[key]


def warm_up_code(reports: tuple[str, ...] | None = None, extra: tuple[str, ...] = ()) -> str:
    """Code for IPython's ``exec_lines`` that runs :func:`warm_up` and leaves no name behind
    (the report modules are imported in the kernel, so the process that starts it need not
    load them)."""
    return f"from crmkit.publish.kernel import warm_up as _ck\n_ck({reports!r}, {extra!r})\ndel _ck"


class Kernel:
    """A warm ``crmkit`` kernel that executes report notebooks one after another.

    The database location reaches the kernel through its environment, never as a notebook
    parameter, so no connection string is recorded in an output: a DuckDB file as
    ``$CRMKIT_DATABASE``, a PostgreSQL database as ``$CRMKIT_DATABASE_URL`` (with
    ``$CRMKIT_DATABASE`` removed, which would take precedence). Before each notebook the
    user namespace is cleared (imported modules stay, which is what makes it warm). After a
    failure the kernel is restarted, so one broken report cannot poison the next.
    """

    def __init__(self, database: Database, cwd: Path, startup_timeout: int = 120,
                 reports: tuple[str, ...] | None = None, hand_over: bool = True) -> None:
        self.database: Database = (database if isinstance(database, Location | SparkLocation)
                                   else Path(database))
        self.cwd, self.startup_timeout = Path(cwd), startup_timeout
        self.reports = reports  # the reports it warms up for (None: every one)
        self.km: Any = None
        self._folder: Path | None = None
        self.fresh = False
        self.tainted = False  # ran untrusted code: restart before the next notebook
        # hands its charts over to be drawn here (crmkit.publish.drawing): a kernel for
        # standard reports, whose notebooks are crmkit's own; restarted without before any
        # other notebook. Not a batch worker's (``hand_over``): both cores are busy there,
        # and the pack took 1-2 s longer
        self.standard = hand_over and shipped(self.cwd) and \
            (reports is None or all(r in CATALOG for r in reports))
        self.hands_over = self.standard
        self._start()

    def _environment(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """The kernel's environment (the database location) and the modules it warms up
        beyond the reports'."""
        env = {**os.environ, FROZEN_START: "1"}  # a quicker start (crmkit.publish.launcher)
        env.pop(CHARTS_HANDED_OVER, None)
        if self.hands_over:
            env[CHARTS_HANDED_OVER] = "1"
        if isinstance(self.database, SparkLocation):  # Spark's master and source, no file
            env.pop("CRMKIT_DATABASE", None)
            env.pop(ENV_URL, None)
            return {**env, **self.database.environment()}, ()
        if isinstance(self.database, Location):
            env.pop("CRMKIT_DATABASE", None)
            env[ENV_URL] = self.database.url
            return env, WARM_UP_POSTGRES
        env.pop(ENV_URL, None)  # a DuckDB run has no use for a PostgreSQL password
        env["CRMKIT_DATABASE"] = str(self.database)
        return env, ()

    def _start(self) -> None:
        """Start the kernel process; it imports the report libraries as it starts (IPython's
        ``exec_lines``), so start-up and imports run without waiting on this process. The
        process starts before jupyter_client is loaded (:mod:`crmkit.publish.spawn`), whose
        manager then takes it as its own."""
        env, modules = self._environment()
        extra = [f"--IPKernelApp.exec_lines={json.dumps([warm_up_code(self.reports, modules)])}", *_QUIET]
        self._folder = _kernel_folder()
        early = start_early(KERNEL_NAME, self._folder / _CONNECTION_FILE, self.cwd, env, extra)
        _sweep_kernel_folders(self._folder.parent)  # what killed commands left: after the start
        try:
            self._manage(early, env, extra)
        except BaseException:
            if early is not None and self.km is None:  # never the manager's
                early.kill()
            self.close()  # nothing left behind: no kernel, no folder
            raise
        self.fresh, self.tainted = True, False

    def _manage(self, early: Early | None, env: dict[str, str], extra: list[str]) -> None:
        """The kernel's manager (jupyter_client, loaded now), which launches the kernel or
        takes ``early`` as the process it launched."""
        assert self._folder is not None  # made by _start
        # lazy: jupyter_client costs 0.3 s, which a preset with a mistake need not wait for
        from jupyter_client.kernelspec import NoSuchKernel

        self.km = _manager()(kernel_name=KERNEL_NAME, client_factory=_ready_client(),
                             kernel_spec_manager=_spec_manager(), **_sockets(self._folder))
        self.km.crmkit_early = early  # the manager's now: it takes it, or kills it
        try:
            _sync(self.km.start_kernel)(cwd=str(self.cwd), env=env, extra_arguments=extra)
        except NoSuchKernel:
            raise SetupError(
                f"Jupyter kernel '{KERNEL_NAME}' is not installed; run `crmkit install-kernel` "
                "(make env does this)"
            ) from None

    def _send(self, code: str, wait: bool) -> str | None:
        """Run ``code`` on the kernel, which has run a notebook already: no handshake (the
        output channel is not read), the request waits on the shell channel until the
        kernel takes it; the reply's status (``ok``, ``error``; None without ``wait``)."""
        client = self.km.client()
        client.start_channels()
        try:
            msg_id = client.execute(code, silent=True, store_history=False)
            if wait:
                deadline = time.monotonic() + self.startup_timeout
                while time.monotonic() < deadline:
                    reply = _sync(client.get_shell_msg)(timeout=self.startup_timeout)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return str(reply["content"].get("status"))
            return None
        finally:
            client.stop_channels()

    def set_environment(self, values: dict[str, str]) -> None:
        """Set ``values`` in the kernel's environment, and in this process's, which a
        restarted kernel starts with."""
        os.environ.update(values)
        if self.km is not None and self.alive:
            self._send(f"import os as _o\n_o.environ.update({values!r})\ndel _o", wait=True)

    def release_data(self) -> None:
        """Close the stores the kernel kept from one report to the next
        (:func:`crmkit.store.release_stores`): a kernel that waits between batches holds no
        database open."""
        if self.km is not None and not self.fresh and self.alive:
            status = self._send("from crmkit.store import release_stores as _r\n_r()\ndel _r", wait=True)
            if status != "ok":
                raise RuntimeError(f"the kernel could not close its stores ({status})")

    @property
    def alive(self) -> bool:
        return self.km is not None and bool(_sync(self.km.is_alive)())

    def execute(
        self, source: Path, executed: Path, params: dict[str, Any], timeout: int,
        trusted: bool = False,
    ) -> nbformat.NotebookNode:
        """Run ``source`` with ``params`` into ``executed`` (papermill) on this kernel.

        ``trusted``: ``source`` is a standard report; anything else taints the kernel, which
        is restarted before its next notebook."""
        pm = load_papermill()

        own = trusted and shipped(source.parent)  # a standard report's own notebook
        if self.tainted or not self.alive:
            self.restart()
        stop = self.hands_over and not own  # it draws its own charts; nothing it sends is loaded
        # told again before each notebook once stopped: one that does not taint the kernel
        # (a standard name in another folder) may have set the variable again
        again = self.standard and not self.hands_over and not self.fresh
        if stop or again:
            self._send(f"import os as _o\n_o.environ.pop({CHARTS_HANDED_OVER!r}, None)\ndel _o", wait=True)
            self.hands_over = False
        if not self.fresh:  # clear what the previous notebook left
            self._send("%reset -f", wait=True)
        self.fresh, self.tainted = False, not trusted
        engine = _register_engine()  # before the charts' thread imports (one at a time)
        charts = None
        if own and self.hands_over:  # only for crmkit's own notebook of a standard report
            from crmkit.publish.drawing import Charts  # lazy: a run that draws loads matplotlib

            charts = Charts()
        return pm.execute_notebook(
            str(source),
            str(executed),
            parameters=params,
            kernel_name=KERNEL_NAME,
            cwd=str(self.cwd),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            # a cell's outputs (a page's images, its JSON twin) may arrive well after the
            # cell ends on a busy machine: papermill's 4 s would fail the report
            iopub_timeout=timeout,
            start_timeout=self.startup_timeout,
            km=self.km,
            request_save_on_cell_execute=False,
            engine_name=engine,
            crmkit_charts=charts,
        )

    def restart(self) -> None:
        """A new kernel process (handing its charts over if this kernel's reports allow)."""
        self.close()
        self.hands_over = self.standard
        self._start()

    def close(self) -> None:
        early = getattr(self.km, "crmkit_early", None)
        if early is not None:  # started, and not taken by the manager
            early.kill()
        if self.km is not None:
            # killed and reaped here: jupyter_client, left to it, polls a killed kernel
            # every 0.1 s, and its first poll always comes too early (0.1 s every run)
            process = _kill_group(self.km)
            if process is not None:
                with contextlib.suppress(Exception):  # stuck: jupyter_client's turn
                    process.wait(timeout=10)
            with contextlib.suppress(Exception):
                _sync(self.km.shutdown_kernel)(now=True)  # its sockets and files
            self.km = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def stop(self) -> None:
        """Kill the kernel's process now, without waiting for it: a run's kernel that is done,
        which ends (and gives its memory back) while the page is exported; :meth:`close`
        reaps it and cleans up afterwards."""
        _kill_group(self.km)

    def kill(self) -> None:
        """Kill the kernel's process at once and remove its folder: from any thread, for a
        process that is about to end (no message to the kernel, no event loop)."""
        _kill_group(self.km)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kill_group(km: Any) -> Any:
    """SIGKILL the process group of ``km``'s kernel (jupyter_client starts it in a session
    of its own: what a report started goes with it, also when the kernel itself has ended),
    or the kernel alone where there are no groups; its process (None: none was started).
    A kernel this process has reaped already is left alone: its number may be another's."""
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is None or process.returncode is not None:
        return process
    group = getattr(provisioner, "pgid", None)
    with contextlib.suppress(OSError):
        if group and hasattr(os, "killpg") and group != os.getpgrp():
            os.killpg(group, signal.SIGKILL)
        else:
            process.kill()
    return process


#: The longest path a Unix socket may have, with its terminating zero 108 bytes (104 on
#: macOS).
_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
#: What a kernel's folder and its last socket add to the folder they are made in (a host
#: tag, a process id of at most 7 digits on Linux, a random part).
_ADDED = len("/ck-abcdef-4194304-12345678/k-ipc-5")
#: A kernel folder's name: the host and the process that made it (whose kernel it holds).
_FOLDER = re.compile(r"ck-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[^/]+\Z")


def _kernel_folder() -> Path:
    """A new folder (mode 0700) for a kernel's connection file and sockets: in Jupyter's
    runtime folder, as Jupyter keeps them (the system's temporary folder may be cleaned of
    files a few days old while a report server's kernels wait), else, when that gives too
    long a path for a socket or cannot be made, in the temporary folder."""
    from jupyter_core.paths import jupyter_runtime_dir

    prefix = f"ck-{_host()}-{os.getpid()}-"
    for base in (Path(jupyter_runtime_dir()).absolute(), Path(tempfile.gettempdir()).absolute()):
        if len(os.fsencode(base)) + _ADDED > _SOCKET_PATH:
            continue
        try:
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix=prefix))


@functools.cache
def _host() -> str:
    """This machine's tag in kernel folders' names: a process id means nothing on another
    machine (or container) that shares the home folder."""
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def _sync(function: Any) -> Any:
    """jupyter_core's ``run_sync``. Jupyter's libraries (asyncio with them; file locks) are
    loaded only after a kernel's process has started (:mod:`crmkit.publish.spawn`): this
    module is loaded before that."""
    from jupyter_core.utils import run_sync  # lazy: asyncio, 0.03 s

    return run_sync(function)


async def _ensure_async(value: Any) -> Any:
    from jupyter_core.utils import ensure_async  # lazy: see _sync

    return await ensure_async(value)


def _sweep_kernel_folders(base: Path) -> None:
    """Remove the kernel folders in ``base`` that this machine's processes made and that are
    gone: a command killed with SIGKILL cannot remove its kernel's (the kernel ends by
    itself once its parent is gone). Only a process that no longer runs counts as gone: a
    folder left while its process id is taken again stays (a few bytes), where removing a
    live kernel's folder would stop its next report (no client could reach it)."""
    from crmkit._files import pid_alive  # lazy: see _sync

    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            found = _FOLDER.match(entry.name)
            if found is None or found.group("host") != _host() or not entry.is_dir(follow_symlinks=False):
                continue
            pid = int(found.group("pid"))
            if pid != os.getpid() and not pid_alive(pid):
                shutil.rmtree(entry.path, ignore_errors=True)


#: A kernel's connection file in its folder.
_CONNECTION_FILE = "k.json"


def _spec_manager() -> Any:
    """jupyter_client's kernelspec finder over Jupyter's kernel folders, where
    :func:`crmkit.publish.spawn.start_early` looks too: by default it also looks in
    IPython's (``~/.ipython/kernels``, where no Jupyter tool installs a kernel any more), for
    which it imports IPython: 0.05 s of a run's command, which runs no IPython itself."""
    from jupyter_client.kernelspec import KernelSpecManager  # lazy: as in Kernel._start
    from jupyter_core.paths import jupyter_path

    return KernelSpecManager(kernel_dirs=jupyter_path("kernels"))


@functools.cache
def _manager() -> type:
    """jupyter_client's kernel manager, which takes the process
    :func:`crmkit.publish.spawn.start_early` started (``crmkit_early``) as the one it
    launches, when it would have launched that very command with that very environment;
    otherwise that process is killed and it launches its own."""
    from jupyter_client.manager import AsyncKernelManager  # lazy: as in Kernel._start
    from jupyter_client.provisioning import LocalProvisioner

    class Manager(AsyncKernelManager):  # type: ignore[misc]
        crmkit_early: Early | None = None

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            early, self.crmkit_early = self.crmkit_early, None
            provisioner = self.provisioner
            if early is not None and type(provisioner) is LocalProvisioner \
                    and early.matches(kernel_cmd, kw.get("env")):
                provisioner.process, provisioner.pid = early.process, early.process.pid
                provisioner.pgid = early.process.pid  # the leader of its own session
                provisioner.cwd = kw.get("cwd", Path.cwd())
                self._reconcile_connection_info(provisioner.connection_info)
                return
            if early is not None:
                early.kill()
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return Manager


def _sockets(folder: Path) -> dict[str, str]:
    """How a kernel and its clients talk: over Unix sockets in ``folder``, private to this
    user, beside the connection file. On loopback TCP a kernel was given five ports found
    free, which it bound a moment later: a kernel another process started in that moment
    (the report server's, a batch's) could take one, and the first died with "Address
    already in use". TCP is kept where Unix sockets are not to be had (Windows) or their
    paths would be too long."""
    import zmq  # lazy: as jupyter_client

    connection_file = folder / _CONNECTION_FILE  # the sockets: k-ipc-1 to k-ipc-5
    if os.name == "nt" or not zmq.has("ipc") or len(os.fsencode(folder)) + 8 > _SOCKET_PATH:
        return {"connection_file": str(connection_file)}
    return {"transport": "ipc", "connection_file": str(connection_file)}


async def _handshake(client: Any, wait: float) -> bool:
    """One kernel_info request: True once its reply is in and its last IOPub message
    (the kernel going idle) arrived, which shows IOPub is connected; False when either
    did not come within ``wait`` seconds (IOPub may not have been connected yet), however
    many other messages arrived meanwhile."""
    msg_id = client.kernel_info()
    until = time.monotonic() + wait
    for channel, wanted in ((client.shell_channel, "kernel_info_reply"), (client.iopub_channel, "status")):
        while True:
            try:
                msg = await _ensure_async(channel.get_msg(timeout=max(0.0, until - time.monotonic())))
            except Empty:
                return False
            if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != wanted:
                continue
            if wanted == "kernel_info_reply":
                client._handle_kernel_info_reply(msg)
                break
            if msg["content"].get("execution_state") == "idle":
                return True
    return False  # pragma: no cover - the loop returns


@functools.cache
def _ready_client() -> type:
    """A kernel client whose handshake ends as soon as the kernel answered it on both
    channels (made on first use: jupyter_client is imported lazily)."""
    from jupyter_client.asynchronous import AsyncKernelClient  # lazy: as in Kernel._start

    class ReadyClient(AsyncKernelClient):  # type: ignore[misc]
        """jupyter_client's handshake then waits for 0.2 s of silence on IOPub, on every
        notebook run. What arrives later belongs to no request of this client, and
        nbclient reads only the replies to its own requests."""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while not await _handshake(self, 1.0):
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    return ReadyClient


def _register_engine() -> str:
    """Register (once) papermill's nbclient engine under :data:`ENGINE`, changed so that an
    error that is not a cell's exception (a cell timeout, a dead kernel) carries the
    notebook as executed so far (``exc.crmkit_notebook``), its failing cell marked failed
    with the error as output. papermill itself saves nothing then."""
    # lazy: papermill costs about 0.5 s of CLI start-up
    from papermill.engines import NBClientEngine, papermill_engines

    if ENGINE in papermill_engines._engines:
        return ENGINE

    ClosingClient = _closing_client()

    class KeepsPartial(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     start_timeout: int = 60, execution_timeout: int | None = None,
                                     **kwargs: Any) -> Any:
            # NBClientEngine.execute_managed_notebook (papermill 2.7), with ClosingClient
            kwargs.pop("input_path", None)
            kwargs.pop("startup_timeout", None)
            timeout = kwargs.pop("timeout", None)
            timeout = execution_timeout or timeout
            charts = kwargs.pop("crmkit_charts", None)
            try:
                return ClosingClient(nb_man, timeout=timeout, startup_timeout=start_timeout,
                                     kernel_name=kernel_name, log=logging.getLogger("papermill"),
                                     log_output=log_output, charts=charts, **kwargs).execute()
            except Exception as exc:
                _mark_failed(nb_man, exc)
                with contextlib.suppress(Exception):
                    exc.crmkit_notebook = nb_man.nb  # type: ignore[attr-defined]
                raise

    papermill_engines.register(ENGINE, KeepsPartial)
    return ENGINE


def _closing_client() -> type:
    """papermill's notebook client as the kernel's engine runs it (:func:`_register_engine`)."""
    from papermill.clientwrap import PapermillNotebookClient  # lazy: as in _register_engine

    class ClosingClient(PapermillNotebookClient):  # type: ignore[misc]
        """papermill's client, which stops the channels of its kernel client when the
        notebook is done: with a kernel it did not start, nbclient leaves them open (a
        heartbeat thread and its sockets, about 12 MB, for every notebook a batch worker
        or the report server ran). With ``charts`` (a standard report's run), it draws
        the charts the kernel hands over as they arrive (:mod:`crmkit.publish.drawing`)."""

        def __init__(self, *args: Any, charts: Any = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.crmkit_charts = charts

        def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None and self.crmkit_charts is not None:
                self.crmkit_charts.take(out, cell_index)
            return out

        def execute(self, **kwargs: Any) -> Any:
            charts = self.crmkit_charts
            try:
                done = super().execute(**kwargs)
                if charts is not None:
                    charts.share(self._draw_in_kernel)  # the kernel is idle now
                    charts.finish(timeout=self.timeout)  # the cells' timeout, each chart
                return done
            finally:
                if charts is not None:  # failed: the charts drawn so far, no pickle kept
                    charts.settle()
                client: Any = getattr(self, "kc", None)
                if client is not None:  # kept: a check of the kernel may still be running
                    with contextlib.suppress(Exception):  # the run's own error comes first
                        client.stop_channels()

        def _draw_in_kernel(self, jobs: list[str]) -> dict[int, str]:
            """Charts ``jobs``, which the kernel handed over, drawn in the kernel after all
            (:func:`crmkit.publish.drawing.draw_here`): each one's HTML by its place in
            ``jobs`` (those it drew)."""
            from nbclient.util import run_sync  # lazy: loaded with papermill

            return dict(run_sync(_draw_in_kernel)(self.kc, self.km, jobs, self.timeout))

    return ClosingClient


async def _draw_in_kernel(client: Any, km: Any, jobs: list[str],
                          timeout: float | None) -> dict[int, str]:
    """What :meth:`ClosingClient._draw_in_kernel` does, on the kernel of ``km`` through its
    client ``client``, in ``timeout`` seconds at most (None or less than one: as long as
    it takes, while the kernel lives)."""
    from crmkit.publish.drawing import SHARED  # lazy: loaded by the run that draws
    from crmkit.render.figures import handed_key  # lazy: as drawing

    code = "".join(["from crmkit.publish.drawing import draw_here as _ck, forget_handed as _fh\n",
                    *[f"_ck({handed_key(job)!r}, {at})\n" for at, job in enumerate(jobs)],
                    "_fh()\ndel _ck, _fh\n"])
    sent = client.execute(code, silent=True, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout if timeout is not None and timeout >= 1 else None
    drawn: dict[int, str] = {}
    while True:
        msg = await _reply(client.get_iopub_msg, sent, km, deadline)
        kind, content = msg["msg_type"], msg["content"]
        at, html = content.get("metadata", {}).get(SHARED), content.get("data", {}).get("text/html")
        if kind == "display_data" and isinstance(at, int) and 0 <= at < len(jobs) and isinstance(html, str):
            drawn[at] = html
        elif kind == "status" and content.get("execution_state") == "idle":
            break
    await _reply(client.get_shell_msg, sent, km, deadline)
    return drawn


async def _reply(get: Any, sent: str, km: Any, deadline: float | None) -> dict[str, Any]:
    """The next message ``get`` gives in answer to request ``sent``, looking every second
    whether the kernel of ``km`` still lives."""
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("the kernel did not answer in time")
        try:
            msg = await get(timeout=1.0 if left is None else min(1.0, left))
        except Empty:
            if not await _ensure_async(km.is_alive()):
                raise RuntimeError("the kernel died") from None
            continue
        if msg.get("parent_header", {}).get("msg_id") == sent:
            return dict(msg)


def _mark_failed(nb_man: Any, exc: Exception) -> None:
    """Mark the last cell that started as the failed one and give it the error (a chart
    that could not be drawn: the cell that showed it)."""
    import nbformat  # lazy: only on a failure, and papermill has loaded it by then

    started = [c for c in nb_man.nb.cells
               if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    chart = getattr(exc, "cell", None) if type(exc).__name__ == "ChartError" else None
    if isinstance(chart, int) and 0 <= chart < len(nb_man.nb.cells):
        started = [nb_man.nb.cells[chart]]
    if not started:
        return
    cell = started[-1]
    nb_man.cell_exception(cell)
    text = str(exc).strip().splitlines()
    cell.setdefault("outputs", []).append(nbformat.v4.new_output(
        "error", ename=type(exc).__name__, evalue=text[0] if text else "",
        traceback=[f"{type(exc).__name__}: {text[0] if text else ''}"]))
