"""What changed (crmkit.reports.summary, crmkit.render.whatchanged): every sentence of every
report of the monthly pack, and of an empty period, is traceable to the JSON twin; no change
is claimed without a significance test; small samples are said; drivers come from the
breakdowns; names from the data are escaped on the page."""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any

import pytest

from crmkit import reports
from crmkit.render.whatchanged import summary
from crmkit.reports import open_report
from crmkit.reports.summary import summarize
from crmkit.store import Store
from crmkit.verdict import MINUS

AS_OF = os.environ["CRMKIT_AS_OF"]  # pinned by the root conftest.py
PERIOD = "2025-06"  # the monthly preset's "last-month" at the pinned as-of date
EMPTY = "2020-01"  # before the demo data


def documented(payload: dict[str, Any]) -> dict[str, Any]:
    """A twin with the documented ``changes`` shape: rates change in percentage points
    (``change_pp``), scores with change_in_points in points (``change_points``), both with
    ``change`` null. A twin that has it already is left as it is."""
    for name, ch in (payload.get("changes") or {}).items():
        d = payload["definitions"].get(name)
        if d is None or "change_pp" in ch or "change_points" in ch:
            continue
        now, before = payload["metrics"].get(name), (payload["comparison"] or {}).get(name)
        delta = now - before if now is not None and before is not None else None
        if d["unit"] == "rate":
            ch.update(change=None, change_pp=None if delta is None else 100 * delta)
        elif d["change_in_points"]:
            ch.update(change=None, change_points=delta)
    return json.loads(json.dumps(payload, allow_nan=False))


def twin(report: str, store: Store, period: str = PERIOD, team: str = "all") -> dict[str, Any]:
    ctx = open_report(report, period=period, team=team, as_of=AS_OF, store=store)
    return documented(reports.REPORTS[report].build(ctx).to_json())


@pytest.fixture(scope="module")
def store(demo_db) -> Store:
    return Store.open(demo_db)


@pytest.fixture(scope="module")
def pack(monthly_pack, store) -> dict[tuple[str, str], dict[str, Any]]:
    """Every report of the monthly preset (company-wide and every team): the JSON twins the
    session's monthly pack published (tests/conftest.py), on the pinned demo with a team
    without records."""
    assert AS_OF == "2025-07-01"  # the as-of date of the pack, whose last month is PERIOD
    twins = {key: documented(twin) for key, twin in monthly_pack.twins(PERIOD).items()}
    assert {(r, team) for team in ["all", *store.teams()] for r in reports.REPORTS} < set(twins)
    return twins


@pytest.fixture(scope="module")
def empty(store) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r, team): twin(r, store, period=EMPTY, team=team)
            for team in ("all", next(iter(store.teams()))) for r in reports.REPORTS}


# -- tracing a sentence to the twin -------------------------------------------------------

_NUMBER = re.compile(r"[+\u2212-]?\d+(?:,\d{3})*(?:\.\d+)?[kM]?")
_MOVED = re.compile(r"\b(rose|fell|grew|dropped|increased|decreased|up|down)\b")


def value_at(payload: Any, path: str) -> Any:
    """The value at a dotted path; KeyError when the path does not exist."""
    value = payload
    for key in path.split("."):
        if isinstance(value, list):
            value = value[int(key)]
        elif isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            raise KeyError(path)
    return value


def renderings(value: float) -> set[str]:
    """How a number may be written: whole, 1 or 2 or 3 decimals, as a percentage, compact."""
    a = abs(value)
    return {f"{round(a):,}", f"{a:,.0f}", f"{a:,.1f}", f"{a:,.2f}", f"{a:.3f}",
            f"{100 * a:,.1f}", f"{a / 1e3:,.1f}k", f"{a / 1e6:,.2f}M"}


def matches(token: str, value: float) -> bool:
    sign, magnitude = (token[0], token[1:]) if token[0] in "+-\u2212" else ("", token)
    if magnitude not in renderings(value) or sign == "-":  # a hyphen is never a minus
        return False
    if sign == "+":
        return value > 0
    if sign == MINUS:
        return value < 0
    return value >= 0 or not any(c in "123456789" for c in magnitude)


