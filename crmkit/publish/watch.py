"""The refresh loop: ``crmkit watch PRESET --every 15m`` runs a preset again and again.

Each run goes through the refresh cache (:mod:`crmkit.publish.cache`), so a quiet CRM costs
one look at the database's stamp. A failing run (a bad preset edited in place, a database
being rebuilt, a full disk) is reported in one line and in ``status.json``, and the loop
goes on. SIGTERM or Ctrl-C stop it cleanly: a run in progress finishes (its pages are
published whole or not at all), then the loop ends; a second signal ends it at once.
``output/status.json`` is the heartbeat: the last run (when, result, counts), the next run
and the loop's state (``running``, ``sleeping``, ``stopped``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crmkit._files import write_atomic
from crmkit.errors import CrmkitError, ParameterError
from crmkit.publish.batch import Outcome, counts_line, run_all
from crmkit.publish.site import STATUS_FILE
from crmkit.publish.workers import WarmPool

__all__ = ["parse_every", "watch"]

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600}
#: The shortest and longest period between runs.
SHORTEST, LONGEST = 10.0, 7 * 86400.0


def parse_every(text: str) -> float:
    """``15m``, ``30s``, ``1h`` or plain seconds -> seconds; a one-line error otherwise."""
    match = _EVERY.match(str(text))
    if not match:
        raise ParameterError(f"--every {text!r}: write a number and a unit, e.g. 30s, 15m or 1h")
    seconds = float(match.group(1)) * _UNIT[(match.group(2) or "s").lower()]
    if not SHORTEST <= seconds <= LONGEST:
        raise ParameterError(f"--every {text!r}: give between 10s and 168h (a week)")
    return seconds


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Stop:
    """SIGTERM/SIGINT: the first asks the loop to stop after the current run, the second
    stops it now. The loop's batch workers and their kernels are in a session of their own
    (:func:`crmkit.publish.workers.start_worker`): a Ctrl-C in the terminal reaches the loop
    only, and the pages in progress finish."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        # set before saying so: a second signal may come while this one is being said (and
        # its handler runs inside this one), and must stop the loop now
        self.event.set()
        print(f"crmkit: {signal.Signals(signum).name}: stopping after the current run "
              "(again to stop now)", file=sys.stderr, flush=True)

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class BatchStop(_Stop):
    """Ctrl-C or SIGTERM (a scheduler stopping ``crmkit run-all``): the first stops the
    batch from starting pages (those in progress finish and publish; the index and
    ``status.json`` are written), the second stops it now. :attr:`received`: the first."""

    received: signal.Signals | None = None

    def __enter__(self) -> BatchStop:
        super().__enter__()
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.received = signal.Signals(signum)
        self.event.set()  # before saying so, as in :meth:`_Stop._handle`
        print(f"crmkit: {self.received.name}: the pages in progress finish, no other starts "
              "(again to stop now)", file=sys.stderr, flush=True)


def _heartbeat(out_root: Path, beat: dict[str, Any], last: dict[str, Any] | None) -> None:
    """Write the loop's state into ``status.json`` (keeping what the last run recorded)."""
    path = out_root / STATUS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = {}
    if not isinstance(document, dict):
        document = {}
    if last is not None and last.get("result") == "failed" and last.get("error"):
        document.update(result="failed", error=last["error"], finished_at=last["finished_at"])
    document["watch"] = {**beat, "last_run": last}
    try:
        write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except (CrmkitError, OSError) as exc:
        print(f"crmkit: warning: {STATUS_FILE} not written: {exc}", file=sys.stderr)


def _one_run(run: Callable[..., list[Outcome]], heartbeat: dict[str, Any]) -> dict[str, Any]:
    """One run of the preset; every failure becomes a failed result, never an exception."""
    started = time.perf_counter()
    began = _stamp(datetime.now(UTC))
    try:
        outcomes = run(heartbeat=heartbeat)
    except Exception as exc:  # noqa: BLE001 - the loop survives every failing run
        text = str(exc).strip().splitlines()
        error = text[0] if isinstance(exc, CrmkitError) and text else \
            f"{type(exc).__name__}: {text[0] if text else ''}"
        return {"started_at": began, "finished_at": _stamp(datetime.now(UTC)), "result": "failed",
                "error": error, "seconds": round(time.perf_counter() - started, 1)}
    failed = [o for o in outcomes if not o.ok]
    return {"started_at": began, "finished_at": _stamp(datetime.now(UTC)),
            "result": "failed" if failed else "ok", "summary": counts_line(outcomes),
            "error": failed[0].error if failed else None,
            "seconds": round(time.perf_counter() - started, 1)}


#: A loop that runs at least this often keeps its batch workers, their kernels booted,
#: from one run to the next (:class:`crmkit.publish.workers.WarmPool`): each run's first page
#: starts at once. A slower loop shuts them down after each run and holds no memory in
#: between.
WARM_EVERY = 300.0


def watch(preset: str | os.PathLike[str], *, every: float, output: str | os.PathLike[str] = "output",
          runs: int | None = None, stream: Any = None, stop: threading.Event | None = None,
          **options: Any) -> int:
    """Run ``preset`` every ``every`` seconds (``runs`` times, or until stopped); the
    ``options`` go to :func:`crmkit.publish.batch.run_all` (``force``: the first run
    only). Returns 0 if the last run went well, 1 otherwise."""
    stream = stream or sys.stderr
    out_root = Path(output)
    force = bool(options.pop("force", False))  # the first run only
    done, last = 0, None
    warm = WarmPool()  # its workers outside the terminal's process group: see _Stop
    with _Stop() as signals, contextlib.ExitStack() as stack:
        stack.callback(warm.close)
        halt = stop or signals.event
        while not halt.is_set() and (runs is None or done < runs):
            next_run = datetime.now(UTC) + timedelta(seconds=every)
            beat = {"pid": os.getpid(), "every_seconds": every, "state": "running",
                    "next_run": _stamp(next_run), "runs": done}
            _heartbeat(out_root, beat, last)

            run = functools.partial(run_all, preset, output=output, stream=stream,
                                    force=force and not done, warm=warm, **options)
            last = _one_run(run, beat)
            if every > WARM_EVERY:
                warm.close()
            done += 1
            next_run = max(next_run, datetime.now(UTC))  # a run longer than the period: go on
            line = last.get("summary") or last["error"]
            print(f"crmkit: {last['finished_at']}: {line} in {last['seconds']} s; "
                  f"next run {_stamp(next_run)}", file=stream, flush=True)
            more = runs is None or done < runs
            _heartbeat(out_root, {**beat, "state": "sleeping" if more else "stopped", "runs": done,
                                  "next_run": _stamp(next_run) if more else None}, last)
            if more:
                halt.wait(max(0.0, (next_run - datetime.now(UTC)).total_seconds()))
        _heartbeat(out_root, {"pid": os.getpid(), "every_seconds": every, "state": "stopped",
                              "next_run": None, "runs": done}, last)
    return 0 if last is None or last["result"] == "ok" else 1
