"""Scheduled batch runs: a preset (``params/*.yaml``) expanded into report runs that execute
in parallel worker processes, each with a warm kernel, isolated from each other's failures.

A preset::

    reports: all                 # every notebook in notebooks/, or a list: [sales, activity]
    periods: [last-month]        # any period of the grammar, relative ones resolved at run time
    teams: [all, each]           # all = company-wide, each = every team, or team ids
    compare_to: previous         # previous | year_ago | none
    timezone: null               # null: the dataset's time zone
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmkit.errors import PeriodError, PresetError
from crmkit.parameters import describe, find_database, resolve

PRESET_KEYS = {"reports", "periods", "teams", "compare_to", "timezone", "as_of", "timeout", "params"}


@dataclass(frozen=True)
class Job:
    report: str
    period: str
    team: str
    compare_to: str
    timezone: str | None
    as_of: str | None
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.report} {self.period} {self.team}"


@dataclass
class Outcome:
    job: Job
    ok: bool
    seconds: float
    html: str | None = None
    error: str | None = None
    cell: str = "-"
    notebook: str | None = None


@dataclass
class Preset:
    path: Path
    reports: list[str]
    periods: list[str]
    teams: list[str]
    compare_to: str = "previous"
    timezone: str | None = None
    as_of: str | None = None
    timeout: int = 600
    params: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_preset(path: str | os.PathLike[str]) -> Preset:
    """Read and check a preset file; every problem is a one-line PresetError."""
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(f"{p}: no such preset file (presets live in params/)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PresetError(f"{p}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise PresetError(f"{p}: a preset is a mapping with keys {', '.join(sorted(PRESET_KEYS))}")
    unknown = sorted(set(raw) - PRESET_KEYS)
    if unknown:
        raise PresetError(
            f"{p}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(PRESET_KEYS))}"
        )

    def listed(key: str, default: list[str]) -> list[str]:
        value = raw.get(key, default)
        if isinstance(value, str | int):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str | int) for v in value):
            raise PresetError(f"{p}: '{key}' must be a value or a non-empty list of values")
        return [str(v) for v in value]

    params = raw.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise PresetError(
            f"{p}: 'params' maps a report to its own parameters, "
            "e.g. params: {activity: {active_days: 60}}"
        )
    timeout = raw.get("timeout", 600)
    if not isinstance(timeout, int) or timeout <= 0:
        raise PresetError(f"{p}: 'timeout' must be a positive number of seconds per cell")
    return Preset(
        path=p,
        reports=listed("reports", ["all"]),
        periods=listed("periods", ["last-month"]),
        teams=listed("teams", ["all"]),
        compare_to=str(raw.get("compare_to") or "previous"),
        timezone=raw.get("timezone"),
        as_of=str(raw["as_of"]) if raw.get("as_of") else None,
        timeout=timeout,
        params={str(k): dict(v) for k, v in params.items()},
    )


def expand(
    preset: Preset, database: Path, notebooks: Path, as_of: str | None = None
) -> list[Job]:
    """The runs a preset asks for, every parameter validated before anything runs."""
    from crmkit.errors import ParameterError
    from crmkit.publish.runner import available_reports, report_notebook, report_parameters

    settings, teams = describe(database)
    known = available_reports(notebooks)
    reports: list[str] = []
    for r in preset.reports:
        if r == "all":
            reports += [k for k in known if k not in reports]
            continue
        try:
            report_notebook(r, notebooks)
        except ParameterError as exc:
            raise PresetError(f"{preset.path}: reports: {exc}") from None
        if r not in reports:
            reports.append(r)
    own: dict[str, tuple[tuple[str, Any], ...]] = {}
    for r, values in preset.params.items():
        if r not in reports:
            raise PresetError(f"{preset.path}: params: {r!r} is not one of this preset's reports")
        try:
            own[r] = tuple(sorted(report_parameters(r, notebooks / f"{r}.ipynb", values).items()))
        except ParameterError as exc:
            raise PresetError(f"{preset.path}: params: {exc}") from None
    team_ids: list[str] = []
    for t in preset.teams:
        for tid in (list(teams) if t == "each" else [t]):
            if tid not in team_ids:
                team_ids.append(tid)
    as_of = as_of or preset.as_of
    jobs = []
    for period in preset.periods:
        for team in team_ids:
            try:
                r = resolve(
                    period=period, team=team, compare_to=preset.compare_to, as_of=as_of,
                    timezone=preset.timezone, settings=settings, teams=teams,
                )
            except (PeriodError, ValueError) as exc:
                raise PresetError(f"{preset.path}: {exc}") from None
            for report in reports:
                jobs.append(
                    Job(report, r.period.label, r.team, r.compare_to, r.period.timezone,
                        r.as_of.isoformat(), own.get(report, ()))
                )
    return jobs


# -- worker processes -----------------------------------------------------------------------

_KERNEL: Any = None


def _worker_init(database: str, notebooks: str) -> None:
    """Start this worker's warm kernel (shut down when the worker exits)."""
    import multiprocessing.util

    from crmkit.publish.runner import Kernel

    global _KERNEL
    with contextlib.suppress(Exception):
        _KERNEL = Kernel(find_database(database), Path(notebooks))
        multiprocessing.util.Finalize(None, _KERNEL.close, exitpriority=10)


