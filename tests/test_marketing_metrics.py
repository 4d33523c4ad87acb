"""Marketing campaign metrics on a hand-made CRM whose answers were worked out by hand.

Campaigns: c1 Search (paid_search, team a), c2 Fair (events, team b, never any cost),
c3 Display (display, team a, costs in June but no leads).

June 2025 (UTC):
- cost: c1 200 (06-01) + 300 (06-30) = 500, c3 500 -> 1000; c1's 05-31 and 07-01 rows are out.
- leads: c1 l1 (converted), l2, l3 (converted) -> 3, 2 converted; c2 l4 (converted) -> 1;
  without campaign: l5 organic (converted), l6 blank channel -> '(unknown)'.
  Campaign totals: 4 leads, 3 converted -> 0.75. Lead channels of c1's leads say 'other':
  the campaign's channel wins.
- won deals (attribution: the deal's campaign, else its lead's):
  d1 1000 (lead l1 -> c1), d3 500 (own campaign c1, although its lead l4 is c2'),
  d9 50 (lead l3 -> c1), d2 3000 (own campaign c2), d4 700 (lead l5, no campaign: organic),
  d5 2000 (no lead, no campaign: not marketing-sourced, left out).
  c1: 3 deals, 1550; c2: 1 deal, 3000. Campaign totals: 4 deals, 4550.
- new customers (first won deal ever closes in June): cu1 via d1 (c1; d9 is cu1's second),
  cu3 via d3 (c1), cu4 via d4 (no campaign), cu5 via d5 (unattributed); cu2 is not new
  (won d6 in January). Campaign totals: 2 (both c1).
- totals: cost per lead 1000 / 4 = 250; CAC 1000 / 2 = 500; ROI (4550 − 1000) / 1000 = 3.55.
- per campaign: c1 ROI (1550 − 500) / 500 = 2.1, cost per lead 500 / 3, CAC 250;
  c2 zero cost -> no ROI, cost per lead or CAC; c3 ROI (0 − 500) / 500 = −1, no leads ->
  cost per lead N/A.
- days from lead to won deal (deals with a lead closed before July 1): d4 5, d1 8, d3 10
  (its lead l4, created 06-05, closed 06-15), d8 10, d9 3 -> median 8. c1's youngest June
  lead (l3, 06-25) is 6 days old at the period end: provisional; c2's (l4, 06-05) 26 days:
  final; c3 has no lead: final; the youngest lead without campaign (l6, 06-20) is 11 days.

May 2025: c1 cost 100, lead l7 (converted), deal d8 800 (lead l7) for new customer cu6;
l8 organic without campaign. ROI (800 − 100) / 100 = 7.
"""

from __future__ import annotations

from datetime import datetime as dt

import pandas as pd
import pytest
from engines import on_engine
from scipy.stats import chi2

from crmkit.metrics import marketing as campaigns
from crmkit.periods import parse_period

JUNE = parse_period("2025-06")
MAY = parse_period("2025-05")
EMPTY = parse_period("2024-01")


def _campaigns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_id": ["c1", "c2", "c3"],
            "name": ["Search", "Fair", "Display"],
            "channel": ["paid_search", "events", "display"],
            "team_id": ["a", "b", "a"],
        }
    )


def _costs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_id": ["c1", "c1", "c1", "c1", "c3"],
            "date": pd.to_datetime(["2025-05-31", "2025-06-01", "2025-06-30", "2025-07-01", "2025-06-15"]),
            "cost": [100.0, 200.0, 300.0, 1000.0, 500.0],
        }
    )


def _leads() -> pd.DataFrame:
    rows = [
        # id, created, campaign, own channel, converted
        ("l1", dt(2025, 6, 2), "c1", "other", dt(2025, 6, 5)),
        ("l2", dt(2025, 6, 10), "c1", "other", None),
        ("l3", dt(2025, 6, 25), "c1", "other", dt(2025, 6, 26)),
        ("l4", dt(2025, 6, 5), "c2", "events", dt(2025, 6, 6)),
        ("l5", dt(2025, 6, 7), None, "organic", dt(2025, 6, 8)),
        ("l6", dt(2025, 6, 20), None, None, None),
        ("l7", dt(2025, 5, 20), "c1", "paid_search", dt(2025, 5, 25)),
        ("l8", dt(2025, 5, 10), None, "organic", None),
    ]
    df = pd.DataFrame(rows, columns=["lead_id", "created_at", "campaign_id", "channel", "converted_at"])
    for c in ("created_at", "converted_at"):
        df[c] = pd.to_datetime(df[c])
    return df


