"""Scheduled batch runs: a preset (:mod:`crmkit.publish.presets`) expanded into report runs
that execute in parallel worker processes, each with a warm kernel, isolated from each
other's failures; then one index for all of them.

Whatever goes wrong with one run, or with the output folder, ends in the summary: a
read-only output folder fails every run with one line (no worker starts), an index that
cannot be written is a failed row of its own, and what killed runs left behind is removed
first (:func:`crmkit._files.sweep_output`).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmkit._files import check_writable, sweep_output, write_atomic
from crmkit.backends.engines import describe
from crmkit.backends.location import Database, SparkLocation, find_database
from crmkit.backends.snapshots import snapshot_instant, take_snapshot
from crmkit.errors import CrmkitError, OutputError, ParameterError, PresetError, ReportError, plural
from crmkit.parameters import Parameters, resolve, usable_teams
from crmkit.periods import AS_OF_ENV
from crmkit.publish import cache, deliver
from crmkit.publish.alerts import Alert, evaluate, write_alerts
from crmkit.publish.notebooks import (
    available_reports,
    find_notebooks,
    report_notebook,
    report_parameters,
)
from crmkit.publish.presets import Branding, Preset, load_preset
from crmkit.publish.site import STATUS_FILE, Page, write_index
from crmkit.publish.workers import WarmPool, stop_now, worker_kernel, worker_pool
from crmkit.store import FINGERPRINT_ENV


@dataclass(frozen=True)
class Job:
    """One run of a batch, its parameters resolved (relative periods made absolute)."""

    report: str
    period: str
    team: str
    compare_to: str
    timezone: str | None
    as_of: str | None
    params: tuple[tuple[str, Any], ...] = ()
    slug: str = ""  # the period's folder
    #: What the page is computed from besides the data (JSON): the resolved period and
    #: comparison, the as-of instant while the period is not over, the own parameters, the
    #: locale.
    inputs: str = ""
    #: The language and formats of the page (crmkit.i18n), resolved.
    locale: str | None = None

    @property
    def label(self) -> str:
        return f"{self.report} {self.period} {self.team}"

    @property
    def page(self) -> Page:
        """The page this job publishes."""
        return Page(self.slug, self.team, self.report, self.period)


@dataclass
class Outcome:
    """How a job went: published (``html``) or failed (``error``, failing ``cell``)."""

    job: Job
    ok: bool
    seconds: float
    html: str | None = None
    error: str | None = None
    cell: str = "-"
    notebook: str | None = None
    #: ``fresh`` (its inputs had not changed: not rendered), ``rendered`` or ``failed``.
    status: str = ""
    #: Why it was rendered: ``new``, ``data: deals``, ``forced``...
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "rendered" if self.ok else "failed"


def expand(
    preset: Preset, database: Database, notebooks: Path, as_of: str | None = None,
    locale: str | None = None,
) -> list[Job]:
    """The runs a preset asks for, every parameter validated before anything runs; the
    pages in ``locale``, else the preset's, else the dataset's."""
    settings, teams = describe(database)
    reports = _reports(preset, notebooks)
    own = _own_parameters(preset, reports, notebooks)
    good, _ = usable_teams(teams)  # a team id the data got wrong is reported by run_all
    team_ids = list(dict.fromkeys(t for sel in preset.teams for t in (good if sel == "each" else [sel])))
    jobs = []
    for period in preset.periods:
        for team in team_ids:
            try:
                r = resolve(
                    period=period, team=team, compare_to=preset.compare_to,
                    as_of=as_of or preset.as_of, timezone=preset.timezone,
                    settings=settings, teams=teams, locale=locale or preset.locale,
                )
            except ValueError as exc:  # PeriodError, TeamError, ParameterError
                raise PresetError(f"{preset.path}: {exc}") from None
            jobs += [
                Job(report, r.period.label, r.team, r.compare_to, r.period.timezone,
                    r.as_of.isoformat(), own.get(report, ()), r.period.slug,
                    _inputs(r, own.get(report, ())), r.locale)
                for report in reports
            ]
    return jobs


def _inputs(r: Parameters, own: tuple[tuple[str, Any], ...]) -> str:
    """A job's parameters as its page's cache key holds them (relative periods resolved;
    the as-of instant only while the period is not over: a closed period's page does not
    change with it)."""
    as_of = r.as_of.date() if isinstance(r.as_of, datetime) else r.as_of
    live = r.period.last_day >= as_of
    return json.dumps({
        "period": r.period.to_dict(), "compare_to": r.compare_to,
        "comparison": r.comparison.to_dict() if r.comparison else None,
        "as_of": r.as_of.isoformat() if live else None, "own": [list(p) for p in own],
        "locale": r.locale,
    }, sort_keys=True, default=str)


def _reports(preset: Preset, notebooks: Path) -> list[str]:
    """The preset's report ids, each once; ``all`` is every report with a notebook."""
    reports: list[str] = []
    for report in preset.reports:
        if report == "all":
            reports += available_reports(notebooks)
            continue
        try:
            report_notebook(report, notebooks)
        except ParameterError as exc:
            raise PresetError(f"{preset.path}: reports: {exc}") from None
        reports.append(report)
    return list(dict.fromkeys(reports))


