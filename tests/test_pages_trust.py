"""Pages that say what they mean: one unit per quantity, empty pages said once in words,
cohort views labelled as such, names instead of internal ids, one heading style, each note
once where it applies, and definitions of exactly the numbers a page shows.

Most tests run the report notebooks' cells in this process, as the kernel would (parameters
injected after the ``parameters`` cell, the last expression of a cell as its output), on
the pinned demo database: fast, and the calls tested are the notebooks' own. The figures a
page embeds are captured from :func:`crmkit.render.blocks.chart` before they become PNGs.
"""

from __future__ import annotations

import ast
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import matplotlib
import nbformat
import pandas as pd
import pytest
from databases import GHOST_TEAM, demo_copy
from IPython.display import HTML
from matplotlib.figure import Figure
from matplotlib.text import Text
from pandas.io.formats.style import Styler

from crmkit import stats
from crmkit.errors import CrmkitError
from crmkit.metrics.definitions import METRICS
from crmkit.periods import parse_period
from crmkit.publish import site
from crmkit.render import blocks, plotting, whatchanged
from crmkit.render.charts import activity as activity_charts
from crmkit.render.charts import marketing as marketing_charts
from crmkit.render.charts import performance as performance_charts
from crmkit.render.charts import sales as sales_charts
from crmkit.render.formatting import fmt, fmt_change
from crmkit.render.labels import label
from crmkit.reports import REPORTS, open_report, sales

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
AS_OF = "2025-07-01"
JUNE = "2025-06"


# -- the notebooks, run cell by cell in this process ------------------------------------------


@dataclass
class Output:
    """One block of a page: a markdown cell or a code cell's output, in its section."""

    section: str
    kind: str  # "markdown" or "output"
    html: str
    source: str


@dataclass
class Page:
    """A report page as its notebook makes it: the blocks in order, the figures drawn."""

    report: str
    blocks: list[Output]
    figures: list[Any] = field(default_factory=list)
    namespace: dict[str, Any] = field(default_factory=dict)

    def outputs(self, section: str | None = None) -> list[Output]:
        return [b for b in self.blocks
                if b.kind == "output" and (section is None or b.section == section)]

    def sections(self) -> list[str]:
        return list(dict.fromkeys(b.section for b in self.blocks))

    def text(self, skip: Callable[[Output], bool] = lambda b: False) -> str:
        """The page's words (markdown and outputs, tags and style removed)."""
        return " ".join(_words(b.html) for b in self.blocks if not skip(b))

    def charts(self) -> list[str]:
        """The titles of the charts embedded in the page."""
        return [html.unescape(t) for b in self.outputs()
                for t in re.findall(r"<figure[^>]*data-chart='([^']*)'", b.html)]

    def figure_texts(self) -> list[str]:
        return [t.get_text() for fig in self.figures for t in fig.findobj(Text) if t.get_text()]


def _words(fragment: str) -> str:
    fragment = re.sub(r"<style.*?</style>", " ", fragment, flags=re.S)
    fragment = re.sub(r"<a [^>]*href='data:[^']*'[^>]*>", " ", fragment)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def _heading(markdown: str) -> str | None:
    found = re.search(r"^(#+)\s+(.*)$", markdown, flags=re.M)
    return found.group(2).strip() if found else None


def run_page(report: str, **params: Any) -> Page:
    """Run ``notebooks/<report>.ipynb`` here with ``params`` injected after its parameters
    cell (the runner's ``remove-cell`` cells left out), keeping the figures it embeds."""
    page = Page(report, [])
    real = blocks.chart

    def capture(fig: Any, title: str, caption: str = "") -> Any:
        page.figures.append(fig)
        return real(fig, title, caption)

    blocks.chart = capture  # type: ignore[assignment]  # chart modules call blocks.chart
    try:
        _run_cells(page, params)
    finally:
        blocks.chart = real  # type: ignore[assignment]
    return page


def _run_cells(page: Page, params: dict[str, Any]) -> None:
    report = page.report
    nb = nbformat.read(NOTEBOOKS / f"{report}.ipynb", as_version=4)
    ns: dict[str, Any] = {"__name__": f"notebook_{report}"}
    section = "(top)"
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "remove-cell" in tags:
            continue
        if cell.cell_type == "markdown":
            section = _heading(cell.source) or section
            page.blocks.append(Output(section, "markdown", cell.source, cell.source))
            continue
        tree = ast.parse(cell.source)
        *body, last = tree.body
        exec(compile(ast.Module(body=body, type_ignores=[]), report, "exec"), ns)  # noqa: S102
        value = None
        if isinstance(last, ast.Expr):
            value = eval(compile(ast.Expression(last.value), report, "eval"), ns)  # noqa: S307
        else:
            exec(compile(ast.Module(body=[last], type_ignores=[]), report, "exec"), ns)  # noqa: S102
        if "parameters" in tags:
            ns.update(params)
        # a block: words (HTML), a chart (its figure) or a table (a Styler), shown as HTML
        shown = value._repr_html_() if isinstance(value, HTML | Figure | Styler) else None
        if isinstance(shown, str) and shown.strip():
            page.blocks.append(Output(section, "output", shown, cell.source))
    page.namespace = ns


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> dict[str, Path]:
    """The pinned demo as it is, with a team that has no records ('ghost'), and without
    its last-day setting (so a period after the data reaches a page)."""
    folder = tmp_path_factory.mktemp("pages")
    ghost = demo_copy(demo_db, folder / "ghost.duckdb", GHOST_TEAM,
                      "delete from crmkit.settings where key = 'data_last_day'")
    return {"demo": demo_db, "ghost": ghost}


@pytest.fixture(scope="module")
def june() -> dict[str, Page]:
    """Every report's page of June 2025, company-wide, built once."""
    return {report: run_page(report, period=JUNE, as_of=AS_OF) for report in REPORTS}