def untraced(item: Mapping[str, Any], payload: Mapping[str, Any]) -> list[str]:
    """What in a sentence is not traced: refs that are not the twin's values at their
    paths, and numbers in the text that are none of its refs as formatted."""
    wrong = [f"{path}={v!r}" for path, v in item["refs"].items()
             if v is None or value_at(payload, path) != v]
    text = item["text"]
    for v in sorted((v for v in item["refs"].values() if isinstance(v, str)), key=len,
                    reverse=True):
        text = text.replace(v, " ")  # names, labels, periods: traced as text
    numbers = [v for v in item["refs"].values()
               if isinstance(v, int | float) and not isinstance(v, bool)]
    p_values = [v for path, v in item["refs"].items() if path.endswith("p_value")]
    if "p<0.001" in text:
        wrong += [] if any(p < 0.001 for p in p_values) else ["p<0.001 without such a p-value"]
        text = text.replace("p<0.001", " ")
    wrong += [token for token in _NUMBER.findall(text)
              if not any(matches(token, v) for v in numbers)]
    return wrong


def assert_traceable(payload: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
    for item in items:
        assert set(item) >= {"kind", "text", "refs"}
        assert not untraced(item, payload), (item["text"], untraced(item, payload))


def assert_claims_tested(payload: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
    """A sentence that says something went up or down is about a metric whose change was
    tested and found significant, and says so."""
    for item in items:
        if _MOVED.search(item["text"]):
            name = item.get("metric")
            assert item["kind"] == "movement" and name, item["text"]
            change = payload["changes"][name]
            assert change["significant"] is True and math.isfinite(change["p_value"])
            assert "significant (p" in item["text"] and "not significant" not in item["text"]
            assert item["refs"][f"changes.{name}.p_value"] == change["p_value"]


def assert_small_samples_said(payload: Mapping[str, Any], items: list[dict[str, Any]]) -> None:
    """A rate or score stated from fewer than 30 observations is flagged in its sentence."""
    samples = payload.get("samples") or {}
    for item in items:
        for path in item["refs"]:
            name = path.removeprefix("metrics.")
            if path.startswith("metrics.") and 0 < samples.get(name, 30) < 30:
                assert "small sample" in item["text"], item["text"]
                assert item["refs"].get(f"samples.{name}") == samples[name] or (
                    f"samples.{name}" not in item["refs"] and item["kind"] == "flag")


# -- the demo pack ------------------------------------------------------------------------


def test_every_sentence_of_the_monthly_pack_is_traceable_to_its_twin(pack):
    kinds = set()
    for (report, team), payload in pack.items():
        items = summarize(payload)
        quiet = all(v in (None, 0) for v in payload["metrics"].values())  # nothing recorded
        assert (1 if quiet else 3) <= len(items) <= 5, (report, team, [i["text"] for i in items])
        assert_traceable(payload, items)
        assert_claims_tested(payload, items)
        assert_small_samples_said(payload, items)
        json.dumps(items, allow_nan=False)
        kinds |= {(report, item["kind"]) for item in items}
    # each report says more than its movements: the trend, drivers and flags are written
    assert {("sales", "trend"), ("satisfaction", "trend"), ("sales", "driver"),
            ("marketing", "driver"), ("activity", "flag"), ("satisfaction", "flag")} <= kinds


def test_the_same_twin_gives_the_same_sentences_and_is_not_changed(pack):
    payload = pack[("sales", "all")]
    before = copy.deepcopy(payload)
    assert summarize(payload) == summarize(before)
    assert payload == before


def test_an_empty_period_says_there_is_nothing_to_compare(empty):
    for (report, team), payload in empty.items():
        items = summarize(payload)
        assert len(items) == 1 and items[0]["kind"] == "empty", (report, team, items)
        assert "nothing to compare" in items[0]["text"]
        assert EMPTY in items[0]["text"] and payload["team_name"] in items[0]["text"]
        assert_traceable(payload, items)


def test_a_period_the_data_does_not_cover_is_empty_even_with_snapshot_counts(pack):
    """A period outside the data can still hold status counts taken at its end (customers
    at risk), which differ from the month before: a summary that read them as a significant
    change would mislead. The twin's coverage says the period is empty."""
    payload = copy.deepcopy(pack[("activity", "all")])
    payload["metrics"] = {k: 0 for k in payload["metrics"]} | {"customers_at_risk": 1347}
    payload["coverage"] = {"empty": True, "comparison_before_data": False}
    items = summarize(payload)
    assert [i["kind"] for i in items] == ["empty"]
    assert items[0]["text"] == (f"Nothing was recorded for All teams in {PERIOD}, so there is "
                                f"nothing to compare with {payload['comparison_period']['label']}.")


# -- claims, tests and samples ------------------------------------------------------------


def _with_change(payload: dict[str, Any], name: str, now: float, before: float, p: float | None,
                 significant: bool | None) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    payload.pop("summary", None)  # the stored sentences were written from the real values
    payload["metrics"][name], payload["comparison"][name] = now, before
    d = payload["definitions"][name]
    change: dict[str, Any] = {"change": (now - before) / abs(before), "p_value": p,
                              "significant": significant}
    if d["unit"] == "rate":
        change.update(change=None, change_pp=100 * (now - before))
    elif d["change_in_points"]:
        change.update(change=None, change_points=now - before)
    payload["changes"] = {k: {**v, "significant": False} for k, v in payload["changes"].items()}
    payload["changes"][name] = change
    return payload


def _movement_texts(payload: dict[str, Any]) -> list[str]:
    return [i["text"] for i in summarize(payload) if i["kind"] == "movement"]


def test_no_change_is_called_up_or_down_without_a_test(pack):
    sales = pack[("sales", "all")]
    untested = _with_change(sales, "forecast", 900_000.0, 300_000.0, None, None)
    assert not any("Forecast" in t for t in _movement_texts(untested))
    not_significant = _with_change(sales, "revenue", 900_000.0, 300_000.0, 0.2, False)
    texts = _movement_texts(not_significant)
    assert texts == [f"No number changed significantly against {sales['comparison_period']['label']}."]


def test_a_significant_change_is_stated_with_its_test_and_direction(pack):
    sales = pack[("sales", "all")]
    fell = _with_change(sales, "revenue", 300_000.0, 400_000.0, 0.0004, True)
    [text] = [t for t in _movement_texts(fell) if t.startswith("Revenue")]
    assert f"Revenue fell to 300.0k EUR in {PERIOD}" in text
    assert f"{MINUS}25.0%, significant (p<0.001)" in text
    html = summary(fell).data
    assert "class='ck-down'>▼</span> Revenue fell" in html
    lost = _with_change(sales, "deals_lost", 50, 80, 0.01, True)  # fewer lost deals: better
    assert "class='ck-up'>▼</span> Deals lost fell" in summary(lost).data


def test_a_rate_changes_in_percentage_points_and_nps_in_points(pack):
    sales = _with_change(pack[("sales", "all")], "win_rate", 0.30, 0.40, 0.002, True)
    [text] = [t for t in _movement_texts(sales) if t.startswith("Win rate")]
    assert f"Win rate fell to 30.0% in {PERIOD} from 40.0%" in text
    assert f"{MINUS}10.0 pp, significant (p=0.002)" in text and "−25.0%" not in text
    nps = _with_change(pack[("satisfaction", "all")], "nps", 14.6, -9.6, 0.047, True)
    [text] = [t for t in _movement_texts(nps) if t.startswith("NPS")]
    assert f"NPS rose to 14.6 in {PERIOD} from {MINUS}9.6" in text and "+24.2 pts" in text


def test_a_rate_from_a_small_sample_is_never_stated_without_saying_so(pack):
    sales = _with_change(pack[("sales", "all")], "win_rate", 0.25, 0.60, 0.03, True)
    sales["samples"]["win_rate"] = 12
    items = summarize(sales)
    [text] = [i["text"] for i in items if i.get("metric") == "win_rate"]
    assert text.endswith("significant (p=0.030); a small sample: n=12.")
    assert_small_samples_said(sales, items)
    assert_traceable(sales, items)


def test_a_comparison_before_the_data_is_not_a_fall(pack):
    sales = _with_change(pack[("sales", "all")], "revenue", 300_000.0, 0.0001, 0.001, True)
    sales["comparison"]["revenue"] = 0
    sales["coverage"] = {"empty": False, "comparison_before_data": True}
    assert not any(t.startswith("Revenue") for t in _movement_texts(sales))


# -- drivers and flags, from the breakdowns -----------------------------------------------


def test_the_top_seller_is_the_row_with_the_most_revenue(pack):
    sales = copy.deepcopy(pack[("sales", "all")])
    rows = sales["breakdowns"]["employee"]
    last = len(rows) - 1
    rows[last]["revenue"] = max(r["revenue"] for r in rows) + 1
    items = summarize(sales)
    [text] = [i["text"] for i in items if i["text"].startswith("The seller with the most")]
    assert rows[last]["name"] in text
    assert_traceable(sales, items)


def test_the_person_named_behind_a_change_of_a_team_total_moved_most_that_way(pack):
    performance = _with_change(pack[("performance", "all")], "activities", 3000, 2000, 1e-6, True)
    rows = performance["breakdowns"]["employee"]
    last = len(rows) - 1
    rows[last].update(activities=900, activities_previous=100)
    items = summarize(performance)
    [text] = [i["text"] for i in items if "contributed most" in i["text"]]
    assert text.startswith(f"{rows[last]['name']} contributed most to the change of Activities: "
                           "900 against 100 in")
    assert_traceable(performance, items)


def test_flags_name_overload_negative_roi_and_quiet_customers(pack):
    performance = copy.deepcopy(pack[("performance", "all")])
    for person in performance["breakdowns"]["employee"]:
        person["workload_flag"] = ""
    row = performance["breakdowns"]["employee"][0]
    row.update(workload_flag="high", workload=300, workload_ratio=2.5, workload_role_median=120.0)
    flags = [i for i in summarize(performance) if i["kind"] == "flag"]
    assert f"Possible overload: {row['name']} with a workload of 300, 2.5× the median of the role (120)." in [
        i["text"] for i in flags]
    idle = performance["breakdowns"]["employee"][1]  # far under: not "0.0× the median"
    idle.update(workload_flag="low", workload=10, workload_ratio=10 / 313, workload_role_median=313.0)
    texts = [i["text"] for i in summarize(performance) if i["kind"] == "flag"]
    assert f"Possibly idle: {idle['name']} with a workload of 10, 0.032× the median of the role (313)." in texts
    marketing = copy.deepcopy(pack[("marketing", "all")])
    campaign = marketing["breakdowns"]["campaign"][0]
    campaign.update(roi=-0.4, cost=12_500.0)
    texts = [i["text"] for i in summarize(marketing)]
    assert f"{campaign['name']} (ROI {MINUS}40.0% on 12.5k EUR of cost)" in " ".join(texts)
    activity = pack[("activity", "all")]
    first = next(r for r in activity["breakdowns"]["went_quiet"] if r["revenue_365d"] > 0)
    assert any(first["name"] in t for t in (i["text"] for i in summarize(activity)))


# -- the page -----------------------------------------------------------------------------


HOSTILE = "<script>alert(1)</script> & Co 2025"


def test_names_from_the_data_are_escaped_on_the_page(pack):
    sales = copy.deepcopy(pack[("sales", "all")])
    sales.pop("summary", None)  # the stored sentences were written from the real names
    rows = sales["breakdowns"]["employee"]
    rows[0].update(name=HOSTILE, revenue=max(r["revenue"] for r in rows) + 1)
    items = summarize(sales)
    assert any(HOSTILE in i["text"] for i in items)  # plain text in the twin
    assert_traceable(sales, items)  # the digits of a name are the name's, not a number
    html = summary(sales).data
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co 2025" in html
    assert html.count("<li") == len(items)


def test_the_block_shows_the_stored_summary_of_a_twin(pack):
    sales = copy.deepcopy(pack[("sales", "all")])
    sales["summary"] = [{"kind": "flag", "text": "Stored sentence <b>", "refs": {}}]
    html = summary(sales).data
    assert "Stored sentence &lt;b&gt;" in html and html.count("<li") == 1
