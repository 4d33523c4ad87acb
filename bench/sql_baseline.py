"""Hand-written DuckDB SQL for the headline KPIs of every report: the baseline the metric
layer is measured against (``bench/metric_layer.py``).

Written from the definitions in ``docs/METRICS.md`` and the tables of
``docs/DATA_MODEL.md`` only, not from the metric code, so that it checks the metric layer's
numbers as well as its speed. One query per report computes its KPIs company-wide for the
report's period and its comparison period at once (one row per period, as the cards show
both); only the p-value of the marketing chi-square test is finished in Python, from the
statistic and degrees of freedom the query returns. The periods must be over at the as-of
day: of a period in progress, only the forecast is read as the metric layer reads it
("at the period end" there means at the as-of instant, which the other queries do not do).

Covered, per report (every number of the JSON twin's ``metrics``):

* sales: deals_created, deals_won, deals_lost, revenue, win_rate, avg_deal_size,
  deal_size_median, sales_cycle_days_median/mean/p90, lead_conversion, open_deals,
  open_pipeline, weighted_pipeline, quota_target, quota_attainment, pipeline_velocity,
  forecast, forecast_error;
* activity: interactions (all and per type), active_customers, new_customers,
  customers_active, customers_at_risk, customers_lost;
* marketing: cost, leads, lead_conversion, deals_won, revenue, cost_per_lead, cac, roi,
  acquired_customers, conversion_chi2_p_value;
* performance: deals_won, revenue, win_rate, quota_attainment, activities,
  tasks_completed, tasks_overdue, tasks_on_time_rate, tickets_resolved,
  tickets_unanswered, first_response_minutes_median/p90, resolution_hours_median,
  sla_compliance, csat;
* satisfaction: nps and its counts and shares, csat, csat_responses, ces, ces_responses,
  retention_rate with its start, retained and end customers.

Run ``python bench/sql_baseline.py DATABASE REPORT PERIOD [--as-of DAY]`` to print them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from scipy.special import chdtrc

#: The canonical activity types (DATA_MODEL.md), in the order the reports list them.
TYPES = ("call", "email", "meeting", "message", "site_visit", "request", "note", "other")


@dataclass(frozen=True)
class Window:
    """One period as the SQL reads it: its UTC instants ``[start, end)``, its local days
    ``[first_day, end_day)`` (quotas and costs are dated by day), and the instant the
    report is made at (``as_of``, naive UTC); its leads are those created and converted
    before ``converted_by`` (naive UTC: the as-of instant for the period, the same age for
    its comparison period); ``whole``: not cut at the as-of instant (a to-date period is
    cut, and so is a period not over), ``horizon``: the end of its whole unit (the month end
    for month-to-date), and ``quota_end_day``: the end of the days its quota target covers
    (a period not over: its whole days; default ``end_day``)."""

    name: str
    start: datetime
    end: datetime
    first_day: date
    end_day: date
    as_of: datetime
    converted_by: datetime
    whole: bool = True
    horizon: datetime | None = None
    quota_end_day: date | None = None


def _periods_sql(windows: list[Window]) -> tuple[str, dict[str, Any]]:
    """A ``p`` CTE with one row per window: ``name, s, e, ds, de, a, cb, w, h`` (bound
    parameters)."""
    rows, values = [], {}
    for i, w in enumerate(windows):
        rows.append(f"($n{i}, $s{i}::TIMESTAMP, $e{i}::TIMESTAMP, $ds{i}::DATE, $de{i}::DATE, "
                    f"$a{i}::TIMESTAMP, $cb{i}::TIMESTAMP, $w{i}::BOOLEAN, $h{i}::TIMESTAMP, "
                    f"$qe{i}::DATE)")
        values.update({f"n{i}": w.name, f"s{i}": w.start, f"e{i}": w.end,
                       f"ds{i}": w.first_day, f"de{i}": w.end_day, f"a{i}": w.as_of,
                       f"cb{i}": w.converted_by, f"w{i}": w.whole,
                       f"h{i}": w.horizon or w.end, f"qe{i}": w.quota_end_day or w.end_day})
    return f"p(name, s, e, ds, de, a, cb, w, h, qe) AS (VALUES {', '.join(rows)})", values


# -- sales ---------------------------------------------------------------------------------

SALES = """
WITH {periods},
closed AS (
  SELECT p.name,
    count(*) FILTER (WHERE d.status = 'won') AS deals_won,
    count(*) FILTER (WHERE d.status = 'lost') AS deals_lost,
    coalesce(sum(d.amount) FILTER (WHERE d.status = 'won'), 0) AS revenue,
    median(d.amount) FILTER (WHERE d.status = 'won') AS deal_size_median,
    median(epoch(d.closed_at - d.created_at) / 86400) FILTER (WHERE d.status = 'won') AS cyc_med,
    avg(epoch(d.closed_at - d.created_at) / 86400) FILTER (WHERE d.status = 'won') AS cyc_mean,
    quantile_cont(epoch(d.closed_at - d.created_at) / 86400, 0.9)
      FILTER (WHERE d.status = 'won') AS cyc_p90
  FROM p JOIN deals d ON d.closed_at >= p.s AND d.closed_at < p.e GROUP BY p.name),
