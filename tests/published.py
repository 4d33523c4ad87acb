"""Helpers for the end-to-end tests of published reports: warm kernels shared by the
session's report runs, the monthly pack that every test which only reads published pages
shares (the session fixture ``monthly_pack`` of ``tests/conftest.py``), and the renders of a
session made in the background by this file run as a script (:class:`Background`)."""

from __future__ import annotations

import contextlib
import html
import importlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil
from databases import GHOST_TEAM, demo_copy

from crmkit.backends.location import find_database
from crmkit.publish.batch import Outcome, run_all
from crmkit.publish.kernel import Kernel
from crmkit.publish.runner import RunResult, run_report

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: The pinned "today" of the root conftest.py: the monthly preset's last month is June 2025.
AS_OF = "2025-07-01"
#: The period of the pack before the demo's data (company-wide only).
BEFORE_THE_DATA = "2020-01"

_CARD = re.compile(
    r"""data-metric=["']([a-z_0-9]+)["']><div class=["']l["']>[^<]*</div>"""
    r"""<div class=["']v["']>([^<]*)</div>"""
)


def first_team(db: Path) -> str:
    """The first team id of a database, in id order."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select team_id from teams order by team_id").fetchall()[0][0]
    finally:
        con.close()


# -- warm kernels -------------------------------------------------------------------------------

#: One warm kernel per database for the whole session, as a batch worker keeps one: a report
#: run on it is the run of a batch, without a kernel start of its own.
_KERNELS: dict[Path, Kernel] = {}


def warm_kernel(db: Path) -> Kernel:
    """The session's warm kernel on ``db`` (started on first use; see :func:`close_kernels`)."""
    path = find_database(db)
    assert isinstance(path, Path), path
    if path not in _KERNELS:
        _KERNELS[path] = Kernel(path, NOTEBOOKS)
    return _KERNELS[path]


def close_kernels() -> None:
    """Shut down every kernel :func:`warm_kernel` started."""
    while _KERNELS:
        _KERNELS.popitem()[1].close()


def month_and_quarter(report: str, db: Path, out: Path, team: str, **kwargs: Any
                      ) -> tuple[RunResult, RunResult]:
    """The report for June 2025 company-wide and for 2025-Q2 of ``team``, on the session's
    warm kernel of ``db`` unless ``kwargs`` name a kernel or another notebooks folder."""
    if "kernel" not in kwargs and "notebooks" not in kwargs:
        kwargs["kernel"] = warm_kernel(db)
    month = run_report(report, period="2025-06", team="all", database=db, output=out, **kwargs)
    quarter = run_report(report, period="2025-Q2", team=team, database=db, output=out, **kwargs)
    return month, quarter


