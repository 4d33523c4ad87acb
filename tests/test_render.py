"""The rendering layer: every value that reaches a page's HTML is escaped, in every block.

The attack is a currency, a metric label, a team name, a table cell, a caption and a chart
title carrying markup; none of it may come out as a tag or break out of an attribute.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import nbformat
import pandas as pd
import pytest
from published import kpi_cards as published_cards

from crmkit import _html, stats
from crmkit.metrics.definitions import METRICS, Metric
from crmkit.publish.export import extract_json, twin_text
from crmkit.render import blocks, plotting
from crmkit.render.charts import marketing
from crmkit.reports.data import JSON_MIMETYPE

ATTACK = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
MARKUP = "<b>x</b>"
QUOTED = "x' onmouseover='alert(1)"  # breaks out of a single-quoted attribute unless escaped


def _safe(page: str) -> None:
    """No planted tag or attribute survives unescaped."""
    assert "<img src=x" not in page
    assert "<b>x</b>" not in page
    assert "' onmouseover='" not in page


@pytest.fixture
def evil_metric(monkeypatch: pytest.MonkeyPatch) -> str:
    """A money metric whose label and definition carry markup."""
    metric = Metric("evil_money", f"Revenue {MARKUP}", "money", f"Defined {ATTACK}")
    monkeypatch.setitem(METRICS, metric.name, metric)
    return metric.name


def _card(name: str, **extra: Any) -> dict[str, Any]:
    card = {"name": name, "value": 1234.0, "interval": stats.Interval(1234.0, 1000.0, 1500.0, 12),
            "n": 12, "previous": 1000.0, "change": 0.234, "test": stats.Test(2.1, 0.036)}
    return {**card, **extra}


def test_kpi_cards_escape_the_currency_the_label_and_every_value(evil_metric):
    page = blocks.kpi_cards([_card(evil_metric)], currency=ATTACK).data
    _safe(page)
    # the value, both interval ends and the previous value each carry the currency
    assert page.count(ESCAPED) == 4
    assert "Revenue &lt;b&gt;x&lt;/b&gt;" in page
    assert "data-metric='evil_money'" in page and "class='ck-up'" in page


def test_kpi_cards_keep_the_shape_the_published_page_is_read_with(evil_metric):
    page = blocks.kpi_cards([_card(evil_metric), _card("win_rate", value=0.5, previous=0.6,
                                                       change=-1 / 6)], currency="EUR").data
    assert published_cards(page) == {"evil_money": "1,234 EUR", "win_rate": "50.0%"}
    assert "class='ck-down'" in page and "small sample" in page
    assert "significant (p=0.036)" in page


def test_kpi_card_without_change_is_flat():
    page = blocks.kpi_cards([_card("deals_won", value=3, previous=3, change=0.0)]).data
    assert "class='ck-flat'" in page and "▲" not in page and "▼" not in page


def test_cards_of_report_data_use_its_currency(evil_metric):
    covered = SimpleNamespace(empty=False, comparison_before_data=False)
    data = SimpleNamespace(card=lambda name: _card(name),
                           context=SimpleNamespace(currency=ATTACK, coverage=covered,
                                                   comparison=None, in_progress=False))
    page = blocks.cards(data, evil_metric, "deals_won").data  # type: ignore[arg-type]
    _safe(page)
    assert page == blocks.kpi_cards([_card(evil_metric), _card("deals_won")], ATTACK).data


def _meta(**values: Any) -> dict[str, Any]:
    meta = {k: f"{k} {MARKUP}" for k in ("title", "period_label", "period_dates", "team_name",
                                         "comparison", "timezone", "as_of", "generated_at",
                                         "fingerprint", "version")}
    return {**meta, **values}


def test_header_escapes_every_field_and_accepts_a_context():
    meta = _meta(team_name=f"Team {ATTACK}", title=QUOTED)
    page = blocks.header(meta).data
    _safe(page)
    assert f"Team {ESCAPED}" in page and "<style>" in page
    assert blocks.header(SimpleNamespace(meta=lambda: meta)).data == page  # type: ignore[arg-type]
    assert "<b>Compared with:</b> none" in blocks.header(_meta(comparison=None)).data


def test_header_dates_stay_on_one_line_and_are_escaped_first():
    """A browser breaks a line after a hyphen: at 1280 px the period read "(2025-06-01 to
    2025-06-" and then "30)". Each date, month and local time is kept whole; the text
    around it is escaped as before, and a date inside hostile text adds no markup of its own."""
    page = blocks.header(_meta(period_label="2025-06", period_dates="2025-06-01 to 2025-06-30",
                               as_of="2025-06-15 14:00", comparison=f"2025-05 {ATTACK}",
                               generated_at="2026-12-03 23:10 UTC")).data
    _safe(page)
    assert ('<span class="ck-nb">2025-06</span> (<span class="ck-nb">2025-06-01</span> to '
            '<span class="ck-nb">2025-06-30</span>)') in page
    assert '<span class="ck-nb">2025-06-15 14:00</span>' in page
    assert '<span class="ck-nb">2026-12-03 23:10</span> UTC' in page
    assert f'<span class="ck-nb">2025-05</span> {ESCAPED}' in page
    assert ".ck-nb{white-space:nowrap}" in page


def test_table_escapes_headings_cells_caption_names_and_file_name():
    df = pd.DataFrame({MARKUP: [ATTACK, None], "amount": [1500.0, float("nan")],
                       "team_id": ["t1", "t2"]})
    page = blocks.table(df, units={"amount": "money"}, currency=ATTACK, caption=QUOTED,
                        names={"team_id": {"t1": MARKUP, "t2": QUOTED}}, filename=QUOTED)._repr_html_()
    _safe(page)
    assert page.count(ESCAPED) == 2  # the text cell and the amount's heading (its currency)
    assert "<td class='n'>—</td>" in page and "<td></td>" in page
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in page  # a team's name
    assert "download='x-onmouseover-alert-1.csv'" in page


def test_table_mentions_the_rows_left_out_and_says_when_empty():
    page = blocks.table(pd.DataFrame({"n": range(5)}), max_rows=2)._repr_html_()
    assert page.count("<tr>") == 3 and "3 more rows are in the CSV download (all 5 rows)." in page
    assert "No rows for this period and team." in blocks.table(pd.DataFrame({"n": []}))._repr_html_()


def test_definitions_notes_and_text_escape(evil_metric):
    for page in (blocks.definitions([evil_metric]).data, blocks.notes([ATTACK, MARKUP]).data,
                 blocks.text(f"{ATTACK} {MARKUP} {QUOTED}").data):
        _safe(page)
    assert ESCAPED in blocks.definitions([evil_metric]).data
    assert "No rows were excluded" in blocks.notes([]).data


def test_chart_escapes_title_and_caption():
    fig, ax = plotting.figure(2, 1)
    ax.plot([0, 1], [0, 1])
    page = blocks.chart(fig, QUOTED + MARKUP, ATTACK)._repr_html_()
    _safe(page)
    assert "data-chart='x&#39; onmouseover=&#39;alert(1)&lt;b&gt;" in page
    assert "src='data:image/png;base64," in page and f"<figcaption>{ESCAPED}</figcaption>" in page


def test_roi_table_escapes_names_currency_and_caption():
    campaign = pd.DataFrame({
        "campaign_id": ["c1", "c2"], "name": [ATTACK, MARKUP], "channel": [QUOTED, "email"],
        "team_id": ["t", "t"], "cost": [100.0, 50.0], "leads": [3, 4],
        "lead_conversion": [0.5, 0.25], "deals_won": [1, 0], "revenue": [250.0, 0.0],
        "acquired_customers": [1, 0], "cost_per_lead": [33.3, 12.5], "cac": [100.0, None],
        "roi": [1.5, -1.0], "provisional": [False, True],
    })
    page = marketing.campaign_table(campaign, {"cost": 150.0, "roi": 0.67},
                                    currency=ATTACK)._repr_html_()
    _safe(page)
    assert ESCAPED in page
    assert "▼ \u2212100.0% loss <span class='ck-flag'>provisional</span>" in page
    assert "background-color: #fdecea" in page and "Total (campaigns in scope)" in page


def test_publish_displays_the_json_twin(monkeypatch):
    shown: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(blocks, "display", lambda obj, **kw: shown.append((obj, kw)))
    data = SimpleNamespace(to_json=lambda: {"report": "sales", "name": "Ольга"},
                           metrics={"a": 1, "b": 2}, context=SimpleNamespace(report="sales"))
    blocks.publish(data)  # type: ignore[arg-type]
    # as JSON text, which the runner reads back as the object
    assert shown == [({JSON_MIMETYPE: '{"report": "sales", "name": "Ольга"}',
                       "text/plain": "crmkit sales report data (2 metrics)"}, {"raw": True})]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("display_data", data=shown[0][0])])])
    nbformat.validate(nb)
    assert extract_json(nb) == {"report": "sales", "name": "Ольга"}


def test_publish_refuses_a_twin_that_is_not_json(monkeypatch):
    monkeypatch.setattr(blocks, "display", lambda obj, **kw: None)
    data = SimpleNamespace(to_json=lambda: {"win_rate": float("nan")}, metrics={},
                           context=SimpleNamespace(report="sales"))
    with pytest.raises(ValueError, match="not JSON compliant"):
        blocks.publish(data)  # type: ignore[arg-type]


def test_one_autoescaping_environment_renders_every_template():
    assert _html.ENV.autoescape is True
    names = _html.ENV.list_templates()
    assert names and all(n.endswith(".html.j2") for n in names)
    for name in names:
        _html.ENV.get_template(name)  # every template compiles


# -- chart text is plain text, never math ---------------------------------------------------
#
# matplotlib reads a text with an even number of unescaped '$' as mathtext (and every text
# as LaTeX under text.usetex): a campaign named 'Q4 $ push #1 $' made savefig raise, and
# 'a_b^c $x$' came out as a formula. Every chart that shows names from the data is drawn
# here with such names; each must save, and show every name literally.

HOSTILE = ("Q4 $ push #1 $", "$$\\int$$", "a_b^c $x$", "\\frac{1}{2}")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures embedded by :func:`blocks.chart` (after they were shown as PNG)."""
    figures: list[Any] = []
    real = blocks.chart

    def capture(fig: Any, title: str, caption: str = "") -> Any:
        out = real(fig, title, caption)
        out._repr_html_()  # draws the figure as a page shows it: a math parse error raises here
        figures.append(fig)
        return out

    monkeypatch.setattr(blocks, "chart", capture)
    return figures