#: Pages whose period and team have no data: (database, period, team, as of, what the
#: header says).
EMPTY_CASES = {
    "team-without-records": ("ghost", JUNE, "ghost", AS_OF, "Team Ghost has no records"),
    "before-the-data": ("demo", "2020-01", "all", AS_OF, "This period lies before the data"),
    "after-the-data": ("ghost", "2025-09", "all", "2025-10-01", "This period lies after the data"),
}


@pytest.fixture(scope="module")
def empty_pages(databases: dict[str, Path]) -> dict[tuple[str, str], Page]:
    return {(report, case): run_page(report, period=period, team=team, as_of=as_of,
                                     database=str(databases[db]))
            for case, (db, period, team, as_of, _) in EMPTY_CASES.items() for report in REPORTS}


def _definitions(page: Page) -> Output:
    found = [b for b in page.outputs() if "<dl class='ck-defs'>" in b.html]
    assert len(found) == 1, f"{page.report}: one Definitions block"
    return found[0]


def _defined(page: Page) -> list[str]:
    return [html.unescape(label) for label in
            re.findall(r"<dt>(.*?) <code>", _definitions(page).html, flags=re.S)]


# -- 1. units ---------------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    figures: list[Any] = []
    real = blocks.chart

    def capture(fig: Any, title: str, caption: str = "") -> Any:
        figures.append(fig)
        return real(fig, title, caption)

    monkeypatch.setattr(blocks, "chart", capture)
    return figures


def _agents(p90: list[float]) -> pd.DataFrame:
    n = len(p90)
    return pd.DataFrame({
        "name": [f"Agent {i}" for i in range(n)], "tickets_answered": [40] * n,
        "first_response_minutes_median": [p / 4 for p in p90],
        "first_response_minutes_p90": p90, "full_period": [True] * n,
    })


@pytest.mark.parametrize("p90", [[30.0, 90.0], [400.0, 2000.0]])
def test_first_response_is_charted_in_the_minutes_of_its_cards(drawn, p90):
    """A p90 of 2,000 minutes used to switch the chart to hours beside cards in minutes."""
    assert METRICS["first_response_minutes_median"].unit == "minutes"
    team = pd.DataFrame({"metric": ["first_response_minutes_median"], "team_median": [50.0]})
    performance_charts.response_times(_agents(p90), team)
    (fig,) = drawn
    ax = fig.axes[0]
    assert "minutes" in ax.get_xlabel() and "hours" not in ax.get_xlabel()
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == sorted([p / 4 for p in p90] + p90)  # bars are the minutes themselves
    assert any(t.get_text() == "Team median of the medians (50 min)"
               for t in fig.legends[0].get_texts())


def _saved(fig: Any, how: str) -> None:
    if how == "page":
        plotting.png(fig)
    elif how == "savefig":  # as the README shows an analyst saving a chart
        fig.savefig(io.BytesIO(), format="png")
    else:  # an analyst's matplotlibrc asking for a layout as figures are saved
        with matplotlib.rc_context({f"figure.{how}": True}):
            plotting.png(fig)


@pytest.mark.parametrize("how", ["page", "savefig", "autolayout", "constrained_layout.use"])
@pytest.mark.parametrize("p90", [[600.0, 2000.0, 1900.0, 1950.0], [30.0, 90.0]])
def test_a_legend_covers_no_bar_or_value(drawn, p90, how):
    """Inside the axes, a legend in a corner covered the ends of the bars and the values
    nearest it (long 90th percentiles at the foot, by the lower-right legend): legends sit
    at the figure's foot, clear of every axes and its labels, and inside the image, however
    the chart is saved."""
    team = pd.DataFrame({"metric": ["first_response_minutes_median"], "team_median": [50.0]})
    performance_charts.response_times(_agents(p90), team)
    (fig,) = drawn
    _saved(fig, how)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends
    renderer = fig.canvas.get_renderer()
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0
        for ax in fig.axes:
            assert not box.overlaps(ax.get_tightbbox(renderer)), (box, ax.get_tightbbox(renderer))


def test_a_foot_legend_is_one_and_names_only_labelled_artists():
    fig, ax = plotting.figure()
    (line,) = ax.plot([0, 1], [0, 1], label="Line")
    (hidden,) = ax.plot([0, 1], [1, 0])  # matplotlib labels it '_child1'
    plotting.foot_legend(ax)
    legend = plotting.foot_legend(ax, [line, hidden])
    assert fig.legends == [legend]
    assert [t.get_text() for t in legend.get_texts()] == ["Line"]
    fig.legend(handles=[line], loc="upper right")  # an analyst's own: no room kept for it
    plotting.png(fig)
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert not box.overlaps(ax.get_tightbbox(fig.canvas.get_renderer()))


def test_a_time_on_a_chart_is_in_the_unit_of_the_cards_beside_it(june):
    """Every page: a time unit named on a chart axis is the unit of a card of that page
    (a chart in hours beside cards in minutes fails); the first response, in minutes on
    its cards, is charted in minutes."""
    for page in june.values():
        on_cards = {METRICS[name].unit for name in REPORTS[page.report].headline}
        for fig in page.figures:
            for ax in fig.axes:
                for axis_label in (ax.get_xlabel(), ax.get_ylabel()):
                    for unit in re.findall(r"\((minutes|hours|days)\)", axis_label):
                        assert unit in on_cards, (page.report, axis_label)
    performance = june["performance"]
    (chart,) = [f for f in performance.figures
                if f.axes[0].get_title() == "First response time per agent"]
    assert "(minutes)" in chart.axes[0].get_xlabel()
    cards = re.findall(r"data-metric='first_response_minutes_\w+'>.*?<div class='v'>([^<]*)<",
                       performance.outputs("Team totals")[0].html, flags=re.S)
    assert cards and all(v.endswith(" min") for v in cards), cards


# -- 2. empty and future periods ----------------------------------------------------------


def _sentences(block: Output) -> int:
    """Sentences a block says (a table or a chart counts as more than one; KPI cards are
    tested on their own, below)."""
    if "<div class='ck ck-cards'>" in block.html:
        return 0
    if "<table" in block.html or "<figure" in block.html:
        return 99
    return len(re.findall(r"<p[ >]", block.html))