def _deals() -> pd.DataFrame:
    rows = [
        # id, customer, status, amount, created, closed, lead, campaign
        ("d1", "cu1", "won", 1000.0, dt(2025, 6, 3), dt(2025, 6, 10), "l1", None),
        ("d2", "cu2", "won", 3000.0, dt(2025, 6, 1), dt(2025, 6, 20), None, "c2"),
        ("d3", "cu3", "won", 500.0, dt(2025, 6, 6), dt(2025, 6, 15), "l4", "c1"),
        ("d4", "cu4", "won", 700.0, dt(2025, 6, 8), dt(2025, 6, 12), "l5", None),
        ("d5", "cu5", "won", 2000.0, dt(2025, 6, 1), dt(2025, 6, 18), None, None),
        ("d6", "cu2", "won", 400.0, dt(2025, 1, 1), dt(2025, 1, 10), None, None),
        ("d7", "cu1", "lost", 900.0, dt(2025, 6, 10), dt(2025, 6, 11), "l2", None),
        ("d8", "cu6", "won", 800.0, dt(2025, 5, 21), dt(2025, 5, 30), "l7", None),
        ("d9", "cu1", "won", 50.0, dt(2025, 6, 26), dt(2025, 6, 28), "l3", None),
    ]
    cols = ["deal_id", "customer_id", "status", "amount", "created_at", "closed_at", "lead_id", "campaign_id"]
    df = pd.DataFrame(rows, columns=cols)
    df["owner_id"] = "e1"
    return df


def _frames() -> dict[str, pd.DataFrame]:
    return {"leads": _leads(), "deals": _deals(), "campaigns": _campaigns(), "campaign_costs": _costs()}


@pytest.fixture(params=["pandas", "duckdb"])
def tables(request):
    frames = _frames()
    if request.param == "pandas":
        return frames
    out = on_engine(frames, "duckdb")
    # the canonical column is a calendar DATE in the database
    out["campaign_costs"] = out["campaign_costs"].project("* replace (cast(date as date) as date)")
    return out


def _summary(t, period=JUNE, scope=None, as_of_end=None):
    return campaigns.summary(
        t["leads"], t["deals"], t["campaigns"], t["campaign_costs"], period, scope, as_of_end
    )


def test_headline_totals(tables):
    m = _summary(tables)["metrics"]
    assert m["cost"] == pytest.approx(1000.0)
    assert m["leads"] == 4 and m["lead_conversion"] == pytest.approx(0.75)
    assert m["deals_won"] == 4 and m["revenue"] == pytest.approx(4550.0)
    assert m["acquired_customers"] == 2
    assert m["cost_per_lead"] == pytest.approx(250.0)
    assert m["cac"] == pytest.approx(500.0)
    assert m["roi"] == pytest.approx(3.55)


def test_comparison_period(tables):
    m = _summary(tables, MAY)["metrics"]
    assert (m["cost"], m["leads"], m["deals_won"], m["revenue"], m["acquired_customers"]) == (100.0, 1, 1, 800.0, 1)
    assert m["roi"] == pytest.approx(7.0) and m["cac"] == pytest.approx(100.0)