created AS (
  SELECT p.name, count(*) AS deals_created
  FROM p JOIN deals d ON d.created_at >= p.s AND d.created_at < p.e GROUP BY p.name),
rebuilt AS (
  SELECT p.name, count(*) AS open_deals, coalesce(sum(d.amount), 0) AS open_pipeline,
    coalesce(sum(d.amount * d.probability), 0) AS weighted_pipeline
  FROM p JOIN deals d ON d.created_at < p.e AND (d.closed_at IS NULL OR d.closed_at >= p.e)
  GROUP BY p.name),
-- every period whole and over with a pipeline snapshot taken at its end (up to a day
-- before): the open deals as that snapshot recorded them, else as the deals are now
ends AS ({last_snapshot_at_end}),
recorded AS (
  SELECT ends.name, count(x.taken_at) AS open_deals, coalesce(sum(x.amount), 0) AS open_pipeline,
    coalesce(sum(x.amount * x.probability), 0) AS weighted_pipeline
  FROM ends LEFT JOIN crmkit.pipeline_snapshots x ON x.taken_at = ends.taken_at
  GROUP BY ends.name),
opened AS (
  SELECT * FROM recorded WHERE (SELECT count(*) FROM ends) = (SELECT count(*) FROM p)
  UNION ALL
  SELECT * FROM rebuilt WHERE (SELECT count(*) FROM ends) < (SELECT count(*) FROM p)),
lead AS (
  SELECT p.name, count(*) AS leads, count(*) FILTER (WHERE l.converted_at < p.cb) AS converted
  FROM p JOIN leads l ON l.created_at >= p.s AND l.created_at < least(p.e, p.cb)
  GROUP BY p.name),
quota AS (
  SELECT p.name, sum(q.target_amount
    * (least(q.period_end, p.qe) - greatest(q.period_start, p.ds))
    / (q.period_end - q.period_start)) AS quota_target
  FROM p JOIN quotas q ON q.period_start < p.qe AND q.period_end > p.ds GROUP BY p.name),
-- a past period: what was forecast at its start, as the last pipeline snapshot taken in the
-- 7 days before it began recorded it, else from the deals as they are; one not over: won so
-- far + what is due between now and its end (an open deal whose expected close has passed
-- is overdue)
snap AS ({last_snapshot_at_start}),
made AS (
  SELECT snap.name, coalesce(sum(x.amount * x.probability), 0) AS weighted
  FROM snap JOIN p USING (name) LEFT JOIN crmkit.pipeline_snapshots x
    ON x.taken_at = snap.taken_at AND x.expected_close_at >= p.s AND x.expected_close_at < p.e
  GROUP BY snap.name),
fp AS (SELECT name, CASE WHEN w AND a >= e THEN e ELSE h END AS e,
  CASE WHEN w AND a >= e THEN s ELSE least(a, e) END AS k,
  CASE WHEN w AND a >= e THEN s ELSE least(a, e) END AS lo
  FROM p),