def _shown(figures: list[Any]) -> list[str]:
    """Every text of the figures as displayed; none of them may be parsed as math or TeX."""
    from matplotlib.text import Text

    shown = []
    for fig in figures:
        for t in fig.findobj(Text):
            # what the renderer draws: (text, False) for plain text, else mathtext or TeX
            text, math = t._preprocess_math(t.get_text())
            assert math is False, f"{t.get_text()!r} is drawn as math ({math!r})"
            shown.append(text)
    return shown


def _literal(figures: list[Any], *names: str) -> None:
    assert figures, "no chart was drawn"
    shown = _shown(figures)
    # no axis formatter writes mathtext of its own (it would now show as '$\\mathdefault…')
    assert not any("\\mathdefault" in s for s in shown)
    for name in names:
        assert any(name in s for s in shown), f"{name!r} is not shown literally"


def _each(values: list[Any], n: int = len(HOSTILE)) -> list[Any]:
    return (values * n)[:n]


def test_trend_chart_shows_hostile_labels_and_title_literally(drawn):
    df = pd.DataFrame({"month": list(HOSTILE), "revenue": [1.0, 2.0, 3.0, 4.0]})
    blocks.trend_chart(df, "month", "revenue", "money", title=HOSTILE[0], currency="$",
                       highlight=[HOSTILE[1]])
    _literal(drawn, *HOSTILE)


