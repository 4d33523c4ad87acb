"""Run a report notebook with Papermill and publish it with nbconvert.

One run: validate the parameters against the data (a bad period or team fails here, before
anything is written), execute ``notebooks/<report>.ipynb`` on the fixed ``crmkit`` kernel
in a temporary folder, take the JSON twin from the executed notebook, export HTML with the
code hidden, then publish the notebook, HTML and JSON into ``output/<period>/<team>/`` as
one unit under the folder's lock (:func:`crmkit._files.publish_together`: a new version
folder and one atomic switch of a link, so a page and its JSON always come from the same
run, even after a SIGKILL or a full disk). A failed run keeps the previous good outputs
and leaves the failed notebook beside them for debugging, also after a cell timeout or a
dead kernel (what ran until then, the failing cell marked). Each run first removes what
killed runs left in the output folder and beside the database (temporary files and
folders of processes that are gone). A report that is not in the registry (a custom
report) is untrusted code: the kernel is restarted before it runs anything else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from crmkit import i18n
from crmkit._files import (
    locked,
    publish_together,
    replacing,
    run_folder,
    sweep_output,
    sweep_temporaries,
)
from crmkit._media import JSON_MIMETYPE
from crmkit.backends.engines import describe
from crmkit.backends.location import Database, find_database
from crmkit.catalog import CATALOG, title
from crmkit.errors import OutputError, ReportError
from crmkit.parameters import resolve
from crmkit.publish.alerts import evaluate
from crmkit.publish.export import extract_json, start_html_exporter, to_html, twin_text
from crmkit.publish.kernel import Kernel
from crmkit.publish.notebooks import find_notebooks, report_notebook, report_parameters
from crmkit.publish.presets import AlertRule, Branding
from crmkit.publish.site import (
    Page,
    TwinState,
    chrome,
    page_title,
    pages_on_disk,
    team_label,
    twin_state,
    write_index,
)


@dataclass
class RunResult:
    """A published report: where its files are, how long it took, its headline metrics."""

    report: str
    period: str
    team: str
    html: Path
    json: Path
    notebook: Path
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    #: The twin as published and its file's state just after (for the index), or None.
    twin: tuple[TwinState, dict[str, Any]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class _Run:
    """One run with its parameters checked: what executes, with what, and where it lands."""

    report: str
    source: Path
    params: dict[str, Any]
    period: str
    team: str
    out_root: Path
    out_dir: Path
    team_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.report} {self.period} {self.team}"

    def path(self, suffix: str) -> Path:
        """``<out_dir>/<report><suffix>``, e.g. ``.html`` or ``.failed.ipynb``."""
        return self.out_dir / f"{self.report}{suffix}"


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
    locale: str | None = None,
    progress: Callable[[str], None] | None = None,
    update_index: bool = True,
    kernel: Kernel | None = None,
    extra: dict[str, Any] | None = None,
    close_kernel: bool | None = None,
    branding: Branding | None = None,
    batch: Iterable[Page] = (),
    alerts: Sequence[AlertRule] = (),
    cache_key: str | None = None,
    hand_over: bool = True,
) -> RunResult:
    """Execute and publish one report. Raises a one-line error on bad input or failure.

    ``kernel`` is a warm :class:`Kernel` to run on (batch runs keep one per worker); without
    it one is started for this run (``hand_over``: see :class:`Kernel`) and shut down after
    it. ``close_kernel`` shuts a given kernel down as soon as the notebook has run (the
    command line starts a single run's kernel itself, before it loads this module).
    ``extra`` sets a report's own parameters (``{"active_days": 60}`` for activity),
    checked against the notebook's. The page is in ``locale`` (None: the dataset's), shows
    ``branding`` and links the pages on disk and the ``batch`` (the other pages the caller
    is about to publish); the ``alerts`` rules that fire on the page are stated at its top;
    ``cache_key`` is published beside it; a given kernel that ran nothing stays up."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    folder = find_notebooks(notebooks)
    source = report_notebook(report, folder)
    db = find_database(database)
    own_kernel, given = kernel is None if close_kernel is None else close_kernel, kernel is not None
    # A kernel of its own is started first: it boots and imports the report libraries while
    # this process checks the parameters (bad ones shut it down again, saying one line).
    kernel = _kernel_for(kernel, db, folder, report, hand_over)
    try:
        choices = dict(period=period, team=team, compare_to=compare_to, as_of=as_of,
                       timezone=timezone, locale=locale)
        run = _checked_run(report, source, db, Path(output), choices, extra or {})
        if isinstance(db, Path):  # a killed import's temporary database (and its .wal)
            sweep_temporaries(db.parent, target=db.name)
        site = {"branding": branding, "batch": frozenset(batch), "alerts": tuple(alerts)}
        result = _execute_and_publish(run, kernel, timeout, say, site, close_kernel=own_kernel, key=cache_key)
    finally:
        if own_kernel and not (given and kernel.fresh):  # a given kernel that ran nothing
            kernel.close()                                # stays up for its owner
    _index(run, result, branding, update_index)
    result.seconds = time.perf_counter() - started
    say(f"{run.label}: wrote {result.html} in {result.seconds:.1f} s")
    return result


