"""Run a report notebook with Papermill and publish it with nbconvert.

One run: validate the parameters against the data (a bad period or team fails here, before
anything is written), execute ``notebooks/<report>.ipynb`` on the fixed ``crmkit`` kernel
in a temporary folder, take the JSON twin from the executed notebook, export HTML with the
code hidden, then move the notebook, HTML and JSON into ``output/<period>/<team>/`` with
atomic renames. A failed run keeps the previous good outputs and leaves the failed
notebook beside them for debugging.

A :class:`Kernel` is a warm ``crmkit`` kernel (the report libraries already imported) that
runs notebooks one after another; batch runs keep one per worker process, and a single
run starts one while it validates its parameters.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from crmkit.backends.postgres import ENV_URL, Location
from crmkit.errors import ParameterError, ReportError
from crmkit.parameters import (
    JSON_MIMETYPE,
    Database,
    describe,
    find_database,
    resolve,
)

KERNEL_NAME = "crmkit"
TEMPLATES = Path(__file__).parent / "templates"
REPORT_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

#: Imported by a new kernel as it starts, before its first notebook, so reports start warm.
WARM_UP = ("crmkit.reports.context", "crmkit.render.blocks", "crmkit.metrics.sales", "crmkit.render.charts.sales")


@dataclass
class RunResult:
    report: str
    period: str
    team: str
    html: Path
    json: Path
    notebook: Path
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def install_kernel() -> Path:
    """Install the ``crmkit`` kernelspec into this environment (``sys.prefix``).

    Every notebook names this kernel and the runner passes it explicitly, so no analyst's
    local kernel list can break a scheduled run. The kernel logs errors only (ipykernel's
    start-up notice about unencrypted local TCP would otherwise print on every run).
    """
    from ipykernel.kernelspec import install

    path = Path(install(kernel_name=KERNEL_NAME, display_name="Python (crmkit)", prefix=sys.prefix))
    spec_file = path / "kernel.json"
    spec = json.loads(spec_file.read_text())
    if "--IPKernelApp.log_level=ERROR" not in spec["argv"]:
        spec["argv"].append("--IPKernelApp.log_level=ERROR")
    write_atomic(spec_file, json.dumps(spec, indent=1))
    return path


def find_notebooks(notebooks: str | os.PathLike[str] | None = None) -> Path:
    """The report notebooks folder: the argument, ``$CRMKIT_NOTEBOOKS``, ``./notebooks``,
    or the repository's ``notebooks/`` beside the package."""
    for candidate in (
        notebooks,
        os.environ.get("CRMKIT_NOTEBOOKS"),
        "notebooks",
        Path(__file__).resolve().parent.parent / "notebooks",
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    raise ParameterError("no notebooks folder found; pass --notebooks DIR")


def available_reports(notebooks: str | os.PathLike[str] | None = None) -> list[str]:
    """Report ids: one per notebook in the notebooks folder."""
    folder = find_notebooks(notebooks)
    return sorted(p.stem for p in folder.glob("*.ipynb") if REPORT_ID.match(p.stem))


def report_notebook(report: str, folder: Path) -> Path:
    """The notebook of a report id; a one-line error for an unsafe or unknown id."""
    known = ", ".join(available_reports(folder)) or "none"
    if not REPORT_ID.match(report or ""):
        raise ParameterError(
            f"report {report!r}: a report id is lower-case letters, digits and _ (e.g. sales); "
            f"available reports: {known}"
        )
    source = folder / f"{report}.ipynb"
    if not source.exists():
        raise ParameterError(f"no report {report!r}; available reports: {known}")
    return source


_STANDARD = {"period", "team", "compare_to", "as_of", "database", "timezone"}
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:+\- ]{0,64}$")