def test_per_campaign(tables):
    s = _summary(tables)
    camp = s["campaign"]
    # sorted by ROI: c1 (2.1), c3 (−1), then c2 (no ROI), then the leads without campaign
    assert list(camp["name"]) == ["Search", "Display", "Fair", campaigns.NO_CAMPAIGN]
    c = camp.set_index("name")
    assert c.loc["Search", "cost"] == 500.0 and c.loc["Search", "leads"] == 3
    assert c.loc["Search", "deals_won"] == 3 and c.loc["Search", "revenue"] == 1550.0
    assert c.loc["Search", "roi"] == pytest.approx(2.1)
    assert c.loc["Search", "cost_per_lead"] == pytest.approx(500 / 3)
    assert c.loc["Search", "cac"] == pytest.approx(250.0)
    assert c.loc["Search", "lead_conversion"] == pytest.approx(2 / 3)
    # zero cost: no ROI, cost per lead or CAC
    assert c.loc["Fair", "revenue"] == 3000.0 and c.loc["Fair", "acquired_customers"] == 0
    assert pd.isna(c.loc["Fair", "roi"]) and pd.isna(c.loc["Fair", "cost_per_lead"])
    assert pd.isna(c.loc["Fair", "cac"])
    # costs but no leads: a loss-maker whose cost per lead is N/A
    assert c.loc["Display", "roi"] == pytest.approx(-1.0) and c.loc["Display", "leads"] == 0
    assert pd.isna(c.loc["Display", "cost_per_lead"]) and pd.isna(c.loc["Display", "lead_conversion"])
    # leads without campaign: shown, no cost, by their own channels
    none = c.loc[campaigns.NO_CAMPAIGN]
    assert none["leads"] == 2 and none["converted"] == 1 and none["revenue"] == 700.0
    assert none["cost"] == 0 and pd.isna(none["roi"]) and pd.isna(none["campaign_id"])
    assert none["channel"] == "(unknown), organic"
    assert list(c["provisional"]) == [True, False, False, False]
    assert s["median_days_to_win"] == pytest.approx(8.0)


def test_per_channel_and_blank_channel(tables):
    s = _summary(tables)
    ch = s["channel"].set_index("channel")
    assert list(s["channel"]["channel"]) == ["paid_search", "(unknown)", "events", "organic", "display"]
    assert ch.loc["paid_search", "cost"] == 500.0 and ch.loc["paid_search", "leads"] == 3
    assert ch.loc["display", "roi"] == pytest.approx(-1.0)
    assert ch.loc["events", "revenue"] == 3000.0 and pd.isna(ch.loc["events", "roi"])
    assert ch.loc["organic", "acquired_customers"] == 1 and ch.loc["organic", "campaigns"] == 0
    assert ch.loc["(unknown)", "leads"] == 1
    assert s["blank_channel_leads"] == 1


def test_blank_campaign_channel_is_unknown():
    camps = _campaigns().assign(channel=["paid_search", "  ", "display"])
    lf = campaigns.attributed_leads(_leads(), camps)
    got = lf.collect().to_pandas().set_index("lead_id")
    assert got.loc["l4", "channel"] == "(unknown)"  # c2's channel is blank
    assert got.loc["l1", "channel"] == "paid_search"  # not the lead's own 'other'


def test_funnel(tables):
    f = _summary(tables)["funnel"].set_index("channel")
    # leads of June with a won deal: l1 (d1), l3 (d9) for c1; l4 (d3); l5 (d4). l2 only lost.
    assert tuple(f.loc["paid_search", ["leads", "converted", "won"]]) == (3, 2, 2)
    assert tuple(f.loc["events", ["leads", "converted", "won"]]) == (1, 1, 1)
    assert tuple(f.loc["(unknown)", ["leads", "converted", "won"]]) == (1, 0, 0)


def test_chi_square_by_hand(tables):
    s = _summary(tables)
    # converted / not by channel: paid_search 2/1, (unknown) 0/1, events 1/0, organic 1/0.
    # Expected counts (4/6, 2/6 of each row): chi2 = 0 + (0.667 + 1.333) + 0.5 + 0.5 = 3, df 3
    assert s["conversion_test"].statistic == pytest.approx(3.0)
    assert s["metrics"]["conversion_chi2_p_value"] == pytest.approx(chi2.sf(3.0, 3))
    assert s["metrics"]["conversion_chi2_p_value"] == pytest.approx(0.3916, abs=1e-4)


def test_team_scope_is_by_campaign(tables):
    a = campaigns.campaign_scope(tables["campaigns"], "a")
    assert a == ["c1", "c3"]
    m = _summary(tables, scope=a)
    assert m["metrics"]["cost"] == 1000.0 and m["metrics"]["leads"] == 3
    assert m["metrics"]["revenue"] == 1550.0 and m["metrics"]["roi"] == pytest.approx(0.55)
    assert campaigns.NO_CAMPAIGN not in set(m["campaign"]["name"])
    b = _summary(tables, scope=campaigns.campaign_scope(tables["campaigns"], "b"))["metrics"]
    # d3 belongs to c1 (its own campaign), not to its lead's c2
    assert b["revenue"] == 3000.0 and b["deals_won"] == 1 and b["cost"] == 0.0
    assert b["roi"] is None and b["cost_per_lead"] is None and b["cac"] is None
    assert campaigns.campaign_scope(tables["campaigns"], "all") is None