forecast AS (
  SELECT fp.name, coalesce(sum(d.amount * d.probability), 0) AS weighted
  FROM fp JOIN deals d ON d.created_at < fp.k AND (d.closed_at IS NULL OR d.closed_at >= fp.k)
   AND d.expected_close_at >= fp.lo AND d.expected_close_at < fp.e
  GROUP BY fp.name),
won_so_far AS (
  SELECT p.name, coalesce(sum(d.amount), 0) AS won
  FROM p JOIN deals d ON d.status = 'won' AND d.closed_at >= p.s AND d.closed_at < least(p.e, p.a)
  GROUP BY p.name)
SELECT p.name, p.w AND p.a >= p.e AS past, coalesce(c.deals_created, 0) AS deals_created,
  coalesce(x.deals_won, 0) AS deals_won, coalesce(x.deals_lost, 0) AS deals_lost,
  coalesce(x.revenue, 0) AS revenue, x.deal_size_median, x.cyc_med, x.cyc_mean, x.cyc_p90,
  coalesce(l.leads, 0) AS leads, coalesce(l.converted, 0) AS converted,
  coalesce(o.open_deals, 0) AS open_deals, coalesce(o.open_pipeline, 0) AS open_pipeline,
  coalesce(o.weighted_pipeline, 0) AS weighted_pipeline, q.quota_target,
  CASE WHEN (SELECT count(*) FROM snap) = (SELECT count(*) FROM p) THEN coalesce(m.weighted, 0)
       ELSE coalesce(f.weighted, 0) END AS weighted_due, coalesce(w.won, 0) AS won_so_far
FROM p LEFT JOIN closed x USING (name) LEFT JOIN created c USING (name)
  LEFT JOIN opened o USING (name) LEFT JOIN lead l USING (name) LEFT JOIN quota q USING (name)
  LEFT JOIN forecast f USING (name) LEFT JOIN won_so_far w USING (name)
  LEFT JOIN made m USING (name)
"""



def _last_snapshot(at: str, window: str) -> str:
    """Per period whole and over: the last pipeline snapshot taken at the instant ``at`` of
    ``p`` or up to ``window`` before it (``name, taken_at``)."""
    return f"""
  SELECT p.name, max(t.taken_at) AS taken_at
  FROM p JOIN (SELECT DISTINCT taken_at FROM crmkit.pipeline_snapshots) t
    ON t.taken_at <= p.{at} AND t.taken_at >= p.{at} - INTERVAL {window}
  WHERE p.w AND p.a >= p.e GROUP BY p.name"""


SALES = SALES.replace("{last_snapshot_at_end}", _last_snapshot("e", "1 DAY")).replace(
    "{last_snapshot_at_start}", _last_snapshot("s", "7 DAY"))


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _sales(r: dict[str, Any]) -> dict[str, Any]:
    won, lost, revenue = r["deals_won"], r["deals_lost"], float(r["revenue"])
    win_rate, avg = _ratio(won, won + lost), _ratio(revenue, won)
    forecast = float(r["weighted_due"]) if r["past"] else float(r["won_so_far"] + r["weighted_due"])
    velocity = (None if None in (win_rate, avg) or not r["cyc_mean"]
                else r["open_deals"] * win_rate * avg / r["cyc_mean"])
    return {
        "deals_created": r["deals_created"], "deals_won": won, "deals_lost": lost,
        "revenue": revenue, "win_rate": win_rate, "avg_deal_size": avg,
        "deal_size_median": r["deal_size_median"], "sales_cycle_days_median": r["cyc_med"],
        "sales_cycle_days_mean": r["cyc_mean"], "sales_cycle_days_p90": r["cyc_p90"],
        "lead_conversion": _ratio(r["converted"], r["leads"]), "open_deals": r["open_deals"],
        "open_pipeline": float(r["open_pipeline"]),
        "weighted_pipeline": float(r["weighted_pipeline"]),
        # no quota overlaps the period: no target (N/A), not a target of 0
        "quota_target": None if r["quota_target"] is None else float(r["quota_target"]),
        "quota_attainment": _ratio(revenue, None if r["quota_target"] is None else float(r["quota_target"])),
        "pipeline_velocity": velocity, "forecast": forecast,
        "forecast_error": _ratio(forecast - revenue, revenue) if r["past"] else None,
    }


# -- customer activity ---------------------------------------------------------------------

ACTIVITY = """
WITH {periods},
contact AS (
  SELECT customer_id, occurred_at AS at FROM activities WHERE customer_id IS NOT NULL
  UNION ALL
  SELECT customer_id, closed_at FROM deals
  WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at IS NOT NULL),