def report_parameters(report: str, source: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Validate a report's own parameters against its notebook's parameters cell.

    Names must be declared there (and not be one of the standard parameters, which have
    their own options); values are numbers, booleans or short plain text, so nothing
    unsafe reaches the notebook.
    """
    if not extra:
        return {}
    import papermill as pm

    declared = set(pm.inspect_notebook(str(source))) - _STANDARD
    out: dict[str, Any] = {}
    for name, value in extra.items():
        if name in _STANDARD:
            option = "--" + name.replace("_", "-")
            raise ParameterError(f"{report}: parameter {name!r} has its own option ({option})")
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ParameterError(f"{report}: unknown parameter {name!r}; its parameters: {known}")
        if isinstance(value, str):
            if not _SAFE_VALUE.match(value):
                raise ParameterError(
                    f"{report}: parameter {name}={value!r}: use letters, digits and . _ - : + only"
                )
            value = _typed(value)
        elif not isinstance(value, int | float | bool):
            raise ParameterError(f"{report}: parameter {name}: a number, true/false or short text")
        out[name] = value
    return out


def _typed(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


class Kernel:
    """A warm ``crmkit`` kernel that executes report notebooks one after another.

    The database location reaches the kernel through its environment, never as a notebook
    parameter, so no connection string is recorded in an output: a DuckDB file as
    ``$CRMKIT_DATABASE``, a PostgreSQL database as ``$CRMKIT_DATABASE_URL`` (with
    ``$CRMKIT_DATABASE`` removed, which would take precedence). Before each notebook the
    user namespace is cleared (imported modules stay, which is what makes it warm). After a
    failure the kernel is restarted, so one broken report cannot poison the next.
    """

    def __init__(self, database: Database, cwd: Path, startup_timeout: int = 120) -> None:
        self.database = database if isinstance(database, Location) else Path(database)
        self.cwd, self.startup_timeout = Path(cwd), startup_timeout
        self.km: Any = None
        self.fresh = False
        self._start()

    def _start(self) -> None:
        from jupyter_client.kernelspec import NoSuchKernel
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        env = dict(os.environ)
        modules = list(WARM_UP)
        if isinstance(self.database, Location):
            env.pop("CRMKIT_DATABASE", None)
            env[ENV_URL] = self.database.url
            modules += ["crmkit.backends.postgres", "ibis.backends.postgres"]
        else:
            env.pop(ENV_URL, None)  # a DuckDB run has no use for a PostgreSQL password
            env["CRMKIT_DATABASE"] = str(self.database)
        # The kernel imports the report libraries as it starts (IPython's exec_lines), so
        # the start-up and the imports run without waiting on this process; the names
        # used are deleted again, leaving the user namespace empty. A library that fails
        # to import is left for the notebook to report.
        warm = (
            "import importlib as _ck\n"
            f"for _m in {tuple(modules)!r}:\n"
            "    try:\n        _ck.import_module(_m)\n"
            "    except ImportError:\n        pass\n"
            "del _ck, _m"
        )
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        try:
            run_sync(self.km.start_kernel)(
                cwd=str(self.cwd),
                env=env,
                extra_arguments=[f"--IPKernelApp.exec_lines={json.dumps([warm])}"],
            )
        except NoSuchKernel:
            raise ReportError(
                "?",
                {},
                f"Jupyter kernel '{KERNEL_NAME}' is not installed; run `crmkit install-kernel` "
                "(make env does this)",
            ) from None
        self.fresh = True

    def _send(self, code: str, wait: bool) -> None:
        from jupyter_core.utils import run_sync

        client = self.km.client()
        client.start_channels()
        try:
            run_sync(client.wait_for_ready)(timeout=self.startup_timeout)
            msg_id = client.execute(code, silent=True, store_history=False)
            if wait:
                deadline = time.monotonic() + self.startup_timeout
                while time.monotonic() < deadline:
                    reply = run_sync(client.get_shell_msg)(timeout=self.startup_timeout)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
        finally:
            client.stop_channels()

    @property
    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def execute(
        self, source: Path, executed: Path, params: dict[str, Any], timeout: int
    ) -> nbformat.NotebookNode:
        import papermill as pm

        if not self.alive:
            self.restart()
        if not self.fresh:  # clear what the previous notebook left
            self._send("%reset -f", wait=True)
        self.fresh = False
        return pm.execute_notebook(
            str(source),
            str(executed),
            parameters=params,
            kernel_name=KERNEL_NAME,
            cwd=str(self.cwd),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            start_timeout=self.startup_timeout,
            km=self.km,
            request_save_on_cell_execute=False,
        )

    def restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        from jupyter_core.utils import run_sync

        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
            self.km = None

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_report(
    report: str,
    *,
    period: str = "last-month",
    team: str = "all",
    compare_to: str = "previous",
    as_of: str | None = None,
    database: str | os.PathLike[str] | None = None,
    timezone: str | None = None,
    output: str | os.PathLike[str] = "output",
    notebooks: str | os.PathLike[str] | None = None,
    timeout: int = 600,
    progress: Callable[[str], None] | None = None,
    update_index: bool = True,
    kernel: Kernel | None = None,
    extra: dict[str, Any] | None = None,
) -> RunResult:
    """Execute and publish one report. Raises a one-line error on bad input or failure.

    ``kernel`` is a warm :class:`Kernel` to run on (batch runs keep one per worker); without
    it a kernel is started for this run and shut down after it. ``extra`` sets a report's
    own parameters (e.g. ``{"active_days": 60}`` for activity), checked against the
    notebook's parameters cell.
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    folder = find_notebooks(notebooks)
    source = report_notebook(report, folder)
    db = find_database(database)
    own_kernel = kernel is None
    if kernel is None:
        # Started first: it boots and imports the report libraries (the longest part of a
        # single run) while this process checks the parameters and loads papermill and
        # the HTML exporter. Bad parameters shut it down again below (and print one line:
        # nothing is said before they are checked).
        kernel = Kernel(db, folder)
    elif kernel.database != db:
        kernel.database = db
        kernel.restart()
    try:
        settings, teams = describe(db)
        resolved = resolve(
            period=period,
            team=team,
            compare_to=compare_to,
            as_of=as_of,
            timezone=timezone,
            settings=settings,
            teams=teams,
        )
        params = {**resolved.for_notebook(), **report_parameters(report, source, extra or {})}
        out_root = Path(output)
        out_dir = out_root / resolved.period.slug / resolved.team
        label = f"{report} {resolved.period.label} {resolved.team}"
        # papermill here, before the thread (two threads importing the same modules at once
        # can see them half-initialised); the HTML exporter, which takes a second to import
        # and compile its templates, in the background while the notebook runs.
        import papermill  # noqa: F401

        exporter = _Background(_html_exporter)
        out_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".tmp-{os.getpid()}-", dir=out_root) as tmp:
            executed = Path(tmp) / f"{report}.ipynb"
            say(f"{label}: executing {source.name}")
            nb = _execute(kernel, report, source, executed, params, timeout, out_dir)
            if own_kernel:
                kernel.close()
            payload = extract_json(nb)
            if payload is None:
                raise ReportError(
                    report,
                    params,
                    f"the notebook published no {JSON_MIMETYPE} output "
                    "(its last cell must call data.publish())",
                )
            say(f"{label}: converting to HTML")
            page = to_html(nb, exporter.result())
            paths = {
                "notebook": out_dir / f"{report}.ipynb",
                "json": out_dir / f"{report}.json",
                "html": out_dir / f"{report}.html",
            }
            with locked(out_dir):
                write_atomic(paths["notebook"], nbformat.writes(nb))
                write_atomic(paths["json"], json.dumps(payload, indent=2, ensure_ascii=False))
                write_atomic(paths["html"], page)
                with contextlib.suppress(FileNotFoundError):
                    (out_dir / f"{report}.failed.ipynb").unlink()
    finally:
        if own_kernel:
            kernel.close()
    if update_index:
        from crmkit.publish.site import write_index

        write_index(out_root)
    seconds = time.perf_counter() - started
    say(f"{label}: wrote {paths['html']} in {seconds:.1f} s")
    return RunResult(
        report,
        resolved.period.label,
        resolved.team,
        paths["html"],
        paths["json"],
        paths["notebook"],
        seconds,
        payload.get("metrics", {}),
    )