def _own_parameters(
    preset: Preset, reports: list[str], notebooks: Path
) -> dict[str, tuple[tuple[str, Any], ...]]:
    """Each report's own parameters from the preset's ``params``, checked and typed."""
    own = {}
    for report, values in preset.params.items():
        if report not in reports:
            raise PresetError(f"{preset.path}: params: {report!r} is not one of this preset's reports")
        try:
            checked = report_parameters(report, notebooks / f"{report}.ipynb", values)
        except ParameterError as exc:
            raise PresetError(f"{preset.path}: params: {exc}") from None
        own[report] = tuple(sorted(checked.items()))
    return own


# -- worker processes -----------------------------------------------------------------------

def _run_job(job: Job, database: str, notebooks: str, output: str, timeout: int,
             key: str | None = None, site: dict[str, Any] | None = None,
             fingerprint: str | None = None) -> Outcome:
    """Run one job in a worker (its page published with its cache ``key``, the batch's
    branding and pages ``site``); every failure becomes a failed :class:`Outcome`. A
    worker kept from an earlier batch hands its kernel the data's new ``fingerprint``."""
    # lazy: a worker starts its kernel first (crmkit.publish.workers)
    from crmkit.publish.runner import run_report

    started = time.perf_counter()
    kernel = worker_kernel()
    if fingerprint and os.environ.get(FINGERPRINT_ENV) != fingerprint and kernel is not None:
        with contextlib.suppress(Exception):  # else each notebook computes it
            kernel.set_environment({FINGERPRINT_ENV: fingerprint})
    try:
        result = run_report(
            job.report, period=job.period, team=job.team, compare_to=job.compare_to,
            as_of=job.as_of, database=database, timezone=job.timezone, output=output,
            notebooks=notebooks, timeout=timeout, update_index=False, kernel=kernel,
            hand_over=False, extra=dict(job.params), cache_key=key, locale=job.locale, **(site or {}),
        )
    except ReportError as exc:
        return Outcome(job, False, time.perf_counter() - started, error=exc.message,
                       cell=exc.where, notebook=str(exc.notebook) if exc.notebook else None)
    except CrmkitError as exc:  # e.g. an output folder that cannot be written
        return Outcome(job, False, time.perf_counter() - started, error=str(exc))
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
    branding: Branding | None = None,
    dry_run: bool = False,
    deliveries: list[deliver.Delivery] | None = None,
    force: bool = False,
    heartbeat: Mapping[str, Any] | None = None,
    locale: str | None = None,
    warm: WarmPool | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[Outcome]:
    """Run every report of a preset; one outcome per run (failures included), in the
    preset's order. A page whose inputs have not changed since it was published is kept
    (``fresh``, :mod:`crmkit.publish.cache`) unless ``force``. A live run (no as-of) first
    records today's pipeline snapshot. Every page shows ``branding`` and links the batch's
    others. Then the alerts are evaluated (``output/alerts.json``, the index), e-mails sent
    (``dry_run``: to ``output/outbox/``; appended to ``deliveries``) and the run recorded
    (``output/status.json``, with ``heartbeat``). Pages are in ``locale``, else the
    preset's, else the dataset's; on ``warm`` workers; none starts once ``stop()``."""
    preset = load_preset(preset_path)
    db, folder = find_database(database), find_notebooks(notebooks)
    jobs = expand(preset, db, folder, as_of, locale)
    out_root = Path(output)
    try:
        check_writable(out_root)
    except OutputError as exc:  # every run would fail the same way: say so, run none
        return [Outcome(job, False, 0.0, error=str(exc)) for job in jobs]
    sweep_output(out_root)
    stream = stream or sys.stderr
    checked = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    site = {"branding": branding, "batch": frozenset(job.page for job in jobs),
            "alerts": tuple(preset.alerts)}
    if not (as_of or preset.as_of or os.environ.get(AS_OF_ENV)):  # a live run, not a replay
        _snapshot(db, out_root, stream)
    keys = _keys(jobs, db, out_root, folder, site, stream)
    fresh, todo = _split(jobs, keys, out_root, force)
    if progress:
        print(f"crmkit: {len(jobs)} {plural(len(jobs), 'report')}: {len(fresh)} fresh, "
              f"{len(todo)} to render", file=stream)
    outcomes = fresh + _render(todo, keys, (db, folder, out_root), preset.timeout, workers,
                               site, _progress_bar(len(todo), progress, stream), warm, stop)
    order = {job: i for i, job in enumerate(jobs)}
    outcomes = _refused_teams(preset, db) + sorted(outcomes, key=lambda o: order[o.job])
    pages = _published(out_root, outcomes)
    fired = _alerts(preset, out_root, pages)
    outcomes += _index(out_root, branding, (checked, (heartbeat or {}).get("next_run")))
    sent = _deliver(preset, out_root, pages, fired, dry_run, stopped=stop is not None and stop())
    _status(out_root, preset, outcomes, sent, fired, {"checked_at": checked, "watch": heartbeat})
    if deliveries is not None:
        deliveries += sent
    return outcomes