#: Blocks of company-wide data that a team's page shows even when the team has none.
COMPANY_WIDE = {("satisfaction", "team-without-records"): "NPS by team"}


@pytest.mark.parametrize("case", list(EMPTY_CASES))
@pytest.mark.parametrize("report", list(REPORTS))
def test_a_page_without_data_says_so_once_and_shows_no_chart_or_table(empty_pages, report, case):
    page = empty_pages[report, case]
    sentence = EMPTY_CASES[case][4]
    assert page.namespace["ctx"].coverage.empty
    assert page.text().count(sentence) == 1, "the coverage sentence, once (under the header)"
    assert not [f for f in page.figures if f.axes] or COMPANY_WIDE.get((report, case)), \
        "no chart"
    for section in page.sections():
        if section in ("(top)", "Data notes", COMPANY_WIDE.get((report, case))):
            continue  # the header, with its sentence; the notes; company-wide data
        said = sum(_sentences(b) for b in page.outputs(section))
        assert said <= 1, f"{report}/{case}: section {section!r} says {said} things"
    assert _defined(page) == [], "no definitions of numbers the page does not show"
    notes = [b for b in page.outputs("Data notes")]
    assert all(sentence not in b.html for b in notes)


@pytest.mark.parametrize("report", list(REPORTS))
def test_a_page_without_data_has_no_row_of_dashes(empty_pages, report):
    for case in EMPTY_CASES:
        page = empty_pages[report, case]
        assert not [b for b in page.outputs() if "<div class='ck ck-cards'>" in b.html], f"{report}/{case}"