typed AS (
  SELECT p.name, count(*) AS interactions, {type_counts}
  FROM p JOIN activities a ON a.occurred_at >= p.s AND a.occurred_at < p.e GROUP BY p.name),
active AS (
  SELECT p.name, count(DISTINCT c.customer_id) AS active_customers
  FROM p JOIN contact c ON c.at >= p.s AND c.at < p.e GROUP BY p.name),
first_won AS (
  SELECT customer_id, min(closed_at) AS first_at FROM deals
  WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at IS NOT NULL
  GROUP BY customer_id),
fresh AS (
  SELECT p.name, count(*) AS new_customers
  FROM p JOIN first_won f ON f.first_at >= p.s AND f.first_at < p.e GROUP BY p.name),
-- status is taken at the period end, or at the as-of instant while the period is not over
snap AS (SELECT name, least(e, greatest(a, s)) AS t FROM p),
last_contact AS (
  SELECT snap.name, snap.t, max(c.at) AS last_at
  FROM snap JOIN contact c ON c.at < snap.t GROUP BY snap.name, snap.t, c.customer_id),
status AS (
  SELECT name,
    count(*) FILTER (WHERE last_at >= t - INTERVAL 90 DAY) AS customers_active,
    count(*) FILTER (WHERE last_at < t - INTERVAL 90 DAY
                       AND last_at >= t - INTERVAL 180 DAY) AS customers_at_risk,
    count(*) FILTER (WHERE last_at < t - INTERVAL 180 DAY) AS customers_lost
  FROM last_contact GROUP BY name)
SELECT p.name, coalesce(ty.interactions, 0) AS interactions, {type_columns},
  coalesce(ac.active_customers, 0) AS active_customers,
  coalesce(fr.new_customers, 0) AS new_customers,
  coalesce(st.customers_active, 0) AS customers_active,
  coalesce(st.customers_at_risk, 0) AS customers_at_risk,
  coalesce(st.customers_lost, 0) AS customers_lost
FROM p LEFT JOIN typed ty USING (name) LEFT JOIN active ac USING (name)
  LEFT JOIN fresh fr USING (name) LEFT JOIN status st USING (name)
"""


def _activity_sql() -> str:
    counts = ", ".join(f"count(*) FILTER (WHERE a.type = '{t}') AS interactions_{t}" for t in TYPES)
    columns = ", ".join(f"coalesce(ty.interactions_{t}, 0) AS interactions_{t}" for t in TYPES)
    return ACTIVITY.replace("{type_counts}", counts).replace("{type_columns}", columns)


# -- marketing -----------------------------------------------------------------------------

MARKETING = """
WITH {periods},
cost AS (
  SELECT p.name, sum(c.cost) AS cost
  FROM p JOIN campaign_costs c ON c.date >= p.ds AND c.date < p.de GROUP BY p.name),
lead_channel AS (
  SELECT l.created_at, l.campaign_id, l.converted_at,
    CASE WHEN trim(coalesce(CASE WHEN l.campaign_id IS NULL THEN l.channel ELSE c.channel END,
                            '')) = ''
         THEN '(unknown)'
         ELSE CASE WHEN l.campaign_id IS NULL THEN l.channel ELSE c.channel END END AS channel
  FROM leads l LEFT JOIN campaigns c USING (campaign_id)),
