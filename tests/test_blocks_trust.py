"""Cards and tables a manager reads right and can take away.

Cards follow the one rule of crmkit.verdict (a significant +24.2-point NPS rise is green with
▲, never grey; rates change in pp); negative numbers carry a true minus; a money column reads
in one scale with the currency in its heading; ids and identifier-like values are shown in
words; rates from small samples are tagged; every table has a CSV download that a
spreadsheet cannot be attacked through; a table never makes the page scroll sideways.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from published import chromium

from crmkit import stats
from crmkit.metrics.definitions import METRICS
from crmkit.render import blocks, cards, tables
from crmkit.render.formatting import CSS, compact, fmt, fmt_change
from crmkit.verdict import MINUS, verdict

# -- cards: the one rule ------------------------------------------------------------------

_CHANGE = re.compile(r"<span class='(ck-[a-z]+)'>([^<]*)</span> vs ([^<]*?)(?: · ([^<]*))?</div>")


def _change_line(page: str) -> tuple[str, str, str, str]:
    """(css class, arrow and change, previous, significance) of a one-card page."""
    found = _CHANGE.findall(page)
    assert len(found) == 1, page
    return tuple(html.unescape(part) for part in found[0])  # type: ignore[return-value]


def test_a_significant_nps_rise_is_green_with_an_arrow_and_says_so():
    """The Satisfaction page passes NPS cards without a relative change (it is meaningless
    near zero): the card still colours and points the change by its points."""
    page = blocks.kpi_cards([{"name": "nps", "value": 14.6, "previous": -9.6, "change": None,
                              "test": stats.Test(3.6, 0.0003), "n": 240}]).data
    css, shown, previous, significance = _change_line(page)
    assert css == "ck-up" and shown == "▲ +24.2 pts"
    assert previous == f"{MINUS}9.6" and significance == "significant (p<0.001)"


def test_a_rate_card_changes_in_percentage_points_not_relative():
    page = blocks.kpi_cards([{"name": "win_rate", "value": 0.366, "previous": 0.388,
                              "change": -0.0567, "test": stats.Test(-0.4, 0.725), "n": 131}]).data
    css, shown, previous, significance = _change_line(page)
    assert (css, shown, previous) == ("ck-down", f"▼ {MINUS}2.2 pp", "38.8%")
    assert significance == "not significant (p=0.725)" and "5.7%" not in page


def test_a_rise_of_what_is_worse_points_up_in_red():
    page = blocks.kpi_cards([{"name": "deals_lost", "value": 83, "previous": 79,
                              "change": 4 / 79}]).data
    assert _change_line(page)[:2] == ("ck-down", "▲ +5.1%")


_SAMPLES = {  # unit -> (value, previous) pairs: a rise, a fall, no move
    "rate": [(0.42, 0.30), (0.30, 0.42), (0.3, 0.3)],
    "score": [(14.6, -9.6), (-9.6, 14.6), (5.0, 5.0)],
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_card_shows_its_change_by_the_verdict_rule(name):
    m = METRICS[name]
    for value, previous in _SAMPLES.get(m.unit, [(120.0, 100.0), (80.0, 100.0), (100.0, 100.0)]):
        change = value / previous - 1
        test = stats.Test(2.0, 0.03)
        page = blocks.kpi_cards([{"name": name, "value": value, "previous": previous,
                                  "change": change, "test": test}], "EUR").data
        rule = verdict(unit=m.unit, higher_is_better=m.higher_is_better,
                       change_in_points=m.change_in_points, value=value, previous=previous,
                       change=change, p_value=0.03, significant=True)
        css, shown, _, significance = _change_line(page)
        assert css == rule.css_class, (name, value, previous)
        assert shown == f"{rule.arrow} {rule.shown}".strip()
        assert significance == rule.significance == "significant (p=0.030)"


@pytest.mark.parametrize(("n", "small"), [(12, True), (np.int64(12), True), (29, True),
                                          (30, False), (0, False)])
def test_a_card_from_fewer_than_30_says_small_sample(n, small):
    page = blocks.kpi_cards([{"name": "win_rate", "value": 0.5, "n": n}]).data
    assert ("small sample" in page) is small


def test_blocks_keeps_the_names_notebooks_call():
    assert blocks.kpi_cards is cards.kpi_cards and blocks.cards is cards.cards
    assert blocks.table is tables.table and blocks.Cell is tables.Cell


# -- numbers: a true minus, never "-0" ----------------------------------------------------


@pytest.mark.parametrize("unit", ["count", "rate", "money", "money_per_day", "days", "minutes",
                                  "hours", "score", "p_value"])
def test_negative_numbers_carry_a_true_minus_and_zero_no_sign(unit):
    for value in (-1234.5, -12.0, -0.5, -0.02):
        shown = fmt(value, unit, "EUR")
        assert "-" not in shown, (unit, value, shown)
        assert shown.startswith(MINUS) or not re.search(r"[1-9]", shown), (unit, value, shown)
    for tiny in (-0.0, -1e-9):
        assert MINUS not in fmt(tiny, unit) and "-" not in fmt(tiny, unit), unit


def test_compact_and_relative_changes_use_the_true_minus():
    assert compact(-12) == f"{MINUS}12" and compact(-12345) == f"{MINUS}12.3k"
    assert compact(-2.5e6) == f"{MINUS}2.50M" and compact(-0.2) == "0" == compact(-0.0)
    assert fmt_change(-0.25) == f"{MINUS}25.0%" and fmt_change(-0.0001) == "0.0%"
    assert fmt_change(0.125) == "+12.5%" and fmt_change(None) == "—"


# -- tables: one scale per money column, words for ids, small samples -------------------------


def _cells(page: str) -> list[list[str]]:
    """The body cells of a one-table page as text (flags after a space)."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    return [[html.unescape(re.sub(r"<[^>]+>", "", td)) for td in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def _head(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", page)]