_Where = tuple[Database, Path, Path]  # the database, the notebooks, the output folder


def _render(jobs: list[tuple[Job, str]], keys: dict[Job, dict[str, Any] | None], where: _Where,
            timeout: int, workers: int | None, site: dict[str, Any],
            bar: Callable[[Outcome, list[Outcome]], None],
            warm: WarmPool | None = None, stop: Callable[[], bool] | None = None
            ) -> list[Outcome]:
    """Render ``jobs`` (each with why) in worker processes, each with a warm kernel (those
    of ``warm``, when given); none is started when nothing is to render, and none after
    ``stop()`` is true."""
    if not jobs:
        return []
    db, folder, out_root = where
    fingerprint = cache.known_fingerprint(db, out_root)
    environment = {FINGERPRINT_ENV: fingerprint} if fingerprint else {}
    size = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if warm is not None:
        executor = warm.executor(db, folder, size, environment)
        try:
            outcomes = _submit(executor, jobs, keys, where, timeout, site, fingerprint, bar,
                               stop, size)
        except BaseException:  # interrupted: no parking, the workers stop
            warm.close()
            raise
        warm.park()
        return outcomes
    with worker_pool(db, folder, size, environment) as pool:
        try:
            return _submit(pool, jobs, keys, where, timeout, site, fingerprint, bar, stop, size)
        except BaseException:  # interrupted (a second Ctrl-C or SIGTERM): stop now
            stop_now(pool)
            raise