def _index(run: _Run, result: RunResult, branding: Branding | None, update: bool) -> None:
    """Rebuild the output folder's index (if ``update``), not reading the twin just written
    again; then let the result drop that twin (a large one is megabytes)."""
    if update:
        known = {} if result.twin is None else \
            {result.json.relative_to(run.out_root).as_posix(): result.twin}
        write_index(run.out_root, branding=branding, known=known)
    result.twin = None


def _kernel_for(kernel: Kernel | None, db: Database, folder: Path, report: str,
                hand_over: bool) -> Kernel:
    """The given kernel, restarted if it reads another database; else a new one, warmed up
    for ``report``."""
    if kernel is None:
        return Kernel(db, folder, reports=(report,), hand_over=hand_over)
    if kernel.database != db:
        kernel.database = db
        kernel.restart()
    return kernel


def _checked_run(
    report: str, source: Path, db: Database, out_root: Path, choices: dict[str, Any],
    extra: dict[str, Any],
) -> _Run:
    """Resolve the standard parameters against the data and check the report's own."""
    settings, teams = describe(db)
    resolved = resolve(**choices, settings=settings, teams=teams)
    params = {**resolved.for_notebook(), **report_parameters(report, source, extra)}
    out_dir = resolved.output_dir(out_root)
    return _Run(report, source, params, resolved.period.label, resolved.team, out_root, out_dir,
                teams)


def _execute_and_publish(
    run: _Run, kernel: Kernel, timeout: int, say: Callable[[str], None], site: dict[str, Any],
    *, close_kernel: bool, key: str | None = None,
) -> RunResult:
    """Execute the notebook in a temporary folder, export it and publish its three files."""
    exporter = shared_exporter()  # compiles its templates while the notebook runs (once)
    sweep_output(run.out_root)
    with run_folder(run.out_root) as tmp:  # an OutputError now if nothing can be written
        say(f"{run.label}: executing {run.source.name}")
        nb = _execute(kernel, run, tmp / f"{run.report}.ipynb", timeout)
    if close_kernel:  # closed by the caller, after the page is out
        kernel.stop()
    payload = extract_json(nb)
    if payload is None:
        raise ReportError(
            run.report,
            run.params,
            f"the notebook published no {JSON_MIMETYPE} output "
            "(its last cell must call blocks.publish(data))",
        )
    _translate_prose(nb, _page_locale(payload))
    say(f"{run.label}: converting to HTML")
    page = to_html(nb, exporter.result(), _chrome(run, payload, **site))
    result = RunResult(run.report, run.period, run.team, run.path(".html"), run.path(".json"),
                       run.path(".ipynb"), 0.0, payload.get("metrics", {}))
    twin, published = _twin_file(payload)
    files = {".ipynb": nbformat.writes(nb), ".json": twin, ".html": page}
    if key is not None:  # a batch's page
        # lazy: the refresh cache reads the data with the report libraries
        from crmkit.publish.cache import KEY_SUFFIX, sealed

        files[KEY_SUFFIX] = sealed(key, files)
    with locked(run.out_dir):
        publish_together(run.out_dir, run.report, files)
        result.twin = (twin_state(run.path(".json")), published)
        with contextlib.suppress(FileNotFoundError):
            run.path(".failed.ipynb").unlink()
    return result


