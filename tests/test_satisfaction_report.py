"""The Customer satisfaction report end to end on the pinned demo database.

JSON values are checked against independent SQL on the same DuckDB file, the page against
its JSON twin, and the verbatims for escaping (on a tiny database that plants HTML-like
detractor comments: the demo's own texts are plain).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from published import kpi_cards, month_and_quarter, unbroken

from crmkit.metrics.definitions import METRICS
from crmkit.publish.runner import run_report
from crmkit.render.blocks import fmt
from crmkit.reports import satisfaction

PLANTED = "<script>alert(1)</script>"
#: Detractor comments a customer could type, with what the page must show for each.
HOSTILE_COMMENTS = {
    f"{PLANTED} still broken": "&lt;script&gt;alert(1)&lt;/script&gt; still broken",
    'Price went up >20% & "support" never called back': "Price went up &gt;20% &amp; ",
    "Tom & Jerry <b>rock</b>": "Tom &amp; Jerry &lt;b&gt;rock&lt;/b&gt;",
}


@pytest.fixture(scope="module")
def published(tmp_path_factory, demo_db):
    """Satisfaction for June 2025 (company-wide) and 2025-Q2 for one team."""
    out = tmp_path_factory.mktemp("output")
    con = duckdb.connect(str(demo_db), read_only=True)
    teams = [r[0] for r in con.execute("select team_id from teams order by team_id").fetchall()]
    con.close()
    team = "midmarket" if "midmarket" in teams else teams[0]
    month, quarter = month_and_quarter("satisfaction", demo_db, out, team)
    return out, month, quarter, team


def _sql_truth(db: Path, start: str, end: str, team: str | None) -> dict:
    """NPS and CSAT straight from the DuckDB file. A team's responses: the rated employee's
    team, or, without an employee, the team of the customer's owner."""
    con = duckdb.connect(str(db), read_only=True)
    scope = "" if team is None else f"""
        and coalesce(r.employee_id, c.owner_id) in
            (select employee_id from employees where team_id = '{team}')"""
    rows = con.execute(f"""
        select r.kind, count(*), count(*) filter (where r.score >= 9),
               count(*) filter (where r.score <= 6), count(*) filter (where r.score >= 4)
        from survey_responses r left join customers c on c.customer_id = r.customer_id
        where r.responded_at >= '{start}' and r.responded_at < '{end}' {scope}
        group by r.kind""").fetchall()
    con.close()
    by_kind = {kind: (n, p, d, s) for kind, n, p, d, s in rows}
    n, p, d, _ = by_kind.get("nps", (0, 0, 0, 0))
    cn, _, _, cs = by_kind.get("csat", (0, 0, 0, 0))
    return {"nps": 100.0 * (p - d) / n if n else None, "nps_responses": n,
            "nps_promoters": p, "nps_detractors": d,
            "csat": cs / cn if cn else None, "csat_responses": cn}


@pytest.mark.parametrize("which", ["month", "quarter"])
def test_json_equals_independent_sql(published, demo_db, which):
    out, month, quarter, team = published
    result = month if which == "month" else quarter
    data = json.loads(result.json.read_text())
    p = data["period"]
    truth = _sql_truth(demo_db, p["start_utc"], p["end_utc"], None if which == "month" else team)
    assert truth["nps_responses"] > 0 and truth["csat_responses"] > 0
    for name, expected in truth.items():
        assert data["metrics"][name] == pytest.approx(expected, rel=1e-9), name


def test_json_shape(published):
    data = json.loads(published[1].json.read_text())
    assert data["report"] == "satisfaction" and data["comparison_period"]["label"] == "2025-05"
    m = data["metrics"]
    for name in ("nps", "nps_responses", "nps_promoters", "nps_passives", "nps_detractors",
                 "nps_promoter_share", "nps_detractor_share", "csat", "csat_responses", "ces",
                 "ces_responses", "retention_rate"):
        assert name in m, name
    assert set(data["comparison"]) == set(m)
    assert m["nps_promoters"] + m["nps_passives"] + m["nps_detractors"] == m["nps_responses"]
    assert -100 <= m["nps"] <= 100 and 0 <= m["csat"] <= 1 and 1 <= m["ces"] <= 7
    assert m["nps_promoter_share"] == pytest.approx(m["nps_promoters"] / m["nps_responses"])
    assert data["intervals"]["nps"]["n"] == m["nps_responses"]
    assert data["changes"]["nps"]["p_value"] is not None
    assert set(data["breakdowns"]) == {"month", "nps_by_team", "nps_by_segment",
                                       "score_distribution", "verbatims"}
    assert len(data["breakdowns"]["month"]) == 12
    assert data["breakdowns"]["month"][-1]["month"] == "2025-06"
    assert sum(r["responses"] for r in data["breakdowns"]["nps_by_team"]) == m["nps_responses"]
    assert sum(r["responses"] for r in data["breakdowns"]["nps_by_segment"]) == m["nps_responses"]
    assert len(data["breakdowns"]["verbatims"]) <= 15