def test_a_money_column_reads_in_one_scale_with_the_currency_in_its_heading():
    df = pd.DataFrame({"seller": ["A", "B", "C", "D"], "revenue": [9145.0, 73210.0, -1500.0, 0.0],
                       "avg_deal_size": [950.0, 4999.0, float("nan"), 0.0]})
    page = blocks.table(df, units={"revenue": "money", "avg_deal_size": "money"},
                        currency="EUR")._repr_html_()
    assert _head(page) == ["Seller", "Revenue (EUR)", "Avg deal size (EUR)"]
    assert [row[1:] for row in _cells(page)] == [["9.1k", "950"], ["73.2k", "4,999"],
                                                 [f"{MINUS}1.5k", "—"], ["0", "0"]]
    assert "EUR</td>" not in page


def test_a_column_in_millions_stays_in_millions():
    """Amounts of a column of millions read in millions, with two significant digits at
    least: a small one reads in its own scale ("0.01M" was 9,145 to within 5,000)."""
    df = pd.DataFrame({"pipeline": [1_250_000.0, 160_400.0, 9145.0]})
    page = blocks.table(df, units={"pipeline": "money"}, currency="USD")._repr_html_()
    assert _cells(page) == [["1.25M"], ["0.16M"], ["9,145"]] and _head(page) == ["Pipeline (USD)"]


def test_headings_and_identifier_values_are_words_and_ids_are_left_out():
    df = pd.DataFrame({"campaign_id": ["c1", "c2"], "channel": ["paid_search", "email"],
                       "segment": ["smb", "midmarket"], "name": ["Acme GmbH", "spring_promo"],
                       "comment": ["too_slow", "ok"], "deals_won": [3, -2]})
    page = blocks.table(df, units={"deals_won": "count"}, labels={"name": "customer"},
                        verbatim=["comment"])._repr_html_()
    assert _head(page) == ["Channel", "Segment", "Customer", "Comment", "Deals won"]
    assert _cells(page) == [["Paid search", "SMB", "Acme GmbH", "too_slow", "3"],
                            ["Email", "Mid-Market", "Spring promo", "ok", f"{MINUS}2"]]
    assert "c1" not in page.split("<a ")[0]  # the id stays out of the shown table
    status = pd.DataFrame({"status": ["active", "at risk", "can't lose", "(no status)"]})
    assert [row[0] for row in _cells(blocks.table(status)._repr_html_())] == [
        "Active", "At risk", "Can't lose", "(no status)"]  # the values of a column read alike
    shown = blocks.table(df, show_ids=True)._repr_html_()
    assert _head(shown)[0] == "Campaign ID" and _cells(shown)[0][0] == "c1"


