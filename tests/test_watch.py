"""``crmkit watch``: a loop that survives a failing run, writes its heartbeat and stops
cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from crmkit.errors import ParameterError
from crmkit.publish.kernel import LAUNCHER
from crmkit.publish.watch import parse_every

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("30s", 30), ("1h", 3600),
                                               ("45", 45), (" 2M ", 120), ("1.5h", 5400)])
def test_every(text, seconds):
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1m", "1s", "9s", "200h", "m", "1e3"])
def test_bad_every_is_one_line(text):
    with pytest.raises(ParameterError, match="--every") as info:
        parse_every(text)
    assert "\n" not in str(info.value)


def _status(out: Path) -> dict:
    try:
        return json.loads((out / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _wait(out: Path, proc: subprocess.Popen, done, what: str, limit: float = 240) -> dict:
    """Poll status.json until ``done(status)``; fail with the loop's output otherwise."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = _status(out)
        if done(status):
            return status
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the loop never reached {what}: {proc.communicate()[1][-2000:]}")


def test_the_loop_survives_a_failing_run_and_stops_on_sigterm(demo_db, tmp_path):
    db, out = tmp_path / "crm.duckdb", tmp_path / "out"
    preset = tmp_path / "preset.yaml"
    preset.write_text("reports: [sales]\nperiods: [2025-06]\nteams: [enterprise]\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmkit.cli", "watch", str(preset), "--every", "20s",
         "--database", str(db), "--output", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CRMKIT_AS_OF": "2025-07-01"},
    )
    try:
        # The database is not there yet: the first run fails, the loop sleeps.
        first = _wait(out, proc, lambda s: s.get("watch", {}).get("state") == "sleeping",
                      "sleeping after a failed run")
        assert first["watch"]["last_run"]["result"] == "failed"
        assert str(db) in first["watch"]["last_run"]["error"]
        assert first["watch"]["runs"] == 1 and first["watch"]["next_run"]
        shutil.copy(demo_db, db)
        second = _wait(out, proc, lambda s: s.get("watch", {}).get("runs", 0) >= 2
                       and s["watch"]["last_run"]["result"] == "ok", "a good run")
        assert second["counts"]["failed"] == 0 and second["result"] == "ok"
        assert (out / "2025-06" / "enterprise" / "sales.html").is_file()
        index = (out / "index.html").read_text(encoding="utf-8")
        assert f"Data checked {second['checked_at']}" in index and "next check" in index
        # A loop this quick keeps its batch workers warm while it sleeps, their kernels
        # booted, and none of them holds the database: it can be written in place.
        _wait(out, proc, lambda s: s.get("watch", {}).get("state") == "sleeping", "sleeping")
        kept = psutil.Process(proc.pid).children(recursive=True)
        assert any(LAUNCHER in p.cmdline() for p in kept)
        duckdb.connect(str(db)).close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in err
    _, alive = psutil.wait_procs(kept, timeout=20)  # the workers, their kernels: all gone
    assert not alive
    final = _status(out)
    assert final["watch"]["state"] == "stopped" and final["watch"]["next_run"] is None
    assert final["watch"]["runs"] >= 2 and final["watch"]["last_run"]["result"] == "ok"
    assert "(0 fresh, 1 re-rendered)" in err  # the run after the failed one rendered the page


def test_ctrl_c_lets_the_run_in_progress_finish(demo_db, tmp_path):
    """Ctrl-C reaches the terminal's whole process group. The loop's kept workers and their
    kernels are outside it, so the pages in progress are finished and the loop stops after
    the run, as it says (they failed, and the loop died with them)."""
    out = tmp_path / "out"
    preset = tmp_path / "preset.yaml"
    preset.write_text("reports: [sales, satisfaction]\nperiods: [2025-06]\nteams: [all, each]\n",
                      encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmkit.cli", "watch", str(preset), "--every", "30s",
         "--database", str(demo_db), "--output", str(out), "--workers", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CRMKIT_AS_OF": "2025-07-01"}, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("2025-06/*/*.html")):  # a page is out: the run is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGINT: stopping after the current run" in err and "Traceback" not in err
    final = _status(out)
    assert final["watch"]["state"] == "stopped" and final["watch"]["runs"] == 1
    assert final["watch"]["last_run"]["result"] == "ok", final["watch"]["last_run"]
    assert final["counts"]["failed"] == 0 and final["counts"]["rendered"] == 10
