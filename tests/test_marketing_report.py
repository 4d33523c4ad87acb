"""The Marketing report end to end: notebook run by the runner, JSON checked against
independent SQL on the same DuckDB file, page checked against its JSON twin.

The SQL below restates the attribution rules of METRICS.md directly (a lead's campaign; a
deal's campaign, else its lead's; channel of the campaign, else of the lead; a team's
report covers its campaigns whoever owns the leads and deals) without using crmkit.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from published import kpi_cards, month_and_quarter, unbroken

from crmkit.metrics.definitions import METRICS
from crmkit.render.blocks import fmt

NAMES = {"cost", "leads", "lead_conversion", "deals_won", "revenue", "cost_per_lead", "cac",
         "roi", "acquired_customers", "conversion_chi2_p_value"}


@pytest.fixture(scope="module")
def published(tmp_path_factory, demo_db):
    """Marketing for June 2025 (company-wide) and 2025-Q2 for the team that spent most."""
    out = tmp_path_factory.mktemp("output")
    con = duckdb.connect(str(demo_db), read_only=True)
    team = con.execute("""
        select c.team_id from campaign_costs k join campaigns c using (campaign_id)
        where k.date >= date '2025-04-01' and k.date < date '2025-07-01' and c.team_id is not null
        group by 1 order by sum(k.cost) desc, 1 limit 1""").fetchone()[0]
    con.close()
    month, quarter = month_and_quarter("marketing", demo_db, out, team)
    return out, month, quarter, team


def _sql_by_channel(db: Path, period: dict, team: str | None) -> dict[str, dict]:
    """cost, leads, revenue and ROI per channel, and the campaign totals, in plain SQL."""
    con = duckdb.connect(str(db), read_only=True)

    def in_team(col: str) -> str:
        if team is None:
            return "true"
        return f"{col} in (select campaign_id from campaigns where team_id = '{team}')"

    s, e = period["start_utc"], period["end_utc"]
    ds, de = period["start"], period["end"]  # local calendar days for the DATE column
    unknown = "coalesce(nullif(trim({}), ''), '(unknown)')"
    cost = dict(con.execute(f"""
        select {unknown.format('c.channel')}, sum(k.cost)
        from campaign_costs k join campaigns c using (campaign_id)
        where k.date >= date '{ds}' and k.date < date '{de}' and {in_team('k.campaign_id')}
        group by 1""").fetchall())
    leads = con.execute(f"""
        select {unknown.format('case when l.campaign_id is null then l.channel else c.channel end')},
               count(*), count(*) filter (where l.campaign_id is not null)
        from leads l left join campaigns c using (campaign_id)
        where l.created_at >= '{s}' and l.created_at < '{e}' and {in_team('l.campaign_id')}
        group by 1""").fetchall()
    won = con.execute(f"""
        with d as (
            select d.amount, l.channel as lead_channel, d.lead_id,
                   coalesce(d.campaign_id, l.campaign_id) as campaign_id
            from deals d left join leads l on l.lead_id = d.lead_id
            where d.status = 'won' and d.closed_at >= '{s}' and d.closed_at < '{e}')
        select {unknown.format('case when d.campaign_id is null then d.lead_channel else c.channel end')},
               coalesce(sum(d.amount), 0),
               coalesce(sum(d.amount) filter (where d.campaign_id is not null), 0)
        from d left join campaigns c using (campaign_id)
        where (d.campaign_id is not null or d.lead_id is not null)
          and {in_team('d.campaign_id')}
        group by 1""").fetchall()
    con.close()
    out: dict[str, dict] = {}
    for ch, v in cost.items():
        out.setdefault(ch, {})["cost"] = v
    for ch, n, _ in leads:
        out.setdefault(ch, {})["leads"] = n
    for ch, rev, _ in won:
        out.setdefault(ch, {})["revenue"] = rev
    for row in out.values():
        row.setdefault("cost", 0.0)
        row.setdefault("leads", 0)
        row.setdefault("revenue", 0.0)
        row["roi"] = (row["revenue"] - row["cost"]) / row["cost"] if row["cost"] > 0 else None
    total_cost = sum(cost.values())
    total_rev = sum(r[2] for r in won)
    totals = {"cost": total_cost, "leads": sum(r[2] for r in leads), "revenue": total_rev,
              "roi": (total_rev - total_cost) / total_cost if total_cost > 0 else None}
    return {"channels": out, "totals": totals}


@pytest.mark.parametrize("which", ["month", "quarter"])
def test_channels_equal_independent_sql(published, demo_db, which):
    out, month, quarter, team = published
    result = month if which == "month" else quarter
    data = json.loads(result.json.read_text())
    truth = _sql_by_channel(demo_db, data["period"], None if which == "month" else team)
    got = {r["channel"]: r for r in data["breakdowns"]["channel"]}
    assert truth["totals"]["cost"] > 0 and truth["totals"]["revenue"] > 0, "demo should have both"
    assert set(got) == set(truth["channels"])
    for channel, expected in truth["channels"].items():
        for name, value in expected.items():
            if value is None:
                assert got[channel][name] is None, (channel, name)
            else:
                assert got[channel][name] == pytest.approx(value, rel=1e-9), (channel, name)
    for name, value in truth["totals"].items():
        assert data["metrics"][name] == pytest.approx(value, rel=1e-9), name


def test_team_report_covers_only_its_campaigns(published, demo_db):
    out, month, quarter, team = published
    data = json.loads(quarter.json.read_text())
    con = duckdb.connect(str(demo_db), read_only=True)
    ids = {r[0] for r in con.execute(f"select campaign_id from campaigns where team_id = '{team}'").fetchall()}
    con.close()
    listed = {r["campaign_id"] for r in data["breakdowns"]["campaign"]}
    assert listed and listed <= ids  # no '(no campaign)' row and no other team's campaign
    assert data["team"] == team


def test_json_shape(published):
    data = json.loads(published[1].json.read_text())
    assert data["report"] == "marketing"
    assert set(data["metrics"]) == NAMES and set(data["comparison"]) == NAMES
    assert {"campaign", "channel", "funnel"} <= set(data["breakdowns"])
    campaign = data["breakdowns"]["campaign"]
    assert all("provisional" in r and "roi" in r for r in campaign)
    assert any(r["name"] == "(no campaign)" and r["roi"] is None for r in campaign)
    assert 0 <= data["metrics"]["lead_conversion"] <= 1  # a fraction
    assert 0 <= data["metrics"]["conversion_chi2_p_value"] <= 1
    assert data["intervals"]["lead_conversion"]["n"] == data["metrics"]["leads"]
    for r in campaign:
        if r["cost"] == 0:
            assert r["roi"] is None and r["cac"] is None and r["cost_per_lead"] is None
    funnel = data["breakdowns"]["funnel"]
    assert all(f["leads"] >= f["converted"] >= 0 and f["won"] >= 0 for f in funnel)


def test_html_matches_json(published):
    result = published[1]
    data = json.loads(result.json.read_text())
    page = unbroken(result.html.read_text())
    cards = kpi_cards(page)
    assert set(cards) == NAMES - {"conversion_chi2_p_value"}
    for name, shown in cards.items():
        assert shown == fmt(data["metrics"][name], METRICS[name].unit, data["currency"]), name
    assert f"<h1>Marketing campaigns — {data['team_name']} — {data['period']['label']}</h1>" in page and "2025-06-01 to 2025-06-30" in page
    assert page.count("<img") >= 3 and "<script" not in page.lower()
    assert "def " not in page  # code is hidden
    losses = [r for r in data["breakdowns"]["campaign"] if r["roi"] is not None and r["roi"] < 0]
    assert page.count("loss</td>") + page.count("loss <span") >= len(losses)