def test_a_column_of_long_texts_wraps_and_other_cells_keep_to_one_line():
    df = pd.DataFrame({"segment": ["smb", "enterprise"],
                       "comment": ["Support took days to reply, twice, and nobody called back.",
                                   "ok"]})
    page = blocks.table(df, verbatim=["comment"])._repr_html_()
    assert page.count("<td class='t'>") == 2 and "<td>SMB</td>" in page
    assert re.search(r"\.ck-scroll table\.ck-table td\{white-space:nowrap", CSS.replace(
        ".ck-scroll table.ck-table th,", ""))
    assert re.search(r"td\.t\{white-space:normal", CSS)


def test_a_team_id_column_shows_the_team_names_given():
    df = pd.DataFrame({"employee_id": ["e1", "e2"], "name": ["Ann", "Bo"],
                       "team_id": ["t_smb", "t_ent"], "interactions": [4, 5]})
    page = blocks.table(df, units={"interactions": "count"}, labels={"team_id": "team"},
                        names={"team_id": {"t_smb": "SMB Team", "t_ent": "Enterprise"}})._repr_html_()
    assert _head(page) == ["Name", "Team", "Interactions"]
    assert [row[1] for row in _cells(page)] == ["SMB Team", "Enterprise"]
    plain = blocks.table(df.drop(columns="employee_id"), names={"team_id": {}})._repr_html_()
    assert _head(plain)[1] == "Team" and _cells(plain)[0][1] == "t_smb"  # unknown: as it is


def test_a_rate_from_a_small_sample_is_tagged():
    df = pd.DataFrame({"name": ["A", "B", "C", "D"], "closed": [12, 29, 30, 0],
                       "win_rate": [0.5, 0.2, 0.4, float("nan")]})
    page = blocks.table(df, units={"closed": "count", "win_rate": "rate"},
                        samples={"win_rate": "closed"})._repr_html_()
    assert [row[2] for row in _cells(page)] == ["50.0% small sample", "20.0% small sample",
                                                "40.0%", "—"]
    assert "title='n = 12: fewer than 30, read with care'" in page
    assert "small sample" not in blocks.table(df, units={"win_rate": "rate"})._repr_html_()


# -- tables: the CSV download ------------------------------------------------------------------


def _download(page: str) -> tuple[list[list[str]], str]:
    """The rows of a page's CSV download and its file name."""
    link = re.search(r"<a class='ck-download' href='([^']*)' download='([^']*)'>", page)
    assert link, "no CSV download"
    href = html.unescape(link.group(1))
    prefix = "data:text/csv;charset=utf-8,"
    assert href.startswith(prefix) and not re.search(r"[\s<>\"'\\]", href), href[:200]
    text = unquote(href[len(prefix):])
    assert text.startswith("\ufeff")  # spreadsheets read UTF-8 accents right
    return list(csv.reader(io.StringIO(text[1:]))), link.group(2)


def test_a_long_table_shows_its_top_rows_and_downloads_every_row_raw():
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)],
                       "name": [f"Customer {i}" for i in range(40)],
                       "revenue": [1000.0 * i + 0.5 for i in range(40)],
                       "win_rate": [i / 40 for i in range(40)]})
    page = blocks.table(df, units={"revenue": "money", "win_rate": "rate"}, currency="EUR",
                        caption="Top customers by revenue")._repr_html_()
    assert len(_cells(page)) == tables.MAX_ROWS == 15
    assert "25 more rows are in the CSV download (all 40 rows)." in page
    assert "JSON" not in page and "Download CSV (40 rows)" in page
    rows, name = _download(page)
    assert name == "top-customers-by-revenue.csv"
    assert rows[0] == ["Customer ID", "Name", "Revenue (EUR)", "Win rate (fraction)"]
    assert len(rows) == 41 and rows[40] == ["c39", "Customer 39", "39000.5", "0.975"]


