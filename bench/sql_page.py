"""Hand-written DuckDB SQL for the breakdown tables of the Sales, Customer activity,
Employee performance, Marketing campaigns and Customer satisfaction pages: with the headline
KPIs of ``bench/sql_baseline.py``, the "page" baseline that ``bench/metric_layer.py``
measures the metric layer against (the same work the layer does for a page: headline
numbers and tables).

Written from ``docs/METRICS.md`` and ``docs/DATA_MODEL.md`` and from the columns the layer
returns, company-wide (team "all") only. Wilson intervals, ratios, ranks, medians, RFM
quintile scores and changes are computed in SQL too; Python only binds the windows, picks
the pipeline snapshots from one query of their list, and finishes the p-values of the
workload flag's Poisson test, of the activity types' Poisson rate test and of the customer
status shares' z-test, and the CES Student t interval (scipy, as ``sql_baseline.py``
finishes its chi-square p-value). Each breakdown is one query returning a pandas DataFrame
with the layer's column names (the two performance tables share one query of the
per-person figures, the three marketing tables one query of the per-campaign-and-channel
cells, the two activity customer lists one query of the per-customer figures);
:data:`COVERED` says which columns of which table are reproduced (sorted by its key before
comparing), :data:`NOT_COVERED` which tables (or columns) are not, and why.

    python bench/sql_page.py DATABASE REPORT PERIOD [--as-of DAY]
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
from scipy.special import pdtr, pdtrc, stdtrit
from scipy.stats import binomtest

#: The two-sided 95% normal quantile of the Wilson intervals.
Z95 = 1.959963984540054

#: The canonical activity types (DATA_MODEL.md), the per-type columns of performance.
TYPES = ("call", "email", "meeting", "message", "site_visit", "request", "note", "other")


@dataclass(frozen=True)
class PageWindows:
    """What the breakdown queries read beside the period: the period ``[s, e)`` (UTC), its
    local days ``[ds, de)``, the comparison period (or None), the as-of instant, the
    12 trend months and the months of expected close (label, UTC start, UTC end)."""

    s: datetime
    e: datetime
    ds: Any
    de: Any
    comparison: tuple[datetime, datetime, Any, Any] | None
    as_of: datetime
    trend: list[tuple[str, datetime, datetime]]
    expected: list[tuple[str, datetime, datetime]]
    timezone: str
    comparison_label: str | None
    #: False for a period not over against a whole one: no change stated or tested
    compared: bool = True
    #: the end of the days the quota targets cover: a period not over, its whole days
    quota_de: Any = None
    #: the trend months of the forecast accuracy: a period not over, those of its whole
    #: period (its own month, not over, has none)
    history: list[tuple[str, datetime, datetime]] | None = None


def page_windows(ctx: Any) -> PageWindows:
    """The windows of a report context (``crmkit.reports.ReportContext``): period,
    comparison, as-of instant, the 12 months of the sales trend (ending with the period's
    month) and the months of the pipeline by expected close (the month holding the
    period's last day, then the 6 months after the period). A period not over is read up
    to the as-of instant (``ctx.counted``, ``2025-06 to date``)."""
    from crmkit.periods import parse_period, trend_months  # calendar arithmetic only

    p = ctx.counted
    trend = [(m.label, m.start_utc, m.end_utc) for m in trend_months(p, 12)]
    labels = [p.last_day.strftime("%Y-%m")]
    y, m = p.end.year, p.end.month
    if p.end.day != 1:  # ends inside the month of its last day: the next month is the first after
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    for _ in range(6):
        labels.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    months = [parse_period(label, timezone=p.timezone) for label in labels]
    c = ctx.comparison
    return PageWindows(
        p.start_utc, p.end_utc, p.start, p.end,
        None if c is None else (c.start_utc, c.end_utc, c.start, c.end), ctx.as_of_end,
        trend, [(m.label, m.start_utc, m.end_utc) for m in months], p.timezone,
        None if c is None else c.label, ctx.period.cut is not None or p is ctx.period,
        ctx.period.end, [(m.label, m.start_utc, m.end_utc) for m in trend_months(ctx.period, 12)])


def _values(rows: list[tuple[str, datetime, datetime]], prefix: str
            ) -> tuple[str, dict[str, Any]]:
    """``VALUES`` of (label, s, e) rows as bound parameters named ``prefix``0, 1, …"""
    parts, values = [], {}
    for i, (label, s, e) in enumerate(rows):
        parts.append(f"(${prefix}l{i}, ${prefix}s{i}::TIMESTAMP, ${prefix}e{i}::TIMESTAMP, {i})")
        values |= {f"{prefix}l{i}": label, f"{prefix}s{i}": s, f"{prefix}e{i}": e}
    return "VALUES " + ", ".join(parts), values


def _bucket(column: str, rows: list[tuple[str, datetime, datetime]], prefix: str) -> str:
    """SQL of the label of the ``rows`` (bound as by :func:`_values`) whose ``[s, e)`` holds
    ``column`` (the first such; null when none)."""
    whens = " ".join(f"WHEN {column} >= ${prefix}s{i} AND {column} < ${prefix}e{i} "
                     f"THEN ${prefix}l{i}" for i in range(len(rows)))
    return f"CASE {whens} END"


def _wilson(hits: str, n: str, name: str) -> str:
    """SQL of the Wilson 95% bounds ``{name}_low``, ``{name}_high`` of ``hits`` out of ``n``
    (null when n is 0), the same arithmetic as METRICS.md's Wilson interval."""
    p, k = f"({hits})::DOUBLE / ({n})", f"({n})::DOUBLE"
    denom = f"(1 + $z * $z / {k})"
    centre = f"(({p} + $z * $z / (2 * {k})) / {denom})"
    half = f"($z * sqrt({p} * (1 - {p}) / {k} + $z * $z / (4 * {k} * {k})) / {denom})"
    return (f"CASE WHEN {n} > 0 THEN greatest(0.0, {centre} - {half}) END AS {name}_low, "
            f"CASE WHEN {n} > 0 THEN least(1.0, {centre} + {half}) END AS {name}_high")


def _rate(num: str, den: str) -> str:
    """``num / den`` as a double, null when ``den`` is 0 (METRICS.md: N/A, never 0)."""
    return f"CASE WHEN ({den}) <> 0 THEN ({num})::DOUBLE / ({den}) END"


# -- sales ----------------------------------------------------------------------------------

SALES_EMPLOYEE = f"""
WITH agg AS (  -- per deal owner: closed in the period, won revenue, open at the snapshot
  SELECT owner_id AS employee_id,
    count(*) FILTER (WHERE status = 'won' AND closed_at >= $s AND closed_at < $e) AS deals_won,
    count(*) FILTER (WHERE status = 'lost' AND closed_at >= $s AND closed_at < $e)
      AS deals_lost,
    coalesce(sum(amount) FILTER (WHERE status = 'won' AND closed_at >= $s AND closed_at < $e),
             0.0) AS revenue,
    coalesce(sum(amount) FILTER (WHERE created_at < $at AND (closed_at IS NULL
                                                             OR closed_at >= $at)), 0.0)
      AS open_pipeline
  FROM deals WHERE closed_at IS NULL OR closed_at >= least($s, $at) GROUP BY owner_id),
people AS (  -- sellers and managers, and anyone with closed deals or open pipeline
  SELECT coalesce(e.employee_id, a.employee_id) AS employee_id,
    coalesce(e.name, a.employee_id) AS name, e.team_id,
    coalesce(a.deals_won, 0) AS deals_won, coalesce(a.deals_lost, 0) AS deals_lost,
    coalesce(a.revenue, 0.0) AS revenue, coalesce(a.open_pipeline, 0.0) AS open_pipeline
  FROM employees e FULL JOIN agg a ON a.employee_id = e.employee_id
  WHERE e.role IN ('sales', 'manager') OR coalesce(a.deals_won + a.deals_lost, 0) > 0
     OR coalesce(a.open_pipeline, 0) > 0)
SELECT employee_id, name, team_id, deals_won, deals_lost, deals_won + deals_lost AS closed,
  {_rate("deals_won", "deals_won + deals_lost")} AS win_rate,
  {_wilson("deals_won", "deals_won + deals_lost", "win_rate")},
  revenue, {_rate("revenue", "deals_won")} AS avg_deal_size, open_pipeline
FROM people
"""
"""Per seller (sales and manager roles, and any deal owner with deals closed in the period
or open pipeline at the snapshot instant): won, lost, closed, win rate with its Wilson
interval, revenue, average deal size, open pipeline."""

SALES_PRODUCT = f"""
WITH won AS (
  SELECT coalesce(product, '(none)') AS product, count(*) AS deals_won,
    sum(amount) AS revenue
  FROM deals WHERE status = 'won' AND closed_at >= $s AND closed_at < $e GROUP BY 1)
SELECT product, deals_won, revenue, {_rate("revenue", "deals_won")} AS avg_deal_size,
  {_rate("revenue", "sum(revenue) OVER ()")} AS revenue_share
FROM won
"""
"""Per product of the deals won in the period: deals won, revenue, average deal size and
share of the period's revenue."""

SALES_MONTH = f"""
WITH months(month, s, e, i) AS ({{months}}),
closed AS (
  SELECT {{bucket}} AS month,
    count(*) FILTER (WHERE status = 'won') AS deals_won,
    count(*) FILTER (WHERE status = 'lost') AS deals_lost,
    coalesce(sum(amount) FILTER (WHERE status = 'won'), 0.0) AS revenue
  FROM deals WHERE status IN ('won', 'lost') AND closed_at >= $first AND closed_at < $last
  GROUP BY 1)
SELECT m.month, coalesce(c.deals_won, 0) AS deals_won, coalesce(c.deals_lost, 0) AS deals_lost,
  coalesce(c.revenue, 0.0) AS revenue,
  {_rate("coalesce(c.deals_won, 0)", "coalesce(c.deals_won, 0) + coalesce(c.deals_lost, 0)")}
    AS win_rate
FROM months m LEFT JOIN closed c USING (month) ORDER BY m.i
"""
"""Per trend month (12 months ending with the period's): deals won and lost by closed_at,
revenue, win rate."""

SALES_STAGE_FUNNEL = f"""
WITH created AS (
  SELECT coalesce(stage, '(none)') AS stage, status, probability
  FROM deals WHERE created_at >= $s AND created_at < $e),
per_status AS (
  SELECT stage, status, count(*) AS n, avg(probability) AS p FROM created GROUP BY ALL),
-- stage order: the mean over statuses of each status's mean probability, ties by name
ordered AS (
  SELECT stage, row_number() OVER (ORDER BY avg(p) NULLS LAST, stage) AS i
  FROM per_status WHERE stage <> '(none)' GROUP BY stage),
not_won AS (
  SELECT o.i, coalesce(sum(ps.n), 0) AS n
  FROM ordered o LEFT JOIN per_status ps ON ps.stage = o.stage AND ps.status <> 'won'
  GROUP BY o.i),
won AS (SELECT coalesce(sum(n), 0) AS n FROM per_status WHERE status = 'won'),
funnel AS (
  SELECT o.stage, o.i,
    (sum(nw.n) OVER (ORDER BY o.i DESC) + (SELECT n FROM won))::BIGINT AS reached
  FROM ordered o JOIN not_won nw USING (i)
  UNION ALL
  SELECT 'won', 1e9, (SELECT n FROM won)::BIGINT WHERE EXISTS (SELECT 1 FROM per_status))
SELECT stage, reached, {_rate("reached", "first(reached ORDER BY i) OVER ()")} AS share
FROM funnel ORDER BY i
"""
"""Deals created in the period by the furthest stage reached: each stage counts the deals
not won at it or a later stage plus every won deal (won deals passed every stage); stages
ordered by mean probability; share of the first stage."""

SALES_PIPELINE_BY_EXPECTED_CLOSE = """
WITH months(month, s, e, i) AS ({months}),
open_deals AS (
  SELECT amount, amount * probability AS weighted,
    CASE WHEN expected_close_at IS NULL THEN 'no date'
         WHEN expected_close_at < (SELECT min(s) FROM months) THEN 'overdue'
         WHEN expected_close_at >= (SELECT max(e) FROM months) THEN 'later'
         ELSE (SELECT first(month ORDER BY i) FROM months
               WHERE expected_close_at >= s AND expected_close_at < e)
    END AS month
  FROM deals WHERE created_at < $at AND (closed_at IS NULL OR closed_at >= $at)),
sums AS (
  SELECT month, count(*) AS deals, coalesce(sum(amount), 0.0) AS amount,
    coalesce(sum(weighted), 0.0) AS weighted
  FROM open_deals GROUP BY month),
labels(month, i, always) AS (
  SELECT 'overdue', -1, false UNION ALL SELECT month, i, true FROM months
  UNION ALL SELECT 'later', 1000, false UNION ALL SELECT 'no date', 1001, false)
SELECT l.month, coalesce(x.deals, 0) AS deals, coalesce(x.amount, 0.0) AS amount,
  coalesce(x.weighted, 0.0) AS weighted
FROM labels l LEFT JOIN sums x USING (month)
WHERE l.always OR coalesce(x.deals, 0) > 0 ORDER BY l.i
"""
"""Deals open at the snapshot instant by month of expected close (the month holding the
period's last day and the 6 after the period; before them ``overdue``, after them
``later``, none ``no date``): deals, amount, weighted amount."""


# -- sales: pipeline history (crmkit's pipeline snapshots) ------------------------------------

def _snapshot_index_sql(months: int) -> str:
    """Which pipeline snapshots the history reads, from the list of snapshots: the
    last at or before the period start (``before_start``, its day ``before_start_day``),
    the first after it (``after_start``), the last at or before the period end or the as-of
    instant (``t1``, ``d1``); per trend month ``i``, the last taken in the 7 days up to its
    start (``a{i}``, ``ad{i}``)."""
    per_month = ", ".join(
        f"max(taken_at) FILTER (WHERE {w}) AS a{i}, "
        f"arg_max(snapshot_date, taken_at) FILTER (WHERE {w}) AS ad{i}"
        for i, w in ((i, f"taken_at <= $ms{i} AND taken_at >= $ms{i} - INTERVAL 7 DAY")
                     for i in range(months)))
    return f"""
WITH days AS (  -- one row per snapshot
  SELECT taken_at, any_value(snapshot_date) AS snapshot_date FROM crmkit.pipeline_snapshots
  GROUP BY taken_at)
SELECT max(taken_at) FILTER (WHERE taken_at <= $s) AS before_start,
  arg_max(snapshot_date, taken_at) FILTER (WHERE taken_at <= $s) AS before_start_day,
  min(taken_at) FILTER (WHERE taken_at > $s) AS after_start,
  arg_min(snapshot_date, taken_at) FILTER (WHERE taken_at > $s) AS after_start_day,
  max(taken_at) FILTER (WHERE taken_at <= $until) AS t1,
  arg_max(snapshot_date, taken_at) FILTER (WHERE taken_at <= $until) AS d1,
  {per_month}
FROM days
"""


#: The parts of a pipeline movement, in the order the page shows them.
PARTS = ("opening", "new", "advanced", "slipped", "amount_changes", "won", "lost", "removed",
         "closing")

SALES_PIPELINE_MOVEMENT = """
WITH s0 AS MATERIALIZED (  -- the opening snapshot: cents (no amount: 0), no stage: '(none)'
  SELECT deal_id, coalesce(stage, '(none)') AS stage,
    round(coalesce(amount, 0) * 100)::BIGINT AS cents, probability
  FROM crmkit.pipeline_snapshots WHERE taken_at = $t0),
s1 AS MATERIALIZED (  -- the closing snapshot, the same way
  SELECT deal_id, coalesce(stage, '(none)') AS stage,
    round(coalesce(amount, 0) * 100)::BIGINT AS cents, probability
  FROM crmkit.pipeline_snapshots WHERE taken_at = $t1),
-- stages by mean probability over both snapshots; without any probability last, by name;
-- no stage first
stage_rank AS (
  SELECT stage, row_number() OVER (
      ORDER BY count(probability) = 0, sum(probability) / nullif(count(probability), 0), stage)
    AS r
  FROM (SELECT stage, probability FROM s0 UNION ALL SELECT stage, probability FROM s1)
  WHERE stage <> '(none)' GROUP BY stage
  UNION ALL SELECT '(none)', 0),
kept AS (  -- deals in both snapshots: what their stage did, and their amount change
  SELECT CASE WHEN a.stage = b.stage OR ra.r = rb.r THEN 'amount_changes'
              WHEN rb.r > ra.r THEN 'advanced' ELSE 'slipped' END AS part,
    b.cents - a.cents AS d, b.cents AS c1
  FROM s0 a JOIN s1 b USING (deal_id) JOIN stage_rank ra ON ra.stage = a.stage
    JOIN stage_rank rb ON rb.stage = b.stage),
gone AS (  -- deals of the opening snapshot only: won or lost before the closing one, or removed
  SELECT CASE WHEN d.status = 'won' AND d.closed_at < $t1 THEN 'won'
              WHEN d.status = 'lost' AND d.closed_at < $t1 THEN 'lost'
              ELSE 'removed' END AS part, a.cents
  FROM (SELECT * FROM s0 ANTI JOIN s1 USING (deal_id)) a LEFT JOIN deals d USING (deal_id)),
sums(part, deals, cents) AS (
  SELECT 'opening', count(*), sum(cents) FROM s0
  UNION ALL SELECT 'closing', count(*), sum(cents) FROM s1
  UNION ALL SELECT 'new', (SELECT count(*) FROM s1) - count(*),
    (SELECT sum(cents) FROM s1) - coalesce(sum(c1), 0) FROM kept
  UNION ALL SELECT part, count(*) FILTER (WHERE part <> 'amount_changes' OR d <> 0), sum(d)
    FROM kept GROUP BY part
  UNION ALL SELECT part, count(*), sum(cents) FROM gone GROUP BY part),
parts(part, i, sign) AS (VALUES {parts})
SELECT p.part, coalesce(x.deals, 0)::BIGINT AS deals,
  p.sign * coalesce(x.cents, 0)::BIGINT / 100.0 AS amount,
  CASE p.part WHEN 'opening' THEN $d0 WHEN 'closing' THEN $d1 END AS snapshot_date
FROM parts p LEFT JOIN sums x USING (part) ORDER BY p.i
""".replace("{parts}", ", ".join(
    f"('{p}', {i}, {-1 if p in ('won', 'lost', 'removed') else 1})" for i, p in enumerate(PARTS)))
"""How the open pipeline moved between the two snapshots bracketing the period (taken at
``$t0`` and ``$t1``): opening and closing pipeline (deals, amount) and, between them, every
deal of either snapshot in one part (new, advanced, slipped, amount changes: signed change;
won, lost, removed: the amount they had at the opening, taken out)."""

SALES_FORECAST_ACCURACY = """
WITH chosen(month, s, e, taken_at, snapshot_date, i) AS ({chosen}),
forecast AS (
  SELECT c.month, coalesce(sum(x.amount * x.probability), 0.0) AS forecast,
    count(*) AS deals_counted
  FROM crmkit.pipeline_snapshots x JOIN chosen c ON x.taken_at = c.taken_at
    AND x.expected_close_at >= c.s AND x.expected_close_at < c.e
  WHERE x.taken_at IN ({instants})
  GROUP BY c.month),
won AS (
  SELECT {bucket} AS month, sum(amount) AS actual
  FROM deals WHERE status = 'won' AND closed_at >= $first AND closed_at < $last GROUP BY 1)
SELECT c.month, c.snapshot_date, coalesce(f.forecast, 0.0) AS forecast,
  coalesce(w.actual, 0.0) AS actual,
  coalesce(f.forecast, 0.0) - coalesce(w.actual, 0.0) AS error,
  CASE WHEN w.actual <> 0 THEN (coalesce(f.forecast, 0.0) - w.actual) / w.actual END
    AS relative_error,
  coalesce(f.deals_counted, 0) AS deals_counted
FROM chosen c LEFT JOIN forecast f USING (month) LEFT JOIN won w USING (month)
ORDER BY c.i
"""
"""Per past trend month with a pipeline snapshot taken in the 7 days before it began (the
last one, ``chosen``): the forecast then (Σ amount × probability of that snapshot's deals
expected to close in the month) and how many deals it counted, the revenue won in the
month, the error and the relative error."""

# -- employee performance -----------------------------------------------------------------

def _performance_sql() -> str:
    """Per employee, for the period (``c`` = 0) and the comparison period (``c`` = 1), every
    count, sum, median and rate of the leaderboard: one row per (employee, c)."""
    types = ", ".join(f"count(*) FILTER (WHERE type = '{t}') AS activities_{t}" for t in TYPES)
    fills = ", ".join(f"coalesce(ac.activities_{t}, 0) AS activities_{t}" for t in TYPES)
    return f"""
WITH w(c, s, e, ds, de) AS ({{windows}}),
deal AS (  -- deals closed in the window, per owner
  SELECT w.c, d.owner_id AS employee_id,
    count(*) FILTER (WHERE d.status = 'won') AS deals_won,
    count(*) FILTER (WHERE d.status = 'lost') AS deals_lost,
    coalesce(sum(d.amount) FILTER (WHERE d.status = 'won'), 0.0) AS revenue,
    coalesce(sum(d.amount * d.amount) FILTER (WHERE d.status = 'won'), 0.0) AS revenue_sumsq
  FROM w JOIN deals d ON d.closed_at >= w.s AND d.closed_at < w.e
    AND d.status IN ('won', 'lost')
  GROUP BY ALL),
quota AS (  -- prorated quota targets: days of the quota inside the window / its days
  SELECT w.c, q.employee_id, sum(q.target_amount
    * (greatest(least(q.period_end, w.de) - greatest(q.period_start, w.ds), 0)
       / (q.period_end - q.period_start))) AS quota_target
  FROM w JOIN quotas q ON q.period_start < w.de AND q.period_end > w.ds GROUP BY ALL),
act AS (  -- activities in the window, per employee who logged them, in total and by type
  SELECT w.c, a.employee_id, count(*) AS activities, {types}
  FROM w JOIN activities a ON a.occurred_at >= w.s AND a.occurred_at < w.e
  WHERE a.employee_id IS NOT NULL GROUP BY ALL),
task AS (  -- tasks due or completed in the window
  SELECT w.c, t.employee_id,
    count(*) FILTER (WHERE t.due_at >= w.s AND t.due_at < w.e) AS tasks_due,
    count(*) FILTER (WHERE t.completed_at >= w.s AND t.completed_at < w.e) AS tasks_completed,
    count(*) FILTER (WHERE t.due_at >= w.s AND t.due_at < w.e
                       AND t.completed_at <= t.due_at) AS tasks_on_time,
    count(*) FILTER (WHERE t.due_at >= w.s AND t.due_at < w.e AND t.due_at < $at
                       AND (t.completed_at IS NULL OR t.completed_at > t.due_at))
      AS tasks_overdue,
    count(*) FILTER (WHERE t.completed_at >= w.s AND t.completed_at < w.e
                       AND t.due_at IS NULL) AS tasks_no_due
  FROM w JOIN tasks t ON (t.due_at >= w.s AND t.due_at < w.e)
    OR (t.completed_at >= w.s AND t.completed_at < w.e)
  GROUP BY ALL),
ticket AS (  -- tickets opened (assigned) or resolved in the window, per assignee
  SELECT w.c, k.employee_id,
    k.opened_at >= w.s AND k.opened_at < w.e AS opened,
    k.resolved_at >= w.s AND k.resolved_at < w.e AS resolved,
    k.first_response_at IS NOT NULL AS answered, k.sla_due_at IS NOT NULL AS has_sla,
    k.sla_due_at < $at AS passed, k.first_response_at, k.sla_due_at,
    epoch(k.first_response_at - k.opened_at) / 60.0 AS fr_minutes,
    epoch(k.resolved_at - k.opened_at) / 60.0 / 60.0 AS res_hours
  FROM w JOIN tickets k ON (k.opened_at >= w.s AND k.opened_at < w.e)
    OR (k.resolved_at >= w.s AND k.resolved_at < w.e)
  WHERE k.employee_id IS NOT NULL),
tick AS (
  SELECT c, employee_id,
    count(*) FILTER (WHERE opened) AS tickets_assigned,
    count(*) FILTER (WHERE resolved) AS tickets_resolved,
    count(*) FILTER (WHERE opened AND answered) AS tickets_answered,
    count(*) FILTER (WHERE opened AND NOT answered) AS tickets_unanswered,
    count(*) FILTER (WHERE opened AND NOT answered AND has_sla AND passed)
      AS unanswered_past_sla,
    count(*) FILTER (WHERE opened AND has_sla AND first_response_at <= sla_due_at) AS sla_met,
    count(*) FILTER (WHERE opened AND has_sla AND (first_response_at > sla_due_at
                                                   OR (NOT answered AND passed))) AS sla_missed,
    count(*) FILTER (WHERE opened AND has_sla AND NOT answered AND NOT passed) AS sla_pending,
    count(*) FILTER (WHERE opened AND NOT has_sla) AS no_sla,
    median(fr_minutes) FILTER (WHERE opened AND answered) AS first_response_minutes_median,
    quantile_cont(fr_minutes, 0.9) FILTER (WHERE opened AND answered)
      AS first_response_minutes_p90,
    median(res_hours) FILTER (WHERE resolved) AS resolution_hours_median
  FROM ticket GROUP BY ALL),
csat AS (  -- csat responses in the window rating an employee
  SELECT w.c, r.employee_id, count(*) AS csat_responses,
    count(*) FILTER (WHERE r.score >= 4) AS csat_good
  FROM w JOIN survey_responses r ON r.kind = 'csat' AND r.responded_at >= w.s
    AND r.responded_at < w.e
  WHERE r.employee_id IS NOT NULL GROUP BY ALL),
ids AS (
  SELECT c, employee_id FROM deal UNION SELECT c, employee_id FROM quota
  UNION SELECT c, employee_id FROM act UNION SELECT c, employee_id FROM task
  UNION SELECT c, employee_id FROM tick UNION SELECT c, employee_id FROM csat),
fig AS (
  SELECT i.c, i.employee_id,
    coalesce(d.deals_won, 0) AS deals_won, coalesce(d.deals_lost, 0) AS deals_lost,
    coalesce(d.revenue, 0.0) AS revenue, coalesce(d.revenue_sumsq, 0.0) AS revenue_sumsq,
    q.quota_target, coalesce(ac.activities, 0) AS activities, {fills},
    coalesce(t.tasks_due, 0) AS tasks_due, coalesce(t.tasks_completed, 0) AS tasks_completed,
    coalesce(t.tasks_on_time, 0) AS tasks_on_time, coalesce(t.tasks_overdue, 0) AS tasks_overdue,
    coalesce(t.tasks_no_due, 0) AS tasks_no_due,
    coalesce(k.tickets_assigned, 0) AS tickets_assigned,
    coalesce(k.tickets_resolved, 0) AS tickets_resolved,
    coalesce(k.tickets_answered, 0) AS tickets_answered,
    coalesce(k.tickets_unanswered, 0) AS tickets_unanswered,
    coalesce(k.unanswered_past_sla, 0) AS unanswered_past_sla,
    coalesce(k.sla_met, 0) AS sla_met, coalesce(k.sla_missed, 0) AS sla_missed,
    coalesce(k.sla_pending, 0) AS sla_pending, coalesce(k.no_sla, 0) AS no_sla,
    k.first_response_minutes_median, k.first_response_minutes_p90, k.resolution_hours_median,
    coalesce(cs.csat_responses, 0) AS csat_responses, coalesce(cs.csat_good, 0) AS csat_good
  FROM ids i LEFT JOIN deal d USING (c, employee_id) LEFT JOIN quota q USING (c, employee_id)
    LEFT JOIN act ac USING (c, employee_id) LEFT JOIN task t USING (c, employee_id)
    LEFT JOIN tick k USING (c, employee_id) LEFT JOIN csat cs USING (c, employee_id))
SELECT *, deals_won + deals_lost AS deals_closed,
  {_rate("deals_won", "deals_won + deals_lost")} AS win_rate,
  CASE WHEN quota_target > 0 THEN revenue / quota_target END AS quota_attainment,
  {_rate("tasks_on_time", "tasks_on_time + tasks_overdue")} AS tasks_on_time_rate,
  {_rate("sla_met", "sla_met + sla_missed")} AS sla_compliance,
  {_rate("csat_good", "csat_responses")} AS csat,
  {_wilson("deals_won", "deals_won + deals_lost", "win_rate")},
  {_wilson("csat_good", "csat_responses", "csat")}
FROM fig
"""


#: The person metrics whose comparison-period value the leaderboard shows (``_previous``).
PERSON_METRICS = (
    "deals_won", "revenue", "win_rate", "quota_attainment", "activities", "tasks_completed",
    "tasks_overdue", "tasks_on_time_rate", "tickets_resolved", "tickets_unanswered",
    "first_response_minutes_median", "first_response_minutes_p90", "resolution_hours_median",
    "sla_compliance", "csat")

#: The per-person counts: 0 for a person without figures in a period (the other columns,
#: quota target, medians and rates, stay N/A).
_COUNTS = ("deals_won", "deals_lost", "activities", *(f"activities_{t}" for t in TYPES),
           "tasks_due", "tasks_completed", "tasks_on_time", "tasks_overdue", "tasks_no_due",
           "tickets_assigned", "tickets_resolved", "tickets_answered", "tickets_unanswered",
           "unanswered_past_sla", "sla_met", "sla_missed", "sla_pending", "no_sla",
           "csat_responses", "csat_good", "deals_closed")

#: The person metrics where a lower value ranks better.
LOWER_IS_BETTER = ("tasks_overdue", "tickets_unanswered", "first_response_minutes_median",
                   "first_response_minutes_p90", "resolution_hours_median")

#: The person metrics that are rates: their change is in percentage points.
RATES = ("win_rate", "quota_attainment", "tasks_on_time_rate", "sla_compliance", "csat")

#: Who a metric compares (its peers): sellers, people who log activities, agents, everyone.
PEERS = {"deals_won": "is_seller", "revenue": "is_seller", "win_rate": "is_seller",
         "quota_attainment": "is_seller", "activities": "is_logger", "tickets_resolved": "is_agent",
         "tickets_unanswered": "is_agent", "first_response_minutes_median": "is_agent",
         "first_response_minutes_p90": "is_agent", "resolution_hours_median": "is_agent",
         "sla_compliance": "is_agent", "csat": "is_agent"}


def _frame_sql(now: str, window: str, before: str | None, columns: list[str]) -> str:
    """A leaderboard frame of one period (figures ``now``, period bounds ``$s{window}``,
    ``$e{window}``): the people employed at some time in it plus anyone with figures in it
    (left before it, or not in the employee list: named by their id), their standing, every
    figure (counts 0 where none), who they are compared with, and, with ``before`` (the
    comparison period's figures), its value of each person metric (``<m>_previous``)."""
    s, e = f"$s{window}", f"$e{window}"
    counts = set(_COUNTS)
    figures = ", ".join(
        f"coalesce(n.{c}, 0) AS {c}" if c in counts
        else (f"coalesce(n.{c}, 0.0) AS {c}" if c in ("revenue", "revenue_sumsq") else f"n.{c}")
        for c in columns)
    was = (lambda c: f"coalesce(b.{c}, 0)") if before else (lambda c: "0")
    previous = "".join(
        # a person without any figure there has N/A for the non-count metrics (revenue too)
        f", coalesce(b.{m}, 0) AS {m}_previous" if m in counts else f", b.{m} AS {m}_previous"
        for m in PERSON_METRICS) if before else ""
    join = f"LEFT JOIN {before} b USING (employee_id)" if before else ""
    return f"""
SELECT p.*, {figures}{previous},
  coalesce(p.role, '') = 'sales' OR coalesce(n.deals_closed, 0) > 0
    OR n.quota_target IS NOT NULL OR {was("deals_closed")} > 0 AS is_seller,
  coalesce(p.role, '') = 'sales' OR coalesce(n.activities, 0) > 0 OR {was("activities")} > 0
    AS is_logger,
  coalesce(p.role, '') = 'support'
    OR coalesce(n.tickets_assigned + n.tickets_resolved + n.csat_responses, 0) > 0
    OR {was("tickets_assigned")} + {was("tickets_resolved")} > 0 AS is_agent
FROM (
  SELECT i.employee_id, coalesce(st.name, i.employee_id) AS name, st.team_id, st.role,
    st.hired_at, st.left_at,
    coalesce((st.hired_at IS NULL OR st.hired_at < {e}) AND (st.left_at IS NULL
                                                           OR st.left_at >= {s}), false)
      AS employed,
    coalesce((st.hired_at IS NULL OR st.hired_at < {s}) AND (st.left_at IS NULL
                                                           OR st.left_at >= {e}), false)
      AS full_period,
    st.employee_id IS NULL AS unknown
  FROM (SELECT employee_id FROM employees
        WHERE (hired_at IS NULL OR hired_at < {e}) AND (left_at IS NULL OR left_at >= {s})
        UNION SELECT employee_id FROM {now}) i
  LEFT JOIN employees st USING (employee_id)) p
LEFT JOIN {now} n USING (employee_id) {join}
"""


def _eligible(m: str) -> str:
    """Who counts in metric ``m``'s rank and team median: employed all period, among its
    peers, with a value."""
    peers = f" AND {PEERS[m]}" if m in PEERS else ""
    return f"(full_period{peers} AND {m} IS NOT NULL)"


def _ranks_and_changes(has_comparison: bool) -> str:
    """Each person metric's rank (1 the best, ties sharing the best rank, among the eligible)
    and, with a comparison period, its change for the people employed all of both periods
    (relative; in percentage points for a rate, whose relative change is N/A)."""
    out = []
    for m in PERSON_METRICS:
        order = "ASC" if m in LOWER_IS_BETTER else "DESC"
        out.append(f"CASE WHEN {_eligible(m)} THEN rank() OVER (PARTITION BY {_eligible(m)} "
                   f"ORDER BY {m} {order}) END AS {m}_rank")
    if has_comparison:
        for m in PERSON_METRICS:
            both = (f"full_period AND full_comparison AND {m} IS NOT NULL "
                    f"AND {m}_previous IS NOT NULL")
            if m in RATES:
                out.append(f"NULL AS {m}_change, CASE WHEN {both} THEN 100.0 * ({m} - "
                           f"{m}_previous) END AS {m}_change_pp")
            else:
                out.append(f"CASE WHEN {both} AND {m}_previous <> 0 THEN ({m} - {m}_previous)"
                           f" / abs({m}_previous) END AS {m}_change")
    return ", ".join(out)


def _performance_employee_sql(has_comparison: bool) -> str:
    """The leaderboard (``employee``) and the team medians (``team_median``): one query
    returning the people's rows, and one row per metric of the medians."""
    partial_there = ("WHEN NOT full_comparison THEN 'joined ' || coalesce(local_day(hired_at), "
                     "'?') || ': no change vs ' || $comparison_label || ' (partial there)'"
                     if has_comparison else "")
    note = f"""CASE
  WHEN unknown THEN 'not in the employee list'
  WHEN NOT full_period THEN concat_ws(', ',
      CASE WHEN hired_at >= $s0 THEN 'joined ' || local_day(hired_at) END,
      CASE WHEN left_at < $e0 THEN 'left ' || local_day(left_at) END) || ': ' ||
    CASE WHEN left_at < $s0 THEN 'before the period' WHEN hired_at >= $e0 THEN 'after the period'
         ELSE 'partial period' END
  {partial_there}
  ELSE '' END"""
    full_comparison = ("coalesce((hired_at IS NULL OR hired_at < $s1) AND (left_at IS NULL "
                       "OR left_at >= $e1), false)" if has_comparison else "false")
    sql = f"""
WITH figures AS (SELECT * FROM {{figures}}),
now AS (SELECT * EXCLUDE (c) FROM figures WHERE c = 0),
before AS (SELECT * EXCLUDE (c) FROM figures WHERE c = 1),
cur AS ({_frame_sql("now", "0", "before" if has_comparison else None, _FIGURE_COLUMNS)}),
standing AS (SELECT *, {full_comparison} AS full_comparison FROM cur),
ranked AS (SELECT *, {note} AS note, {_ranks_and_changes(has_comparison)} FROM standing),
-- workload: activities + tasks due + tickets assigned, against the median of the colleagues
-- of the same role employed all period and their robust spread (1.4826 x the median absolute
-- deviation of log(workload + 1))
loaded AS (
  SELECT *, activities + tasks_due + tickets_assigned AS workload,
    coalesce(role, '(no role)') AS role_group FROM ranked),
roles AS (
  SELECT role_group, median(workload) AS workload_role_median, count(*) AS peers,
    median(ln(1 + workload)) AS log_median
  FROM loaded WHERE full_period GROUP BY role_group),
spreads AS (
  SELECT r.role_group, 1.4826 * median(abs(ln(1 + l.workload) - r.log_median)) AS spread
  FROM roles r JOIN loaded l ON l.role_group = r.role_group AND l.full_period
  GROUP BY r.role_group)
SELECT l.* EXCLUDE (role_group, unknown), r.workload_role_median,
  {_rate("l.workload", "r.workload_role_median").replace("<> 0", "> 0")} AS workload_ratio,
  -- a flag candidate (far from the role median and beyond the ratio): the Poisson test is
  -- finished in Python
  CASE WHEN l.full_period AND r.peers >= 3 AND r.workload_role_median > 0
        AND abs(ln(1 + l.workload) - ln(1 + r.workload_role_median)) > 3 * s.spread
       THEN CASE WHEN l.workload >= 1.5 * r.workload_role_median THEN 'high'
                 WHEN l.workload <= 0.5 * r.workload_role_median THEN 'low' END END
    AS workload_candidate
FROM loaded l LEFT JOIN roles r USING (role_group) LEFT JOIN spreads s USING (role_group)
"""
    return _local_days(sql)


def _local_days(sql: str) -> str:
    """``local_day(x)``: the local day (company time zone ``$tz``) of a UTC instant, as text."""
    return re.sub(r"local_day\((\w+)\)",
                  r"strftime(timezone($tz, timezone('UTC', \1)), '%Y-%m-%d')", sql)


def _team_median_sql(has_comparison: bool) -> str:
    """Per person metric: the median over the eligible people (employed all period, among
    the metric's peers, with a value) and how many they are; the same median of the
    comparison period (its own people, standing and peers), and the change (relative; in
    percentage points for a rate)."""
    metrics = ", ".join(PERSON_METRICS)
    eligible = ", ".join(f"CASE WHEN {_eligible(m)} THEN {m}::DOUBLE END AS {m}"
                         for m in PERSON_METRICS)
    order = ", ".join(f"('{m}', {i})" for i, m in enumerate(PERSON_METRICS))
    rates = ", ".join(f"'{m}'" for m in RATES)
    prev = (f""",
prev AS ({_frame_sql('before', '1', None, _FIGURE_COLUMNS)}),
prev_values AS (
  UNPIVOT (SELECT {eligible} FROM prev) ON {metrics} INTO NAME metric VALUE v),
before_medians AS (SELECT metric, median(v) AS team_median_previous FROM prev_values
                   GROUP BY metric)""" if has_comparison else """,
before_medians AS (SELECT NULL::VARCHAR AS metric, NULL::DOUBLE AS team_median_previous)""")
    return f"""
WITH figures AS (SELECT * FROM {{figures}}),
now AS (SELECT * EXCLUDE (c) FROM figures WHERE c = 0),
before AS (SELECT * EXCLUDE (c) FROM figures WHERE c = 1),
cur AS ({_frame_sql("now", "0", "before" if has_comparison else None, _FIGURE_COLUMNS)}),
cur_values AS (
  UNPIVOT (SELECT {eligible} FROM cur) ON {metrics} INTO NAME metric VALUE v){prev},
medians AS (SELECT metric, median(v) AS team_median, count(*) AS employees FROM cur_values
            GROUP BY metric),
metrics(metric, i) AS (VALUES {order})
SELECT m.metric, x.team_median, coalesce(x.employees, 0) AS employees,
  b.team_median_previous,
  CASE WHEN m.metric IN ({rates}) THEN 100.0 * (x.team_median - b.team_median_previous) END
    AS change_pp,
  CASE WHEN m.metric NOT IN ({rates}) AND b.team_median_previous <> 0
       THEN (x.team_median - b.team_median_previous) / abs(b.team_median_previous) END
    AS change
FROM metrics m LEFT JOIN medians x USING (metric) LEFT JOIN before_medians b USING (metric)
ORDER BY m.i
"""


def _workload_flags(frame: pd.DataFrame) -> list[str]:
    """Finish the workload flag of the SQL's candidates with the Poisson test (p < 0.01,
    two-sided: each tail under 0.005) of the workload against the role median."""
    flags = []
    for candidate, w, m in zip(frame["workload_candidate"], frame["workload"],
                               frame["workload_role_median"], strict=True):
        flag = ""
        if candidate == "high" and (pdtrc(w - 1, m) if w - 1 >= 0 else 1.0) < 0.005:
            flag = "high"
        elif candidate == "low" and pdtr(w, m) < 0.005:
            flag = "low"
        flags.append(flag)
    return flags


#: Columns of the performance figures query (beside c and employee_id).
_FIGURE_COLUMNS = [
    "deals_won", "deals_lost", "revenue", "revenue_sumsq", "quota_target", "activities",
    *(f"activities_{t}" for t in TYPES), "tasks_due", "tasks_completed", "tasks_on_time",
    "tasks_overdue", "tasks_no_due", "tickets_assigned", "tickets_resolved", "tickets_answered",
    "tickets_unanswered", "unanswered_past_sla", "sla_met", "sla_missed", "sla_pending",
    "no_sla", "first_response_minutes_median", "first_response_minutes_p90",
    "resolution_hours_median", "csat_responses", "csat_good", "deals_closed", "win_rate",
    "quota_attainment", "tasks_on_time_rate", "sla_compliance", "csat", "win_rate_low",
    "win_rate_high", "csat_low", "csat_high"]


# -- marketing ------------------------------------------------------------------------------

def _channel(raw: str) -> str:
    """SQL of a channel as shown: null or blank text is ``(unknown)``."""
    return f"CASE WHEN trim(coalesce({raw}, '')) = '' THEN '(unknown)' ELSE {raw} END"


MARKETING_CELLS = f"""
WITH camp AS (SELECT campaign_id, {_channel("channel")} AS channel FROM campaigns),
-- cost: campaign_costs whose local day is in the period, under the campaign's channel
cost AS (
  SELECT c.campaign_id AS campaign, coalesce(k.channel, '(unknown)') AS channel,
    sum(c.cost) AS cost
  FROM campaign_costs c LEFT JOIN camp k USING (campaign_id)
  WHERE c.date >= $ds AND c.date < $de GROUP BY ALL),
-- leads created in the period: their campaign (or none) and channel (the campaign's; without
-- a campaign the lead's own), seen by the as-of instant $cut (created before it) and of
-- those converted before it, won (some won deal has the lead), the youngest
won_leads AS (SELECT DISTINCT lead_id FROM deals WHERE status = 'won' AND lead_id IS NOT NULL),
lead_cells AS (
  SELECT coalesce(l.campaign_id, '(no campaign)') AS campaign,
    {_channel("CASE WHEN l.campaign_id IS NULL THEN l.channel ELSE c.channel END")} AS channel,
    count(*) AS leads, count(*) FILTER (WHERE l.created_at < $cut) AS aged,
    count(*) FILTER (WHERE l.created_at < $cut AND l.converted_at < $cut) AS converted,
    count(w.lead_id) AS won_leads,
    max(l.created_at) AS last_lead_at
  FROM leads l LEFT JOIN campaigns c ON c.campaign_id = l.campaign_id
    LEFT JOIN won_leads w ON w.lead_id = l.lead_id
  WHERE l.created_at >= $s AND l.created_at < $e GROUP BY ALL),
-- deals won in the period, attributed to their campaign, else their lead's (neither: left out);
-- a new customer's first won deal ever (earliest closed_at, then smallest deal_id) among them
period_won AS (
  SELECT deal_id, customer_id, amount, closed_at, campaign_id, lead_id FROM deals
  WHERE status = 'won' AND closed_at >= $s AND closed_at < $e),
firsts AS (
  SELECT first(deal_id ORDER BY closed_at, deal_id) AS deal_id
  FROM period_won p
  WHERE customer_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM deals d WHERE d.customer_id = p.customer_id AND d.status = 'won'
      AND d.closed_at < $s)
  GROUP BY customer_id),
won_cells AS (
  SELECT coalesce(p.campaign_id, l.campaign_id, '(no campaign)') AS campaign,
    {_channel("CASE WHEN coalesce(p.campaign_id, l.campaign_id) IS NULL THEN l.channel "
              "ELSE c.channel END")} AS channel,
    count(*) AS deals_won, coalesce(sum(p.amount), 0.0) AS revenue,
    count(f.deal_id) AS acquired_customers
  FROM period_won p LEFT JOIN leads l ON l.lead_id = p.lead_id
    LEFT JOIN campaigns c ON c.campaign_id = coalesce(p.campaign_id, l.campaign_id)
    LEFT JOIN firsts f ON f.deal_id = p.deal_id
  WHERE p.campaign_id IS NOT NULL OR p.lead_id IS NOT NULL GROUP BY ALL),
-- the median days from lead creation to won deal, over won deals with a lead closed before $at
maturing AS (
  SELECT median(epoch(d.closed_at - l.created_at) / 86400) AS median_days
  FROM deals d JOIN leads l ON l.lead_id = d.lead_id
  WHERE d.status = 'won' AND d.closed_at < $at)
SELECT g.*, m.median_days FROM (
  SELECT campaign, channel, coalesce(sum(cost), 0.0) AS cost,
    coalesce(sum(leads), 0) AS leads, coalesce(sum(aged), 0) AS aged,
    coalesce(sum(converted), 0) AS converted, coalesce(sum(won_leads), 0) AS won_leads,
    max(last_lead_at) AS last_lead_at,
    coalesce(sum(deals_won), 0) AS deals_won, coalesce(sum(revenue), 0.0) AS revenue,
    coalesce(sum(acquired_customers), 0) AS acquired_customers
  FROM (SELECT * FROM cost UNION ALL BY NAME SELECT * FROM lead_cells
        UNION ALL BY NAME SELECT * FROM won_cells)
  GROUP BY ALL) g, maturing m
"""
"""Per (campaign, channel) of the period (``(no campaign)``: one row per lead channel): cost,
leads, converted, leads won, the youngest lead, attributed deals won, revenue, acquired
customers; and the median days from lead to won deal (the same on every row)."""


def _marketing_measures() -> str:
    """SQL of the measures of a group of the cells (``cells``): sums, conversion with its
    Wilson interval, cost per lead, CAC and ROI (N/A without cost), provisional (the
    youngest lead younger at ``$at`` than the median days to win)."""
    return f"""sum(cost) AS cost, sum(leads)::BIGINT AS leads, sum(converted)::BIGINT AS converted,
  {_rate("sum(converted)", "sum(aged)")} AS lead_conversion,
  {_wilson("sum(converted)", "sum(aged)", "lead_conversion")},
  sum(deals_won)::BIGINT AS deals_won, sum(revenue) AS revenue,
  sum(acquired_customers)::BIGINT AS acquired_customers,
  CASE WHEN sum(cost) > 0 THEN {_rate("sum(cost)", "sum(leads)")} END AS cost_per_lead,
  CASE WHEN sum(cost) > 0 THEN {_rate("sum(cost)", "sum(acquired_customers)")} END AS cac,
  CASE WHEN sum(cost) > 0 THEN (sum(revenue) - sum(cost)) / sum(cost) END AS roi,
  coalesce(epoch($at - max(last_lead_at)) / 86400 < any_value(median_days), false)
    AS provisional"""


MARKETING_CAMPAIGN = f"""
SELECT CASE WHEN g.campaign <> '(no campaign)' THEN g.campaign END AS campaign_id,
  coalesce(any_value(c.name), g.campaign) AS name,
  string_agg(DISTINCT g.channel, ', ' ORDER BY g.channel) AS channel,
  any_value(c.team_id) AS team_id, {_marketing_measures()}
FROM {{cells}} g LEFT JOIN campaigns c ON c.campaign_id = g.campaign
GROUP BY g.campaign
"""
"""Per campaign with any cost, lead or won deal in the period (and ``(no campaign)``): its
name, channel(s), team and measures."""

MARKETING_CHANNEL = f"""
SELECT channel, count(DISTINCT campaign) FILTER (WHERE campaign <> '(no campaign)')
    AS campaigns, {_marketing_measures()}
FROM {{cells}} GROUP BY channel
"""
"""Per channel: its campaigns (leads without one in their own channel) and measures."""

MARKETING_FUNNEL = f"""
SELECT channel, sum(leads)::BIGINT AS leads, sum(converted)::BIGINT AS converted,
  sum(won_leads)::BIGINT AS won,
  {_rate("sum(converted)", "sum(leads)")} AS converted_share,
  {_rate("sum(won_leads)", "sum(leads)")} AS won_share
FROM {{cells}} GROUP BY channel HAVING sum(leads) > 0
"""
"""Per channel with leads in the period: leads → converted → won (leads with a won deal, at
any time)."""


# -- satisfaction ---------------------------------------------------------------------------

def _nps_sql(promoters: str, detractors: str, n: str) -> str:
    """SQL of NPS (−100..100) of ``promoters`` and ``detractors`` out of ``n`` and its
    adjusted-Wald bounds ``nps_low``, ``nps_high`` (n + 3, promoters and detractors + ¾;
    null when n is 0), as METRICS.md."""
    p, d = f"(({promoters}) + 0.75) / (({n}) + 3.0)", f"(({detractors}) + 0.75) / (({n}) + 3.0)"
    se = f"sqrt(greatest({p} + {d} - ({p} - {d}) ^ 2, 0.0) / (({n}) + 3.0))"
    return (f"{_rate(f'100 * (({promoters}) - ({detractors}))', n)} AS nps, "
            f"CASE WHEN {n} > 0 THEN 100 * greatest(-1.0, {p} - {d} - $z * {se}) END AS nps_low, "
            f"CASE WHEN {n} > 0 THEN 100 * least(1.0, {p} - {d} + $z * {se}) END AS nps_high")


SATISFACTION_MONTH = f"""
WITH months(month, s, e, i) AS ({{months}}),
scores AS (
  SELECT {{bucket}} AS month,
    count(*) FILTER (WHERE kind = 'nps') AS nps_n,
    count(*) FILTER (WHERE kind = 'nps' AND score >= 9) AS promoters,
    count(*) FILTER (WHERE kind = 'nps' AND score <= 6) AS detractors,
    count(*) FILTER (WHERE kind = 'csat') AS csat_n,
    count(*) FILTER (WHERE kind = 'csat' AND score >= 4) AS satisfied,
    count(*) FILTER (WHERE kind = 'ces') AS ces_n,
    avg(score) FILTER (WHERE kind = 'ces') AS ces_mean,
    var_samp(score) FILTER (WHERE kind = 'ces') AS ces_var
  FROM survey_responses
  WHERE kind IN ('nps', 'csat', 'ces') AND responded_at >= $first AND responded_at < $last
  GROUP BY 1),
g AS (
  SELECT m.month, m.i, coalesce(x.nps_n, 0) AS nps_n, coalesce(x.promoters, 0) AS promoters,
    coalesce(x.detractors, 0) AS detractors, coalesce(x.csat_n, 0) AS csat_n,
    coalesce(x.satisfied, 0) AS satisfied, coalesce(x.ces_n, 0) AS ces_n, x.ces_mean,
    CASE WHEN x.ces_n >= 2 THEN x.ces_var END AS ces_var
  FROM months m LEFT JOIN scores x USING (month))
SELECT month, {_nps_sql("promoters", "detractors", "nps_n")}, nps_n AS nps_responses,
  {_rate("satisfied", "csat_n")} AS csat, {_wilson("satisfied", "csat_n", "csat")},
  csat_n AS csat_responses, ces_mean AS ces, ces_var, ces_n AS ces_responses
FROM g ORDER BY i
"""
"""Per trend month (12 months ending with the period's): NPS with its interval, CSAT (share
scoring 4–5) with its Wilson interval, CES (mean) with the sample variance its Student t
interval is finished from in Python, and each one's responses."""

SATISFACTION_NPS_BY_TEAM = f"""
WITH rated AS (  -- the team of a response: its employee's, without one its customer's owner's
  SELECT coalesce(CASE WHEN r.employee_id IS NOT NULL THEN e.team_id ELSE o.team_id END,
                  '(no team)') AS team_id,
    r.score >= 9 AS promoter, r.score <= 6 AS detractor
  FROM survey_responses r LEFT JOIN employees e ON e.employee_id = r.employee_id
    LEFT JOIN customers c ON c.customer_id = r.customer_id
    LEFT JOIN employees o ON o.employee_id = c.owner_id
  WHERE r.kind = 'nps' AND r.responded_at >= $s AND r.responded_at < $e),
counts AS (
  SELECT team_id, count(*) AS responses, count(*) FILTER (WHERE promoter) AS promoters,
    count(*) FILTER (WHERE detractor) AS detractors FROM rated GROUP BY team_id),
-- every team listed; a team only in the responses under its id; no team only with responses
g AS (
  SELECT coalesce(t.team_id, x.team_id) AS team_id, coalesce(t.name, x.team_id) AS team,
    coalesce(x.responses, 0) AS responses, coalesce(x.promoters, 0) AS promoters,
    coalesce(x.detractors, 0) AS detractors
  FROM teams t FULL JOIN counts x ON x.team_id = t.team_id)
SELECT team_id, team, responses, promoters, responses - promoters - detractors AS passives,
  detractors, {_nps_sql("promoters", "detractors", "responses")}, responses < 30 AS small_sample
FROM g WHERE team_id <> '(no team)' OR responses > 0
"""
"""Per team (every team, and ``(no team)`` when some nps response of the period has none):
responses, promoters, passives, detractors, NPS with its interval, small sample (n < 30)."""

SATISFACTION_NPS_BY_SEGMENT = f"""
WITH g AS (
  SELECT coalesce(c.segment, '(unknown)') AS segment, count(*) AS responses,
    count(*) FILTER (WHERE r.score >= 9) AS promoters,
    count(*) FILTER (WHERE r.score <= 6) AS detractors
  FROM survey_responses r LEFT JOIN customers c ON c.customer_id = r.customer_id
  WHERE r.kind = 'nps' AND r.responded_at >= $s AND r.responded_at < $e GROUP BY 1)
SELECT segment, responses, promoters, responses - promoters - detractors AS passives,
  detractors, {_nps_sql("promoters", "detractors", "responses")}, responses < 30 AS small_sample
FROM g
"""
"""Per customer segment of the period's nps responses (no customer or no segment:
``(unknown)``): the same columns as per team."""

SATISFACTION_SCORE_DISTRIBUTION = f"""
WITH scales(kind, score, band) AS (
  SELECT 'nps', s, CASE WHEN s <= 6 THEN 'detractor' WHEN s >= 9 THEN 'promoter'
                        ELSE 'passive' END FROM range(0, 11) t(s)
  UNION ALL SELECT 'csat', s, CASE WHEN s >= 4 THEN 'satisfied' ELSE 'not satisfied' END
  FROM range(1, 6) t(s)
  UNION ALL SELECT 'ces', s, 'effort score' FROM range(1, 8) t(s)),
counts AS (
  SELECT kind, trunc(score)::BIGINT AS score, count(*) AS responses FROM survey_responses
  WHERE kind IN ('nps', 'csat', 'ces') AND responded_at >= $s AND responded_at < $e
  GROUP BY ALL),
totals AS (SELECT kind, sum(responses) AS total FROM counts GROUP BY kind)
SELECT k.kind, k.score, coalesce(x.responses, 0) AS responses,
  {_rate("coalesce(x.responses, 0)", "coalesce(t.total, 0)")} AS share, k.band
FROM scales k LEFT JOIN counts x USING (kind, score) LEFT JOIN totals t USING (kind)
"""
"""Per survey kind and every score of its scale (nps 0–10, csat 1–5, ces 1–7): responses
of the period, share of the kind's responses (any score), band."""

SATISFACTION_VERBATIMS = _local_days("""
SELECT local_day(responded_at) AS date, trunc(r.score)::BIGINT AS score,
  coalesce(c.segment, '(unknown)') AS segment,
  regexp_replace(r.comment, '^\\s+|\\s+$', '', 'g') AS comment, r.response_id,
  CASE WHEN microsecond(responded_at) % 1000000 = 0
       THEN strftime(responded_at, '%Y-%m-%dT%H:%M:%S')
       ELSE strftime(responded_at, '%Y-%m-%dT%H:%M:%S.%f') END AS responded_at
FROM survey_responses r LEFT JOIN customers c ON c.customer_id = r.customer_id
WHERE r.kind = 'nps' AND r.responded_at >= $s AND r.responded_at < $e AND r.score <= 6
  AND trim(coalesce(r.comment, '')) <> ''
ORDER BY r.responded_at DESC, r.response_id DESC LIMIT 15
""")
"""The 15 most recent detractor comments of the period (nps scoring 0–6, comment not
blank): local day, score, the customer's segment, the comment trimmed, id and instant."""


def _t_bounds(frame: pd.DataFrame) -> pd.DataFrame:
    """Finish the CES Student t 95% interval of the month query (mean ± t(0.975, n − 1) ·
    √(var / n); none below 2 responses)."""
    low, high = [], []
    for n, mean, var in zip(frame["ces_responses"], frame["ces"], frame["ces_var"], strict=True):
        if n >= 2 and not pd.isna(mean) and not pd.isna(var):
            half = float(stdtrit(n - 1, 0.975)) * math.sqrt(var / n)
            low.append(mean - half)
            high.append(mean + half)
        else:
            low.append(None)
            high.append(None)
    frame = frame.drop(columns="ces_var")
    frame.insert(frame.columns.get_loc("ces") + 1, "ces_low", low)
    frame.insert(frame.columns.get_loc("ces") + 2, "ces_high", high)
    return frame


# -- customer activity ----------------------------------------------------------------------

def _typed(fill: str | None = None) -> str:
    """SQL of the per-type activity columns: counts (``count(*)`` by ``type``), or with
    ``fill`` the counts of relation ``fill`` with 0 where none."""
    if fill is None:
        return ", ".join(f"count(*) FILTER (WHERE type = '{t}') AS \"{t}\"" for t in TYPES)
    return ", ".join(f"coalesce({fill}.\"{t}\", 0) AS \"{t}\"" for t in TYPES)


#: A contact with a customer (METRICS.md): an activity with a customer (at occurred_at), or
#: a purchase, a won deal with a customer (at closed_at, with its amount).
_CONTACTS = """contacts AS (
  SELECT customer_id, occurred_at AS contact_at, NULL::DOUBLE AS amount FROM activities
  WHERE customer_id IS NOT NULL
  UNION ALL
  SELECT customer_id, closed_at, amount FROM deals
  WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at IS NOT NULL)"""

ACTIVITY_BY_TYPE = f"""
WITH types(type, i) AS (VALUES {", ".join(f"('{t}', {i})" for i, t in enumerate(TYPES))}),
counts AS (
  SELECT type, count(*) FILTER (WHERE occurred_at >= $s AND occurred_at < $e) AS now,
    count(*) FILTER (WHERE occurred_at >= $cs AND occurred_at < $ce) AS before
  FROM activities
  WHERE (occurred_at >= $s AND occurred_at < $e) OR (occurred_at >= $cs AND occurred_at < $ce)
  GROUP BY type)
SELECT t.type, coalesce(c.now, 0) AS interactions,
  CASE WHEN $cs::TIMESTAMP IS NOT NULL THEN coalesce(c.before, 0) END AS comparison,
  CASE WHEN $cs::TIMESTAMP IS NOT NULL AND coalesce(c.before, 0) <> 0
       THEN (coalesce(c.now, 0) - c.before) / abs(c.before) END AS change
FROM types t LEFT JOIN counts c USING (type) ORDER BY t.i
"""
"""Per activity type (every canonical type): activities of the period and of the
comparison period (``$cs``, ``$ce``; null without one), and the relative change. The
Poisson rate test is finished in Python."""

ACTIVITY_CUSTOMER_FIGURES = f"""
WITH acts AS (
  SELECT customer_id, count(*) AS interactions, {_typed()}
  FROM activities WHERE occurred_at >= $s AND occurred_at < $e AND customer_id IS NOT NULL
  GROUP BY customer_id),
won AS (
  SELECT customer_id, count(*) AS deals_won, coalesce(sum(amount), 0.0) AS revenue
  FROM deals WHERE status = 'won' AND closed_at >= $s AND closed_at < $e
    AND customer_id IS NOT NULL
  GROUP BY customer_id)
SELECT customer_id, coalesce(a.interactions, 0) AS interactions, {_typed("a")},
  coalesce(w.deals_won, 0) AS deals_won, coalesce(w.revenue, 0.0) AS revenue
FROM acts a FULL JOIN won w USING (customer_id)
"""
"""Per customer with an activity or a won deal in the period: its activities (all and per
type), deals won and revenue (a won deal without an amount adds 0)."""

ACTIVITY_CUSTOMER = f"""
SELECT f.customer_id, coalesce(c.name, f.customer_id) AS name, f.interactions,
  {", ".join(f'f."{t}"' for t in TYPES)}, f.deals_won, f.revenue
FROM (SELECT * FROM {{figures}} WHERE interactions > 0
      ORDER BY interactions DESC, revenue DESC, customer_id LIMIT 50) f
  LEFT JOIN customers c USING (customer_id)
ORDER BY f.interactions DESC, f.revenue DESC, f.customer_id
"""
"""The 50 customers with the most activities in the period (then the most revenue, then by
id), named (no name: the id)."""

ACTIVITY_TOP_REVENUE = """
SELECT f.customer_id, coalesce(c.name, f.customer_id) AS name, f.revenue, f.deals_won,
  f.interactions
FROM (SELECT * FROM {figures} WHERE deals_won > 0
      ORDER BY revenue DESC, deals_won DESC, customer_id LIMIT 50) f
  LEFT JOIN customers c USING (customer_id)
ORDER BY f.revenue DESC, f.deals_won DESC, f.customer_id
"""
"""The 50 customers with the most revenue won in the period (then the most deals won, then
by id): revenue, deals won, activities."""

ACTIVITY_EMPLOYEE = f"""
WITH acts AS (
  SELECT coalesce(employee_id, '(no employee)') AS employee_id, count(*) AS interactions,
    {_typed()}
  FROM activities WHERE occurred_at >= $s AND occurred_at < $e GROUP BY 1)
SELECT coalesce(e.employee_id, a.employee_id) AS employee_id,
  coalesce(e.name, a.employee_id) AS name, e.team_id,
  coalesce(a.interactions, 0) AS interactions, {_typed("a")}
FROM employees e FULL JOIN acts a ON a.employee_id = e.employee_id
WHERE e.role IN ('sales', 'manager') OR coalesce(a.interactions, 0) > 0
ORDER BY interactions DESC, name
"""
"""Per employee with an activity in the period, and every seller and manager even without:
activities (all and per type); those without an employee as ``(no employee)``."""

ACTIVITY_CUSTOMER_STATUS = f"""
WITH {_CONTACTS},
t AS (SELECT $t0::TIMESTAMP AS t0, $t1::TIMESTAMP AS t1),  -- t1: null without a comparison
last AS (  -- per customer: its last contact before each instant
  SELECT customer_id, max(contact_at) FILTER (WHERE contact_at < t0) AS last0,
    max(contact_at) FILTER (WHERE contact_at < t1) AS last1
  FROM contacts, t WHERE contact_at < greatest(t0, coalesce(t1, t0)) GROUP BY customer_id),
-- status at an instant: active (last contact at most 90 days before), at risk (at most 180),
-- lost (before), never active (created before it without any contact); null: out of scope
status AS (
  SELECT
    CASE WHEN l.last0 >= t0 - INTERVAL 90 DAY THEN 'active'
         WHEN l.last0 >= t0 - INTERVAL 180 DAY THEN 'at risk'
         WHEN l.last0 IS NOT NULL THEN 'lost'
         WHEN c.created_at < t0 THEN 'never active' END AS s0,
    CASE WHEN l.last1 >= t1 - INTERVAL 90 DAY THEN 'active'
         WHEN l.last1 >= t1 - INTERVAL 180 DAY THEN 'at risk'
         WHEN l.last1 IS NOT NULL THEN 'lost'
         WHEN c.created_at < t1 THEN 'never active' END AS s1
  FROM customers c FULL JOIN last l USING (customer_id), t),
now AS (SELECT s0 AS status, count(*) AS x FROM status WHERE s0 IS NOT NULL GROUP BY 1),
was AS (SELECT s1 AS status, count(*) AS x FROM status WHERE s1 IS NOT NULL GROUP BY 1),
statuses(status, i) AS (VALUES ('active', 0), ('at risk', 1), ('lost', 2), ('never active', 3)),
g AS (
  SELECT s.status, s.i, coalesce(n.x, 0) AS x1, sum(coalesce(n.x, 0)) OVER () AS n1,
    CASE WHEN t.t1 IS NOT NULL THEN coalesce(b.x, 0) END AS x2,
    sum(coalesce(b.x, 0)) OVER () AS n2
  FROM statuses s LEFT JOIN now n USING (status) LEFT JOIN was b USING (status), t),
pooled AS (  -- the pooled share of the two-proportion z-test
  SELECT *, (x1 + x2)::DOUBLE / (n1 + n2) AS pooled FROM g)
SELECT status, x1 AS customers, {_rate("x1", "n1")} AS share, x2 AS comparison,
  CASE WHEN x2 IS NOT NULL THEN {_rate("x2", "n2")} END AS comparison_share,
  CASE WHEN x2 <> 0 THEN (x1 - x2) / abs(x2) END AS change,
  CASE WHEN x2 IS NOT NULL AND n1 > 0 AND n2 > 0
       THEN coalesce((x1 / n1 - x2 / n2)
                     / nullif(sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)), 0), 0.0) END
    AS z
FROM pooled ORDER BY i
"""
"""Customers per status at the instant ``$t0`` and at the comparison's ``$t1`` (null
without one; the period end, or the end of the as-of day when earlier): customers, share
of all four, the comparison's, the relative change and the z statistic of the share's
change (p-value finished in Python)."""

#: The RFM segments by R score and FM score (METRICS.md, ``rfm``), best first.
_SEGMENTS = (
    ("champions", "r = 5 AND fm >= 4"), ("loyal", "r IN (3, 4) AND fm >= 4"),
    ("potential loyalist", "r >= 4 AND fm IN (2, 3)"), ("new", "r = 5 AND fm = 1"),
    ("promising", "r = 4 AND fm = 1"), ("need attention", "r = 3 AND fm = 3"),
    ("about to sleep", "r = 3 AND fm <= 2"), ("at risk", "r <= 2 AND fm IN (3, 4)"),
    ("can''t lose", "r <= 2 AND fm = 5"), ("hibernating", "r = 2 AND fm <= 2"),
    ("lost", "r = 1 AND fm <= 2"))


def _quintile(column: str, worst_first: str) -> str:
    """SQL of the quintile score of ``column``: ceil(5 × rank / n), rank 1..n from the
    worst (``worst_first``: the order putting it first), ties at the lowest rank."""
    return (f"least(5, greatest(1, ceil(5 * rank() OVER (ORDER BY {column} {worst_first})"
            f"::DOUBLE / count(*) OVER ())))::INTEGER")


ACTIVITY_RFM_SEGMENTS = f"""
WITH bought AS (  -- customers with a purchase in the 365 days before $at
  SELECT customer_id,
    (epoch_us($at::TIMESTAMP) - epoch_us(max(closed_at))) // 86400000000 AS recency_days,
    count(*) AS frequency, coalesce(sum(amount), 0.0) AS monetary
  FROM deals WHERE status = 'won' AND customer_id IS NOT NULL
    AND closed_at >= $at - INTERVAL 365 DAY AND closed_at < $at
  GROUP BY customer_id),
scored AS (  -- the most recent is the best; FM = (F + M) / 2 rounded half up
  SELECT *, floor((f + m) / 2.0 + 0.5) AS fm FROM (
    SELECT *, {_quintile("recency_days", "DESC")} AS r, {_quintile("frequency", "ASC")} AS f,
      {_quintile("monetary", "ASC")} AS m
    FROM bought)),
segmented AS (
  SELECT CASE {" ".join(f"WHEN {w} THEN '{s}'" for s, w in _SEGMENTS)} END AS segment,
    recency_days, frequency, monetary
  FROM scored),
g AS (
  SELECT segment, count(*) AS customers, sum(monetary) AS revenue,
    median(recency_days::DOUBLE) AS recency_days_median,
    avg(frequency::DOUBLE) AS frequency_mean, avg(monetary) AS monetary_mean
  FROM segmented GROUP BY segment),
segments(segment, i) AS (VALUES {", ".join(f"('{s}', {i})" for i, (s, _) in enumerate(_SEGMENTS))})
SELECT s.segment, coalesce(g.customers, 0) AS customers,
  {_rate("coalesce(g.customers, 0)", "sum(coalesce(g.customers, 0)) OVER ()")} AS share,
  coalesce(g.revenue, 0.0) AS revenue,
  {_rate("coalesce(g.revenue, 0.0)", "sum(coalesce(g.revenue, 0.0)) OVER ()")} AS revenue_share,
  g.recency_days_median, g.frequency_mean, g.monetary_mean
FROM segments s LEFT JOIN g USING (segment) ORDER BY s.i
"""
"""Per RFM segment (every one, best first) of the customers with a purchase in the 365
days before ``$at``, scored by quintile on recency (whole days), frequency and monetary
(no amount: 0): customers and their share, revenue and its share, median recency, mean
frequency and mean monetary."""

ACTIVITY_COHORTS = """
WITH trend(month, s, e, i) AS ({months}),
months AS (  -- the trend months begun by $at, cut there: no purchase at or after it counts
  SELECT month, s, least(e, $at::TIMESTAMP) AS e, i FROM trend WHERE s < $at),
cohort AS (  -- customers by the month of their first purchase ever
  SELECT f.customer_id, m.month AS cohort, m.i AS c
  FROM (SELECT customer_id, min(closed_at) AS first_at FROM deals
        WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at IS NOT NULL
        GROUP BY customer_id) f
    JOIN months m ON f.first_at >= m.s AND f.first_at < m.e),
bought AS (  -- who purchased in which month
  SELECT DISTINCT d.customer_id, m.i
  FROM deals d JOIN months m ON d.closed_at >= m.s AND d.closed_at < m.e
  WHERE d.status = 'won' AND d.customer_id IS NOT NULL
    AND d.closed_at >= (SELECT min(s) FROM months) AND d.closed_at < $at),
sizes AS (SELECT cohort, c, count(*) AS customers FROM cohort GROUP BY cohort, c),
kept AS (
  SELECT x.c, b.i, count(*) AS retained FROM cohort x JOIN bought b USING (customer_id)
  GROUP BY x.c, b.i)
SELECT z.cohort, m.i - z.c AS month_offset, z.customers, coalesce(k.retained, 0) AS retained,
  coalesce(k.retained, 0) / z.customers AS share
FROM sizes z JOIN months m ON m.i >= z.c LEFT JOIN kept k ON k.c = z.c AND k.i = m.i
ORDER BY z.c, m.i
"""
"""Per cohort (the customers whose first purchase ever falls in one of the 12 trend months)
and each month from its own to the last: cohort size, customers of it with a purchase in
that month, and their share."""

ACTIVITY_WENT_QUIET = _local_days("""
WITH recent AS (  -- contacts from the comparison start: a quiet customer's last one before
  -- $at is among them (it has one in the comparison period, which ends by $at)
  SELECT customer_id, occurred_at AS contact_at FROM activities
  WHERE customer_id IS NOT NULL AND occurred_at >= $cs AND occurred_at < $e
  UNION ALL
  SELECT customer_id, closed_at FROM deals
  WHERE status = 'won' AND customer_id IS NOT NULL AND closed_at >= $cs AND closed_at < $e),
quiet AS (  -- a contact in the comparison period, none in the period
  SELECT customer_id, max(contact_at) FILTER (WHERE contact_at < $at) AS last_at
  FROM recent GROUP BY customer_id
  HAVING bool_or(contact_at >= $cs AND contact_at < $ce)
     AND NOT bool_or(contact_at >= $s AND contact_at < $e)),
revenue AS (  -- won in the 365 days before $at
  SELECT customer_id, sum(amount) AS revenue FROM deals SEMI JOIN quiet USING (customer_id)
  WHERE status = 'won' AND closed_at >= $at - INTERVAL 365 DAY AND closed_at < $at
  GROUP BY customer_id)
SELECT q.customer_id, coalesce(c.name, q.customer_id) AS name,
  CASE WHEN c.owner_id IS NOT NULL THEN coalesce(o.name, c.owner_id) END AS owner,
  local_day(last_at)::DATE AS last_contact,
  (epoch_us($at::TIMESTAMP) - epoch_us(q.last_at)) // 86400000000 AS days_since_contact,
  coalesce(r.revenue, 0.0) AS revenue_365d
FROM quiet q LEFT JOIN customers c USING (customer_id)
  LEFT JOIN employees o ON o.employee_id = c.owner_id LEFT JOIN revenue r USING (customer_id)
ORDER BY revenue_365d DESC, q.last_at DESC, q.customer_id
""")
"""Customers with a contact (activity or purchase) in the comparison period (``$cs``,
``$ce``) and none in the period: name, owner (no name: the id), the local day of the last
contact before ``$at`` and the whole days from it to ``$at``, revenue won in the 365 days
before ``$at``."""


def _poisson_p(now: Any, before: Any, share: float) -> float | None:
    """The two-sided p-value of two counts whose periods' lengths give the first the
    ``share`` of the time (the conditional binomial test: ``scipy.stats.binomtest`` of the
    first count of the total at ``share``); none without a count."""
    if before is None or pd.isna(before) or now + before == 0:
        return None
    return float(binomtest(int(now), int(now + before), share).pvalue)


def _normal_p(z: Any) -> float | None:
    """The two-sided normal p-value of a z statistic (none without one)."""
    return None if z is None or pd.isna(z) else math.erfc(abs(z) / math.sqrt(2.0))


def _activity(con: duckdb.DuckDBPyConnection, w: PageWindows,
              at: datetime) -> dict[str, pd.DataFrame]:
    """The Customer activity tables: one query each (the customer and top-revenue lists
    read one query of the per-customer figures of the period)."""
    cs, ce = w.comparison[:2] if w.comparison else (None, None)
    # the comparison's status instant: its end, or the as-of instant when earlier
    at1 = min(ce, max(w.as_of, cs)) if w.comparison else None
    base = {"s": w.s, "e": w.e}
    by_type = _frame(con, ACTIVITY_BY_TYPE, base | {"cs": cs, "ce": ce})
    share = ((w.e - w.s) / ((w.e - w.s) + (ce - cs))) if w.comparison else 0.5
    by_type["p_value"] = [_poisson_p(n, b, share) for n, b in
                          zip(by_type["interactions"], by_type["comparison"], strict=True)]
    status = _frame(con, ACTIVITY_CUSTOMER_STATUS, {"t0": at, "t1": at1})
    status["p_value"] = [_normal_p(z) for z in status.pop("z")]
    if not w.compared:  # a period not over: the comparison's counts, no change or test
        for table in (by_type, status):
            table[["change", "p_value"]] = None
    found = con.sql(ACTIVITY_CUSTOMER_FIGURES, params=base).to_arrow_table()
    name = f"_page_customers_{id(found)}"
    con.register(name, found)
    try:
        lists = {table: _frame(con, sql.replace("{figures}", name), {})
                 for table, sql in (("customer", ACTIVITY_CUSTOMER),
                                    ("top_revenue", ACTIVITY_TOP_REVENUE))}
    finally:
        con.unregister(name)
    if w.comparison:
        quiet = _frame(con, ACTIVITY_WENT_QUIET,
                       base | {"cs": cs, "ce": ce, "at": at, "tz": w.timezone})
    else:  # no comparison period: nobody went quiet
        quiet = pd.DataFrame(columns=list(COVERED["activity"]["went_quiet"][1]))
    trend, trend_values = _values(w.trend, "m")
    return {
        "interactions_by_type": by_type,
        **lists,
        "employee": _frame(con, ACTIVITY_EMPLOYEE, base),
        "customer_status": status,
        "rfm_segments": _frame(con, ACTIVITY_RFM_SEGMENTS, {"at": at}),
        "cohorts": _frame(con, ACTIVITY_COHORTS.replace("{months}", trend),
                          trend_values | {"at": at}),
        "went_quiet": quiet,
    }


# -- running them ---------------------------------------------------------------------------

#: The measures of the marketing campaign and channel tables.
_MARKETING_MEASURES = (
    "cost", "leads", "converted", "lead_conversion", "lead_conversion_low",
    "lead_conversion_high", "deals_won", "revenue", "acquired_customers", "cost_per_lead",
    "cac", "roi", "provisional")

#: The columns of the NPS tables by team and by segment, beside their key.
_NPS_COLUMNS = ("responses", "promoters", "passives", "detractors", "nps", "nps_low",
                "nps_high", "small_sample")

#: Per report, the breakdowns reproduced: name -> (key columns to sort by, columns).
COVERED: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "sales": {
        "employee": (("employee_id",), (
            "employee_id", "name", "team_id", "deals_won", "deals_lost", "closed", "win_rate",
            "win_rate_low", "win_rate_high", "revenue", "avg_deal_size", "open_pipeline")),
        "product": (("product",), ("product", "deals_won", "revenue", "avg_deal_size",
                                   "revenue_share")),
        "month": (("month",), ("month", "deals_won", "deals_lost", "revenue", "win_rate")),
        "stage_funnel": (("stage",), ("stage", "reached", "share")),
        "pipeline_by_expected_close": (("month",), ("month", "deals", "amount", "weighted")),
        "pipeline_movement": (("part",), ("part", "deals", "amount", "snapshot_date")),
        "forecast_accuracy": (("month",), ("month", "snapshot_date", "forecast", "actual",
                                           "error", "relative_error", "deals_counted")),
    },
    "performance": {
        "employee": (("employee_id",), (
            "employee_id", "name", "team_id", "role", "hired_at", "left_at", "employed",
            "full_period", "full_comparison", "note", *_FIGURE_COLUMNS, "is_seller", "is_agent",
            *(f"{m}_rank" for m in PERSON_METRICS),
            *(c for m in PERSON_METRICS for c in (
                f"{m}_previous", f"{m}_change", *([f"{m}_change_pp"] if m in RATES else []))),
            "workload", "workload_role_median", "workload_ratio", "workload_flag")),
        "team_median": (("metric",), ("metric", "team_median", "employees",
                                      "team_median_previous", "change_pp", "change")),
    },
    "marketing": {
        # keyed by name: the campaign_id of (no campaign) is null
        "campaign": (("name",), (
            "campaign_id", "name", "channel", "team_id", *_MARKETING_MEASURES)),
        "channel": (("channel",), ("channel", "campaigns", *_MARKETING_MEASURES)),
        "funnel": (("channel",), ("channel", "leads", "converted", "won", "converted_share",
                                  "won_share")),
    },
    "activity": {
        "interactions_by_type": (("type",), ("type", "interactions", "comparison", "change",
                                             "p_value")),
        "customer": (("customer_id",), ("customer_id", "name", "interactions", *TYPES,
                                        "deals_won", "revenue")),
        "top_revenue": (("customer_id",), ("customer_id", "name", "revenue", "deals_won",
                                           "interactions")),
        "employee": (("employee_id",), ("employee_id", "name", "team_id", "interactions",
                                        *TYPES)),
        "customer_status": (("status",), ("status", "customers", "share", "comparison",
                                          "comparison_share", "change", "p_value")),
        "rfm_segments": (("segment",), (
            "segment", "customers", "share", "revenue", "revenue_share", "recency_days_median",
            "frequency_mean", "monetary_mean")),
        "cohorts": (("cohort", "month_offset"), ("cohort", "month_offset", "customers",
                                                 "retained", "share")),
        "went_quiet": (("customer_id",), ("customer_id", "name", "owner", "last_contact",
                                          "days_since_contact", "revenue_365d")),
    },
    "satisfaction": {
        "month": (("month",), (
            "month", "nps", "nps_low", "nps_high", "nps_responses", "csat", "csat_low",
            "csat_high", "csat_responses", "ces", "ces_low", "ces_high", "ces_responses")),
        "nps_by_team": (("team_id",), ("team_id", "team", *_NPS_COLUMNS)),
        "nps_by_segment": (("segment",), ("segment", *_NPS_COLUMNS)),
        "score_distribution": (("kind", "score"), ("kind", "score", "responses", "share",
                                                   "band")),
        "verbatims": (("response_id",), ("date", "score", "segment", "comment", "response_id",
                                         "responded_at")),
    },
}

