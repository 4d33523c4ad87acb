"""The analyst's side in JupyterLab: charts and tables to restyle and export, custom metric
cards, scoped pandas frames and SQL, plain-pandas input as real exports hold it, and the
``work/`` folder of ``make lab``."""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import unquote

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from IPython.core.formatters import DisplayFormatter
from matplotlib.figure import Figure
from matplotlib.text import Text
from pandas.io.formats.style import Styler

from crmkit.errors import ParameterError
from crmkit.metrics import sales
from crmkit.metrics.definitions import METRICS, UnknownMetricError
from crmkit.periods import parse_period
from crmkit.render import blocks
from crmkit.render.charts import marketing as marketing_charts
from crmkit.render.charts import sales as sales_charts
from crmkit.reports import open_report

PERIOD = "2025-05"


@pytest.fixture
def ctx(demo_db):
    return open_report("sales", period=PERIOD, team="all", database=demo_db)


def _big_deals(ctx):
    deals = ctx.frame("deals")

    def metrics(p):
        won = deals[(deals.status == "won") & (deals.closed_at >= p.start_utc)
                    & (deals.closed_at < p.end_utc)]
        return {"big_deals": int((won.amount >= 20_000).sum()), "revenue": float(won.amount.sum())}
    return metrics


# -- custom metrics (item 3) ----------------------------------------------------------------


def test_card_of_an_undefined_metric_names_the_fix(ctx):
    data = ctx.compute(_big_deals(ctx))
    with pytest.raises(UnknownMetricError) as err:
        blocks.cards(data, "big_deals")
    message = str(err.value)
    assert "'big_deals'" in message and "ctx.metric(" in message
    assert not message.startswith('"')  # one readable line, not a KeyError's repr


def test_custom_metric_shows_as_a_card_with_its_definition(ctx):
    ctx.metric("big_deals", "Big <deals>", "count", "Won deals of 20,000 or more.",
               higher_is_better=True)
    data = ctx.compute(_big_deals(ctx))
    html = blocks.cards(data, "big_deals", "revenue").data
    assert "Big &lt;deals&gt;" in html and "Big <deals>" not in html
    assert "Revenue" in html
    words = blocks.definitions(["big_deals", "revenue"], ctx).data
    assert "Won deals of 20,000 or more." in words and METRICS["revenue"].definition[:20] in words
    twin = data.to_json()
    assert twin["definitions"]["big_deals"]["label"] == "Big <deals>"
    assert twin["definitions"]["big_deals"]["unit"] == "count"
    assert set(twin["changes"]["big_deals"]) >= {"change", "p_value"}
    assert "big_deals" not in METRICS  # the catalogue is untouched: defined for this run only


def test_custom_rate_changes_in_points(ctx):
    ctx.metric("big_share", "Big share", "rate", "Share of won deals of 20,000 or more.")
    data = ctx.compute(lambda p: {"big_share": 0.30 if p == ctx.period else 0.25})
    assert data.changes_of("big_share")["change_pp"] == pytest.approx(5.0)
    assert "pp" in blocks.cards(data, "big_share").data


def test_custom_metric_cannot_redefine_the_catalogue(ctx):
    with pytest.raises(ParameterError, match="revenue"):
        ctx.metric("revenue", "My revenue", "money", "Something else.")
    with pytest.raises(ParameterError, match="unit"):
        ctx.metric("odd", "Odd", "furlongs", "A unit the pages cannot show.")


# -- scoped frames and SQL (item 2) ---------------------------------------------------------


def test_frame_is_the_scoped_table_as_pandas(demo_db):
    whole = open_report("sales", period=PERIOD, team="all", database=demo_db)
    team = next(iter(whole.store.teams()))
    one = open_report("sales", period=PERIOD, team=team, database=demo_db)
    deals_all, deals_team = whole.frame("deals"), one.frame("deals")
    assert isinstance(deals_team, pd.DataFrame)
    assert 0 < len(deals_team) < len(deals_all)
    assert set(deals_team.deal_id) <= set(deals_all.deal_id)
    won = one.frame("deals", period="closed_at")
    p = one.period
    assert len(won) and won.closed_at.between(p.start_utc, p.end_utc, inclusive="left").all()
    with pytest.raises(ParameterError, match="no table 'dealz'.*deals"):
        one.frame("dealz")