lead AS (
  SELECT p.name, count(*) FILTER (WHERE l.campaign_id IS NOT NULL) AS leads,
    count(*) FILTER (WHERE l.campaign_id IS NOT NULL AND l.created_at < p.cb) AS aged,
    count(*) FILTER (WHERE l.campaign_id IS NOT NULL AND l.created_at < p.cb
                     AND l.converted_at < p.cb) AS converted
  FROM p JOIN lead_channel l ON l.created_at >= p.s AND l.created_at < p.e GROUP BY p.name),
by_channel AS (
  SELECT p.name, l.channel, count(*) AS n, count(*) FILTER (WHERE l.converted_at < p.cb) AS yes
  FROM p JOIN lead_channel l ON l.created_at >= p.s AND l.created_at < least(p.e, p.cb)
  GROUP BY p.name, l.channel),
chi2 AS (  -- Pearson's chi-square of converted / not converted by channel
  SELECT name, count(*) - 1 AS df,
    sum((yes - n * ty / tn) ^ 2 / (n * ty / tn)
        + ((n - yes) - n * (tn - ty) / tn) ^ 2 / (n * (tn - ty) / tn)) AS statistic,
    min(ty) AS total_yes, min(tn - ty) AS total_no
  FROM (SELECT *, sum(yes) OVER (PARTITION BY name) AS ty, sum(n) OVER (PARTITION BY name) AS tn
        FROM by_channel)
  GROUP BY name),
attributed AS (
  SELECT d.deal_id, d.customer_id, d.status, d.amount, d.closed_at,
    coalesce(d.campaign_id, l.campaign_id) AS campaign_id
  FROM deals d LEFT JOIN leads l USING (lead_id)),
won AS (
  SELECT p.name, count(*) AS deals_won, coalesce(sum(a.amount), 0) AS revenue
  FROM p JOIN attributed a ON a.status = 'won' AND a.campaign_id IS NOT NULL
    AND a.closed_at >= p.s AND a.closed_at < p.e GROUP BY p.name),
first_won AS (
  SELECT customer_id, first(campaign_id ORDER BY closed_at, deal_id) AS campaign_id,
    min(closed_at) AS first_at
  FROM attributed WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at IS NOT NULL
  GROUP BY customer_id),
acquired AS (
  SELECT p.name, count(*) AS acquired_customers
  FROM p JOIN first_won f ON f.campaign_id IS NOT NULL AND f.first_at >= p.s AND f.first_at < p.e
  GROUP BY p.name)
SELECT p.name, coalesce(co.cost, 0) AS cost, coalesce(le.leads, 0) AS leads,
  coalesce(le.aged, 0) AS aged, coalesce(le.converted, 0) AS converted,
  coalesce(wo.deals_won, 0) AS deals_won,
  coalesce(wo.revenue, 0) AS revenue, coalesce(aq.acquired_customers, 0) AS acquired_customers,
  ch.df, ch.statistic, ch.total_yes, ch.total_no
FROM p LEFT JOIN cost co USING (name) LEFT JOIN lead le USING (name)
  LEFT JOIN won wo USING (name) LEFT JOIN acquired aq USING (name) LEFT JOIN chi2 ch USING (name)
"""


def _marketing(r: dict[str, Any]) -> dict[str, Any]:
    cost, revenue = float(r["cost"]), float(r["revenue"])
    testable = r["df"] is not None and r["df"] >= 1 and r["total_yes"] and r["total_no"]
    return {
        "cost": cost, "leads": r["leads"], "lead_conversion": _ratio(r["converted"], r["aged"]),
        "deals_won": r["deals_won"], "revenue": revenue,
        "cost_per_lead": _ratio(cost, r["leads"]) if cost > 0 else None,
        "cac": _ratio(cost, r["acquired_customers"]) if cost > 0 else None,
        "roi": _ratio(revenue - cost, cost), "acquired_customers": r["acquired_customers"],
        "conversion_chi2_p_value": float(chdtrc(r["df"], r["statistic"])) if testable else None,
    }


# -- employee performance ------------------------------------------------------------------

PERFORMANCE = """
WITH {periods},
closed AS (
  SELECT p.name, count(*) FILTER (WHERE d.status = 'won') AS deals_won,
    count(*) FILTER (WHERE d.status = 'lost') AS deals_lost,
    coalesce(sum(d.amount) FILTER (WHERE d.status = 'won'), 0) AS revenue
  FROM p JOIN deals d ON d.closed_at >= p.s AND d.closed_at < p.e GROUP BY p.name),