#: Per report, what the page baseline leaves out, and why (printed by metric_layer.py).
NOT_COVERED: dict[str, dict[str, str]] = {"sales": {}, "performance": {}, "marketing": {},
                                           "satisfaction": {}, "activity": {}}


def _frame(con: duckdb.DuckDBPyConnection, sql: str, values: dict[str, Any]) -> pd.DataFrame:
    """One query's result as a pandas DataFrame."""
    return con.execute(sql, values).df()


def breakdowns(con: duckdb.DuckDBPyConnection, report: str,
               w: PageWindows) -> dict[str, pd.DataFrame]:
    """The covered breakdown tables of ``report``, company-wide: one query each (the two
    performance tables read one query of the per-person figures)."""
    at = min(w.e, max(w.as_of, w.s))  # the open pipeline's instant: period end, or as-of
    base = {"s": w.s, "e": w.e, "z": Z95}
    if report == "sales":
        trend, trend_values = _values(w.trend, "m")
        expected, expected_values = _values(w.expected, "x")
        return {
            "employee": _frame(con, SALES_EMPLOYEE, base | {"at": at}),
            "product": _frame(con, SALES_PRODUCT, {"s": w.s, "e": w.e}),
            "month": _frame(con, SALES_MONTH.replace("{months}", trend)
                            .replace("{bucket}", _bucket("closed_at", w.trend, "m")),
                            trend_values | {"first": w.trend[0][1], "last": w.trend[-1][2]}),
            "stage_funnel": _frame(con, SALES_STAGE_FUNNEL, {"s": w.s, "e": w.e}),
            "pipeline_by_expected_close": _frame(
                con, SALES_PIPELINE_BY_EXPECTED_CLOSE.replace("{months}", expected),
                expected_values | {"at": at}),
            **_history(con, w),
        }
    if report == "performance":
        rows = [(0, w.s, w.e, w.ds, w.quota_de or w.de)] + (
            [(1, *w.comparison)] if w.comparison else [])
        windows, values = [], {}
        for c, s, e, ds, de in rows:
            windows.append(f"({c}, $ws{c}::TIMESTAMP, $we{c}::TIMESTAMP, $wds{c}::DATE, "
                           f"$wde{c}::DATE)")
            values |= {f"ws{c}": s, f"we{c}": e, f"wds{c}": ds, f"wde{c}": de}
        figures = _performance_sql().replace("{windows}", "VALUES " + ", ".join(windows))
        # the figures (a few rows per person) once, read by both tables' queries
        found = con.sql(figures, params=values | {"at": w.as_of, "z": Z95}).to_arrow_table()
        name = f"_page_figures_{id(found)}"
        con.register(name, found)
        try:
            bounds = {"s0": w.s, "e0": w.e, "tz": w.timezone}
            if w.comparison:
                bounds |= {"s1": w.comparison[0], "e1": w.comparison[1],
                           "comparison_label": w.comparison_label}
            has = w.comparison is not None
            employee = _frame(con, _performance_employee_sql(has).replace("{figures}", name),
                              bounds)
            employee["workload_flag"] = _workload_flags(employee)
            medians = _frame(con, _team_median_sql(has).replace("{figures}", name),
                             {k: v for k, v in bounds.items() if k in ("s0", "e0", "s1", "e1")})
        finally:
            con.unregister(name)
        if not w.compared:  # a period not over: the comparison's values, no change
            employee[[c for c in employee.columns if "_change" in c]] = None
            medians[[c for c in medians.columns
                     if c.startswith("change") or c.endswith("_previous")]] = None
        return {"employee": employee.drop(columns="workload_candidate"),
                "team_median": medians}
    if report == "marketing":
        # the (campaign, channel) cells once, read by the three tables' queries
        found = con.sql(MARKETING_CELLS, params={"s": w.s, "e": w.e, "ds": w.ds, "de": w.de,
                                                 "at": at, "cut": w.as_of}).to_arrow_table()
        name = f"_page_cells_{id(found)}"
        con.register(name, found)
        try:
            return {table: _frame(con, sql.replace("{cells}", name),
                                  {"at": at, "z": Z95} if table != "funnel" else {})
                    for table, sql in (("campaign", MARKETING_CAMPAIGN),
                                       ("channel", MARKETING_CHANNEL),
                                       ("funnel", MARKETING_FUNNEL))}
        finally:
            con.unregister(name)
    if report == "activity":
        return _activity(con, w, at)
    if report == "satisfaction":
        trend, trend_values = _values(w.trend, "m")
        month = _frame(con, SATISFACTION_MONTH.replace("{months}", trend)
                       .replace("{bucket}", _bucket("responded_at", w.trend, "m")),
                       trend_values | {"first": w.trend[0][1], "last": w.trend[-1][2], "z": Z95})
        return {
            "month": _t_bounds(month),
            "nps_by_team": _frame(con, SATISFACTION_NPS_BY_TEAM, base),
            "nps_by_segment": _frame(con, SATISFACTION_NPS_BY_SEGMENT, base),
            "score_distribution": _frame(con, SATISFACTION_SCORE_DISTRIBUTION,
                                         {"s": w.s, "e": w.e}),
            "verbatims": _frame(con, SATISFACTION_VERBATIMS,
                                {"s": w.s, "e": w.e, "tz": w.timezone}),
        }
    return {}