def _run_job(job: Job, database: str, notebooks: str, output: str, timeout: int) -> Outcome:
    from crmkit.errors import ReportError
    from crmkit.publish.runner import run_report

    started = time.perf_counter()
    try:
        result = run_report(
            job.report, period=job.period, team=job.team, compare_to=job.compare_to,
            as_of=job.as_of, database=database, timezone=job.timezone, output=output,
            notebooks=notebooks, timeout=timeout, update_index=False, kernel=_KERNEL,
            extra=dict(job.params),
        )
    except ReportError as exc:
        return Outcome(job, False, time.perf_counter() - started, error=exc.message,
                       cell=exc.where, notebook=str(exc.notebook) if exc.notebook else None)
    except Exception as exc:  # noqa: BLE001 - isolate every failure to its own report
        text = str(exc).strip().splitlines()
        return Outcome(job, False, time.perf_counter() - started,
                       error=f"{type(exc).__name__}: {text[0] if text else ''}")
    return Outcome(job, True, result.seconds, html=str(result.html))


def run_all(
    preset_path: str | os.PathLike[str],
    *,
    database: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] = "output",
    notebooks: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    as_of: str | None = None,
    progress: bool = True,
    stream: Any = None,
) -> list[Outcome]:
    """Run every report of a preset; return one outcome per run (failures included)."""
    from crmkit.publish.runner import find_notebooks
    from crmkit.publish.site import write_index

    stream = stream or sys.stderr
    preset = load_preset(preset_path)
    db = find_database(database)
    folder = find_notebooks(notebooks)
    jobs = expand(preset, db, folder, as_of)
    out_root = Path(output)
    out_root.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(out_root)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    outcomes: list[Outcome] = []
    bar = _progress_bar(len(jobs), progress, stream)
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(str(db), str(folder))) as pool:
        futures: dict[Future[Outcome], Job] = {
            pool.submit(_run_job, job, str(db), str(folder), str(out_root), preset.timeout): job
            for job in jobs
        }
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker process died
                outcome = Outcome(job, False, 0.0, error=f"worker died: {type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            bar(outcome, outcomes)
    write_index(out_root)
    order = {job: i for i, job in enumerate(jobs)}
    outcomes.sort(key=lambda o: order[o.job])
    return outcomes


def _progress_bar(total: int, enabled: bool, stream: Any) -> Callable[[Outcome, list[Outcome]], None]:
    started = time.perf_counter()
    if not enabled:
        return lambda _o, _all: None
    from tqdm import tqdm

    bar = tqdm(total=total, file=stream, unit="report", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}] {postfix}")

    def update(outcome: Outcome, done: list[Outcome]) -> None:
        failed = sum(not o.ok for o in done)
        bar.set_postfix_str(
            f"done {len(done) - failed}, failed {failed}, remaining {total - len(done)}", refresh=False
        )
        bar.update(1)
        if not outcome.ok:
            bar.write(f"crmkit: FAILED {outcome.job.label}: {outcome.error}", file=stream)
        if len(done) == total:
            bar.close()
            print(f"crmkit: {total} report(s) in {time.perf_counter() - started:.1f} s", file=stream)

    return update


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table: report, period, team, status, seconds, failing cell and error."""
    rows = [("report", "period", "team", "status", "seconds", "cell", "error")]
    for o in outcomes:
        rows.append((
            o.job.report, o.job.period, o.job.team, "ok" if o.ok else "FAILED",
            f"{o.seconds:.1f}", o.cell if not o.ok else "", (o.error or "")[:90],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ok = sum(o.ok for o in outcomes)
    lines.append(f"{ok} ok, {len(outcomes) - ok} failed")
    return "\n".join(lines)


def _clean_stale_temporaries(out_root: Path) -> None:
    """Remove temporary run folders left by runs that were killed (their process is gone)."""
    import shutil

    for tmp in out_root.glob(".tmp-*"):
        parts = tmp.name.split("-")
        if len(parts) >= 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            shutil.rmtree(tmp, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    """Whether a process runs; a zombie (dead, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True