def test_cost_uses_local_calendar_days():
    # New York: June starts 2025-06-01 04:00 UTC; the cost row dated 06-01 is still June's
    ny = parse_period("2025-06", timezone="America/New_York")
    cost = campaigns.cost_by_campaign(_costs(), ny).set_index("campaign")["cost"]
    assert cost["c1"] == 500.0 and cost["c3"] == 500.0


def test_two_periods_from_the_same_queries(tables):
    june, may = campaigns.summaries(
        tables["leads"], tables["deals"], tables["campaigns"], tables["campaign_costs"], [JUNE, MAY]
    )
    assert june["metrics"] == _summary(tables)["metrics"]
    assert may["metrics"] == _summary(tables, MAY)["metrics"]


def test_leads_count_as_converted_before_their_periods_instant(tables):
    """June's campaign leads l1-l4 (l1 converted 5 June, l3 26 June, l4 6 June) and May's l7
    (25 May), seen by 20 June in June (l3, created 25 June, not yet) and by 22 May in May:
    the leads created by then, converted by then; and all by 1 July."""
    june, may = campaigns.summaries(
        tables["leads"], tables["deals"], tables["campaigns"], tables["campaign_costs"],
        [JUNE, MAY], as_of_end=dt(2025, 7, 1), converted_by=[dt(2025, 6, 20), dt(2025, 5, 22)])
    assert june["metrics"]["lead_conversion"] == pytest.approx(2 / 3)  # l1, l4 of l1, l2, l4
    assert june["intervals"]["lead_conversion"].n == 3 and june["metrics"]["leads"] == 4
    assert june["lead_conversion_by_now"].value == pytest.approx(3 / 4)
    assert may["metrics"]["lead_conversion"] == 0 and may["lead_conversion_by_now"].value == 1
    assert june["converted_by"] == dt(2025, 6, 20)
    by_campaign = june["campaign"].set_index("campaign_id")
    assert by_campaign.loc["c1", "converted"] == 1  # l1; l3 converted after 20 June
    plain = campaigns.summaries(tables["leads"], tables["deals"], tables["campaigns"],
                                tables["campaign_costs"], [JUNE, MAY])
    assert [s["metrics"]["lead_conversion"] for s in plain] == [pytest.approx(3 / 4), 1]


def test_median_days_and_provisional_reference():
    # before June 20: d4 5, d1 8, d3 10, d8 10 -> median 9
    assert campaigns.days_to_win_median(_deals(), _leads(), dt(2025, 6, 20)) == pytest.approx(9.0)
    assert campaigns.days_to_win_median(_deals(), _leads(), dt(2025, 1, 1)) is None
    assert campaigns.age_reference(JUNE, dt(2025, 6, 20)) == dt(2025, 6, 20)
    assert campaigns.age_reference(JUNE, dt(2025, 8, 1)) == JUNE.end_utc
    assert campaigns.age_reference(JUNE, dt(2025, 5, 1)) == JUNE.start_utc


def test_empty_period_is_na(tables):
    s = _summary(tables, EMPTY)
    m = s["metrics"]
    assert m["cost"] == 0 and m["leads"] == 0 and m["deals_won"] == 0 and m["revenue"] == 0
    for name in ("lead_conversion", "cost_per_lead", "cac", "roi", "conversion_chi2_p_value"):
        assert m[name] is None, name
    assert s["campaign"].empty and s["channel"].empty and s["funnel"].empty


def test_significance():
    june = _summary(_frames())
    may = _summary(_frames(), MAY)
    tests = campaigns.significance(june, may)
    assert set(tests) == {"leads", "deals_won", "acquired_customers", "lead_conversion", "revenue"}
    # 4 leads in June's 30 days against 1 in May's 31: 4 less the 30/31 that May's rate gives
    assert tests["leads"].statistic == pytest.approx(4 - 30 / 31)
    assert tests["revenue"].p_value is not None


def test_inputs_not_mutated():
    frames = _frames()
    before = {k: v.copy() for k, v in frames.items()}
    campaigns.summaries(frames["leads"], frames["deals"], frames["campaigns"], frames["campaign_costs"], [JUNE, MAY])
    for name, df in frames.items():
        pd.testing.assert_frame_equal(df, before[name])