def test_a_period_after_the_data_is_refused_or_said_in_words(demo_db, databases):
    """With the data's last day known, a later period is refused before anything runs;
    without it, its page says in words that it lies after the data (tested above)."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        known = con.execute("select count(*) from crmkit.settings where key = 'data_last_day'"
                            ).fetchone()[0]
    if known:
        with pytest.raises(CrmkitError, match="after the data's last day"):
            open_report("sales", period="2025-09", as_of="2025-10-01", database=demo_db)
    ctx = open_report("sales", period="2025-09", as_of="2025-10-01", database=databases["ghost"])
    assert ctx.coverage.empty and "after the data" in ctx.coverage_notes()[0]


def test_an_empty_page_is_published_with_its_sentence_once(monthly_pack):
    """End to end through the runner: the published HTML of a team without records (the
    session's monthly pack, tests/conftest.py)."""
    [ghost] = [o for o in monthly_pack.outcomes
               if (o.job.report, o.job.period, o.job.team) == ("sales", JUNE, "ghost")]
    assert ghost.ok, ghost.error
    page = Path(ghost.html).read_text(encoding="utf-8")
    text = _words(page)
    assert text.count("Team Ghost has no records in the data") == 1
    assert "<figure" not in page and "<table" not in page
    assert "ck-defs" in page and "<dt>" not in page


def test_charts_of_zeros_say_so_in_words(drawn):
    lost_only = pd.DataFrame({"month": ["2025-05", "2025-06"], "revenue": [0.0, 0.0],
                              "win_rate": [0.0, 0.0]})
    shown = sales_charts.revenue_trend(lost_only, ["2025-06"], "EUR")._repr_html_()
    assert "revenue is 0 in every one" in shown
    unwon = pd.DataFrame({"channel": ["paid_search", "email"], "leads": [10, 5],
                          "converted": [2, 1], "won": [0, 0]})
    shown = marketing_charts.lead_funnel(unwon, parse_period(JUNE))._repr_html_()
    assert "None of these leads has a won deal yet" in shown
    open_without_amount = pd.DataFrame({"month": ["2025-06"], "deals": [3], "amount": [0.0],
                                        "weighted": [0.0]})
    shown = sales_charts.pipeline_by_close(open_without_amount, "EUR")._repr_html_()
    assert "<img" not in shown and "3 deals open at the period end, none with an amount" in shown


def _twin(report: str, **params: Any) -> tuple[Any, dict[str, Any]]:
    """A report's data and JSON twin, computed here."""
    data = REPORTS[report].build(open_report(report, **params))
    return data, data.to_json()


def _unstated(twin: dict[str, Any]) -> None:
    """No change in the twin: neither a number nor a test."""
    for name, change in twin["changes"].items():
        assert set(change.values()) == {None}, (twin["report"], name, change)


@pytest.mark.parametrize("report", list(REPORTS))
def test_a_period_not_over_is_not_compared_with_a_whole_one(demo_db, report):
    """June as of the 10th against the whole of May: ten days "fell significantly" against a
    month (deals created −61%, p<0.001), and the index and the alerts read it so. No change
    is stated or tested then, the page says why and which period compares like for like,
    and what a finished period or June to date states is unchanged."""
    data, twin = _twin(report, period=JUNE, as_of="2025-06-10", database=demo_db)
    assert twin["coverage"]["in_progress"] and not twin["coverage"]["compared"]
    assert twin["comparison"], "the comparison period's values are still there"
    _unstated(twin)
    assert twin["notes"][0].startswith("2025-06 is not over (as of 2025-06-10)")
    assert "2025-06 to date, a period of its own, compares them with the same part of 2025-05" \
        in twin["notes"][0]
    first, *rest = twin["summary"]
    assert "is not over" in first["text"] and "significant" not in str(twin["summary"])
    assert not [item for item in rest if item["kind"] in ("movement", "trend")]
    cards = blocks.cards(data, *REPORTS[report].headline).data
    assert "not compared, this period is not over" in cards
    assert "ck-up" not in cards and "ck-down" not in cards and "significant" not in cards
    kpi = site._kpi(twin, REPORTS[report].headline[0])
    assert kpi.change.arrow == "" and kpi.change.significance == ""
    if report == "performance":
        people = data.breakdowns.employee
        changes = [c for c in people.columns if c.endswith(("_change", "_change_pp", "_change_points"))]
        assert changes and people[changes].isna().all().all()
        for board in ("sales", "work", "support"):  # nor does a leaderboard's cell state one
            shown = performance_charts.leaderboard(people, data.breakdowns.team_median, board,
                                                   "EUR", "2025-05")._repr_html_()
            assert not re.search(r"[+−]\d[\d.,]*\s?(pp|%)\)", html.unescape(shown)), board
        over, _ = _twin(report, period=JUNE, as_of=AS_OF, database=demo_db)
        shown = performance_charts.leaderboard(over.breakdowns.employee,
                                               over.breakdowns.team_median, "sales", "EUR",
                                               "2025-05")._repr_html_()
        assert re.search(r"[+−]\d[\d.,]*\s?pp\)", html.unescape(shown)), "June over states them"
    if report == "activity":  # the comparison's counts beside, no change and no test
        for table in (data.breakdowns.interactions_by_type, data.breakdowns.customer_status):
            assert table["comparison"].notna().all()
            assert table[["change", "p_value"]].isna().all().all()
        shown = html.unescape(activity_charts.status_table(
            data.breakdowns.customer_status)._repr_html_())
        assert "not testable" not in shown and " pp<" not in shown and "Share then" in shown
    for period in ("2025-06 to date", JUNE):  # like for like; a whole period that is over
        _, compared = _twin(report, period=period, as_of="2025-06-10" if "to date" in period
                            else AS_OF, database=demo_db)
        assert compared["coverage"]["compared"] and not compared["coverage"]["in_progress"]
        assert any(c["p_value"] is not None for c in compared["changes"].values())


@pytest.mark.parametrize("report", list(REPORTS))
def test_a_page_not_over_counts_nothing_after_its_as_of_day(demo_db, report):
    """June as of the 10th, made on data that runs to the 30th (a page made late, or made
    again for the record): its revenue, deals and counts took in 11-30 June, days that had
    not happened on the day the page speaks for. Its numbers are now June to date's on the
    10th, the whole month's quota target aside (attainment so far of June's quota), and
    Sales' revenue and its sellers' are the independent SQL's."""
    data, so_far = _twin(report, period=JUNE, as_of="2025-06-10", database=demo_db)
    _, to_date = _twin(report, period="2025-06 to date", as_of="2025-06-10", database=demo_db)
    _, whole = _twin(report, period=JUNE, as_of=AS_OF, database=demo_db)
    month = {"quota_target", "quota_attainment"}
    assert {k: v for k, v in so_far["metrics"].items() if k not in month} == {
        k: v for k, v in to_date["metrics"].items() if k not in month}
    assert so_far["coverage"]["counted_until"] == "2025-06-11T00:00:00+00:00"
    assert whole["coverage"]["counted_until"] is None
    # not compared with anything: the same numbers, and the page says they are so far
    _, alone = _twin(report, period=JUNE, as_of="2025-06-10", compare_to="none",
                     database=demo_db)
    assert alone["metrics"] == so_far["metrics"]
    assert alone["coverage"]["counted_until"] == so_far["coverage"]["counted_until"]
    assert alone["coverage"]["in_progress"] and not alone["coverage"]["compared"]
    assert alone["notes"][0] == "2025-06 is not over (as of 2025-06-10): its numbers are those so far."
    if report in ("sales", "performance"):  # the same target: attainment as revenue so far
        m, w = so_far["metrics"], whole["metrics"]
        assert m["quota_attainment"] < to_date["metrics"]["quota_attainment"]
        assert m["quota_attainment"] / w["quota_attainment"] == pytest.approx(
            m["revenue"] / w["revenue"])
    if report == "sales":
        with duckdb.connect(str(demo_db), read_only=True) as con:
            by_10, by_30 = con.execute(
                "SELECT sum(amount) FILTER (closed_at < TIMESTAMP '2025-06-11'), sum(amount) "
                "FROM deals WHERE status = 'won' AND closed_at >= TIMESTAMP '2025-06-01' "
                "AND closed_at < TIMESTAMP '2025-07-01'").fetchone()
        assert by_10 < by_30, "the data holds deals won after the 10th: the case is exercised"
        assert so_far["metrics"]["revenue"] == pytest.approx(by_10)
        assert data.breakdowns.employee["revenue"].sum() == pytest.approx(by_10)
        assert whole["metrics"]["revenue"] == pytest.approx(by_30)


def _sql_row(database: Path, sql: str) -> tuple[Any, ...]:
    """One row of independent SQL on the database."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchone()


def _open_at(day: str) -> str:
    """SQL: a deal open at the local midnight beginning ``day`` (created before it, not
    closed before it)."""
    return (f"created_at < TIMESTAMP '{day}' AND (closed_at IS NULL "
            f"OR closed_at >= TIMESTAMP '{day}')")


def test_a_range_not_over_forecasts_to_its_own_end(demo_db):
    """1-20 June as of the 10th counts up to the 10th, and its forecast still runs to the
    20th: won so far plus the weighted deals open on the 10th's end and expected by the
    20th (independent SQL). Cut short without its end, it read as a period over: a
    "forecast made at its start" below the revenue already won."""
    _, twin = _twin("sales", period="2025-06-01..2025-06-20", as_of="2025-06-10",
                    database=demo_db)
    won, due = _sql_row(
        demo_db,
        "SELECT (SELECT sum(amount) FROM deals WHERE status = 'won' AND closed_at >= "
        "TIMESTAMP '2025-06-01' AND closed_at < TIMESTAMP '2025-06-11'), "
        f"(SELECT sum(amount * probability) FROM deals WHERE {_open_at('2025-06-11')} "
        "AND expected_close_at >= TIMESTAMP '2025-06-11' "
        "AND expected_close_at < TIMESTAMP '2025-06-21')")
    assert due > 0, "deals are expected in 11-20 June: the case is exercised"
    assert twin["metrics"]["revenue"] == pytest.approx(won)
    assert twin["metrics"]["forecast"] == pytest.approx(won + due)
    assert twin["metrics"]["forecast_error"] is None


def test_a_year_not_over_calls_overdue_only_what_was_due_before_its_as_of_month(demo_db):
    """2025 as of 10 May: the pipeline by expected close began with December, so every deal
    expected from January to November, 683 of them, read "overdue". It begins with the
    as-of month, and "overdue" holds the deals open then and expected before it (SQL)."""
    data, _ = _twin("sales", period="2025", as_of="2025-05-10", database=demo_db)
    table = data.breakdowns.pipeline_by_expected_close.set_index("month")
    overdue, may = _sql_row(
        demo_db,
        "SELECT count(*) FILTER (expected_close_at < TIMESTAMP '2025-05-01'), "
        "count(*) FILTER (expected_close_at >= TIMESTAMP '2025-05-01' "
        f"AND expected_close_at < TIMESTAMP '2025-06-01') FROM deals WHERE {_open_at('2025-05-11')}")
    assert list(table.index[:3]) == ["overdue", "2025-05", "2025-06"]
    assert (table.loc["overdue", "deals"], table.loc["2025-05", "deals"]) == (overdue, may)


@pytest.mark.parametrize("report", ["activity", "performance"])
def test_a_total_that_fell_while_its_rate_a_day_rose_is_not_called_a_significant_fall(
        demo_db, report):
    """February against January: 3,352 interactions against 3,536 is −5.2%, but February
    has 28 days to January's 31, and a day it is +5.0%, a significant rise of the rate
    (p=0.045, the exact test at 28/59: scipy's binomtest). The page called the fall
    significant. The total's change is not called significant now: the card says what
    the test found, a data note explains, and "What changed" states no fall."""
    from scipy.stats import binomtest

    data, twin = _twin(report, period="2025-02", database=demo_db)
    name = "interactions" if report == "activity" else "activities"
    with duckdb.connect(str(demo_db), read_only=True) as con:
        feb, jan = con.execute(
            "SELECT count(*) FILTER (occurred_at >= TIMESTAMP '2025-02-01'), count(*) FILTER "
            "(occurred_at < TIMESTAMP '2025-02-01') FROM activities WHERE occurred_at >= "
            "TIMESTAMP '2025-01-01' AND occurred_at < TIMESTAMP '2025-03-01'").fetchone()
    p = binomtest(feb, feb + jan, 28 / 59).pvalue
    assert feb < jan and feb / 28 > jan / 31 and p < 0.05, "the case is exercised"
    change = twin["changes"][name]
    assert change["change"] == pytest.approx(feb / jan - 1)
    assert change["p_value"] == pytest.approx(p) and change["significant"] is False
    rate = fmt_change((feb / 28) / (jan / 31) - 1)
    label = METRICS[name].label
    assert f"{label}: {fmt_change(feb / jan - 1)} in total, but 2025-02 is shorter than " \
        f"2025-01: a day it is {rate} (p = {p:.3f}), a significant change of the rate" in \
        " ".join(twin["notes"])
    card = " ".join(blocks.cards(data, name).data.split())
    assert f"a day {rate}, significant (p={p:.3f})" in card
    said = [item["text"] for item in twin["summary"]
            if item["kind"] == "movement" and item.get("metric") == name]
    assert said == [f"{label}: {feb:,} in 2025-02 against {jan:,} in 2025-01, "
                    f"{fmt_change(feb / jan - 1)} in total but {rate} a day, a significant "
                    f"change of the rate (p={p:.3f}); the periods differ in length."]
    assert change["change_per_day"] == pytest.approx((feb / 28) / (jan / 31) - 1)
    shown = html.unescape(whatchanged.summary(twin)._repr_html_())
    assert f"<li class='ck-summary-movement'>{said[0]}</li>" in shown  # no arrow either way


@pytest.mark.parametrize("report", ["sales", "performance"])
def test_quota_attainment_of_a_period_that_starts_before_the_quotas_is_not_stated(demo_db,
                                                                                 report):
    """2024 against 2023, whose quotas begin on 1 July: 2023's whole revenue against half a
    year's target read about 200%, and 2024 "fell" by about 100 pp, significantly, at the
    top of "What changed". 2023's attainment is N/A now, nothing is compared or tested, and
    a note says why; 2024's own attainment is unchanged."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        first = con.execute("SELECT min(period_start) FROM quotas").fetchone()[0]
    assert str(first) == "2023-07-01", "the demo's quotas begin in mid-2023: the case"
    data, twin = _twin(report, period="2024", database=demo_db)
    assert twin["comparison"]["quota_attainment"] is None
    assert twin["metrics"]["quota_attainment"] is not None
    assert set(twin["changes"]["quota_attainment"].values()) == {None}
    assert ("Quotas begin on 2023-07-01: 2023 starts before them, so its quota target covers "
            "only part of it and its quota attainment is N/A.") in twin["notes"]
    assert "quota_attainment" not in [item.get("metric") for item in twin["summary"]]
    if report == "performance":
        people = data.breakdowns.employee
        assert people["quota_attainment_previous"].isna().all()
        assert people["quota_attainment_change_pp"].isna().all()
        assert people["quota_attainment"].notna().any()


@pytest.mark.parametrize("case", list(EMPTY_CASES))
def test_a_page_without_data_states_no_change(databases, case):
    """A period after the data had "Revenue 0 EUR ▼ −100.0% significant (p<0.001)" in its
    twin and on the index, while its page said there was nothing to compare."""
    db, period, team, as_of, _ = EMPTY_CASES[case]
    for report in REPORTS:
        _, twin = _twin(report, period=period, team=team, as_of=as_of, database=databases[db])
        assert twin["coverage"]["empty"] and not twin["coverage"]["compared"]
        _unstated(twin)
        for name in REPORTS[report].headline:
            assert site._kpi(twin, name).change.arrow == "", (report, case, name)


@pytest.mark.parametrize("report", ["sales", "marketing"])
def test_lead_conversion_is_compared_at_the_same_age(demo_db, report):
    """June's leads, on the data's last day, had days or weeks to convert; May's a month
    more: "11.6% against 18.7%" was a fall every month, significant on the demo. Now May's
    leads count the conversions made as long after 1 May as the data runs after 1 June
    (independent SQL), the card says so, a note gives both of May's figures, and a period
    whose comparison is shown whole (not over yet) shows May's as of its as-of day."""
    data, twin = _twin(report, period=JUNE, as_of=AS_OF, database=demo_db)
    scope = ("" if report == "sales" else
             " AND campaign_id IS NOT NULL")  # Marketing's headline: campaign leads
    with duckdb.connect(str(demo_db), read_only=True) as con:
        n, aged, then, now, on_10_june = con.execute(
            "SELECT count(*), count(*) FILTER (created_at < TIMESTAMP '2025-05-31'), "
            "count(*) FILTER (created_at < TIMESTAMP '2025-05-31' AND "
            "converted_at < TIMESTAMP '2025-05-31'), count(converted_at), "
            "count(*) FILTER (converted_at < TIMESTAMP '2025-06-11') "
            "FROM leads WHERE created_at >= TIMESTAMP '2025-05-01' "
            f"AND created_at < TIMESTAMP '2025-06-01'{scope}").fetchone()
        june_n, june_converted = con.execute(
            "SELECT count(*), count(converted_at) FROM leads WHERE created_at >= "
            f"TIMESTAMP '2025-06-01' AND created_at < TIMESTAMP '2025-07-01'{scope}").fetchone()
    assert then < now, "May's leads converted after 30 May: the case is exercised"
    assert twin["comparison"]["lead_conversion"] == pytest.approx(then / aged)
    assert twin["compared_at_same_age"] == {"lead_conversion": {
        "counted_before": "2025-05-31T00:00:00+00:00", "comparison_by_now": pytest.approx(now / n)}}
    whole = stats.two_proportion_test(june_converted, june_n, now, n)
    assert whole.significant, "against May as it is now, June fell significantly"
    assert not twin["changes"]["lead_conversion"]["significant"]
    assert twin["changes"]["lead_conversion"]["p_value"] == pytest.approx(
        stats.two_proportion_test(june_converted, june_n, then, aged).p_value)
    card = blocks.cards(data, "lead_conversion").data
    assert f"vs {fmt(then / aged, 'rate')} at the same age" in " ".join(card.split())
    note = [n for n in twin["notes"] if n.startswith("Lead conversion is compared at the same age")]
    assert note == [
        "Lead conversion is compared at the same age: the leads of 2025-06 have had until the "
        "end of 2025-06-30 to convert, so of 2025-05 only the leads created and converted by "
        f"the end of 2025-05-30, as long after its start, are counted: {fmt(then / aged, 'rate')}, "
        f"while {fmt(now / n, 'rate')} of all its leads have converted so far."]
    _, so_far = _twin(report, period=JUNE, as_of="2025-06-10", database=demo_db)
    assert so_far["compared_at_same_age"] == {}
    assert so_far["comparison"]["lead_conversion"] == pytest.approx(on_10_june / n)


#: The demo as if its data ended on 10 June 2025.
TO_10_JUNE = (
    "DELETE FROM activities WHERE occurred_at >= '2025-06-11'",
    "DELETE FROM leads WHERE created_at >= '2025-06-11'",
    "UPDATE leads SET converted_at = NULL, status = 'working' WHERE converted_at >= '2025-06-11'",
    "DELETE FROM deals WHERE created_at >= '2025-06-11'",
    "UPDATE deals SET closed_at = NULL, status = 'open' WHERE closed_at >= '2025-06-11'",
    "DELETE FROM tickets WHERE opened_at >= '2025-06-11'",
    "DELETE FROM tasks WHERE created_at >= '2025-06-11'",
    "DELETE FROM survey_responses WHERE responded_at >= '2025-06-11'",
    "DELETE FROM crmkit.pipeline_snapshots WHERE taken_at > '2025-06-11'",
    "UPDATE crmkit.settings SET value = '2025-06-10' WHERE key = 'data_last_day'",
)


@pytest.mark.parametrize("report", ["sales", "marketing"])
def test_lead_conversion_of_data_that_ends_inside_the_period_is_compared_at_its_age(
        demo_db, tmp_path, report):
    """Data to 10 June, the June page as of 1 July: May's leads of 11-31 May had no time at
    all at June's age and counted as not converted (a false significant rise on a trial's
    data); now May counts the leads created, and converted, by the end of 10 May."""
    db = demo_copy(demo_db, tmp_path / "to-10-june.duckdb", *TO_10_JUNE)
    _, twin = _twin(report, period=JUNE, as_of=AS_OF, database=db)
    scope = "" if report == "sales" else " AND campaign_id IS NOT NULL"
    with duckdb.connect(str(db), read_only=True) as con:
        aged, then = con.execute(
            "SELECT count(*), count(converted_at) FILTER (converted_at < '2025-05-11') "
            "FROM leads WHERE created_at >= '2025-05-01' AND created_at < '2025-05-11'"
            + scope).fetchone()
    assert twin["comparison"]["lead_conversion"] == pytest.approx(then / aged)
    assert twin["intervals"]["lead_conversion"]["n"] > 0
    assert twin["compared_at_same_age"]["lead_conversion"]["counted_before"] == \
        "2025-05-11T00:00:00+00:00"


def test_the_forecast_of_a_month_over_is_the_one_its_start_snapshot_recorded(demo_db, tmp_path):
    """May's forecast card read 1.30M EUR (+22% against what was won) from the deals'
    probabilities and expected closes as recorded now, which have since moved towards what
    happened, while the forecast accuracy table, from the snapshot taken as May began, said
    0.82M (−23%). The card now reads that snapshot (independent SQL), as the table does;
    without a snapshot it reads the deals and says so."""
    data, twin = _twin("sales", period=JUNE, as_of=AS_OF, database=demo_db)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        (june, n), (may, _) = (con.execute(
            "SELECT sum(amount * probability), count(*) FROM crmkit.pipeline_snapshots "
            "WHERE snapshot_date = ? AND expected_close_at >= ? AND expected_close_at < ?",
            [day, start, end]).fetchone() for day, start, end in (
                ("2025-05-31", "2025-06-01", "2025-07-01"),
                ("2025-04-30", "2025-05-01", "2025-06-01")))
        won = con.execute("SELECT sum(amount) FROM deals WHERE status = 'won' AND closed_at "
                          ">= '2025-06-01' AND closed_at < '2025-07-01'").fetchone()[0]
        as_now = con.execute(
            "SELECT sum(amount * probability) FROM deals WHERE created_at < '2025-06-01' AND "
            "(closed_at IS NULL OR closed_at >= '2025-06-01') AND expected_close_at >= "
            "'2025-06-01' AND expected_close_at < '2025-07-01'").fetchone()[0]
    assert twin["metrics"]["forecast"] == pytest.approx(june)
    assert twin["metrics"]["forecast_error"] == pytest.approx((june - won) / won)
    assert twin["comparison"]["forecast"] == pytest.approx(may)
    accuracy = data.breakdowns.forecast_accuracy.set_index("month")
    assert accuracy.loc[JUNE, "forecast"] == pytest.approx(june)
    assert ("The period is over: the forecast shown is the one made at the period start, as the "
            f"pipeline snapshot of 2025-05-31 recorded it: {n} open deals expected to close in "
            "it, compared with the actual revenue.") in twin["notes"]
    bare = demo_copy(demo_db, tmp_path / "bare.duckdb", "DELETE FROM crmkit.pipeline_snapshots")
    _, without = _twin("sales", period=JUNE, as_of=AS_OF, database=bare)
    assert without["metrics"]["forecast"] == pytest.approx(as_now) and as_now != pytest.approx(june)
    assert any("as recorded now (no pipeline snapshot was taken in the 7 days before the period "
               "began)" in note for note in without["notes"])


def test_figures_compared_come_from_one_source(demo_db):
    """August 2023 had a snapshot at its start, July none: its forecast (416.7k, from the
    snapshot) was compared with July's from the deals as recorded now (937.8k), "−55.6%".
    Both now come from the deals, and the note says so. A page after the data compared
    nothing, yet its comparison's lead conversion was cut at its start (0%)."""
    _, twin = _twin("sales", period="2023-08", as_of="2023-09-01", database=demo_db)
    assert any("as recorded now (no pipeline snapshot was taken in the 7 days before the "
               "period began)" in note for note in twin["notes"])
    with duckdb.connect(str(demo_db), read_only=True) as con:
        from_deals = con.execute(
            "SELECT sum(amount * probability) FROM deals WHERE created_at < '2023-08-01' AND "
            "(closed_at IS NULL OR closed_at >= '2023-08-01') AND expected_close_at >= "
            "'2023-08-01' AND expected_close_at < '2023-09-01'").fetchone()[0]
        june = con.execute("SELECT count(converted_at) / count(*) FROM leads WHERE created_at "
                           ">= '2025-06-01' AND created_at < '2025-07-01'").fetchone()[0]
    assert twin["metrics"]["forecast"] == pytest.approx(from_deals)
    _, after = _twin("sales", period="2025-07", as_of="2025-08-01", database=demo_db)
    assert not after["coverage"]["compared"]
    assert after["comparison"]["lead_conversion"] == pytest.approx(june) and june > 0


def test_the_pipeline_at_the_end_of_a_month_over_is_the_one_its_snapshot_recorded(demo_db):
    """May's weighted pipeline on June's cards read 3.79M EUR, June's 3.16M: "−16.6%", a
    fall, because the deals open at the end of May were weighed with their probabilities as
    recorded now, and the 170 won since carry their late-stage ones. The snapshot taken at
    the end of May recorded 2.73M (independent SQL): a rise. The cards read it, so the
    pipeline movement opens with the cards' figure; without snapshots the deals are read."""
    data, twin = _twin("sales", period=JUNE, as_of=AS_OF, database=demo_db)
    with duckdb.connect(str(demo_db), read_only=True) as con:
        n, amount, weighted = con.execute(
            "SELECT count(*), sum(amount), sum(amount * probability) FROM "
            "crmkit.pipeline_snapshots WHERE snapshot_date = '2025-05-31'").fetchone()
        rebuilt = con.execute(
            "SELECT sum(amount * probability) FROM deals WHERE created_at < '2025-06-01' AND "
            "(closed_at IS NULL OR closed_at >= '2025-06-01')").fetchone()[0]
    then = twin["comparison"]
    assert (then["open_deals"], then["open_pipeline"]) == (n, pytest.approx(amount))
    assert then["weighted_pipeline"] == pytest.approx(weighted) and rebuilt > 1.2 * weighted
    assert twin["changes"]["weighted_pipeline"]["change"] > 0
    opening = data.breakdowns.pipeline_movement.set_index("part").loc["opening", "amount"]
    assert float(opening) == pytest.approx(then["open_pipeline"])
    assert "is not the" not in data.extra.movement
    assert then["pipeline_velocity"] == pytest.approx(
        n * then["win_rate"] * then["avg_deal_size"] / then["sales_cycle_days_mean"])


# -- 3. cohort views say so ------------------------------------------------------------------


def test_the_stage_funnel_is_titled_as_the_cohort_it_counts(june, drawn):
    page = june["sales"]
    shown = page.text()
    assert "Deals created in June 2025, by furthest stage reached" in page.charts()
    assert "Not the deals closed in the period, which the Deals won and Deals lost cards count" \
        in shown
    funnel = pd.DataFrame({"stage": ["qualification", "won"], "reached": [140, 13],
                           "share": [1.0, 13 / 140]})
    sales_charts.stage_funnel(funnel, parse_period("2026-11"))
    (fig,) = drawn
    assert fig.axes[0].get_title() == "Deals created in November 2026, by furthest stage reached"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Qualification", "Won"]


def test_the_lead_funnel_is_titled_as_the_cohort_it_counts(june):
    shown = june["marketing"].text()
    assert "Leads created in June 2025, by how far they got" in june["marketing"].charts()
    assert "Not the deals won in the period, which the Deals won card counts" in shown


# -- 4. no internal ids ----------------------------------------------------------------------

_SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def _category_texts(fig: Any) -> list[str]:
    """Texts that name categories: tick labels and legend entries."""
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


@pytest.mark.parametrize("report", list(REPORTS))
def test_charts_show_names_not_internal_ids(june, databases, report):
    page = june[report]
    assert page.figures, f"{report}: no chart drawn"
    with duckdb.connect(str(databases["demo"]), read_only=True) as con:
        team_ids = {t for (t,) in con.execute("select team_id from teams").fetchall()}
    for text in page.figure_texts():
        assert not _SNAKE.search(text), f"{report}: {text!r} shows an identifier"
        words = set(re.findall(r"[A-Za-z-]+", text))
        assert not words & {t for t in team_ids if label(t) != t}, f"{report}: {text!r}"
    for fig in page.figures:
        for text in _category_texts(fig):
            name = text.split(" (")[0]
            assert not (_IDENTIFIER.fullmatch(name) and label(name) != name), \
                f"{report}: category {text!r} is an identifier, not a name"


@pytest.mark.parametrize("report", list(REPORTS))
def test_notebook_prose_names_no_internal_id(report):
    nb = nbformat.read(NOTEBOOKS / f"{report}.ipynb", as_version=4)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not _SNAKE.search(prose), _SNAKE.search(prose)
    assert not re.search(r"team[ _]id|midmarket|paid_search", prose, flags=re.I)


def test_captions_and_sentences_of_charts_show_no_column_names(june):
    for page in june.values():
        for block in page.outputs():
            if "<dl class='ck-defs'>" in block.html or "<ul class='ck-notes'>" in block.html or "<table" in block.html:
                continue  # definitions name columns on purpose; tables: crmkit.render.tables
            found = _SNAKE.search(_words(block.html))
            assert not found, f"{page.report}: {found.group(0)!r} in {_words(block.html)[:120]}"


def test_team_columns_show_team_names(june):
    shown = june["sales"].text() + june["activity"].text()
    assert "Mid-Market" in shown
    assert not re.search(r"\bmidmarket\b|team id", shown, flags=re.I)


# -- 5. one heading style ----------------------------------------------------------------------


@pytest.mark.parametrize("report", list(REPORTS))
def test_notebook_sections_use_one_heading_level(report):
    nb = nbformat.read(NOTEBOOKS / f"{report}.ipynb", as_version=4)
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("#")]
    assert headings and all(re.match(r"## \S", h) for h in headings), headings


# -- 6. each note once, where it applies -------------------------------------------------------


def test_the_demo_has_open_deals_without_probability(june):
    store = june["sales"].namespace["ctx"].store
    assert any(n.table == "deals" and n.column == "probability" for n in store.notes)


@pytest.mark.parametrize("report", list(REPORTS))
def test_each_note_is_shown_once_and_where_it_applies(june, report):
    page = june[report]
    notes = page.namespace["data"].notes
    assert len(notes) == len(set(notes)), "a note repeated"
    mentions = len(re.findall(r"probabilit", " ".join(notes)))
    if report == "sales":
        assert mentions == 1 and "have no probability" in " ".join(notes)
    else:
        assert mentions == 0, f"{report} reads no probability: {notes}"
    shown = page.text(skip=lambda b: "<dl class='ck-defs'>" in b.html)
    assert shown.count("no probability") == (1 if report == "sales" else 0)


# -- 7. definitions shown = numbers shown -------------------------------------------------------


@pytest.mark.parametrize("report", list(REPORTS))
def test_definitions_list_exactly_the_numbers_the_page_shows(june, report):
    page = june[report]
    defined = _defined(page)
    history = sales.HISTORY if report == "sales" else ()  # the demo has pipeline snapshots
    assert defined == [METRICS[n].label for n in (*REPORTS[report].definitions, *history)]
    elsewhere = page.text(skip=lambda b: "<dl class='ck-defs'>" in b.html).lower()
    missing = [name for name in defined if name.lower() not in elsewhere]
    assert not missing, f"{report} defines numbers it does not show: {missing}"


def test_sales_defines_no_number_it_does_not_show(june):
    page = june["sales"]
    assert "Forecast error" not in _defined(page)
    assert "forecast_error" in page.namespace["data"].to_json()["definitions"]  # the JSON keeps it



def test_the_status_table_states_the_change_its_test_is_about():
    """The table tests the share of customers in a status, so the change beside the test is
    the share's, in points; the count's relative change (tested on the cards) is not in it."""
    import pandas as pd

    from crmkit.render.charts import activity as activity_charts

    status = pd.DataFrame({
        "status": ["active", "at_risk"], "customers": [600, 400], "share": [0.6, 0.4],
        "comparison": [500, 500], "comparison_share": [0.5, 0.5], "change": [0.2, -0.2],
        "p_value": [0.0001, 0.0001],
    })
    html = activity_charts.status_table(status)._repr_html_()
    assert "+10.0 pp" in html and "\u221210.0 pp" in html
    assert "+20.0%" not in html and "Share change" in html


def test_revenue_of_campaigns_paid_for_earlier_is_stated_beside_the_roi():
    """An event paid for last month brings revenue this month: the headline ROI weighs it
    against this month's cost, so a note says how much it is and the ROI without it."""
    import pandas as pd

    from crmkit.reports.marketing import _unpaid_revenue_note

    campaigns = pd.DataFrame({"name": ["Summit", "Search"], "cost": [0.0, 10_000.0],
                              "revenue": [30_000.0, 15_000.0]})
    [note] = _unpaid_revenue_note(campaigns, "EUR")
    assert "30,000 EUR" in note and "(67%)" in note and "Summit" in note
    assert "ROI would be 50.0%" in note  # (15,000 - 10,000) / 10,000
    losing = campaigns.assign(revenue=[30_000.0, 5_000.0])
    assert "ROI would be \u221250.0%" in _unpaid_revenue_note(losing, "EUR")[0]
    assert _unpaid_revenue_note(campaigns.assign(cost=[1.0, 10_000.0]), "EUR") == []