def _execute(
    kernel: Kernel,
    report: str,
    source: Path,
    executed: Path,
    params: dict[str, Any],
    timeout: int,
    out_dir: Path,
) -> nbformat.NotebookNode:
    from papermill.exceptions import PapermillExecutionError

    try:
        return kernel.execute(source, executed, params, timeout)
    except PapermillExecutionError as exc:
        kernel.restart()
        kept = _keep_failed(executed, out_dir, report)
        raise ReportError(
            report,
            params,
            f"{exc.ename}: {exc.evalue}",
            cell=_source_position(executed, exc.cell_index),
            ename=exc.ename,
            evalue=exc.evalue,
            notebook=kept,
            source=exc.source,
        ) from None
    except ReportError:
        raise
    except Exception as exc:  # a dead kernel, a cell timeout, ...
        kernel.restart()
        kept = _keep_failed(executed, out_dir, report)
        cell, source_text = _running_cell(executed)
        text = str(exc).strip().splitlines()
        message = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
        raise ReportError(
            report, params, message, cell=cell, ename=type(exc).__name__,
            evalue=text[0] if text else "", notebook=kept, source=source_text,
        ) from None


def _source_position(executed: Path, index: int) -> int:
    """1-based position in the report's own notebook of the executed notebook's cell
    ``index`` (0-based), not counting the parameters cell papermill injected."""
    with contextlib.suppress(Exception):
        nb = nbformat.read(executed, as_version=4)
        injected = [
            i for i, c in enumerate(nb.cells)
            if "injected-parameters" in c.get("metadata", {}).get("tags", [])
        ]
        if injected and injected[0] < index:
            return index
    return index + 1