quota AS (
  SELECT p.name, sum(q.target_amount
    * (least(q.period_end, p.qe) - greatest(q.period_start, p.ds))
    / (q.period_end - q.period_start)) AS quota_target
  FROM p JOIN quotas q ON q.period_start < p.qe AND q.period_end > p.ds GROUP BY p.name),
acts AS (
  SELECT p.name, count(*) AS activities
  FROM p JOIN activities a ON a.occurred_at >= p.s AND a.occurred_at < p.e GROUP BY p.name),
done AS (
  SELECT p.name, count(*) AS tasks_completed
  FROM p JOIN tasks t ON t.completed_at >= p.s AND t.completed_at < p.e GROUP BY p.name),
due AS (
  SELECT p.name,
    count(*) FILTER (WHERE t.completed_at <= t.due_at) AS on_time,
    count(*) FILTER (WHERE (t.completed_at IS NULL OR t.completed_at > t.due_at)
                       AND t.due_at < p.a) AS overdue
  FROM p JOIN tasks t ON t.due_at >= p.s AND t.due_at < p.e GROUP BY p.name),
opened AS (
  SELECT p.name,
    count(*) FILTER (WHERE k.first_response_at IS NULL) AS unanswered,
    median(epoch(k.first_response_at - k.opened_at) / 60) AS fr_median,
    quantile_cont(epoch(k.first_response_at - k.opened_at) / 60, 0.9) AS fr_p90,
    count(*) FILTER (WHERE k.first_response_at <= k.sla_due_at) AS sla_met,
    count(*) FILTER (WHERE k.first_response_at > k.sla_due_at
                       OR (k.first_response_at IS NULL AND k.sla_due_at < p.a)) AS sla_missed
  FROM p JOIN tickets k ON k.opened_at >= p.s AND k.opened_at < p.e GROUP BY p.name),
resolved AS (
  SELECT p.name, count(*) AS tickets_resolved,
    median(epoch(k.resolved_at - k.opened_at) / 3600) AS res_median
  FROM p JOIN tickets k ON k.resolved_at >= p.s AND k.resolved_at < p.e GROUP BY p.name),
csat AS (
  SELECT p.name, count(*) AS n, count(*) FILTER (WHERE r.score >= 4) AS good
  FROM p JOIN survey_responses r ON r.kind = 'csat' AND r.employee_id IS NOT NULL
    AND r.responded_at >= p.s AND r.responded_at < p.e GROUP BY p.name)
SELECT p.name, coalesce(c.deals_won, 0) AS deals_won, coalesce(c.deals_lost, 0) AS deals_lost,
  coalesce(c.revenue, 0) AS revenue, coalesce(q.quota_target, 0) AS quota_target,
  coalesce(a.activities, 0) AS activities, coalesce(dn.tasks_completed, 0) AS tasks_completed,
  coalesce(du.on_time, 0) AS on_time, coalesce(du.overdue, 0) AS overdue,
  coalesce(rs.tickets_resolved, 0) AS tickets_resolved, rs.res_median,
  coalesce(o.unanswered, 0) AS unanswered, o.fr_median, o.fr_p90,
  coalesce(o.sla_met, 0) AS sla_met, coalesce(o.sla_missed, 0) AS sla_missed,
  coalesce(cs.n, 0) AS csat_n, coalesce(cs.good, 0) AS csat_good
FROM p LEFT JOIN closed c USING (name) LEFT JOIN quota q USING (name)
  LEFT JOIN acts a USING (name) LEFT JOIN done dn USING (name) LEFT JOIN due du USING (name)
  LEFT JOIN opened o USING (name) LEFT JOIN resolved rs USING (name) LEFT JOIN csat cs USING (name)