def _submit(pool: ProcessPoolExecutor, jobs: list[tuple[Job, str]],
            keys: dict[Job, dict[str, Any] | None], where: _Where, timeout: int,
            site: dict[str, Any], fingerprint: str | None,
            bar: Callable[[Outcome, list[Outcome]], None],
            stop: Callable[[], bool] | None = None, size: int = 1) -> list[Outcome]:
    """Run ``jobs`` on ``pool``, the longest first; their outcomes as they end. With
    ``stop``, at most ``size`` jobs are handed to the pool at a time (a pool starts what
    it holds, a worker's next job included), and none once ``stop()`` is true: those left
    fail as :data:`NOT_RUN`."""
    db, folder, out_root = where
    queue = deque(longest_first(jobs, out_root))
    limit = len(queue) if stop is None else max(1, size)
    running: dict[Future[Outcome], tuple[Job, str]] = {}
    outcomes: list[Outcome] = []

    def ended(outcome: Outcome, reason: str) -> None:
        outcome.reason = reason
        outcomes.append(outcome)
        bar(outcome, outcomes)

    while queue or running:
        while queue and len(running) < limit and not (stop is not None and stop()):
            job, reason = queue.popleft()
            try:
                future = pool.submit(_run_job, job, str(db), str(folder), str(out_root),
                                     timeout, _key_text(keys.get(job)), site, fingerprint)
            except BrokenProcessPool as exc:  # a worker died: the pool takes no more
                ended(Outcome(job, False, 0.0, error=f"worker died: {exc}"), reason)
                continue
            running[future] = (job, reason)
        if not running:
            break
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            job, reason = running.pop(future)
            ended(_outcome(future, job), reason)
    while queue:  # stopped (or started early): none of these started
        job, reason = queue.popleft()
        ended(Outcome(job, False, 0.0, error=NOT_RUN), reason)
    return outcomes


def longest_first(jobs: list[tuple[Job, str]], out_root: Path) -> list[tuple[Job, str]]:
    """``jobs`` in the order that ends soonest on a few workers: the longest first, so no
    worker is left alone with a long page at the end. A page's length is how long it took
    to render last time (``status.json``), else the same report and team's longest time
    (a ``last-month`` preset's period is new every month), else the report's, else a
    typical page's (the median). Without a usable record the order stays as given."""
    taken: dict[tuple[str, ...], float] = {}
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        for row in json.loads((out_root / STATUS_FILE).read_text(encoding="utf-8"))["reports"]:
            seconds = row["seconds"]
            if row["status"] == "rendered" and isinstance(seconds, int | float) and seconds >= 0:
                report, period, team = str(row["report"]), str(row["period"]), str(row["team"])
                for key in ((report, period, team), (report, team), (report,)):
                    taken[key] = max(float(seconds), taken.get(key, 0.0))
    if not taken:
        return list(jobs)
    typical = statistics.median(v for k, v in taken.items() if len(k) == 3)

    def length(job: Job) -> float:
        keys = ((job.report, job.period, job.team), (job.report, job.team), (job.report,))
        return next((taken[k] for k in keys if k in taken), typical)

    return sorted(jobs, key=lambda item: -length(item[0]))


def _key_text(key: dict[str, Any] | None) -> str | None:
    return None if key is None else json.dumps(key, sort_keys=True)


def _snapshot(db: Database, out_root: Path, stream: Any) -> None:
    """Record today's pipeline snapshot (:mod:`crmkit.backends.snapshots`) unless this
    output already took it and the data has not changed since; a failure (another process
    holds the database) is a warning: the pages are still rendered."""
    if isinstance(db, SparkLocation):  # the snapshots are kept where the CRM data is written
        return
    try:
        settings, _ = describe(db)
        day, _, _ = snapshot_instant(None, settings.get("timezone") or "UTC")
        if cache.snapshot_due(db, out_root, day.isoformat()):
            taken = take_snapshot(db)
            cache.snapshot_taken(db, out_root, taken.day.isoformat())
    except (CrmkitError, OSError) as exc:
        print(f"crmkit: warning: no pipeline snapshot today: {exc}", file=stream)


def _keys(jobs: list[Job], db: Database, out_root: Path, folder: Path, site: dict[str, Any],
          stream: Any) -> dict[Job, dict[str, Any] | None]:
    """Every job's cache key; none (everything renders) when the data's state cannot be
    read, with a one-line warning."""
    branding, alerts = site["branding"], site["alerts"]
    around = {"branding": branding.model_dump(mode="json") if branding else None,
              "alerts": [a.model_dump(mode="json") for a in alerts],
              "batch": sorted(page.href for page in site["batch"])}
    try:
        state = cache.data_state(db, out_root, {j.team for j in jobs},
                                 {j.timezone or "UTC" for j in jobs})
        return {job: cache.page_key(
            report=job.report, team=job.team, timezone=job.timezone or "UTC",
            parameters=json.loads(job.inputs or "{}"),
            notebook=report_notebook(job.report, folder), site=around, state=state)
            for job in jobs}
    except Exception as exc:  # noqa: BLE001 - without a cache every page renders
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"crmkit: warning: cannot tell what changed, rendering every report: "
              f"{type(exc).__name__}: {first}", file=stream)
        return dict.fromkeys(jobs)


