"""Customer activity metrics (METRICS.md, "Customer activity").

Interactions (activities by type, per customer and per employee), active and new
customers, customer status at the period end, RFM segments, cohort retention and the
customers that went quiet. Every function is pure: it takes canonical tables (any frame
:func:`crmkit.metrics._frames.lazy` accepts) and a :class:`~crmkit.periods.Period` or an instant,
and returns a number, a dict or a small pandas frame. Filters and aggregations run inside
the engine that holds the tables; only per-customer (or smaller) aggregates are collected.

A *contact* is an activity with a customer or a purchase (a won deal with a customer,
dated by ``closed_at``); :func:`contacts` stacks both into one lazy frame.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypedDict

import narwhals as nw
import numpy as np
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.metrics.customers import CustomerBook, first_won_deals
from crmkit.periods import Period

__all__ = [
    "Summary",
    "ACTIVITY_TYPES",
    "RFM_GRID",
    "SEGMENTS",
    "STATUSES",
    "active_customers",
    "by_customer",
    "by_employee",
    "cohort_retention",
    "CustomerLists",
    "contacts",
    "customer_status",
    "interactions",
    "interactions_by_type",
    "last_contacts",
    "new_customers",
    "quintile_scores",
    "customer_lists",
    "data_gaps",
    "snapshot_at",
    "rfm",
    "rfm_grid_words",
    "rfm_segment",
    "rfm_segments",
    "significance",
    "status_table",
    "summary",
    "went_quiet",
]

#: The canonical activity types (DATA_MODEL.md), in the order reports show them.
ACTIVITY_TYPES = ("call", "email", "meeting", "message", "site_visit", "request", "note", "other")

#: Customer status at an instant; "never_active": no activity and no purchase before it.
STATUSES = ("active", "at_risk", "lost", "never_active")
STATUS_LABELS = {"active": "active", "at_risk": "at risk", "lost": "lost",
                 "never_active": "never active"}

#: RFM segment of each (R score, FM score); FM = round-half-up of (F + M) / 2.
#: Rows: R = 5 (most recent) down to 1; columns: FM = 1 .. 5.
_GRID_ROWS = {
    5: ("new", "potential loyalist", "potential loyalist", "champions", "champions"),
    4: ("promising", "potential loyalist", "potential loyalist", "loyal", "loyal"),
    3: ("about to sleep", "about to sleep", "need attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at risk", "at risk", "can't lose"),
    1: ("lost", "lost", "at risk", "at risk", "can't lose"),
}
RFM_GRID: dict[tuple[int, int], str] = {
    (r, fm): name for r, row in _GRID_ROWS.items() for fm, name in enumerate(row, start=1)
}
#: Segments from best to worst (the order of tables and charts).
SEGMENTS = ("champions", "loyal", "potential loyalist", "new", "promising", "need attention",
            "about to sleep", "at risk", "can't lose", "hibernating", "lost")

RFM_LOOKBACK_DAYS = 365
DAY = pd.Timedelta(days=1)


# -- the RFM grid in words ----------------------------------------------------------------

def rfm_grid_words() -> str:
    """The RFM segment grid in words (quoted in the catalogue's definition of ``rfm``)."""
    parts = []
    for seg in SEGMENTS:
        cells = [(r, fm) for (r, fm), name in RFM_GRID.items() if name == seg]
        rs = sorted({r for r, _ in cells})
        fms = sorted({fm for _, fm in cells})
        parts.append(f"{seg}: R {_span(rs)}, FM {_span(fms)}")
    return "; ".join(parts)


def _span(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"



# -- building blocks -------------------------------------------------------------------------

def contacts(activities: Frame, deals: Frame) -> nw.LazyFrame:
    """Every dated contact with a customer, lazily: ``customer_id, at, kind, amount``.

    ``kind`` is ``activity`` (``at`` = occurred_at, no amount) or ``purchase`` (a won deal:
    ``at`` = closed_at, its amount). Rows without a customer are left out.
    """
    acts = F.lazy(activities).filter(~nw.col("customer_id").is_null()).select(
        nw.col("customer_id"),
        nw.col("occurred_at").cast(nw.Datetime("us")).alias("at"),
        nw.lit("activity").alias("kind"),
        nw.lit(None, dtype=nw.Float64()).alias("amount"),
    )
    won = F.lazy(deals).filter(
        (nw.col("status") == "won") & ~nw.col("customer_id").is_null()
        & ~nw.col("closed_at").is_null()
    ).select(
        nw.col("customer_id"),
        nw.col("closed_at").cast(nw.Datetime("us")).alias("at"),
        nw.lit("purchase").alias("kind"),
        nw.col("amount").cast(nw.Float64()),
    )
    return nw.concat([acts, won], how="vertical")


def _in(period: Period, col: str = "at") -> nw.Expr:
    return F.in_window(col, period.start_utc, period.end_utc)


def _int(value: Any) -> int:
    return int(value or 0)


# -- interactions ----------------------------------------------------------------------------

def interactions(activities: Frame, period: Period) -> dict[str, int]:
    """Activities in the period: ``interactions`` (all) and ``interactions_<type>`` for
    every canonical type (0 when absent)."""
    df = F.to_pandas(
        F.lazy(activities).filter(_in(period, "occurred_at")).group_by("type").agg(n=nw.len())
    )
    counts = dict(zip(df["type"].astype(str), df["n"].astype(int), strict=True))
    out = {"interactions": int(sum(counts.values()))}
    out.update({f"interactions_{t}": int(counts.get(t, 0)) for t in ACTIVITY_TYPES})
    return out


def interactions_by_type(
    current: dict[str, int], previous: dict[str, int] | None
) -> pd.DataFrame:
    """One row per canonical type: interactions, comparison, change and Poisson p-value."""
    rows = []
    for t in ACTIVITY_TYPES:
        now = current[f"interactions_{t}"]
        before = previous[f"interactions_{t}"] if previous else None
        test = stats.poisson_rate_test(now, before) if before is not None else None
        rows.append({"type": t, "interactions": now, "comparison": before,
                     "change": stats.change(now, before),
                     "p_value": test.p_value if test else None})
    return pd.DataFrame(rows)


def _type_counts(lf: nw.LazyFrame, key: str) -> pd.DataFrame:
    """Wide per-``key`` counts: ``key, interactions, <every type>`` (one engine query)."""
    df = F.to_pandas(
        lf.select(key, *[(nw.col("type") == t).cast(nw.Int64).alias(t) for t in ACTIVITY_TYPES])
        .group_by(key).agg(nw.len().alias("interactions"), nw.col(*ACTIVITY_TYPES).sum())
    )
    df[key] = df[key].astype(object)
    for c in ("interactions", *ACTIVITY_TYPES):
        df[c] = df[c].fillna(0).astype(int)
    return df[[key, "interactions", *ACTIVITY_TYPES]]


def by_employee(activities: Frame, employees: Frame, period: Period) -> pd.DataFrame:
    """Interactions in the period per employee and type.

    Employees with the role ``sales`` or ``manager`` are listed even with no activity (an
    idle seller should be visible); activities without an employee form one
    "(no employee)" row.
    """
    lf = F.lazy(activities).filter(_in(period, "occurred_at")).with_columns(
        employee_id=nw.coalesce(nw.col("employee_id"), nw.lit("(no employee)"))
    )
    counts = _type_counts(lf, "employee_id")
    emp_lf = F.lazy(employees)
    cols = [c for c in ("employee_id", "name", "team_id", "role") if c in F.columns(emp_lf)]
    staff = F.to_pandas(emp_lf.select(*cols))
    if "role" not in staff:
        staff["role"] = None
    staff = staff.astype({"employee_id": object})
    df = staff.merge(counts, on="employee_id", how="outer")
    keep = df["role"].isin(["sales", "manager"]) | (df["interactions"].fillna(0) > 0)
    df = df[keep].copy()
    for c in ("interactions", *ACTIVITY_TYPES):
        df[c] = df[c].fillna(0).astype(int)
    df["name"] = df["name"].fillna(df["employee_id"])
    if "team_id" not in df:
        df["team_id"] = None
    df = df.sort_values(["interactions", "name"], ascending=[False, True])
    return df.reset_index(drop=True)[["employee_id", "name", "team_id", "interactions",
                                      *ACTIVITY_TYPES]]


def by_customer(activities: Frame, deals: Frame, period: Period) -> pd.DataFrame:
    """Per customer with an activity or a won deal in the period: interactions (all and
    per type), deals won and revenue in the period. Sorted by interactions, then revenue."""
    acts = _type_counts(
        F.lazy(activities).filter(_in(period, "occurred_at") & ~nw.col("customer_id").is_null()),
        "customer_id",
    )
    won = F.to_pandas(
        F.lazy(deals)
        .filter((nw.col("status") == "won") & _in(period, "closed_at")
                & ~nw.col("customer_id").is_null())
        .group_by("customer_id").agg(deals_won=nw.len(), revenue=nw.col("amount").sum())
    ).astype({"customer_id": object})
    df = acts.merge(won, on="customer_id", how="outer")
    for c in ("interactions", *ACTIVITY_TYPES, "deals_won"):
        df[c] = df[c].fillna(0).astype(int)
    df["revenue"] = df["revenue"].fillna(0.0).astype(float)
    df = df.sort_values(["interactions", "revenue", "customer_id"], ascending=[False, False, True])
    return df.reset_index(drop=True)


# -- active and new customers ----------------------------------------------------------------

def active_customers(activities: Frame, deals: Frame, period: Period) -> int:
    """Customers with at least one activity or one won deal in the period."""
    row = F.one_row(
        contacts(activities, deals).filter(_in(period)).select("customer_id").unique()
        .select(n=nw.len())
    )
    return _int(row["n"])


def new_customers(deals: Frame, period: Period) -> int:
    """Customers whose first won deal (earliest ``closed_at`` in ``deals``) is in the period.

    Pass every deal of the customers counted (a :class:`~crmkit.metrics.customers.CustomerBook`'s
    deals, or the unscoped table), not a team's own deals: a customer is new once,
    company-wide, in the period of its first won deal ever.
    """
    row = F.one_row(
        first_won_deals(deals).filter(_in(period, "closed_at")).select(n=nw.len())
    )
    return _int(row["n"])


# -- status at an instant ---------------------------------------------------------------------

def last_contacts(activities: Frame, deals: Frame, at: datetime) -> pd.DataFrame:
    """Per customer with a contact before ``at``: ``last_contact`` (activity or purchase)."""
    df = F.to_pandas(
        contacts(activities, deals).filter(nw.col("at") < at)
        .group_by("customer_id").agg(last_contact=nw.col("at").max())
    )
    df["customer_id"] = df["customer_id"].astype(object)
    df["last_contact"] = pd.to_datetime(df["last_contact"])
    return df


def customer_status(
    activities: Frame, deals: Frame, customers: Frame, at: datetime,
    active_days: float = 90, lost_days: float = 180,
) -> pd.DataFrame:
    """Status of every customer of the scope at instant ``at``.

    The scope is the customers of ``customers`` created before ``at`` plus any customer
    with a contact before ``at``. ``days`` = elapsed time from the last contact to ``at``
    in (fractional) days: ``active`` if ``days <= active_days``, ``at_risk`` if
    ``days <= lost_days``, ``lost`` beyond, ``never_active`` without any contact.
    Returns ``customer_id, last_contact, days, status``.
    """
    _check_thresholds(active_days, lost_days)
    last = last_contacts(activities, deals, at)
    known = F.to_pandas(
        F.lazy(customers).filter(nw.col("created_at") < at).select("customer_id")
    )["customer_id"].astype(object)
    ids = pd.DataFrame({"customer_id": pd.unique(pd.concat([known, last["customer_id"]]))})
    df = ids.merge(last, on="customer_id", how="left")
    df["days"] = (pd.Timestamp(at) - df["last_contact"]) / DAY
    df["status"] = np.select(
        [df["days"].isna(), df["days"] <= active_days, df["days"] <= lost_days],
        ["never_active", "active", "at_risk"], default="lost",
    )
    return df.sort_values("customer_id").reset_index(drop=True)


def _check_thresholds(active_days: float, lost_days: float) -> None:
    if not (0 < active_days < lost_days):
        raise ValueError(
            f"invalid status thresholds active_days={active_days!r}, lost_days={lost_days!r}: "
            "need 0 < active_days < lost_days (defaults 90 and 180)"
        )


def _status_counts(status: pd.DataFrame) -> dict[str, int]:
    counts = status["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}


def status_table(current: dict[str, int], previous: dict[str, int] | None) -> pd.DataFrame:
    """Customers per status with their share of the scope's customers, the comparison and
    a two-proportion test of the share."""
    n_now = sum(current.values())
    n_before = sum(previous.values()) if previous else 0
    rows = []
    for s in STATUSES:
        now = current[s]
        before = previous[s] if previous else None
        test = stats.two_proportion_test(now, n_now, before, n_before) if before is not None else None
        rows.append({
            "status": STATUS_LABELS[s], "customers": now, "share": stats.ratio(now, n_now),
            "comparison": before,
            "comparison_share": stats.ratio(before, n_before) if previous else None,
            "change": stats.change(now, before),
            "p_value": test.p_value if test else None,
        })
    return pd.DataFrame(rows)


# -- RFM --------------------------------------------------------------------------------------

def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1–5 by quintile: ``ceil(5 × rank / n)`` with rank 1..n from worst to best.

    Tied values all take the lowest rank of their run (``rank(method="min")``), so the same
    value always gets the same score, whatever the row order, and a tie never lifts a
    customer above the first of its group: with most customers buying once, every one-off
    buyer scores F = 1.
    """
    if values.empty:
        return pd.Series([], index=values.index, dtype=int)
    ranks = values.rank(method="min", ascending=higher_is_better)
    return np.ceil(5 * ranks / len(values)).clip(1, 5).astype(int)


def rfm_segment(r: int, fm: int) -> str:
    """The named segment of an R score and an FM score (both 1–5)."""
    return RFM_GRID[(int(r), int(fm))]


def rfm(deals: Frame, at: datetime, lookback_days: int = RFM_LOOKBACK_DAYS) -> pd.DataFrame:
    """RFM of every customer with a won deal in ``[at − lookback_days, at)``.

    Returns ``customer_id, last_purchase, recency_days, frequency, monetary, r, f, m, fm,
    segment``: recency in whole days (rounded down) from the last purchase to ``at``,
    frequency = won deals, monetary = sum of amounts (a missing amount counts 0).
    """
    start = at - timedelta(days=lookback_days)
    df = F.to_pandas(
        F.lazy(deals)
        .filter((nw.col("status") == "won") & ~nw.col("customer_id").is_null()
                & F.in_window("closed_at", start, at))
        .group_by("customer_id")
        .agg(last_purchase=nw.col("closed_at").max(), frequency=nw.len(),
             monetary=nw.col("amount").sum())
    )
    df["customer_id"] = df["customer_id"].astype(object)
    df["last_purchase"] = pd.to_datetime(df["last_purchase"])
    df["frequency"] = df["frequency"].astype(int)
    df["monetary"] = df["monetary"].fillna(0.0).astype(float)
    df["recency_days"] = np.floor((pd.Timestamp(at) - df["last_purchase"]) / DAY).astype(int)
    df["r"] = quintile_scores(df["recency_days"], higher_is_better=False)
    df["f"] = quintile_scores(df["frequency"])
    df["m"] = quintile_scores(df["monetary"])
    df["fm"] = ((df["f"] + df["m"] + 1) // 2).astype(int)
    df["segment"] = [rfm_segment(r, fm) for r, fm in zip(df["r"], df["fm"], strict=True)]
    cols = ["customer_id", "last_purchase", "recency_days", "frequency", "monetary",
            "r", "f", "m", "fm", "segment"]
    return df.sort_values("customer_id").reset_index(drop=True)[cols]


def rfm_segments(scored: pd.DataFrame) -> pd.DataFrame:
    """Every segment (best first): customers, share of customers, revenue (monetary over
    the lookback), revenue share, median recency, mean frequency and mean monetary."""
    g = scored.groupby("segment")
    agg = pd.DataFrame({
        "customers": g.size(),
        "revenue": g["monetary"].sum(),
        "recency_days_median": g["recency_days"].median(),
        "frequency_mean": g["frequency"].mean(),
        "monetary_mean": g["monetary"].mean(),
    }) if not scored.empty else pd.DataFrame(
        columns=["customers", "revenue", "recency_days_median", "frequency_mean", "monetary_mean"]
    )
    df = pd.DataFrame({"segment": list(SEGMENTS)}).merge(
        agg, left_on="segment", right_index=True, how="left"
    )
    df["customers"] = df["customers"].fillna(0).astype(int)
    df["revenue"] = df["revenue"].fillna(0.0).astype(float)
    n, total = int(df["customers"].sum()), float(df["revenue"].sum())
    df["share"] = [stats.ratio(c, n) for c in df["customers"]]
    df["revenue_share"] = [stats.ratio(r, total) for r in df["revenue"]]
    return df[["segment", "customers", "share", "revenue", "revenue_share",
               "recency_days_median", "frequency_mean", "monetary_mean"]]


# -- cohorts ----------------------------------------------------------------------------------

def cohort_retention(deals: Frame, months: list[Period], end: datetime) -> pd.DataFrame:
    """Retention of the customers whose first won deal ever falls in one of ``months``.

    For each cohort (month of the first purchase) and each month from it to the last of
    ``months``: ``customers`` (cohort size), ``retained`` (customers of the cohort with a
    won deal in that month) and ``share``. Purchases at or after ``end`` are ignored.
    Returns ``cohort, month_offset, customers, retained, share``.
    """
    labels = [m.label for m in months]
    buckets = [(m.label, m.start_utc, min(m.end_utc, end)) for m in months if m.start_utc < end]
    won = F.lazy(deals).filter(
        (nw.col("status") == "won") & ~nw.col("customer_id").is_null()
        & ~nw.col("closed_at").is_null()
    )
    first = F.to_pandas(
        first_won_deals(deals)
        .with_columns(cohort=F.bucket("closed_at", buckets))
        .filter(~nw.col("cohort").is_null())
        .select("customer_id", "cohort")
    )
    bought = F.to_pandas(
        won.filter(F.in_window("closed_at", months[0].start_utc, min(months[-1].end_utc, end)))
        .with_columns(month=F.bucket("closed_at", buckets))
        .filter(~nw.col("month").is_null())
        .select("customer_id", "month").unique()
    )
    pos = {label: i for i, label in enumerate(labels)}
    size = first.groupby("cohort").size()
    hits = first.merge(bought, on="customer_id")
    # a lookup per row, not Series.map: on no rows pandas would type the result as text
    hits["month_offset"] = [pos[m] - pos[c] for m, c in zip(hits["month"], hits["cohort"],
                                                            strict=True)]
    retained = hits[hits["month_offset"] >= 0].groupby(["cohort", "month_offset"]).size()
    last = len(buckets) - 1
    rows = []
    for label in labels:
        n = int(size.get(label, 0))
        if n == 0:
            continue
        for k in range(last - pos[label] + 1):
            kept = int(retained.get((label, k), 0))
            rows.append({"cohort": label, "month_offset": k, "customers": n, "retained": kept,
                         "share": stats.ratio(kept, n)})
    cols = ["cohort", "month_offset", "customers", "retained", "share"]
    return pd.DataFrame(rows, columns=cols)


# -- went quiet -------------------------------------------------------------------------------

def went_quiet(
    activities: Frame, deals: Frame, period: Period, comparison: Period, at: datetime,
    lookback_days: int = RFM_LOOKBACK_DAYS,
) -> pd.DataFrame:
    """Customers with a contact in ``comparison`` and none in ``period``.

    Returns ``customer_id, last_contact`` (last contact before ``at``), ``revenue_365d``
    (won deals in ``[at − lookback_days, at)``), sorted by that revenue, then by the most
    recent contact.
    """
    c = contacts(activities, deals)
    before = c.filter(_in(comparison)).select("customer_id").unique()
    now = c.filter(_in(period)).select("customer_id").unique()
    start = at - timedelta(days=lookback_days)
    detail = (
        c.filter(nw.col("at") < at)
        .with_columns(
            _rev=nw.when((nw.col("kind") == "purchase") & (nw.col("at") >= start))
            .then(nw.col("amount")).otherwise(0.0)
        )
        .group_by("customer_id")
        .agg(last_contact=nw.col("at").max(), revenue_365d=nw.col("_rev").sum())
    )
    df = F.to_pandas(
        before.join(now, on="customer_id", how="anti").join(detail, on="customer_id", how="left")
    )
    df["customer_id"] = df["customer_id"].astype(object)
    df["last_contact"] = pd.to_datetime(df["last_contact"])
    df["revenue_365d"] = df["revenue_365d"].fillna(0.0).astype(float)
    df = df.sort_values(["revenue_365d", "last_contact", "customer_id"],
                        ascending=[False, False, True])
    return df.reset_index(drop=True)[["customer_id", "last_contact", "revenue_365d"]]


# -- one period's headline --------------------------------------------------------------------

class Summary(TypedDict):
    """One period's Customer-activity figures."""

    metrics: dict[str, Any]  # every headline KPI under its METRICS.md name
    status: pd.DataFrame  # each customer's status at ``at``
    status_counts: dict[str, int]
    at: datetime  # the instant the status is taken at


def summary(
    activities: Frame, deals: Frame, customers: Frame, period: Period, at: datetime,
    active_days: float = 90, lost_days: float = 180, book: CustomerBook | None = None,
) -> Summary:
    """Every headline Customer-activity KPI of one period under its METRICS.md name.

    Interactions count ``activities``; the customer figures (active, new, status) count the
    customers of ``book`` with all their activities and deals (:func:`crmkit.metrics.customers.book`;
    without one: ``customers`` with ``activities`` and ``deals``). ``at`` is the instant the
    status is taken at (the period end, or the end of the as-of day when earlier). Returns
    ``{"metrics": {...}, "status": frame, "status_counts": {...}}``.
    """
    book = book or CustomerBook(customers, activities, deals)
    acts, dls = F.lazy(book.activities), F.lazy(book.deals)
    status = customer_status(acts, dls, book.customers, at, active_days, lost_days)
    counts = _status_counts(status)
    metrics: dict[str, Any] = {
        **interactions(F.lazy(activities), period),
        "active_customers": active_customers(acts, dls, period),
        "new_customers": new_customers(dls, period),
        "customers_active": counts["active"],
        "customers_at_risk": counts["at_risk"],
        "customers_lost": counts["lost"],
    }
    return Summary(metrics=metrics, status=status, status_counts=counts, at=at)


COUNTS = ("interactions", *(f"interactions_{t}" for t in ACTIVITY_TYPES), "active_customers",
          "new_customers", "customers_active", "customers_at_risk", "customers_lost")


def significance(current: Summary, previous: Summary) -> dict[str, stats.Test]:
    """Change tests between two :func:`summary` results: every headline metric is a count,
    tested with the conditional binomial test of two Poisson counts."""
    cm, pm = current["metrics"], previous["metrics"]
    return {name: stats.poisson_rate_test(int(cm[name]), int(pm[name])) for name in COUNTS}


# -- the report -------------------------------------------------------------------------------

def _customer_details(customers: Frame, employees: Frame, ids: list[str]) -> pd.DataFrame:
    """Name and owner's name of the given customers (one query each, small)."""
    if not ids:
        return pd.DataFrame({"customer_id": [], "name": [], "owner": []}, dtype=object)
    cust = F.to_pandas(
        F.lazy(customers).filter(nw.col("customer_id").is_in(ids))
        .select("customer_id", "name", "owner_id")
    ).astype({"customer_id": object, "owner_id": object})
    owners = cust["owner_id"].dropna().unique().tolist()
    emp = F.to_pandas(
        F.lazy(employees).filter(nw.col("employee_id").is_in(owners or [""]))
        .select(nw.col("employee_id").alias("owner_id"), nw.col("name").alias("owner"))
    ).astype({"owner_id": object})
    df = cust.merge(emp, on="owner_id", how="left")
    df["owner"] = df["owner"].fillna(df["owner_id"])
    return df[["customer_id", "name", "owner"]]


def _named(df: pd.DataFrame, details: pd.DataFrame, owner: bool = False) -> pd.DataFrame:
    out = df.merge(details, on="customer_id", how="left")
    out["name"] = out["name"].fillna(out["customer_id"])
    first = ["customer_id", "name", *(["owner"] if owner else [])]
    return out[first + [c for c in df.columns if c not in first]]


def _local_date(ts: pd.Series, timezone: str) -> pd.Series:
    stamps = pd.to_datetime(ts)
    return stamps.dt.tz_localize("UTC").dt.tz_convert(timezone).dt.date


def snapshot_at(period: Period, as_of_end: datetime) -> datetime:
    """The instant customer status is taken: the period end, or the end of the as-of day
    while the period is not over (never before the period start)."""
    return min(period.end_utc, max(as_of_end, period.start_utc))


class CustomerLists(NamedTuple):
    """The customer tables of the report, each with the customer's name (and owner)."""

    customer: pd.DataFrame  # most active in the period
    top_revenue: pd.DataFrame  # most revenue won in the period
    went_quiet: pd.DataFrame  # active in the comparison period, silent since (empty without one)
    active_in_period: int  # customers with an interaction or a won deal in the period


def customer_lists(activities: Frame, deals: Frame, customers: Frame, employees: Frame,
                   period: Period, comparison: Period | None, at: datetime,
                   top: int = 50) -> CustomerLists:
    """The top ``top`` customers by activity and by revenue, and those that went quiet."""
    per_customer = by_customer(activities, deals, period)
    top_activity = per_customer[per_customer["interactions"] > 0].head(top)
    top_revenue = (
        per_customer[per_customer["deals_won"] > 0]
        .sort_values(["revenue", "deals_won", "customer_id"], ascending=[False, False, True])
        .head(top)[["customer_id", "revenue", "deals_won", "interactions"]]
    )
    quiet = (went_quiet(activities, deals, period, comparison, at)
             if comparison is not None else
             pd.DataFrame(columns=["customer_id", "last_contact", "revenue_365d"]))
    ids = sorted({*top_activity["customer_id"], *top_revenue["customer_id"],
                  *quiet["customer_id"]})
    details = _customer_details(customers, employees, ids)
    quiet = quiet.assign(
        last_contact=_local_date(quiet["last_contact"], period.timezone),
        days_since_contact=np.floor((pd.Timestamp(at) - pd.to_datetime(quiet["last_contact"]))
                                    / DAY).astype("Int64"),
    )[["customer_id", "last_contact", "days_since_contact", "revenue_365d"]]
    return CustomerLists(_named(top_activity, details), _named(top_revenue, details),
                         _named(quiet, details, owner=True), len(per_customer))


def data_gaps(activities: Frame, deals: Frame, period: Period, at: datetime) -> dict[str, int]:
    """Rows the customer figures cannot use: activities of the period without a customer,
    won deals before ``at`` without a customer or without an amount."""
    counts = F.one_row(
        F.lazy(activities).filter(_in(period, "occurred_at"))
        .select(n=nw.len(), with_customer=nw.col("customer_id").count())
    )
    won = F.one_row(
        F.lazy(deals).filter((nw.col("status") == "won") & (nw.col("closed_at") < at))
        .select(n=nw.len(), with_customer=nw.col("customer_id").count(),
                with_amount=nw.col("amount").count())
    )
    return {
        "activities_without_customer": _int(counts["n"]) - _int(counts["with_customer"]),
        "won_without_customer": _int(won["n"]) - _int(won["with_customer"]),
        "won_without_amount": _int(won["n"]) - _int(won["with_amount"]),
    }