def test_the_download_names_the_team_beside_its_id():
    df = pd.DataFrame({"team_id": ["t1"], "deals": [3]})
    rows, _ = _download(blocks.table(df, names={"team_id": {"t1": "North"}})._repr_html_())
    assert rows == [["Team ID", "Team", "Deals"], ["t1", "North", "3"]]


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


def test_the_download_defuses_spreadsheet_formulas():
    """CSV injection: a campaign or comment that a spreadsheet would run as a formula."""
    df = pd.DataFrame({"comment": [*FORMULAS, "fine"], "amount": [-5.0] * 7})
    page = blocks.table(df, units={"amount": "money"}, verbatim=["comment"])._repr_html_()
    rows, _ = _download(page)
    assert [row[0] for row in rows[1:]] == [f"'{f}" for f in FORMULAS] + ["fine"]
    assert {row[1] for row in rows[1:]} == {"-5.0"}  # numbers stay numbers
    heading = pd.DataFrame({"=cmd()": ["x"]})
    assert _download(blocks.table(heading)._repr_html_())[0][0] == ["'=cmd()"]


def test_the_download_cannot_break_out_of_the_page():
    attack = "x' onclick='alert(1)'><script>alert(1)</script>"
    df = pd.DataFrame({"name": [attack], "n": [1]})
    page = blocks.table(df, caption=attack, filename=attack)._repr_html_()
    assert "<script" not in page and "' onclick='" not in page
    rows, name = _download(page)
    assert rows[1][0] == attack and re.fullmatch(r"[a-z0-9-]+\.csv", name)


ATTACKS = {"cell": "<script>alert(1)</script>", "column": "<img src=x onerror=alert(1)>",
           "caption": "Won & lost <b>deals</b>", "formula": "=HYPERLINK(\"http://evil.example\")"}


def _styled_attack() -> tables.Table:
    """A table of hostile data, then styled and formatted by an analyst as a Styler."""
    df = pd.DataFrame({ATTACKS["column"]: [ATTACKS["cell"], ATTACKS["formula"]],
                       "amount": [5.0, 7.0]})
    shown = blocks.table(df, units={"amount": "money"}, caption=ATTACKS["caption"],
                         verbatim=[ATTACKS["column"]])
    return shown.highlight_max(subset=["amount"]).format(lambda v: f"<i>{v}</i>",
                                                         subset=["amount"])


def test_a_styled_table_escapes_every_text_from_data_once():
    page = _styled_attack()._repr_html_()
    for attack in ATTACKS.values():
        assert attack not in page  # no tag, attribute or ampersand from data survives raw
        assert str(escape(attack)) in page  # ... and each is there, escaped once
    assert "&amp;amp;" not in page and "&amp;lt;" not in page
    assert "&lt;i&gt;7.0&lt;/i&gt;" in page  # an analyst's format is text, not markup
    rows, _ = _download(page)
    assert rows[0][0] == ATTACKS["column"] and rows[1][0] == ATTACKS["cell"]
    assert rows[2][0] == "'" + ATTACKS["formula"]  # the CSV is defused


def test_a_tables_own_to_html_escapes_every_text_from_data():
    exported = _styled_attack().to_html()
    assert "<script" not in exported and "<img" not in exported and "<b>" not in exported
    assert "&lt;script&gt;" in exported and "&lt;img src=x" in exported
    assert "Won &amp; lost" in exported and "&amp;amp;" not in exported


def test_a_totals_row_is_shown_last_and_left_out_of_the_csv():
    df = pd.DataFrame({"channel": ["email", "=cmd"], "leads": [3, 4], "cost": [10.0, 20.0]})
    shown = blocks.table(df, {"leads": "count", "cost": "money"}, currency="EUR",
                         caption="Per channel", max_rows=1, filename="channels",
                         totals={"channel": "Total", "cost": 30.0})
    assert shown.data["channel"].tolist() == ["email", "=cmd", "Total"]
    page = shown.sort_values("cost", ascending=False)._repr_html_()
    assert [c[0] for c in _cells(page)] == ["=cmd", "Total"]  # the top row, then the total
    assert "1 more row is in the CSV download (all 2 rows)." in page
    rows, name = _download(page)
    assert name == "channels.csv" and rows[0] == ["Channel", "Leads", "Cost (EUR)"]
    assert rows[1:] == [["'=cmd", "4", "20.0"], ["email", "3", "10.0"]]  # whole counts again
    pd.testing.assert_frame_equal(df, pd.DataFrame({"channel": ["email", "=cmd"], "leads": [3, 4],
                                                    "cost": [10.0, 20.0]}))  # not mutated