def test_sql_runs_on_the_scoped_tables_with_the_period_as_parameters(demo_db):
    team = next(iter(open_report("sales", period=PERIOD, database=demo_db).store.teams()))
    ctx = open_report("sales", period=PERIOD, team=team, database=demo_db)
    got = ctx.sql("SELECT count(*) AS won, sum(amount) AS revenue FROM deals "
                  "WHERE status = 'won' AND closed_at >= $start AND closed_at < $end "
                  "AND amount >= $floor", floor=0)
    deals = ctx.frame("deals", period="closed_at")
    won = deals[deals.status == "won"]
    assert got.won.iloc[0] == len(won) > 0
    assert got.revenue.iloc[0] == pytest.approx(won.amount.sum())
    assert ctx.sql("SELECT $team AS t").t.iloc[0] == team


@pytest.mark.parametrize("query, words", [
    ("SELECT * FROM read_csv('/etc/passwd')", "outside the report's tables"),
    ("COPY deals TO '/tmp/analyst_leak.csv'", "one SELECT"),
    ("SELECT 1; SELECT 2", "one SELECT"),
    ("SET enable_external_access = true", "one SELECT"),
    ("SELECT * FROM nope", "cannot run"),
])
def test_sql_is_sandboxed(ctx, query, words):
    with pytest.raises(ParameterError, match=words):
        ctx.sql(query)


def test_sql_cannot_shadow_the_scope(ctx):
    with pytest.raises(ParameterError, match="team"):
        ctx.sql("SELECT $team AS t", team="other")


# -- plain pandas as real exports hold it (item 4) ------------------------------------------


def _deals(status: list[str], closed: list[object]) -> pd.DataFrame:
    n = len(status)
    return pd.DataFrame({
        "deal_id": [f"d{i}" for i in range(n)], "owner_id": ["e1"] * n,
        "created_at": pd.to_datetime(["2025-04-01"] * n),
        "status": status, "amount": [100.0] * n, "closed_at": closed,
    })


def test_plain_pandas_reads_enumerations_in_any_case_and_spacing():
    q2 = parse_period("2025-Q2")
    closed = pd.to_datetime(["2025-05-01"] * 4)
    tidy = sales.win_rate(_deals(["won", "won", "lost", "open"], closed), q2)
    messy = sales.win_rate(_deals(["Won", " WON ", "Lost", "Open"], closed), q2)
    assert tidy.n == 3 and messy == tidy


def test_plain_pandas_reads_aware_timestamps_as_utc():
    q2 = parse_period("2025-Q2")
    naive = _deals(["won", "lost"], pd.to_datetime(["2025-06-30 23:30", "2025-07-01 00:30"]))
    aware = naive.copy()
    # the same instants, written in New York time
    aware["closed_at"] = naive.closed_at.dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    assert sales.deals_closed(aware, q2) == sales.deals_closed(naive, q2) == {
        "deals_won": 1, "deals_lost": 0}
    assert naive.closed_at.dt.tz is None and aware.closed_at.dt.tz is not None  # not mutated


def test_plain_pandas_names_the_column_it_cannot_read():
    q2 = parse_period("2025-Q2")
    bad = _deals(["won"], ["soon"])
    with pytest.raises(ParameterError, match="closed_at"):
        sales.revenue(bad, q2)
    odd = _deals(["won"], [datetime(2025, 5, 1)])
    odd["status"] = [3]
    with pytest.raises(ParameterError, match="status"):
        sales.revenue(odd, q2)


# -- charts and tables an analyst can edit (item 1) ------------------------------------------


def _month() -> pd.DataFrame:
    return pd.DataFrame({"month": ["2025-04", "2025-05"], "revenue": [1200.0, 1800.0],
                         "win_rate": [0.4, 0.5]})


def _png(page: str) -> bytes:
    return base64.b64decode(page.split("base64,")[1].split("'")[0])


def test_a_chart_is_a_figure_whose_edits_show_when_it_is_displayed():
    fig = sales_charts.revenue_trend(_month(), ["2025-05"], "EUR")
    assert isinstance(fig, Figure)
    before = fig._repr_html_()
    assert "alt='Revenue trend'" in before and _png(before).startswith(b"\x89PNG")
    fig.axes[0].set_title("Mine")
    fig.axes[0].patches[0].set_facecolor("#ff00ff")
    fig.page_title = "Revenue, restyled"
    after = fig._repr_html_()
    assert "alt='Revenue, restyled'" in after and _png(after) != _png(before)
    assert "Mine" in [t.get_text() for t in fig.findobj(Text)]


def test_a_chart_saves_like_any_figure_and_leaves_no_pyplot_figure_open(tmp_path):
    open_before = plt.get_fignums()
    fig = blocks.trend_chart(_month(), "month", "revenue", "money", currency="EUR")
    fig.savefig(tmp_path / "chart.png")
    fig.savefig(tmp_path / "chart.svg")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (tmp_path / "chart.svg").read_text()
    fig._repr_html_()
    assert plt.get_fignums() == open_before  # nothing for an inline backend to show again


