"""The reports layer: each report built from hand-made frames on an in-memory store (the
frames are those of the metric tests), its typed breakdowns, notes and JSON twin."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import test_activity_metrics as A
import test_satisfaction_metrics as S

from crmkit import reports
from crmkit.model import TABLES, empty_frame
from crmkit.render import blocks
from crmkit.render.charts import satisfaction as charts
from crmkit.reports import open_report
from crmkit.store import Store


def test_activity_report_on_in_memory_store():
    frames = {"activities": A._activities(), "deals": A._deals(), "customers": A._customers(),
              "employees": A._employees(), "teams": pd.DataFrame({"team_id": ["a", "b"], "name": ["A", "B"]})}
    for name, df in frames.items():  # the canonical columns this test does not need, left empty
        for col in TABLES[name].columns:
            if col.name not in df:
                df[col.name] = None
    store = Store.from_frames(frames)
    ctx = open_report("activity", period="2025-06", as_of="2025-07-15", store=store)
    data = reports.activity.build(ctx)
    assert data.metrics["interactions"] == 5 and data.comparison["interactions"] == 2
    assert data.breakdowns.went_quiet["name"].tolist() == ["Customer c4", "Customer c11"]
    assert data.breakdowns.went_quiet["owner"].tolist() == ["Ann", "Ann"]
    assert data.breakdowns.top_revenue["customer_id"].tolist() == ["c1", "c2"]
    payload = json.loads(json.dumps(data.to_json()))
    assert payload["metrics"]["customers_active"] == 6
    assert {"interactions_by_type", "customer", "employee", "customer_status", "rfm_segments",
            "cohorts", "went_quiet", "top_revenue"} <= set(payload["breakdowns"])
    assert any("without a customer: 1." in n for n in data.notes)  # a7 in June
    # team "b" (e2) logged a3, a6, a9, a10 and won d2, d3, d4, but every customer is owned by
    # e1 (team "a"): b's interactions are its own activities, its customer figures are empty
    team = reports.activity.build(open_report("activity", period="2025-06", team="b", as_of="2025-07-15",
                                       store=store))
    assert team.metrics["interactions"] == 1 and team.metrics["active_customers"] == 0
    assert team.metrics["new_customers"] == 0 and team.breakdowns.went_quiet.empty
    owner = reports.activity.build(open_report("activity", period="2025-06", team="a",
                                               as_of="2025-07-15", store=store))
    for name in ("active_customers", "new_customers", "customers_active", "customers_lost"):
        assert owner.metrics[name] == data.metrics[name], name  # a owns every customer
    assert owner.breakdowns.went_quiet["customer_id"].tolist() == ["c4", "c11"]
    no_cmp = reports.activity.build(open_report("activity", period="2025-06", compare_to="none",
                                         as_of="2025-07-15", store=store))
    assert no_cmp.comparison is None and no_cmp.breakdowns.went_quiet.empty

def test_satisfaction_report_on_in_memory_store():
    frames = {}
    for name, make in S.FRAMES.items():  # the store wants every canonical column
        df, full = make(), empty_frame(name)
        frames[name] = df.assign(**{c: None for c in full.columns if c not in df.columns})
    store = Store.from_frames(frames, settings={"timezone": "UTC", "currency": "EUR"})
    ctx = open_report("satisfaction", period="2025-06", as_of="2025-07-15", store=store)
    data = reports.satisfaction.build(ctx)
    assert data.metrics["nps"] == pytest.approx(12.5) and data.comparison["nps"] == -100.0
    assert set(data.breakdown_frames()) == {"month", "nps_by_team", "nps_by_segment",
                                    "score_distribution", "verbatims"}
    assert len(data.breakdowns.month) == 12
    published = json.loads(json.dumps(data.to_json(), allow_nan=False))
    assert published["metrics"]["csat"] == 0.6
    assert published["intervals"]["nps"]["n"] == 8
    html = blocks.definitions(reports.satisfaction.SPEC.definitions).data
    assert "retention_rate" in html and "nps_detractor_share" in html

def test_nps_change_is_shown_in_points_not_percent():
    frames = {"survey_responses": S._survey().assign(ticket_id=None)}
    frames |= {n: empty_frame(n) for n in ("teams", "employees", "customers")}
    ctx = open_report("satisfaction", period="2025-06", as_of="2025-07-15",
                         store=Store.from_frames(frames))
    data = reports.satisfaction.build(ctx)
    # June 12.5, May −100: +112.5 points (a relative change would read +112.5%)
    text = charts.nps_change(reports.satisfaction.nps_change_points(data)).data
    assert "+112.5 points against 2025-05" in text
    cards = charts.cards(data, *reports.satisfaction.HEADLINE).data
    assert "data-metric='nps'" in cards and "+112.5%" not in cards


EMPTY_CASES = [
    ("2025-06", "all"),  # an empty database
    ("2025", "all"),  # a long range
    ("2025-06-01..2025-06-01", "all"),  # one day
]


@pytest.mark.parametrize(("period", "team"), EMPTY_CASES)
@pytest.mark.parametrize("report", sorted(reports.REPORTS))
def test_every_report_builds_on_an_empty_database(report, period, team):
    store = Store.from_frames({n: empty_frame(n) for n in TABLES},
                              settings={"timezone": "UTC", "currency": "EUR"})
    ctx = open_report(report, period=period, team=team, as_of="2025-07-15", store=store)
    data = reports.REPORTS[report].build(ctx)
    payload = json.loads(json.dumps(data.to_json(), allow_nan=False))
    assert payload["report"] == report and payload["period"]["label"] == period


@pytest.mark.parametrize("period", ["2020-01", "2000-01-01..2030-12-31"])
def test_activity_report_builds_before_and_around_the_data(period):
    """Before the first purchase (no cohort) and over a range far wider than the data."""
    frames = {"activities": A._activities(), "deals": A._deals(), "customers": A._customers(),
              "employees": A._employees(), "teams": pd.DataFrame({"team_id": ["a", "b"], "name": ["A", "B"]})}
    for name, df in frames.items():
        for col in TABLES[name].columns:
            if col.name not in df:
                df[col.name] = None
    ctx = open_report("activity", period=period, as_of="2031-01-15", store=Store.from_frames(frames))
    data = reports.activity.build(ctx)
    everything = period != "2020-01"
    assert data.metrics["interactions"] == (len(A._activities()) if everything else 0)
    assert data.breakdowns.cohorts.empty


@pytest.mark.parametrize(("period", "months"), [
    ("2025-06", ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]),
    # ends inside March (2025-03-10): March once, then the six months after it
    ("2025-W10", ["2025-03", "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09"]),
    ("2025-12-01..2025-12-31", ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04",
                                "2026-05", "2026-06"]),
    ("2025-12-05..2025-12-06", ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04",
                                "2026-05", "2026-06"]),
])
def test_the_pipeline_by_expected_close_lists_each_month_once(period, months):
    store = Store.from_frames({n: empty_frame(n) for n in TABLES},
                              settings={"timezone": "UTC", "currency": "EUR"})
    ctx = open_report("sales", period=period, as_of="2026-12-31", store=store)
    table = reports.REPORTS["sales"].build(ctx).breakdowns.pipeline_by_expected_close
    assert list(table["month"]) == months


def test_the_catalogue_and_the_registry_name_the_same_reports():
    """The catalogue (what a run's command reads) and the registry (what a kernel runs) list
    the same reports in the same order, each spec with its entry's id, title and index
    KPIs; a report module left out of the catalogue would be left out of the registry."""
    from crmkit import reports
    from crmkit.catalog import CATALOG

    assert list(reports.REPORTS) == list(CATALOG) and set(reports.MODULES) == set(CATALOG)
    for report, spec in reports.REPORTS.items():
        entry = CATALOG[report]
        assert (spec.id, spec.title, spec.index_kpis) == (entry.id, entry.title, entry.index_kpis)
        assert reports.MODULES[report].SPEC is spec