"""


def _performance(r: dict[str, Any]) -> dict[str, Any]:
    won, revenue = r["deals_won"], float(r["revenue"])
    return {
        "deals_won": won, "revenue": revenue, "win_rate": _ratio(won, won + r["deals_lost"]),
        "quota_attainment": _ratio(revenue, float(r["quota_target"])),
        "activities": r["activities"], "tasks_completed": r["tasks_completed"],
        "tasks_overdue": r["overdue"],
        "tasks_on_time_rate": _ratio(r["on_time"], r["on_time"] + r["overdue"]),
        "tickets_resolved": r["tickets_resolved"], "tickets_unanswered": r["unanswered"],
        "first_response_minutes_median": r["fr_median"],
        "first_response_minutes_p90": r["fr_p90"], "resolution_hours_median": r["res_median"],
        "sla_compliance": _ratio(r["sla_met"], r["sla_met"] + r["sla_missed"]),
        "csat": _ratio(r["csat_good"], r["csat_n"]),
    }


# -- customer satisfaction -----------------------------------------------------------------

SATISFACTION = """
WITH {periods},
survey AS (
  SELECT p.name,
    count(*) FILTER (WHERE r.kind = 'nps') AS nps_responses,
    count(*) FILTER (WHERE r.kind = 'nps' AND r.score >= 9) AS nps_promoters,
    count(*) FILTER (WHERE r.kind = 'nps' AND r.score >= 7 AND r.score < 9) AS nps_passives,
    count(*) FILTER (WHERE r.kind = 'nps' AND r.score <= 6) AS nps_detractors,
    count(*) FILTER (WHERE r.kind = 'csat') AS csat_responses,
    count(*) FILTER (WHERE r.kind = 'csat' AND r.score >= 4) AS csat_good,
    count(*) FILTER (WHERE r.kind = 'ces') AS ces_responses,
    avg(r.score) FILTER (WHERE r.kind = 'ces') AS ces
  FROM p JOIN survey_responses r ON r.responded_at >= p.s AND r.responded_at < p.e
  GROUP BY p.name),
contact AS (
  SELECT customer_id, occurred_at AS at FROM activities WHERE customer_id IS NOT NULL
  UNION ALL
  SELECT customer_id, closed_at FROM deals
  WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at IS NOT NULL),
-- active at an instant t: a contact in the 90 days before it; the end is the as-of instant
-- while the period is not over
ends AS (SELECT name, s, least(e, greatest(a, s)) AS t FROM p),
flags AS (
  SELECT ends.name, c.customer_id,
    bool_or(c.at >= ends.s - INTERVAL 90 DAY AND c.at < ends.s) AS at_start,
    bool_or(c.at >= ends.t - INTERVAL 90 DAY AND c.at < ends.t) AS at_end
  FROM ends JOIN contact c
    ON (c.at >= ends.s - INTERVAL 90 DAY AND c.at < ends.s)
    OR (c.at >= ends.t - INTERVAL 90 DAY AND c.at < ends.t)
  GROUP BY ends.name, c.customer_id),
retention AS (
  SELECT name, count(*) FILTER (WHERE at_start) AS start_customers,
    count(*) FILTER (WHERE at_start AND at_end) AS retained_customers,
    count(*) FILTER (WHERE at_end) AS end_customers
  FROM flags GROUP BY name)
SELECT p.name, sv.* EXCLUDE (name), coalesce(rt.start_customers, 0) AS start_customers,
  coalesce(rt.retained_customers, 0) AS retained_customers,
  coalesce(rt.end_customers, 0) AS end_customers