def test_a_table_keeps_the_notebooks_positional_call():
    df = pd.DataFrame({"amount": [1.0, 2.0, 3.0]})
    page = blocks.table(df, {"amount": "money"}, {"amount": "paid"}, "EUR", "Caption", 2)._repr_html_()
    assert _head(page) == ["Paid (EUR)"] and len(_cells(page)) == 2
    assert "1 more row is in the CSV download (all 3 rows)." in page


# -- layout: a table scrolls inside its box ------------------------------------------------


def test_every_table_sits_in_a_box_that_scrolls_sideways():
    page = blocks.table(pd.DataFrame({"a": [1]}))._repr_html_()
    assert re.search(r"<div class='ck-scroll'[^>]*><table class='ck-table'>", page)
    assert re.search(r"\.ck-scroll\{[^}]*overflow-x:auto", CSS)


def _wide_page(tmp_path: Path) -> Path:
    wide = pd.DataFrame({f"column_number_{i}": [f"a_rather_long_value_{i}" * 2] * 3
                         for i in range(12)})
    body = blocks.header({"title": "T", "period_label": "2026-11", "period_dates": "",
                          "team_name": "All", "comparison": None, "timezone": "UTC",
                          "as_of": "", "generated_at": "", "fingerprint": "", "version": ""}).data
    body += blocks.table(wide, caption="A wide table " * 20)._repr_html_()
    probe = ("<script>var m=document.querySelector('main'),d=document.documentElement;"
             "document.body.setAttribute('data-width',m.scrollWidth+' '+m.clientWidth+' '"
             "+d.scrollWidth+' '+d.clientWidth)</script>")
    page = tmp_path / "wide.html"
    page.write_text("<!doctype html><html><head><meta name='viewport' content='width=device-width'>"
                    f"</head><body style='margin:0'><main style='width:390px'>{body}</main>{probe}"
                    "</body></html>",
                    encoding="utf-8")
    return page


def test_a_wide_table_does_not_widen_a_phone_page(tmp_path):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    page = _wide_page(tmp_path)
    # (headless Chromium keeps a window at least 500 px wide: the page is held at 390 px by
    # its main element, as a phone's viewport would hold it)
    proc = chromium(binary, tmp_path / "profile", "--window-size=390,800", "--dump-dom",
                    page.as_uri())
    widths = re.search(r"data-width=\"(\d+) (\d+) (\d+) (\d+)\"", proc.stdout)
    assert widths, proc.stderr[-2000:]
    main_scroll, main_width, page_scroll, page_width = map(int, widths.groups())
    assert main_width == 390 and main_scroll <= main_width and page_scroll <= page_width


def test_long_times_in_minutes_have_thousands_separators():
    assert fmt(1458.4, "minutes") == "1,458 min"


def test_an_amount_a_columns_scale_would_show_as_zero_keeps_its_own():
    """A column of millions showed a slipped deal of 940 as "0.00M" (beside a chart saying
    −940), and −46,100 as "−0.05M": an amount the column's scale shows with fewer than two
    significant digits is shown in its own scale."""
    from crmkit.render.formatting import money_scale, scaled

    millions = money_scale([2_500_000, -940])
    assert scaled(2_500_000, millions) == "2.50M"
    assert scaled(-940, millions) == "−940"
    assert scaled(-46_100, millions) == "−46.1k"
    assert scaled(-104_000, millions) == "−0.10M"  # two digits: the column's scale
    thousands = money_scale([25_000, 950])
    assert scaled(950, thousands) == "950" and scaled(1_500, thousands) == "1.5k"
    assert scaled(0, millions) == "0"
    assert scaled(0.004, millions) == "0"  # zero in its own scale too
