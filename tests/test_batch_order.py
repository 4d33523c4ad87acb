"""A batch hands its workers the longest pages first, by the last run's times (status.json),
so that no worker is left alone with a long page at the end."""

from __future__ import annotations

import json

import pytest

from crmkit.publish.batch import Job, longest_first
from crmkit.publish.site import STATUS_FILE


def _job(report: str, team: str = "all") -> tuple[Job, str]:
    return Job(report, "2025-06", team, "previous", "UTC", "2025-07-01"), "changed"


def _status(tmp_path, rows) -> None:
    (tmp_path / STATUS_FILE).write_text(json.dumps({"reports": rows}))


def _row(report: str, seconds, team: str = "all", status: str = "rendered") -> dict:
    return {"report": report, "period": "2025-06", "team": team, "ok": True, "status": status,
            "seconds": seconds}


def _order(jobs) -> list[str]:
    return [f"{job.report}/{job.team}" for job, _ in jobs]


def test_the_longest_page_of_the_last_run_goes_first(tmp_path):
    jobs = [_job("sales"), _job("activity"), _job("marketing"), _job("sales", "smb")]
    _status(tmp_path, [_row("sales", 3.0), _row("activity", 6.9), _row("marketing", 2.5),
                       _row("sales", 4.1, "smb")])
    assert _order(longest_first(jobs, tmp_path)) == ["activity/all", "sales/smb", "sales/all", "marketing/all"]


def test_a_page_never_rendered_counts_as_a_typical_one(tmp_path):
    jobs = [_job("marketing"), _job("new-report"), _job("activity")]
    # cached pages ("fresh") took no time to check: their seconds say nothing of rendering
    _status(tmp_path, [_row("marketing", 1.0), _row("activity", 9.0), _row("sales", 5.0),
                       _row("new-report", 0.1, status="fresh")])
    assert _order(longest_first(jobs, tmp_path)) == ["activity/all", "new-report/all", "marketing/all"]


@pytest.mark.parametrize("text", [
    None, "not json", "[]", json.dumps({"reports": "x"}), json.dumps({"reports": [1, 2]}),
    json.dumps({"reports": [_row("activity", "9 s")]}), json.dumps({"reports": [_row("activity", -4)]}),
])
def test_without_a_usable_record_the_order_stays(tmp_path, text):
    jobs = [_job("sales"), _job("activity"), _job("marketing")]
    if text is not None:
        (tmp_path / STATUS_FILE).write_text(text)
    assert _order(longest_first(jobs, tmp_path)) == ["sales/all", "activity/all", "marketing/all"]


def test_a_new_period_is_ordered_by_the_last_period_of_the_same_report_and_team(tmp_path):
    # a last-month preset: this month's pages were never rendered, last month's were
    jobs = [_job("sales"), _job("activity"), _job("marketing", "smb"), _job("marketing")]
    _status(tmp_path, [{**_row("sales", 2.0), "period": "2025-05"},
                       {**_row("activity", 6.0), "period": "2025-05"},
                       {**_row("marketing", 4.0, "smb"), "period": "2025-05"},
                       {**_row("marketing", 1.0, "enterprise"), "period": "2025-05"}])
    # marketing company-wide: no such page before, the report's longest time (smb's 4.0)
    assert _order(longest_first(jobs, tmp_path)) == ["activity/all", "marketing/smb", "marketing/all", "sales/all"]