def test_sales_charts_show_months_stages_and_sellers_literally(drawn):
    from crmkit.render.charts import sales

    n = len(HOSTILE)
    sales.revenue_trend(pd.DataFrame({"month": list(HOSTILE), "revenue": _each([10.0, 20.0]),
                                      "win_rate": _each([0.2, 0.5])}), [HOSTILE[0]], "$")
    sales.stage_funnel(pd.DataFrame({"stage": list(HOSTILE), "reached": [9, 5, 3, 1],
                                     "share": [1.0, 0.55, 0.33, 0.11]}))
    sales.win_rate_by_employee(pd.DataFrame({
        "name": list(HOSTILE), "closed": [4] * n, "win_rate": [0.5] * n,
        "win_rate_low": [0.2] * n, "win_rate_high": [0.8] * n}))
    sales.pipeline_by_close(pd.DataFrame({"month": list(HOSTILE), "amount": [5.0] * n,
                                          "weighted": [2.0] * n}), "$")
    assert len(drawn) == 4
    _literal(drawn, *HOSTILE)


def test_marketing_charts_show_campaigns_and_channels_literally(drawn):
    n = len(HOSTILE)
    campaign = pd.DataFrame({"campaign_id": [f"c{i}" for i in range(n)], "name": list(HOSTILE),
                             "cost": [100.0, 50.0, 0.0, 10.0], "revenue": [250.0, 0.0, 5.0, 9.0],
                             "roi": [1.5, -1.0, None, -0.1]})
    marketing.cost_vs_revenue(campaign, "$")
    marketing.lead_funnel(pd.DataFrame({"channel": list(HOSTILE), "leads": [10] * n,
                                        "converted": [5] * n, "won": [2] * n}))
    marketing.conversion_by_channel(pd.DataFrame({
        "channel": list(HOSTILE), "leads": [10] * n, "lead_conversion": [0.5] * n,
        "lead_conversion_low": [0.2] * n, "lead_conversion_high": [0.8] * n}), overall=0.5)
    assert len(drawn) == 3
    _literal(drawn, *HOSTILE)


