"""Pages that stay readable at any size: a chart or table listing people, customers or
campaigns shows a long list as its top and bottom rows by its own ranking measure, counts
the rest and keeps every row in its CSV download (crmkit.render.ranking)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmkit.metrics.performance import SALES_METRICS, SUPPORT_METRICS, WORK_METRICS
from crmkit.render import blocks, ranking
from crmkit.render.charts import activity, marketing, performance, sales
from tests.test_blocks_trust import _cells, _download

# -- the rule ------------------------------------------------------------------------------


def _scores(n: int) -> pd.DataFrame:
    """``n`` people with distinct scores in a shuffled order (person k scores k)."""
    order = np.random.default_rng(1).permutation(n)
    return pd.DataFrame({"name": [f"P{k}" for k in order], "score": order.astype(float)},
                        index=[f"row{k}" for k in order])


def test_a_long_list_keeps_its_top_and_bottom_n_in_its_own_order_and_counts_the_rest():
    frame = _scores(100)
    before = frame.copy()
    cut = ranking.cut(frame, "score")
    assert (cut.total, cut.top, cut.bottom, cut.left, cut.is_cut) == (100, 10, 10, 80, True)
    assert sorted(cut.frame["score"]) == [*range(10), *range(90, 100)]
    assert list(cut.frame.index) == [i for i in frame.index if i in cut.frame.index]  # order kept
    low = ranking.cut(frame, "score", ascending=True, n=3)
    assert sorted(low.frame["score"]) == [0, 1, 2, 97, 98, 99] and low.left == 94
    pd.testing.assert_frame_equal(frame, before)  # the frame itself is left as it is


def test_a_short_list_is_shown_whole_and_unranked_rows_only_then():
    for n in (5, ranking.WHOLE):
        frame = _scores(n).assign(score=lambda f: f["score"].where(f["score"] != 3))
        cut = ranking.cut(frame, "score")
        assert cut.frame is frame and not cut.is_cut and cut.left == 0
    frame = _scores(60)
    frame.loc[frame["score"] >= 50, "score"] = np.nan  # the ten highest have no score
    cut = ranking.cut(frame, "score")
    assert sorted(cut.frame["score"]) == [*range(10), *range(40, 50)] and cut.left == 40
    assert ranking.ends(ranking.WHOLE) == (ranking.WHOLE, 0)
    assert ranking.ends(ranking.WHOLE + 1) == (ranking.ENDS, ranking.ENDS)


def test_a_table_cut_at_both_ends_counts_the_rows_between_and_downloads_every_row():
    df = pd.DataFrame({"name": [f"Seller {i}" for i in range(100)], "deals": range(100, 0, -1)})
    page = blocks.table(df, units={"deals": "count"}, max_rows=10, bottom=10,
                        caption="Sellers")._repr_html_()
    cells = [[c.strip() for c in row] for row in _cells(page)]
    assert [row[0] for row in cells] == [*(f"Seller {i}" for i in range(10)), "⋯ 80 more",
                                          *(f"Seller {i}" for i in range(90, 100))]
    assert cells[10][1] == ""
    assert "80 more rows are in the CSV download (all 100 rows)." in page
    rows, _name = _download(page)
    assert len(rows) == 101 and rows[100] == ["Seller 99", "1"]
    short = blocks.table(df.head(20), max_rows=10, bottom=10)._repr_html_()
    assert len(_cells(short)) == 20 and "more" not in short  # nothing to cut


# -- the charts and tables of a report at scale ----------------------------------------------


def _sellers(n: int) -> pd.DataFrame:
    """A Sales report's per-seller breakdown of ``n`` sellers (seller k wins k of 2n deals)."""
    rng = np.random.default_rng(2)
    won = rng.permutation(n) + 1
    closed = np.full(n, 2 * n)
    rate = won / closed
    return pd.DataFrame({
        "employee_id": [f"e{i}" for i in range(n)], "name": [f"Seller {w}" for w in won],
        "team_id": "t1", "deals_won": won, "deals_lost": closed - won, "closed": closed,
        "win_rate": rate, "win_rate_low": rate * 0.8, "win_rate_high": np.minimum(rate * 1.2, 1),
        "revenue": won * 1000.0, "avg_deal_size": 1000.0, "open_pipeline": 0.0})