def test_team_row_of_nps_by_team_matches_the_team_report(published):
    out, month, quarter, team = published
    data = json.loads(quarter.json.read_text())
    row = next(r for r in data["breakdowns"]["nps_by_team"] if r["team_id"] == team)
    assert row["responses"] == data["metrics"]["nps_responses"]
    assert row["nps"] == pytest.approx(data["metrics"]["nps"])


def test_retention_equals_independent_sql(published, demo_db):
    data = json.loads(published[1].json.read_text())
    p = data["period"]
    con = duckdb.connect(str(demo_db), read_only=True)

    def active(at: str) -> set[str]:
        rows = con.execute(f"""
            select customer_id from activities where customer_id is not null
               and occurred_at >= timestamp '{at}' - interval 90 day and occurred_at < '{at}'
            union
            select customer_id from deals where status = 'won' and customer_id is not null
               and closed_at >= timestamp '{at}' - interval 90 day and closed_at < '{at}'""").fetchall()
        return {r[0] for r in rows}

    s, e = active(p["start_utc"]), active(p["end_utc"])
    con.close()
    m = data["metrics"]
    assert (m["retention_start_customers"], m["retention_retained_customers"],
            m["retention_end_customers"]) == (len(s), len(s & e), len(e))
    assert m["retention_rate"] == pytest.approx(len(s & e) / len(s))
    assert 0 <= m["retention_rate"] <= 1


def test_html_matches_json(published):
    result = published[1]
    data = json.loads(result.json.read_text())
    page = unbroken(result.html.read_text())
    cards = kpi_cards(page)
    assert set(satisfaction.HEADLINE) <= set(cards)  # (importing it registered the names)
    for name, shown in cards.items():
        expected = fmt(data["metrics"][name], METRICS[name].unit, data["currency"])
        assert shown == expected, name
    for text in ("<h1>Customer satisfaction — All teams — 2025-06</h1>", "2025-06-01 to 2025-06-30",
                 "Definitions", "Data notes", "small sample"):
        assert text in page, text
    assert page.count("<img") >= 4  # trend, by team, by segment, score distribution
    assert "def " not in page and "import crmkit" not in page


def _tiny_database(path: Path) -> Path:
    """A minimal canonical database with detractor comments holding markup."""
    from crmkit.backends.duckdb import write_database
    from crmkit.model import TABLES, empty_frame

    frames = {name: empty_frame(name) for name in TABLES}
    frames |= {
        "teams": pd.DataFrame({"team_id": ["t1"], "name": ["Team one"]}),
        "employees": pd.DataFrame({"employee_id": ["e1"], "name": ["Ann"], "team_id": ["t1"]}),
        "customers": pd.DataFrame({"customer_id": ["c1"], "name": ["Acme"],
                                   "created_at": [pd.Timestamp("2024-01-01")],
                                   "segment": ["smb"], "owner_id": ["e1"]}),
        "survey_responses": pd.DataFrame({
            "response_id": ["r1", "r2", "r3", "r4"], "kind": ["nps"] * 4,
            "score": [2.0, 5.0, 6.0, 10.0],
            "responded_at": [pd.Timestamp(f"2025-06-1{d}") for d in range(4)],
            "customer_id": ["c1"] * 4, "comment": [*HOSTILE_COMMENTS, "fine"]}),
    }
    return write_database(path, frames, settings={"timezone": "UTC", "currency": "EUR"})


def test_verbatims_are_escaped_never_markup(tmp_path):
    db = _tiny_database(tmp_path / "tiny.duckdb")
    result = run_report("satisfaction", period="2025-06", team="all", database=db,
                        output=tmp_path / "out", update_index=False)
    data = json.loads(result.json.read_text())
    assert {r["comment"] for r in data["breakdowns"]["verbatims"]} == set(HOSTILE_COMMENTS)
    page = unbroken(result.html.read_text())
    for shown in HOSTILE_COMMENTS.values():
        assert shown in page, shown
    assert "<script" not in page.lower() and "<b>rock" not in page