def test_a_chart_displays_as_html_only():
    """A notebook output holds the page's block once, not also a PNG copy of the figure."""
    fig = blocks.trend_chart(_month(), "month", "revenue")
    shown, _ = DisplayFormatter().format(fig)
    assert set(shown) == {"text/plain", "text/html"} and "<figure" in shown["text/html"]


def test_a_pyplot_figure_is_embedded_at_once_and_closed():
    fig, ax = plt.subplots()
    ax.bar(["a"], [1.0])
    shown = blocks.chart(fig, "By hand")
    assert "alt='By hand'" in shown._repr_html_() and fig.number not in plt.get_fignums()


def _sellers(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"employee_id": [f"e{i}" for i in range(n)],
                         "name": [f"Seller {i}" for i in range(n)],
                         "revenue": [1000.0 * i for i in range(n)],
                         "win_rate": [i / n for i in range(n)], "closed": [i + 1 for i in range(n)]})


def _rows(page: str) -> list[str]:
    return page.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")[:-1]


def test_a_table_is_a_styler_of_every_row_with_raw_values(tmp_path):
    df = _sellers()
    shown = blocks.table(df, units={"revenue": "money", "win_rate": "rate"}, currency="EUR",
                         caption="Sellers", samples={"win_rate": "closed"})
    assert isinstance(shown, Styler)
    pd.testing.assert_frame_equal(shown.data, df)  # every row, the ids too, raw values
    page = shown._repr_html_()
    assert len(_rows(page)) == 15 and "5 more rows are in the CSV download (all 20 rows)" in page
    assert "<th>Revenue (EUR)</th>" in page and "employee_id" not in page.split("href=")[0]
    shown.to_excel(tmp_path / "sellers.xlsx")
    assert pd.read_excel(tmp_path / "sellers.xlsx", index_col=0).shape == df.shape
    assert "Seller 19" in shown.to_html()


def test_an_analysts_styles_formats_and_hidden_columns_reach_the_page():
    shown = (blocks.table(_sellers(4), units={"revenue": "money"}, currency="EUR")
             .highlight_max(subset=["revenue"], color="#ffee00")
             .format(lambda v: f"{v:.0%} of deals", subset=["win_rate"])
             .hide(["closed"], axis="columns"))
    page = shown._repr_html_()
    rows = _rows(page)
    assert "background-color: #ffee00" in rows[3] and "#ffee00" not in "".join(rows[:3])
    assert "75% of deals" in rows[3] and "<th>Closed</th>" not in page
    assert "employee_id" not in page.split("href=")[0]  # the ids stay out of the page
    csv = unquote(page.split("href='")[1].split("'")[0])
    assert "Employee ID" in csv and "Closed" not in csv  # ... and in the CSV; hidden by hand: out


def test_a_sorted_table_keeps_its_house_formats_and_styles():
    shown = blocks.table(_sellers(4), units={"revenue": "money"}, currency="EUR")
    top = shown.highlight_max(subset=["revenue"], color="#ffee00").sort_values(
        "revenue", ascending=False)
    assert isinstance(top, Styler) and top.data["name"].tolist()[0] == "Seller 3"
    rows = _rows(top._repr_html_())
    assert "Seller 3" in rows[0] and "#ffee00" in rows[0] and ">3,000<" in rows[0]
    assert "Seller 0" in rows[3] and "style" not in rows[3]


def _campaigns() -> pd.DataFrame:
    return pd.DataFrame({
        "campaign_id": ["c1", "c2", "c3"], "name": ["Spring mail", "Trade fair", "Search ads"],
        "channel": ["email", "events", "paid_search"], "team_id": ["t1", "t1", "t2"],
        "cost": [100.0, 400.0, 50.0], "leads": [10, 4, 6], "lead_conversion": [0.3, 0.25, 0.5],
        "deals_won": [2, 0, 1], "revenue": [300.0, 0.0, 250.0], "acquired_customers": [2, 0, 1],
        "cost_per_lead": [10.0, 100.0, 8.33], "cac": [50.0, None, 50.0],
        "roi": [2.0, -1.0, 4.0], "provisional": [False, True, False]})


def _campaign_table() -> Styler:
    totals = {"cost": 550.0, "leads": 20, "lead_conversion": 0.3, "deals_won": 3,
              "revenue": 550.0, "acquired_customers": 3, "cost_per_lead": 27.5, "cac": 183.3,
              "roi": 0.0}
    return marketing_charts.campaign_table(_campaigns(), totals, "EUR",
                                           teams={"t1": "North", "t2": "South"})


