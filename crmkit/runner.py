"""Run a report notebook with Papermill and publish it with nbconvert.

One run: validate the parameters against the data (a bad period or team fails here, before
anything is written), execute ``notebooks/<report>.ipynb`` on the fixed ``crmkit`` kernel
in a temporary folder, take the JSON twin from the executed notebook, export HTML with the
code hidden, then move the notebook, HTML and JSON into ``output/<period>/<team>/`` with
atomic renames. A failed run keeps the previous good outputs and leaves the failed
notebook beside them for debugging.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from crmkit.parameters import JSON_MIMETYPE, describe, find_database, resolve

KERNEL_NAME = "crmkit"
TEMPLATES = Path(__file__).parent / "templates"


class ReportError(RuntimeError):
    """A report failed to run; carries which report, which parameters and which cell."""

    def __init__(self, report: str, parameters: dict[str, Any], message: str,
                 cell: int | None = None, ename: str | None = None,
                 evalue: str | None = None, notebook: Path | None = None,
                 source: str | None = None) -> None:
        self.report, self.parameters, self.cell = report, parameters, cell
        self.ename, self.evalue, self.notebook = ename, evalue, notebook
        self.source = source
        params = " ".join(f"{k}={v}" for k, v in parameters.items() if v is not None)
        where = ""
        if cell is not None:
            first = (source or "").strip().splitlines()
            snippet = f" `{first[0][:60]}`" if first else ""
            where = f" in cell [{cell}]{snippet}"
        kept = f"; failed notebook kept at {notebook}" if notebook else ""
        super().__init__(f"report {report} ({params}) failed{where}: {message}{kept}")


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
    for candidate in (notebooks, os.environ.get("CRMKIT_NOTEBOOKS"), "notebooks",
                      Path(__file__).resolve().parent.parent / "notebooks"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    raise ReportError("?", {}, "no notebooks folder found; pass --notebooks DIR")


def available_reports(notebooks: str | os.PathLike[str] | None = None) -> list[str]:
    """Report ids: one per notebook in the notebooks folder."""
    folder = find_notebooks(notebooks)
    return sorted(p.stem for p in folder.glob("*.ipynb") if not p.stem.startswith(("_", ".")))


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
) -> RunResult:
    """Execute and publish one report. Raises a one-line error on bad input or failure."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    folder = find_notebooks(notebooks)
    source = folder / f"{report}.ipynb"
    if not source.exists():
        known = ", ".join(available_reports(folder)) or "none"
        raise ReportError(report, {}, f"no such report; available reports: {known}")
    db = find_database(database)
    settings, teams = describe(db)
    resolved = resolve(period=period, team=team, compare_to=compare_to, as_of=as_of,
                       timezone=timezone, settings=settings, teams=teams)
    params = resolved.for_notebook()
    out_root = Path(output)
    out_dir = out_root / resolved.period.slug / resolved.team
    label = f"{report} {resolved.period.label} {resolved.team}"
    out_root.mkdir(parents=True, exist_ok=True)
    # The HTML exporter takes a second to import and set up: do it while the kernel runs.
    exporter = _Background(_html_exporter)
    with tempfile.TemporaryDirectory(prefix=".tmp-", dir=out_root) as tmp:
        executed = Path(tmp) / f"{report}.ipynb"
        say(f"{label}: executing {source.name}")
        nb = _execute(report, source, executed, params, db, folder, timeout, out_dir)
        payload = extract_json(nb)
        if payload is None:
            raise ReportError(report, params, f"the notebook published no {JSON_MIMETYPE} output "
                              "(its last cell must call data.publish())")
        say(f"{label}: converting to HTML")
        page = to_html(nb, exporter.result())
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {
            "notebook": out_dir / f"{report}.ipynb",
            "json": out_dir / f"{report}.json",
            "html": out_dir / f"{report}.html",
        }
        write_atomic(paths["notebook"], nbformat.writes(nb))
        write_atomic(paths["json"], json.dumps(payload, indent=2, ensure_ascii=False))
        write_atomic(paths["html"], page)
        with contextlib.suppress(FileNotFoundError):
            (out_dir / f"{report}.failed.ipynb").unlink()
    if update_index:
        from crmkit.site import write_index

        write_index(out_root)
    seconds = time.perf_counter() - started
    say(f"{label}: wrote {paths['html']} in {seconds:.1f} s")
    return RunResult(report, resolved.period.label, resolved.team, paths["html"], paths["json"],
                     paths["notebook"], seconds, payload.get("metrics", {}))


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernel the run starts, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(report: str, source: Path, executed: Path, params: dict[str, Any], db: Path,
             cwd: Path, timeout: int, out_dir: Path) -> nbformat.NotebookNode:
    import papermill as pm
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    try:
        # The database location travels in the environment, never as a notebook
        # parameter, so no connection string is ever recorded in an output.
        with _environment(CRMKIT_DATABASE=str(db)):
            return pm.execute_notebook(
                str(source), str(executed), parameters=params, kernel_name=KERNEL_NAME,
                cwd=str(cwd), progress_bar=False, log_output=False,
                execution_timeout=timeout,
            )
    except PapermillExecutionError as exc:
        kept = _keep_failed(executed, out_dir, report)
        raise ReportError(report, params, f"{exc.ename}: {exc.evalue}", cell=exc.exec_count,
                          ename=exc.ename, evalue=exc.evalue, notebook=kept,
                          source=exc.source) from None
    except NoSuchKernel:
        raise ReportError(report, params, f"Jupyter kernel '{KERNEL_NAME}' is not installed; run "
                          "`crmkit install-kernel` (make env does this)") from None
    except Exception as exc:  # dead kernel, cell timeout, ...
        kept = _keep_failed(executed, out_dir, report)
        message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        raise ReportError(report, params, message, notebook=kept) from None


def _keep_failed(executed: Path, out_dir: Path, report: str) -> Path | None:
    if not executed.exists():
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{report}.failed.ipynb"
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
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = {"remove-cell", "injected-parameters", "parameters"}
    config.TagRemovePreprocessor.enabled = True
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    exporter = HTMLExporter(config=config, template_name="crmkit",
                            extra_template_basedirs=[str(TEMPLATES)])
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    return exporter


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


def copy_tree_atomic(src: Path, dst: Path) -> None:  # pragma: no cover - used by site publish
    shutil.copytree(src, dst, dirs_exist_ok=True)