def test_win_rate_per_seller_shows_the_best_and_worst_ten_and_the_table_keeps_everyone():
    sellers = _sellers(300)
    fig = sales.win_rate_by_employee(sellers)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == 20 and len(ax.lines[0].get_xdata()) == 20
    assert {t.split(" (")[0] for t in ticks} == {f"Seller {w}" for w in [*range(1, 11),
                                                                         *range(291, 301)]}
    assert "⋯ 280 more" in [t.get_text() for t in ax.texts]
    assert fig.caption.startswith("Of 300 sellers, the 10 with the highest win rate and the 10 "
                                  "with the lowest")
    rows, _name = _download(sales.seller_table(sellers, {"t1": "North"})._repr_html_())
    assert len(rows) == 301
    few = sales.win_rate_by_employee(_sellers(25))  # a short list: as it always was
    assert len(few.axes[0].get_yticklabels()) == 25 and not few.caption.startswith("Of")


def _people(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A performance report's per-person breakdown of ``n`` sales people, every metric of
    every leaderboard filled (person k has k of everything), and its team medians."""
    metrics = (*SALES_METRICS, *WORK_METRICS, *SUPPORT_METRICS)
    k = np.arange(1, n + 1)
    frame = pd.DataFrame({"employee_id": [f"e{i}" for i in k], "name": [f"Person {i}" for i in k],
                          "role": "sales", "note": None, "full_period": True, "is_seller": True,
                          "is_agent": True, "deals_closed": k, "tasks_due": k, "activities": k,
                          "tickets_assigned": k, "tickets_answered": k,
                          "first_response_minutes_median": k * 2.0,
                          "first_response_minutes_p90": k * 3.0})
    for m in metrics:
        if m not in frame:
            frame[m] = k / n if m in ("win_rate", "tasks_on_time_rate", "sla_compliance", "csat",
                                      "quota_attainment") else k
        frame[f"{m}_rank"] = n + 1 - k
    frame["workload"] = 3 * k
    frame["workload_role_median"] = 1.5 * n
    frame["workload_ratio"] = frame["workload"] / frame["workload_role_median"]
    frame["workload_flag"] = ""
    median = pd.DataFrame({"metric": list(metrics), "team_median": 1.0, "change": np.nan})
    return frame.iloc[::-1].reset_index(drop=True), median


def test_the_performance_page_of_many_people_shows_both_ends_and_downloads_everyone():
    people, median = _people(500)
    work = performance.workload(people)
    bars = [p for p in work.axes[0].patches if p.get_width() > 0]
    assert len(bars) == 3 * 20  # activities, tasks due and tickets stacked for 20 people
    assert work.caption.startswith("Of 500 people, the 10 furthest above their role's median "
                                   "and the 10 furthest below it")
    times = performance.response_times(people, median)
    assert len(times.axes[0].get_yticklabels()) == 20 and "Of 500 agents" in times.caption
    leavers = people["name"].isin(["Person 1", "Person 2", "Person 250"])  # no rank: at no end
    people.loc[leavers, ["full_period", "note"]] = False, "left 2025-06-10: partial period"
    people.loc[leavers, "activities_rank"] = np.nan
    page = performance.leaderboard(people, median, "work")._repr_html_()
    names = [row[0].strip() for row in _cells(page)]
    assert names == ["Team median", *(f"Person {i}" for i in range(500, 490, -1)), "⋯ 477 more",
                     *(f"Person {i}" for i in range(12, 2, -1))]
    assert "3 people who joined or left during the period (no rank) are in the CSV download" in page
    rows, name = _download(page)
    assert name == "leaderboard-work.csv" and len(rows) == 502  # heading, median, everyone
    assert [row[0] for row in rows[-3:]] == ["Person 250", "Person 2", "Person 1"]
    heading = rows[0]
    assert heading[:5] == ["Name", "Role", "Note", "Activities", "Activities rank"]
    assert rows[2][:5] == ["Person 500", "Sales", "", "500", "1"]  # raw values, whole numbers
    assert rows[-1][2:5] == ["left 2025-06-10: partial period", "1", ""]
    assert "Workload" in heading and rows[2][heading.index("Workload")] == "1500"


@pytest.mark.parametrize("n, named", [(12, 12), (300, 10)])
def test_cost_vs_revenue_names_only_the_best_and_worst_campaigns_of_many(n, named):
    k = np.arange(1, n + 1, dtype=float)
    campaigns = pd.DataFrame({"campaign_id": [f"c{i}" for i in range(n)],
                              "name": [f"Campaign {int(i)}" for i in k], "cost": 100.0 * k,
                              "revenue": 100.0 * k * k / 10, "roi": k / 10 - 1})
    fig = marketing.cost_vs_revenue(campaigns)
    assert len(fig.axes[0].collections[-1].get_offsets()) == n  # every campaign is a point
    assert len(fig.axes[0].texts) == named
    assert ("of 300; every campaign is in the CSV download" in fig.caption) == (n == 300)


def test_a_long_went_quiet_list_downloads_its_largest_buyers_and_says_where_the_rest_are():
    n = 30
    quiet = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                          "name": [f"Customer {i}" for i in range(n)], "owner": "Ann",
                          "last_contact": "2025-04-02", "days_since_contact": 60,
                          "revenue_365d": [1000.0 * (n - i) for i in range(n)]})
    page = activity.went_quiet_table(quiet, "May 2025", "EUR", max_rows=5,
                                     csv_rows=20)._repr_html_()
    rows, _name = _download(page)
    assert len(rows) == 21 and rows[20][0] == "Customer 19"  # the largest buyers first
    assert "30 customers in touch during May 2025" in page
    assert "The CSV download holds the 20 largest buyers of the 30" in page
    whole = activity.went_quiet_table(quiet, "May 2025", "EUR", max_rows=5)._repr_html_()
    assert len(_download(whole)[0]) == 31 and "largest buyers of" not in whole


def test_a_short_leaderboard_lists_everyone_and_its_joiners_and_leavers_last():
    people, median = _people(30)
    people.loc[people["name"] == "Person 30", ["full_period", "note"]] = False, "joined 2025-06-10"
    page = performance.leaderboard(people, median, "work")._repr_html_()
    names = [row[0].strip() for row in _cells(page)]
    assert names == ["Team median", *(f"Person {i}" for i in range(29, 0, -1)), "Person 30"]
    assert "more" not in page and "not listed here" not in page


def test_a_long_campaign_table_shows_the_best_and_worst_roi_and_downloads_every_campaign():
    n = 300
    roi = [i / 10 - 10 for i in range(n)]
    roi[5::10] = [np.nan] * 30  # 30 campaigns without a cost: no ROI, at neither end
    campaigns = pd.DataFrame({"campaign_id": [f"c{i}" for i in range(n)],
                              "name": [f"Campaign {i}" for i in range(n)], "channel": "email",
                              "team_id": None, "cost": 10.0, "leads": 1, "lead_conversion": 0.5,
                              "deals_won": 1, "revenue": 5.0, "acquired_customers": 1,
                              "cost_per_lead": 10.0, "cac": 10.0, "roi": roi, "provisional": False})
    campaigns = campaigns.sort_values("roi", ascending=False, na_position="last")
    page = marketing.campaign_table(campaigns, {"cost": 3000.0, "roi": 0.5})._repr_html_()
    names = [row[0].strip() for row in _cells(page)]
    best = [f"Campaign {i}" for i in range(n - 1, -1, -1) if i % 10 != 5]
    assert names == [*best[:10], "⋯ 250 more", *best[-10:], "Total (campaigns in scope)"]
    assert "30 campaigns without a cost (no ROI) are in the CSV download, not listed here." in page
    rows, name = _download(page)
    assert name == "campaigns.csv" and len(rows) == n + 1  # heading and every campaign
    assert {row[0] for row in rows[-30:]} == {f"Campaign {i}" for i in range(5, n, 10)}


def test_rows_tied_across_the_two_ends_stay_on_their_side_of_the_gap():
    """45 of 50 sellers share one win rate, so both ends hold tied rows: the cut ranks the
    ties by deals closed, and the chart keeps each end on its side of the gap."""
    sellers = _sellers(50)
    rate = np.where(np.arange(50) < 5, 0.9, 0.5)
    sellers = sellers.assign(win_rate=rate, win_rate_low=rate * 0.8, win_rate_high=rate * 1.1,
                             closed=np.arange(150, 100, -1), name=[f"S{i}" for i in range(50)])
    shown = ranking.cut(sellers[sellers["closed"] > 0], "win_rate", then="closed")
    top_end = {f"S{i}" for i in range(10)}  # 0.9, then the most closed at 0.5
    bottom_end = {f"S{i}" for i in range(40, 50)}  # 0.5 with the fewest closed
    assert set(shown.ranked["name"].head(10)) == top_end
    assert set(shown.ranked["name"].tail(10)) == bottom_end
    ax = sales.win_rate_by_employee(sellers).axes[0]
    by_position = [t.get_text().split(" (")[0] for t in sorted(ax.get_yticklabels(),
                                                                 key=lambda t: t.get_position()[1])]
    assert set(by_position[:10]) == bottom_end and set(by_position[10:]) == top_end
    gap = next(t for t in ax.texts if "more" in t.get_text())
    below = [t.get_position()[1] for t in ax.get_yticklabels() if t.get_text().split(" (")[0] in bottom_end]
    assert max(below) < gap.get_position()[1]