def test_a_campaign_table_is_a_styler_of_every_campaign_and_the_total():
    shown = _campaign_table()
    assert isinstance(shown, Styler)
    assert shown.data["name"].tolist() == ["Spring mail", "Trade fair", "Search ads",
                                           "Total (campaigns in scope)"]
    assert shown.data["roi"].tolist() == [2.0, -1.0, 4.0, 0.0]  # raw values
    page = shown._repr_html_()
    rows = _rows(page)
    assert len(rows) == 4 and "Total (campaigns in scope)" in rows[3] and "North" in rows[0]
    assert "background-color: #fdecea" in rows[1] and "▼" in rows[1]  # the loss-maker
    assert "provisional" in rows[1] and "provisional" not in rows[0]
    assert "Download CSV (3 rows)" in page  # the campaigns, not the total


def test_an_analysts_highlight_and_sort_reach_the_campaign_table():
    campaigns = ([0, 1, 2], ["cost"])  # rows by label: the campaigns, not the total
    shown = (_campaign_table().highlight_max(subset=campaigns, color="#ffee00")
             .sort_values("roi", ascending=False))
    assert shown.data["name"].tolist() == ["Search ads", "Spring mail", "Trade fair",
                                           "Total (campaigns in scope)"]  # the total last
    rows = _rows(shown._repr_html_())
    assert "Trade fair" in rows[2] and "background-color: #ffee00" in rows[2]
    assert "#ffee00" not in "".join(rows[:2] + rows[3:])
    assert "background-color: #fdecea" in rows[2]  # still shaded as a loss-maker


# -- make lab: work/, the nbstripout filter, promoting a notebook (items 5, 6) ---------------


def _project(tmp_path):
    import shutil
    import subprocess

    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copyfile("notebooks/sales.ipynb", root / "notebooks" / "sales.ipynb")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_prepare_lab_lays_out_work_and_the_strip_filter(tmp_path):
    import subprocess

    from crmkit.publish.scaffold import prepare_lab

    root = _project(tmp_path)
    work = prepare_lab(root)
    assert sorted(p.name for p in work.iterdir()) == ["explore.ipynb", "sales.ipynb"]
    (work / "explore.ipynb").write_text("{}")  # the analyst's edits are never overwritten
    prepare_lab(root)
    assert (work / "explore.ipynb").read_text() == "{}"
    clean = subprocess.run(["git", "-C", str(root), "config", "filter.nbstripout.clean"],
                           capture_output=True, text=True, check=True).stdout
    assert "nbstripout" in clean and "--keep-id" in clean
    with open(".gitattributes") as f:
        assert "notebooks/*.ipynb filter=nbstripout" in f.read()
    with open(".gitignore") as f:
        assert "work/" in f.read().split()


def test_saved_outputs_are_stripped_by_the_filter(tmp_path):
    """A notebook saved with outputs is stored without them once the filter is set."""
    import shutil
    import subprocess

    import nbformat

    from crmkit.publish.scaffold import prepare_lab

    root = _project(tmp_path)
    shutil.copyfile(".gitattributes", root / ".gitattributes")
    prepare_lab(root)
    nb = nbformat.read(root / "notebooks" / "sales.ipynb", as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="saved output\n")]
    nbformat.write(nb, root / "notebooks" / "sales.ipynb")
    subprocess.run(["git", "-C", str(root), "add", "notebooks/sales.ipynb"], check=True)
    stored = subprocess.run(["git", "-C", str(root), "show", ":notebooks/sales.ipynb"],
                            capture_output=True, text=True, check=True).stdout
    assert "saved output" not in stored and "sales.build(ctx)" in stored


def test_new_report_promotes_a_notebook_from_work(tmp_path):
    import nbformat

    from crmkit.publish.scaffold import EXPLORE, new_report

    nb = nbformat.read(EXPLORE, as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="an output\n")]
    nb.cells[2].execution_count = 3
    source = tmp_path / "mine.ipynb"
    nbformat.write(nb, source)
    (tmp_path / "notebooks").mkdir()
    target = new_report("big_deals", tmp_path / "notebooks", source)
    promoted = nbformat.read(target, as_version=4)
    assert [c.source for c in promoted.cells] == [c.source for c in nb.cells]
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in promoted.cells if c.cell_type == "code")
    del nb.cells[1].metadata["tags"]
    nbformat.write(nb, source)
    with pytest.raises(ParameterError, match="parameters"):
        new_report("other", tmp_path / "notebooks", source)