def kpi_cards(page: str) -> dict[str, str]:
    """The KPI cards of a published page: metric name -> the value as shown (unescaped)."""
    return {name: html.unescape(shown) for name, shown in _CARD.findall(page)}


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium as the project runs it: no sandbox, GPU or background networking."""
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )


# -- the monthly pack -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pack:
    """A published site: the database it was rendered from (a copy of the pinned demo with
    a team without records), the output folder and the outcome of every run. Read-only: a
    test that changes the database or the output works on a copy."""

    database: Path
    output: Path
    outcomes: list[Outcome]

    def twins(self, period: str) -> dict[tuple[str, str], dict[str, Any]]:
        """(report, team) -> the published JSON twin of every page of ``period``."""
        found = {}
        for o in self.outcomes:
            if o.job.period == period:
                assert o.ok and o.html, o.error
                path = Path(o.html).with_suffix(".json")
                found[o.job.report, o.job.team] = json.loads(path.read_text(encoding="utf-8"))
        return found


def render_pack(demo_db: Path, folder: Path) -> Pack:
    """The monthly preset (every report, company-wide and for each team: June 2025) on a
    copy of ``demo_db`` with a team that has no records, then every report of
    :data:`BEFORE_THE_DATA` company-wide, published into ``folder/output`` by ``run-all``
    with two workers."""
    db = demo_copy(demo_db, folder / "demo.duckdb", GHOST_TEAM)
    out = folder / "output"
    before = folder / "before.yaml"
    before.write_text(f"reports: all\nperiods: ['{BEFORE_THE_DATA}']\nteams: [all]\n"
                      "compare_to: previous\n")
    common: dict[str, Any] = {"database": db, "output": out, "notebooks": NOTEBOOKS,
                              "workers": 2, "progress": False, "as_of": AS_OF}
    outcomes = run_all(ROOT / "params" / "monthly.yaml", **common)
    outcomes += run_all(before, **common)
    return Pack(db, out, outcomes)


# -- renders in the background -------------------------------------------------------------------

_RESULT, _FAILED, _PID = "result.pickle", "failed.txt", "pid"
#: How long a test worker waits for the first to start the renders it shares.
START_WAIT = 300.0
#: The session's background process (tests/conftest.py starts it after collection).
_BACKGROUND: list[Background] = []


class Background:
    """Renders a session needs, one after the other in a process of its own started as soon
    as the session knows what it needs: they run while the tests before the first that needs
    them run. ``jobs`` maps a name to the ``module:function`` of tests/ that renders it,
    called with the pinned demo database and an empty folder of its own; the process gets
    the environment of this one as it is when it starts.

    The test workers of one session (pytest-xdist) share one such process: worker ``gw0``
    starts it in a folder they all know, the others :meth:`attach` to that folder; it lives
    until the session's controller stops it (:func:`stop_shared_background`)."""

    def __init__(self, demo_db: Path | None, folder: Path, jobs: dict[str, str], *,
                 shared: bool = False) -> None:
        self.folder, self.jobs, self.log = folder, jobs, folder / "render.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.shared, self.attached = shared, time.monotonic()
        if demo_db is None:
            return
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, str(demo_db), str(folder),
                 *(f"{job}={render}" for job, render in jobs.items())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        # the process and its start time: a number the system may give another later
        partial = folder / f"{_PID}.part"
        started = psutil.Process(self.proc.pid).create_time()
        partial.write_text(f"{self.proc.pid} {started!r}", encoding="utf-8")
        os.replace(partial, folder / _PID)

    @classmethod
    def attach(cls, folder: Path, jobs: dict[str, str]) -> Background:
        """The process another test worker of the session starts (or has started) in
        ``folder``."""
        return cls(None, folder, jobs, shared=True)

    def _running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if not (self.folder / _PID).exists():  # the worker that starts it has not yet
            if time.monotonic() - self.attached > START_WAIT:
                raise RuntimeError(f"no test worker started the background renders in "
                                   f"{self.folder} in {START_WAIT:.0f} s (gw0 starts them)")
            return True
        process = _recorded(self.folder)
        try:
            return process is not None and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def result(self, job: str) -> Any:
        """What ``job`` rendered, once the process has it; an error if it failed."""
        done, failed = self.folder / job / _RESULT, self.folder / job / _FAILED
        while not done.exists() and not failed.exists():
            if not self._running() and not done.exists() and not failed.exists():
                tail = (self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
                        if self.log.exists() else "")
                raise RuntimeError(f"the background renders stopped before {job}:\n{tail}")
            time.sleep(0.1)
        if failed.exists():
            raise RuntimeError(f"rendering {job} failed:\n{failed.read_text(encoding='utf-8')}")
        return pickle.loads(done.read_bytes())

    def cancel(self) -> None:
        """Stop the process and its workers (the session ended before it needed them), unless
        other test workers share it."""
        if not self.shared and self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_background(demo_db: Path, folder: Path, jobs: dict[str, str], *, worker: str | None = None
                     ) -> None:
    """Start rendering ``jobs`` (see :class:`Background`), in the order the session needs
    them. ``worker``: the pytest-xdist worker this session is (``gw0``...), whose first
    starts the process in ``folder`` that the others wait on."""
    if worker is None:
        _BACKGROUND.append(Background(demo_db, folder, jobs))
    elif worker == "gw0":
        _BACKGROUND.append(Background(demo_db, folder, jobs, shared=True))
    else:
        _BACKGROUND.append(Background.attach(folder, jobs))


def background(job: str, render: str, demo_db: Path, folder: Callable[[], Path]) -> Any:
    """What ``job`` renders (with ``render``, a ``module:function``): from the session's
    background process, or from one started now in ``folder()`` (for a fixture the
    collection did not see coming)."""
    running = next((b for b in _BACKGROUND if job in b.jobs), None)
    if running is None:
        running = Background(demo_db, folder(), {job: render})
        _BACKGROUND.append(running)
    return running.result(job)


def stop_background() -> None:
    """Stop the background process this session started, unless its other test workers
    share it (:func:`stop_shared_background` stops that one)."""
    while _BACKGROUND:
        _BACKGROUND.pop().cancel()


def _recorded(folder: Path) -> psutil.Process | None:
    """The background process recorded in ``folder``, if it still runs (the same process:
    its number and its start time)."""
    try:
        pid, started = (folder / _PID).read_text(encoding="utf-8").split()
        process = psutil.Process(int(pid))
        return process if abs(process.create_time() - float(started)) < 0.01 else None
    except (OSError, ValueError, psutil.Error):
        return None


def stop_shared_background(folder: Path) -> None:
    """Stop the process the test workers of a session shared in ``folder``, if one runs."""
    process = _recorded(folder)
    if process is not None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)


def _render_all(demo_db: Path, folder: Path, jobs: list[str]) -> None:
    """Render ``jobs`` (``name=module:function``) one after the other, each result pickled
    once complete (a failure leaves its traceback instead, and the next job still runs)."""
    for job, _, render in (j.partition("=") for j in jobs):
        target = folder / job
        target.mkdir()
        module, _, name = render.partition(":")
        try:
            result = getattr(importlib.import_module(module), name)(demo_db, target)
        except Exception:  # noqa: BLE001 - said to the test that needs it
            (target / _FAILED).write_text(traceback.format_exc(), encoding="utf-8")
            continue
        partial = target / f"{_RESULT}.part"
        partial.write_bytes(pickle.dumps(result))
        os.replace(partial, target / _RESULT)


if __name__ == "__main__":  # the background process
    import published  # its classes by the names the session unpickles them with

    published._render_all(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])


def unbroken(page: str) -> str:
    """A page's HTML without the spans that keep each date on one line (``ck-nb``), so a
    test finds "2025-06-01 to 2025-06-30" as a reader sees it."""
    return re.sub(r'<span class="ck-nb">([^<]*)</span>', r"\1", page)