def test_activity_charts_show_types_statuses_segments_and_cohorts_literally(drawn):
    from crmkit.render.charts import activity

    n = len(HOSTILE)
    activity.interactions_by_type(pd.DataFrame({"type": list(HOSTILE), "interactions": [4] * n,
                                                "comparison": [2.0] * n}),
                                  HOSTILE[0], HOSTILE[1])
    activity.customer_status(pd.DataFrame({"status": list(HOSTILE), "customers": [5] * n,
                                           "share": [0.25] * n, "comparison": [4.0] * n}),
                             HOSTILE[2])
    activity.rfm_segments(pd.DataFrame({"segment": list(HOSTILE), "customers": [3] * n,
                                        "share": [0.25] * n, "revenue": [100.0] * n,
                                        "revenue_share": [0.25] * n}), "$")
    activity.cohort_heatmap(pd.DataFrame({"cohort": [c for c in HOSTILE for _ in (0, 1)],
                                          "month_offset": [0, 1] * n,
                                          "share": [1.0, 0.3] * n, "customers": [7] * 2 * n}))
    assert len(drawn) == 4
    # interactions_by_type shows '_' as a space in type names
    _literal(drawn, *HOSTILE, "a b^c $x$", f"{HOSTILE[0]} vs {HOSTILE[1]}")


def test_performance_charts_show_names_and_roles_literally(drawn):
    from crmkit.render.charts import performance

    n = len(HOSTILE)
    employee = pd.DataFrame({
        "name": list(HOSTILE), "role": _each([HOSTILE[3], "sales"]),
        "full_period": [True, True, True, False], "note": ["", "", "", HOSTILE[2]],
        "activities": [10, 1, 12, 3], "tasks_due": [2] * n, "tickets_assigned": [1] * n,
        "workload": [13, 4, 15, 6], "workload_role_median": [13.0, 4.0, 13.0, 4.0],
        "workload_flag": ["", "low", "", ""], "workload_ratio": [1.0, 0.3, 1.1, 1.5],
        "tickets_answered": [3] * n, "first_response_minutes_median": [30.0, 20.0, 10.0, 5.0],
        "first_response_minutes_p90": [60.0, 40.0, 20.0, 10.0],
    })
    team_median = pd.DataFrame({"metric": ["first_response_minutes_median"],
                                "team_median": [15.0]})
    performance.workload(employee)
    performance.response_times(employee, team_median)
    assert len(drawn) == 2
    _literal(drawn, *HOSTILE, f"{HOSTILE[3]} median")


