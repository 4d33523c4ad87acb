"""Helpers for the end-to-end tests of published reports."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path
from typing import Any

import duckdb

from crmkit.publish.runner import RunResult, run_report

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


def month_and_quarter(report: str, db: Path, out: Path, team: str, **kwargs: Any
                      ) -> tuple[RunResult, RunResult]:
    """The report for June 2025 company-wide and for 2025-Q2 of ``team``."""
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