def _running_cell(executed: Path) -> tuple[int | None, str | None]:
    """The cell that was running when execution stopped (papermill marks it)."""
    if not executed.exists():
        return None, None
    with contextlib.suppress(Exception):
        nb = nbformat.read(executed, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
                return _source_position(executed, index), cell.source
    return None, None


def _keep_failed(executed: Path, out_dir: Path, report: str) -> Path | None:
    if not executed.exists():
        return None
    target = out_dir / f"{report}.failed.ipynb"
    with locked(out_dir):
        write_atomic(target, executed.read_text(encoding="utf-8"))
    return target


def extract_json(nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The report's JSON twin, taken from the executed notebook's outputs."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if JSON_MIMETYPE in data:
                value = data[JSON_MIMETYPE]
                return json.loads(value) if isinstance(value, str) else dict(value)
    return None


class _Background:
    """Run a function in a thread now; ``result()`` waits for it (re-raising its error)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        import threading

        self._value: Any = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._value = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def to_html(nb: nbformat.NotebookNode, exporter: Any = None) -> str:
    """Self-contained HTML with code hidden and bookkeeping cells removed."""
    body, _ = (exporter or _html_exporter()).from_notebook_node(nb)
    return body


def _html_exporter() -> Any:
    import papermill  # noqa: F401 - imported here, off the critical path
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {
        "remove-cell",
        "injected-parameters",
        "parameters",
    }
    config.TagRemovePreprocessor.enabled = True
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    exporter = HTMLExporter(
        config=config, template_name="crmkit", extra_template_basedirs=[str(TEMPLATES)]
    )
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    # Jinja compiles the templates on first use: do it now, on an empty notebook.
    exporter.from_notebook_node(nbformat.v4.new_notebook())
    return exporter


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (a ``.lock`` file in it), so that two runs that
    publish into the same folder at once land their files one after the other."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never
    a partial one: write a temporary file beside it, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def print_progress(message: str) -> None:
    print(f"crmkit: {message}", file=sys.stderr, flush=True)