FROM p LEFT JOIN survey sv USING (name) LEFT JOIN retention rt USING (name)
"""


def _satisfaction(r: dict[str, Any]) -> dict[str, Any]:
    n = r["nps_responses"] or 0
    promoters, detractors = r["nps_promoters"] or 0, r["nps_detractors"] or 0
    return {
        "nps": 100 * (promoters - detractors) / n if n else None, "nps_responses": n,
        "nps_promoters": promoters, "nps_passives": r["nps_passives"] or 0,
        "nps_detractors": detractors, "nps_promoter_share": _ratio(promoters, n),
        "nps_detractor_share": _ratio(detractors, n),
        "csat": _ratio(r["csat_good"], r["csat_responses"]),
        "csat_responses": r["csat_responses"] or 0, "ces": r["ces"],
        "ces_responses": r["ces_responses"] or 0,
        "retention_rate": _ratio(r["retained_customers"], r["start_customers"]),
        "retention_start_customers": r["start_customers"],
        "retention_retained_customers": r["retained_customers"],
        "retention_end_customers": r["end_customers"],
    }


def _activity(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "name"}


#: Each report's query and how its row becomes the report's metrics.
QUERIES = {
    "sales": (SALES, _sales),
    "activity": (_activity_sql(), _activity),
    "marketing": (MARKETING, _marketing),
    "performance": (PERFORMANCE, _performance),
    "satisfaction": (SATISFACTION, _satisfaction),
}


def kpis(con: duckdb.DuckDBPyConnection, report: str,
         windows: list[Window]) -> dict[str, dict[str, Any]]:
    """The report's headline KPIs company-wide, per window name, from one query."""
    query, finish = QUERIES[report]
    periods, values = _periods_sql(windows)
    cursor = con.execute(query.replace("{periods}", periods), values)
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {r["name"]: finish(r) for r in rows}


#: The records whose days the data covers (its last day ends the age of a period's leads).
EVENTS = {"activities": ("occurred_at",), "deals": ("created_at", "closed_at"),
          "leads": ("created_at",), "tickets": ("opened_at",), "tasks": ("created_at",),
          "survey_responses": ("responded_at",)}


def windows_of(ctx: Any, con: duckdb.DuckDBPyConnection) -> list[Window]:
    """The windows of a report context (``crmkit.reports.ReportContext``): its period and
    its comparison period, if any. The period's leads have had until the as-of instant, or
    the end of the data's last local day when that is earlier; the comparison period's
    count the conversions made as long (in wall-clock time) after its own start."""
    period, comparison, tz = ctx.period, ctx.comparison, ZoneInfo(ctx.period.timezone)
    if period.cut is None and period.start_utc < ctx.as_of_end < period.end_utc:
        # not over: its records up to the as-of instant, its whole days' quota target
        local = ctx.as_of_end.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
        last_day = (local - timedelta(microseconds=1)).date()
        out = [Window("current", period.start_utc, ctx.as_of_end, period.start,
                      last_day + timedelta(days=1), ctx.as_of_end, ctx.as_of_end, False,
                      period.end_utc, period.end)]
    else:
        out = [Window("current", period.start_utc, period.end_utc, period.start, period.end,
                      ctx.as_of_end, ctx.as_of_end, period.cut is None, period.uncut.end_utc)]
    if comparison is None:
        return out
    as_of = ctx.as_of_end.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    last = con.execute(" UNION ALL ".join(
        f"SELECT max({c}) AS t FROM {t}" for t, cols in EVENTS.items() for c in cols
    ).join(("SELECT max(t) FROM (", ")"))).fetchone()[0]
    if last is not None:
        day = last.replace(tzinfo=UTC).astimezone(tz).date() + timedelta(days=1)
        as_of = min(as_of, datetime.combine(day, time(0)))
    if not ctx.compared:  # the comparison is shown whole, as of the as-of instant
        by = ctx.as_of_end
    else:
        local = datetime.combine(comparison.start, time(0)) + (
            as_of - datetime.combine(period.start, time(0)))
        by = local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    out.append(Window("comparison", comparison.start_utc, comparison.end_utc, comparison.start,
                      comparison.end, ctx.as_of_end, by, comparison.cut is None,
                      comparison.uncut.end_utc))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("report", choices=sorted(QUERIES))
    parser.add_argument("period", help="a month (2025-06) or a year (2024), as crmkit reads it")
    parser.add_argument("--as-of", default=None)
    args = parser.parse_args()
    from crmkit.reports import open_report  # lazy: only to resolve the period as a run does

    ctx = open_report(args.report, period=args.period, as_of=args.as_of, database=args.database)
    ctx.store.close()
    con = duckdb.connect(args.database, read_only=True)
    print(json.dumps(kpis(con, args.report, windows_of(ctx, con)), indent=1, default=str))


if __name__ == "__main__":
    main()