def _has_snapshots(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database has crmkit's pipeline snapshot table (a database without it
    reads as having no snapshots)."""
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'crmkit' "
        "AND table_name = 'pipeline_snapshots'").fetchall()[0][0])


def _history(con: duckdb.DuckDBPyConnection, w: PageWindows) -> dict[str, pd.DataFrame]:
    """The pipeline movement and the forecast accuracy, from the pipeline snapshots (no
    rows in a database without them, or without the snapshots they need): one scan of the
    snapshots' instants picks the snapshots, then one query each reads only those."""
    movement = pd.DataFrame(columns=list(COVERED["sales"]["pipeline_movement"][1]))
    accuracy = pd.DataFrame(columns=list(COVERED["sales"]["forecast_accuracy"][1]))
    if not _has_snapshots(con):
        return {"pipeline_movement": movement, "forecast_accuracy": accuracy}
    trend = w.history or w.trend
    starts = {f"ms{i}": s for i, (_, s, _) in enumerate(trend)}
    cursor = con.execute(_snapshot_index_sql(len(trend)),
                         {"s": w.s, "until": min(w.e, w.as_of)} | starts)
    index = dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0], strict=True))
    t0, d0 = ((index["before_start"], index["before_start_day"])
              if index["before_start"] is not None
              else (index["after_start"], index["after_start_day"]))
    if t0 is not None and index["t1"] is not None and index["t1"] > t0:
        movement = _frame(con, SALES_PIPELINE_MOVEMENT,
                          {"t0": t0, "t1": index["t1"], "d0": d0, "d1": index["d1"]})
        movement["snapshot_date"] = movement["snapshot_date"].astype(object)
    chosen = [(label, s, e, index[f"a{i}"], index[f"ad{i}"])
              for i, (label, s, e) in enumerate(trend)
              if e <= w.as_of and index[f"a{i}"] is not None]
    if chosen:
        rows, values = [], {"first": min(c[1] for c in chosen), "last": max(c[2] for c in chosen)}
        for i, (label, s, e, taken_at, day) in enumerate(chosen):
            rows.append(f"($cl{i}, $cs{i}::TIMESTAMP, $ce{i}::TIMESTAMP, $ct{i}::TIMESTAMP, "
                        f"$cd{i}::DATE, {i})")
            values |= {f"cl{i}": label, f"cs{i}": s, f"ce{i}": e, f"ct{i}": taken_at,
                       f"cd{i}": day}
        sql = (SALES_FORECAST_ACCURACY.replace("{chosen}", "VALUES " + ", ".join(rows))
               .replace("{instants}", ", ".join(f"$ct{i}::TIMESTAMP" for i in range(len(rows))))
               .replace("{bucket}", _bucket("closed_at", [c[:3] for c in chosen], "c")))
        accuracy = _frame(con, sql, values)
    return {"pipeline_movement": movement, "forecast_accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("report", choices=sorted(COVERED))
    parser.add_argument("period")
    parser.add_argument("--as-of", default=None)
    args = parser.parse_args()
    from crmkit.reports import open_report  # lazy: only to resolve the period as a run does

    ctx = open_report(args.report, period=args.period, as_of=args.as_of, database=args.database)
    ctx.store.close()
    con = duckdb.connect(args.database, read_only=True)
    for name, frame in breakdowns(con, args.report, page_windows(ctx)).items():
        print(f"== {name}\n{frame.to_string()}")


if __name__ == "__main__":
    main()