def _twin_file(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The JSON twin's file and what it holds: valid JSON even when a custom notebook's
    twin, sent as text, holds NaN or Infinity (published as null, as
    :func:`crmkit.render.blocks.publish` does)."""
    try:
        return twin_text(payload), payload
    except ValueError:  # out-of-range floats: json.loads reads NaN and Infinity
        from crmkit.metrics._frames import json_safe  # lazy: pandas and narwhals, for a rare twin

        safe = json_safe(payload)
        return twin_text(safe), safe


#: This process's HTML exporter, its templates compiled once (by the first run, in the
#: background): later runs of a batch worker or of ``crmkit serve`` reuse it.
_EXPORTER: list[Future[Any]] = []


def shared_exporter() -> Future[Any]:
    """The process's exporter (:func:`start_html_exporter`), built again if building it
    failed."""
    if not _EXPORTER or (_EXPORTER[0].done() and _EXPORTER[0].exception() is not None):
        _EXPORTER[:] = [start_html_exporter()]
    return _EXPORTER[0]


def _chrome(run: _Run, payload: dict[str, Any], branding: Branding | None,
            batch: frozenset[Page], alerts: tuple[AlertRule, ...] = ()) -> dict[str, Any]:
    """The branding, title, alerts and navigation of the page: it links the pages on disk
    and the other pages of its batch, and states the alert rules that fire on it."""
    page = Page(run.out_dir.parent.name, run.team, run.report, run.period)
    name = payload.get("title")
    if not isinstance(name, str):
        name = page_title(title(run.report), team_label(run.team, run.team_names), run.period)
    href = (run.out_dir / f"{run.report}.html").relative_to(run.out_root).as_posix()
    with i18n.activated(_page_locale(payload)):  # the navigation in the page's language
        fired = [alert.text for alert in evaluate(alerts, [payload | {"_href": href}])]
        return chrome(page, pages_on_disk(run.out_root) | batch, run.team_names, branding,
                      name, alerts=fired)


def _translate_prose(nb: nbformat.NotebookNode, locale: str | None) -> None:
    """The notebook's markdown cells (headings, short prose) in the page's language."""
    with i18n.activated(locale):
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = i18n.translate_markdown(cell.source)


def _page_locale(payload: dict[str, Any]) -> str | None:
    """The locale a page was written in, from its JSON twin (None: not a known one)."""
    locale = payload.get("locale")
    return locale if isinstance(locale, str) and locale in i18n.locales() else None


def _execute(kernel: Kernel, run: _Run, executed: Path, timeout: int) -> nbformat.NotebookNode:
    """Run the notebook; a failure restarts the kernel, keeps the failed notebook beside
    the outputs and becomes a :class:`ReportError` naming the cell."""
    # lazy: papermill costs about 0.5 s of CLI start-up
    from papermill.exceptions import PapermillExecutionError

    cell: int | None
    code: str | None
    try:
        return kernel.execute(run.source, executed, run.params, timeout,
                              trusted=run.report in CATALOG)
    except ReportError:
        raise
    except PapermillExecutionError as exc:
        kernel.restart()
        cell, code = _source_position(executed, exc.cell_index), exc.source
        ename, evalue, message = exc.ename, exc.evalue, f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # a dead kernel, a cell timeout, ...
        kernel.restart()
        _save_partial(exc, executed)
        cell, code = _running_cell(executed)
        text = str(exc).strip().splitlines()
        ename, evalue = type(exc).__name__, text[0] if text else ""
        message = f"{ename}: {evalue}".rstrip(": ")
    raise ReportError(
        run.report, run.params, message, cell=cell, ename=ename, evalue=evalue,
        notebook=_keep_failed(executed, run), source=code,
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


def _save_partial(exc: BaseException, executed: Path) -> None:
    """Write what ran before a timeout or a dead kernel (the kernel's papermill engine
    attaches it to the exception, the failing cell marked) to ``executed``."""
    nb = getattr(exc, "crmkit_notebook", None)
    if nb is not None:
        with contextlib.suppress(Exception):
            nbformat.write(nb, executed)


def _running_cell(executed: Path) -> tuple[int | None, str | None]:
    """The cell that was running when execution stopped (marked failed or running)."""
    if not executed.exists():
        return None, None
    with contextlib.suppress(Exception):
        nb = nbformat.read(executed, as_version=4)
        for index, cell in enumerate(nb.cells):
            status = cell.get("metadata", {}).get("papermill", {}).get("status")
            if status in ("failed", "running"):
                return _source_position(executed, index), cell.source
    return None, None


def _keep_failed(executed: Path, run: _Run) -> Path | None:
    """Copy the failed notebook beside the outputs as ``<report>.failed.ipynb`` (none when
    the output folder cannot be written: the report's own error is what matters)."""
    if not executed.exists():
        return None
    target = run.path(".failed.ipynb")
    try:
        with locked(run.out_dir), replacing(target) as tmp:
            shutil.copyfile(executed, tmp)
    except OutputError:
        return None
    return target