def _split(jobs: list[Job], keys: dict[Job, dict[str, Any] | None], out_root: Path,
           force: bool) -> tuple[list[Outcome], list[tuple[Job, str]]]:
    """The fresh pages (as outcomes) and the jobs to render, each with why."""
    fresh, todo = [], []
    for job in jobs:
        page = out_root / job.slug / job.team / f"{job.report}.html"
        if force:
            todo.append((job, "forced"))
        elif cache.is_fresh(page, keys.get(job)):
            fresh.append(Outcome(job, True, 0.0, html=str(page), status="fresh"))
        else:
            todo.append((job, cache.stale_inputs(page, keys.get(job))))
    return fresh, todo


def _published(out_root: Path, outcomes: list[Outcome]) -> list[tuple[dict[str, Any], str]]:
    """The JSON twin (with its ``_href``) and the HTML of every page the run published."""
    pages = []
    for o in outcomes:
        if not o.ok:
            continue
        href = f"{o.job.slug}/{o.job.team}/{o.job.report}.html"
        try:
            entry = json.loads((out_root / href).with_suffix(".json").read_text(encoding="utf-8"))
            page = (out_root / href).read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue  # the index names a twin it cannot read
        if isinstance(entry, dict):
            pages.append(({**entry, "_href": href}, page))
    return pages


def _alerts(preset: Preset, out_root: Path, pages: list[tuple[dict[str, Any], str]]) -> list[Alert]:
    """The preset's alerts on the pages of the run, recorded in ``alerts.json``."""
    if not preset.alerts:
        return []
    fired = evaluate(preset.alerts, [entry for entry, _ in pages])
    published = [(e["_href"].split("/")[0], e["_href"].split("/")[1], str(e["report"])) for e, _ in pages]
    try:
        write_alerts(out_root, fired, published)
    except (CrmkitError, OSError) as exc:
        print(f"crmkit: warning: alerts.json not written: {exc}", file=sys.stderr)
    return fired


def _deliver(preset: Preset, out_root: Path, pages: list[tuple[dict[str, Any], str]],
             fired: list[Alert], dry_run: bool, stopped: bool = False) -> list[deliver.Delivery]:
    """Send the preset's e-mails; a problem is a failed delivery, never a failed report. A
    stopped batch sends none (a pack cut short is not mailed): they are ``held``, and the
    next run sends them."""
    if preset.deliver is None:
        return []
    try:
        mails = deliver.plan(preset.deliver, pages, fired, deliver.read_ledger(out_root))
        if stopped:
            return deliver.held(mails, out_root, "the batch was stopped: the next run sends it")
        return deliver.send(mails, preset.deliver, out_root, dry_run=dry_run)
    except (CrmkitError, OSError, ValueError) as exc:
        return [deliver.Delivery("-", "-", "-", "-", "failed", error=deliver.header_text(exc))]