def test_satisfaction_charts_show_months_teams_and_segments_literally(drawn):
    from crmkit.render.charts import satisfaction

    n = len(HOSTILE)
    month = pd.DataFrame({"month": list(HOSTILE)})
    for kind, value in (("nps", 10.0), ("csat", 0.8), ("ces", 5.0)):
        month = month.assign(**{kind: value, f"{kind}_low": value * 0.9,
                                f"{kind}_high": value * 1.1, f"{kind}_responses": 40})
    satisfaction.trend(month, [HOSTILE[0]])
    for by in ("team", "segment"):
        satisfaction.nps_by_group(pd.DataFrame({
            by: list(HOSTILE), "responses": [40, 10, 35, 50], "nps": [10.0] * n,
            "nps_low": [-5.0] * n, "nps_high": [25.0] * n,
            "small_sample": [False, True, False, False]}), by, f"NPS by {by}: {HOSTILE[2]}")
    assert len(drawn) == 3
    _literal(drawn, *HOSTILE, f"NPS by team: {HOSTILE[2]}")


def test_charts_stay_plain_text_after_someone_turned_on_usetex_or_mathtext(drawn):
    import matplotlib

    df = pd.DataFrame({"month": list(HOSTILE), "revenue": [1.0, 2.0, 3.0, 4.0]})
    with matplotlib.rc_context({"text.usetex": True, "text.parse_math": True}):
        blocks.trend_chart(df, "month", "revenue", title=HOSTILE[2])
    _literal(drawn, *HOSTILE)


def test_normal_names_render_as_before(drawn):
    df = pd.DataFrame({"month": ["2024-01", "2024-02"], "revenue": [1.0, 2.0]})
    page = blocks.trend_chart(df, "month", "revenue", "money", currency="EUR")._repr_html_()
    assert "src='data:image/png;base64," in page
    _literal(drawn, "2024-01", "2024-02", "Revenue (EUR)", "Revenue by month")


def test_tick_labels_made_while_saving_are_plain_whatever_the_rcparams(drawn):
    import matplotlib

    fig, ax = plotting.figure(4, 2)  # a custom report's chart, drawn by hand
    with matplotlib.rc_context({"text.parse_math": True}):
        ax.bar(list(HOSTILE), [1, 2, 3, 4])  # its tick labels are made as it is saved
        blocks.chart(fig, "Custom")
    _literal(drawn, *HOSTILE)


def test_the_published_twin_is_the_payload_with_a_breakdown_row_to_a_line():
    payload = {
        "report": "sales", "metrics": {"revenue": 1.5, "win_rate": None},
        "breakdowns": {
            "employee": [{"name": 'Ольга "O"\n</script>', "won": 1}, {"name": "B", "won": 2}],
            "empty": [], "product": [{"product": "x", "nested": [1, {"a": None}]}],
        },
        "notes": ["a note"], "summary": [],
    }
    text = twin_text(payload)
    assert json.loads(text) == payload
    lines = text.splitlines()
    assert '      {"name": "Ольга \\"O\\"\\n</script>", "won": 1},' in lines  # one line, escaped
    assert '      {"name": "B", "won": 2}' in lines and '    "empty": [],' in lines
    assert lines[:3] == ["{", '  "report": "sales",', '  "metrics": {']
    for other in ({}, {"breakdowns": {}}, {"report": "x", "breakdowns": {"a": [{"b": 1}]}}):
        assert json.loads(twin_text(other)) == other
    with pytest.raises(ValueError, match="not JSON compliant"):
        twin_text({"metrics": {"x": float("inf")}})


def test_money_per_day_keeps_its_unit_on_one_line():
    """A Russian card read "31,9 тыс. ₽/" and "день" on the next line at 1280 px: the line
    may break before the currency, never after the slash."""
    from crmkit import i18n
    from crmkit.render.formatting import fmt

    with i18n.activated("ru"):
        assert fmt(31900.0, "money_per_day", "RUB") == "31,9\xa0тыс. ₽/\u2060день"
    assert fmt(31900.0, "money_per_day", "EUR") == "31.9k EUR/\u2060day"