def _status(out_root: Path, preset: Preset, outcomes: list[Outcome],
            sent: list[deliver.Delivery], fired: list[Alert], extra: Mapping[str, Any]) -> None:
    """``status.json``: how the last run of a preset went (reports, deliveries, alerts),
    with ``extra`` (when the data was checked, the refresh loop's heartbeat)."""
    document = {
        "preset": str(preset.path), "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in extra.items() if v is not None},
        "result": "ok" if all(o.ok for o in outcomes) else "failed",
        "counts": {"fresh": sum(o.status == "fresh" for o in outcomes),
                   "rendered": sum(o.status == "rendered" for o in outcomes),
                   "failed": sum(not o.ok for o in outcomes)},
        "reports": [{"report": o.job.report, "period": o.job.period, "team": o.job.team,
                     "ok": o.ok, "status": o.status, "reason": o.reason,
                     "seconds": round(o.seconds, 1), "error": o.error} for o in outcomes],
        "deliveries": [{"kind": d.kind, "what": d.what, "to": d.to, "subject": d.subject,
                        "status": d.status, "attempts": d.attempts, "error": d.error,
                        "file": d.file} for d in sent],
        "alerts": len(fired),
    }
    try:
        write_atomic(out_root / STATUS_FILE, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except (CrmkitError, OSError) as exc:
        print(f"crmkit: warning: status.json not written: {exc}", file=sys.stderr)


def _refused_teams(preset: Preset, db: Database) -> list[Outcome]:
    """One failed row per team of ``each`` whose id the data got wrong (with the reason):
    the preset runs the teams it can and reports the others."""
    if "each" not in preset.teams:
        return []
    _, bad = usable_teams(describe(db)[1])
    return [Outcome(Job("-", "-", team, preset.compare_to, None, None), False, 0.0, error=reason)
            for team, reason in bad.items()]


def _index(out_root: Path, branding: Branding | None, refresh: tuple[str, str | None]
           ) -> list[Outcome]:
    """Rebuild the index (``refresh``: when the data was checked, the next check; said in
    the index's language); a failure is an outcome of its own (row ``index``)."""
    started = time.perf_counter()
    try:
        write_index(out_root, branding=branding, refresh=refresh)
    except CrmkitError as exc:
        job = Job("index", "-", "-", "-", None, None)
        return [Outcome(job, False, time.perf_counter() - started, error=str(exc))]
    return []


def _outcome(future: Future[Outcome], job: Job) -> Outcome:
    """A finished job's outcome, or a failed one if its worker process died."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a worker process died
        return Outcome(job, False, 0.0, error=f"worker died: {type(exc).__name__}: {exc}")


#: The error of a page a stopped batch did not start.
NOT_RUN = "not run: the batch was stopped before this page started"


def _progress_bar(total: int, enabled: bool, stream: Any) -> Callable[[Outcome, list[Outcome]], None]:
    """A progress bar (done, failed, remaining) that also prints each failure as it comes."""
    started = time.perf_counter()
    if not enabled or not total:
        return lambda _o, _all: None
    from tqdm import tqdm  # lazy: tqdm costs 0.1 s of CLI start-up

    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        terminal = False
    # as wide as a terminal, or (a log, the client of crmkit serve) its full line
    bar = tqdm(total=total, file=stream, unit="report", dynamic_ncols=terminal,
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
            print(f"crmkit: {total} {plural(total, 'report')} in {time.perf_counter() - started:.1f} s",
                  file=stream)

    return update


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table: report, period, team, status, seconds, failing cell and error."""
    rows = [("report", "period", "team", "status", "seconds", "cell", "error")]
    for o in outcomes:
        rows.append((
            o.job.report, o.job.period, o.job.team,
            "FAILED" if not o.ok else "fresh" if o.status == "fresh" else "ok",
            f"{o.seconds:.1f}", o.cell if not o.ok else "", (o.error or "")[:90],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(counts_line(outcomes))
    return "\n".join(lines)



def counts_line(outcomes: Sequence[Outcome]) -> str:
    """``25 ok, 0 failed (20 fresh, 5 re-rendered)``."""
    ok = sum(o.ok for o in outcomes)
    fresh = sum(o.status == "fresh" for o in outcomes)
    return f"{ok} ok, {len(outcomes) - ok} failed ({fresh} fresh, {ok - fresh} re-rendered)"


def delivery_table(deliveries: Sequence[deliver.Delivery]) -> str:
    """A plain-text table of a run's e-mails: what, to whom, status, attempts and error."""
    if not deliveries:
        return ""
    rows = [("e-mail", "to", "status", "attempts", "error")]
    rows += [(d.what, d.to, d.status.upper() if not d.ok else d.status, str(d.attempts or ""),
              d.error[:120]) for d in deliveries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    statuses = ("sent", "already sent", "dry run", "held", "failed")
    counts = {s: sum(d.status == s for d in deliveries) for s in statuses}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) + " "
                 + plural(sum(counts.values()), "e-mail"))
    return "\n".join(lines)
