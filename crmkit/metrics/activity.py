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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypedDict

import narwhals as nw
import numpy as np
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.metrics.customers import CustomerBook
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
    "first_purchases",
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
    "status_counts",
    "status_table",
    "summary",
    "summaries",
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
#: The segment of each cell, by ``10 × R + FM`` (a lookup without a loop over customers).
_GRID_CODES = {10 * r + fm: name for (r, fm), name in RFM_GRID.items()}
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
    current: dict[str, int], previous: dict[str, int] | None,
    days: tuple[float, float] = (1.0, 1.0),
) -> pd.DataFrame:
    """One row per canonical type: interactions, comparison, change and the p-value of the
    Poisson rate test over the periods' lengths ``days`` (the period's, the comparison's)."""
    rows = []
    for t in ACTIVITY_TYPES:
        now = current[f"interactions_{t}"]
        before = previous[f"interactions_{t}"] if previous else None
        test = stats.poisson_rate_test(now, before, *days) if before is not None else None
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
        F.distinct(contacts(activities, deals).filter(_in(period)), "customer_id")
        .select(n=nw.len())
    )
    return _int(row["n"])


def new_customers(deals: Frame, period: Period) -> int:
    """Customers whose first won deal (earliest ``closed_at`` in ``deals``) is in the period.

    Pass every deal of the customers counted (a :class:`~crmkit.metrics.customers.CustomerBook`'s
    deals, or the unscoped table), not a team's own deals: a customer is new once,
    company-wide, in the period of its first won deal ever.
    """
    row = F.one_row(first_purchases(deals).filter(_in(period, "first_at")).select(n=nw.len()))
    return _int(row["n"])


def first_purchases(deals: Frame) -> nw.LazyFrame:
    """Each customer's first purchase ever, lazily: ``customer_id, first_at`` (the
    earliest ``closed_at`` of its won deals; which deal it was does not matter here)."""
    return (
        F.lazy(deals)
        .filter((nw.col("status") == "won") & ~nw.col("customer_id").is_null()
                & ~nw.col("closed_at").is_null())
        .group_by("customer_id").agg(first_at=nw.col("closed_at").min())
    )


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


def status_counts(
    activities: Frame, deals: Frame, customers: Frame, at: datetime,
    active_days: float = 90, lost_days: float = 180,
) -> dict[str, int]:
    """Customers per status at instant ``at`` (:func:`customer_status`'s, counted in the
    engine: two aggregate queries, no customer leaves it)."""
    _check_thresholds(active_days, lost_days)
    last = (contacts(activities, deals).filter(nw.col("at") < at)
            .group_by("customer_id").agg(last_contact=nw.col("at").max()))
    known = F.lazy(customers).filter(nw.col("created_at") < at).select("customer_id")
    active_from, lost_from = at - timedelta(days=active_days), at - timedelta(days=lost_days)
    seen = nw.col("last_contact")
    row = F.one_row(
        last.join(known.with_columns(_known=nw.lit(1)), on="customer_id", how="left").select(
            active=(seen >= active_from).cast(nw.Int64).sum(),
            at_risk=((seen < active_from) & (seen >= lost_from)).cast(nw.Int64).sum(),
            lost=(seen < lost_from).cast(nw.Int64).sum(),
            known_seen=nw.col("_known").count(),
        )
    )
    never = _int(F.one_row(known.select(n=nw.len()))["n"]) - _int(row["known_seen"])
    return {"active": _int(row["active"]), "at_risk": _int(row["at_risk"]),
            "lost": _int(row["lost"]), "never_active": never}


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
    df["segment"] = (10 * df["r"] + df["fm"]).map(_GRID_CODES).astype(object)
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
    first = (
        first_purchases(deals).with_columns(cohort=F.bucket("first_at", buckets))
        .filter(~nw.col("cohort").is_null()).select("customer_id", "cohort")
    )
    bought = F.distinct(
        won.filter(F.in_window("closed_at", months[0].start_utc, min(months[-1].end_utc, end)))
        .with_columns(month=F.bucket("closed_at", buckets))
        .filter(~nw.col("month").is_null()),
        "customer_id", "month",
    )
    pos = {label: i for i, label in enumerate(labels)}
    # every customer of a cohort bought in its cohort's month: month 0 is the cohort's size
    hits = F.to_pandas(first.join(bought, on="customer_id", how="inner")
                       .group_by("cohort", "month").agg(n=nw.len()))
    retained = {(c, pos[m] - pos[c]): int(n) for c, m, n
                in zip(hits["cohort"], hits["month"], hits["n"], strict=True)}
    size = {c: n for (c, k), n in retained.items() if k == 0}
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
    df = F.to_pandas(_went_quiet(activities, deals, period, comparison, at, lookback_days))
    return _quiet_sorted(df)[["customer_id", "last_contact", "revenue_365d"]]


def _went_quiet(activities: Frame, deals: Frame, period: Period, comparison: Period,
                at: datetime, lookback_days: int = RFM_LOOKBACK_DAYS) -> nw.LazyFrame:
    """:func:`went_quiet`'s rows, lazily and unsorted."""
    c = contacts(activities, deals)
    before = F.distinct(c.filter(_in(comparison)), "customer_id")
    now = F.distinct(c.filter(_in(period)), "customer_id")
    quiet = before.join(now, on="customer_id", how="anti")
    # a quiet customer's last contact before ``at`` is at or after its contact in the
    # comparison period, when that period ends by ``at``: no older contact is read
    recent = nw.col("at") < at
    if comparison.end_utc <= at:
        recent = recent & (nw.col("at") >= comparison.start_utc)
    last = (c.filter(recent).join(quiet, on="customer_id", how="semi")
            .group_by("customer_id").agg(last_contact=nw.col("at").max()))
    revenue = (
        c.filter((nw.col("kind") == "purchase")
                 & F.in_window("at", at - timedelta(days=lookback_days), at))
        .join(quiet, on="customer_id", how="semi")
        .group_by("customer_id").agg(revenue_365d=nw.col("amount").sum())
    )
    return last.join(revenue, on="customer_id", how="left")


def _quiet_sorted(df: pd.DataFrame) -> pd.DataFrame:
    df["customer_id"] = df["customer_id"].astype(object)
    df["last_contact"] = pd.to_datetime(df["last_contact"])
    df["revenue_365d"] = df["revenue_365d"].fillna(0.0).astype(float)
    df = df.sort_values(["revenue_365d", "last_contact", "customer_id"],
                        ascending=[False, False, True])
    return df.reset_index(drop=True)


# -- one period's headline --------------------------------------------------------------------

class Summary(TypedDict):
    """One period's Customer-activity figures."""

    metrics: dict[str, Any]  # every headline KPI under its METRICS.md name
    status_counts: dict[str, int]
    at: datetime  # the instant the status is taken at
    days: float  # the period's length, the exposure of its event counts in the tests


def summary(
    activities: Frame, deals: Frame, customers: Frame, period: Period, at: datetime,
    active_days: float = 90, lost_days: float = 180, book: CustomerBook | None = None,
) -> Summary:
    """Every headline Customer-activity KPI of one period under its METRICS.md name.

    Interactions count ``activities``; the customer figures (active, new, status) count the
    customers of ``book`` with all their activities and deals (:func:`crmkit.metrics.customers.book`;
    without one: ``customers`` with ``activities`` and ``deals``). ``at`` is the instant the
    status is taken at (the period end, or the end of the as-of day when earlier). Returns
    ``{"metrics": {...}, "status_counts": {...}, "at": at}``; each customer's status is
    :func:`customer_status`'s.
    """
    return summaries(activities, deals, customers, [(period, at)], active_days, lost_days,
                     book)[0]


def summaries(
    activities: Frame, deals: Frame, customers: Frame,
    snapshots: Sequence[tuple[Period, datetime]], active_days: float = 90,
    lost_days: float = 180, book: CustomerBook | None = None,
) -> list[Summary]:
    """:func:`summary` of several periods, each with the instant its status is taken at,
    from four aggregate queries in all (the contacts are read once for every period)."""
    _check_thresholds(active_days, lost_days)
    book = book or CustomerBook(customers, activities, deals)
    acts, dls = F.lazy(book.activities), F.lazy(book.deals)
    periods = [p for p, _ in snapshots]
    typed = _interaction_counts(F.lazy(activities), periods)
    found = _customer_counts(acts, dls, book.customers, snapshots, active_days, lost_days)
    fresh = F.one_row(first_purchases(dls).select(
        *[_in(p, "first_at").cast(nw.Int64).sum().alias(f"n{i}") for i, p in enumerate(periods)]))
    out = []
    for i, (period, at) in enumerate(snapshots):
        counts = found[i]
        metrics: dict[str, Any] = {
            **typed[i],
            "active_customers": counts.pop("active_customers"),
            "new_customers": _int(fresh[f"n{i}"]),
            "customers_active": counts["active"],
            "customers_at_risk": counts["at_risk"],
            "customers_lost": counts["lost"],
        }
        out.append(Summary(metrics=metrics, status_counts=counts, at=at,
                           days=period.length_days))
    return out


def _interaction_counts(activities: nw.LazyFrame, periods: list[Period]) -> list[dict[str, int]]:
    """:func:`interactions` of each period (one grouped query each: a period's rows are
    found by their time, which the engine prunes by, and grouped by type)."""
    return [interactions(activities, p) for p in periods]


def _customer_counts(
    acts: nw.LazyFrame, dls: nw.LazyFrame, customers: Frame,
    snapshots: Sequence[tuple[Period, datetime]], active_days: float, lost_days: float,
) -> list[dict[str, int]]:
    """Per snapshot: ``active_customers`` (a contact in its period) and the customers per
    status at its instant (:func:`status_counts`), from one pass over the contacts."""
    marks: dict[str, nw.Expr] = {}
    for i, (period, at) in enumerate(snapshots):
        marks[f"_last{i}"] = nw.when(nw.col("at") < at).then(nw.col("at"))
        marks[f"_in{i}"] = _in(period).cast(nw.Int64)
    until = max(max(at, p.end_utc) for p, at in snapshots)
    per_customer = (
        contacts(acts, dls).filter(nw.col("at") < until).with_columns(**marks)
        .group_by("customer_id").agg(nw.col(*marks).max())
        .join(F.lazy(customers).select("customer_id", nw.col("created_at").alias("_created")),
              on="customer_id", how="left")
    )
    aggs, known = [], []
    for i, (_period, at) in enumerate(snapshots):
        seen = nw.col(f"_last{i}")
        active_from, lost_from = at - timedelta(days=active_days), at - timedelta(days=lost_days)
        aggs += [
            nw.col(f"_in{i}").sum().alias(f"active_customers{i}"),
            (seen >= active_from).cast(nw.Int64).sum().alias(f"active{i}"),
            ((seen < active_from) & (seen >= lost_from)).cast(nw.Int64).sum().alias(f"at_risk{i}"),
            (seen < lost_from).cast(nw.Int64).sum().alias(f"lost{i}"),
            (~seen.is_null() & (nw.col("_created") < at)).cast(nw.Int64).sum().alias(f"seen{i}"),
        ]
        known.append((nw.col("created_at") < at).cast(nw.Int64).sum().alias(f"known{i}"))
    row = F.one_row(per_customer.select(*aggs))
    created = F.one_row(F.lazy(customers).select(*known))
    return [{"active_customers": _int(row[f"active_customers{i}"]),
             "active": _int(row[f"active{i}"]), "at_risk": _int(row[f"at_risk{i}"]),
             "lost": _int(row[f"lost{i}"]),
             "never_active": _int(created[f"known{i}"]) - _int(row[f"seen{i}"])}
            for i in range(len(snapshots))]


#: The headline counts of events in a period (tested as rates over the periods' lengths),
#: and of customers (in the period, or by status at an instant: tested as they are).
EVENTS = ("interactions", *(f"interactions_{t}" for t in ACTIVITY_TYPES), "new_customers")
COUNTS = (*EVENTS, "active_customers", "customers_active", "customers_at_risk",
          "customers_lost")


def significance(current: Summary, previous: Summary) -> dict[str, stats.Test]:
    """Change tests between two :func:`summary` results: every headline metric is a count,
    tested with the conditional binomial test of two Poisson counts; the counts of events
    (:data:`EVENTS`) as rates over the periods' lengths. A count of customers is not one of
    events over time: a customer active on 30 days of June is counted once, as on 31 of
    May, and a status is taken at an instant."""
    cm, pm = current["metrics"], previous["metrics"]
    days = current["days"], previous["days"]
    return {name: stats.poisson_rate_test(int(cm[name]), int(pm[name]),
                                          *(days if name in EVENTS else ()))
            for name in COUNTS}


# -- the report -------------------------------------------------------------------------------

def _named(lf: nw.LazyFrame, customers: Frame, employees: Frame,
           owner: bool = False) -> pd.DataFrame:
    """``lf`` (few rows) collected with each customer's name (and its owner's), joined in
    the engine; a customer without a name shows its id."""
    out = lf.join(F.lazy(customers).select("customer_id", "name", "owner_id"),
                  on="customer_id", how="left")
    if owner:
        out = out.join(F.lazy(employees).select(nw.col("employee_id").alias("owner_id"),
                                                nw.col("name").alias("owner")),
                       on="owner_id", how="left")
    df = F.to_pandas(out)
    df["customer_id"] = df["customer_id"].astype(object)
    df["name"] = df["name"].astype(object).fillna(df["customer_id"])
    if owner:
        df["owner"] = df["owner"].astype(object).fillna(df["owner_id"].astype(object))
    first = ["customer_id", "name", *(["owner"] if owner else [])]
    kept = [c for c in F.columns(lf) if c not in first]
    return df[first + kept]


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


def _per_customer(activities: Frame, deals: Frame,
                  period: Period) -> tuple[nw.LazyFrame, nw.LazyFrame]:
    """Lazily: the period's activities with a customer, and per customer the deals won in
    the period with their revenue."""
    acts = F.lazy(activities).filter(_in(period, "occurred_at")
                                      & ~nw.col("customer_id").is_null())
    won = (
        F.lazy(deals)
        .filter((nw.col("status") == "won") & _in(period, "closed_at")
                & ~nw.col("customer_id").is_null())
        .group_by("customer_id").agg(deals_won=nw.len(), revenue=nw.col("amount").sum())
    )
    return acts, won


def _top(lf: nw.LazyFrame, by: list[str], top: int) -> nw.LazyFrame:
    """Every row that can be among the first ``top`` by ``by`` (descending): those whose
    first measure reaches the ``top``-th row's, with a margin for the last bits of a sum.
    Ties are broken by customer id in pandas, after collection: a database's collation
    (PostgreSQL's en_US) orders ids differently from DuckDB, Spark and pandas."""
    first = by[0]
    cut = lf.sort(by, descending=True).head(top).select(first).collect().to_pandas()[first]
    if len(cut) < top:
        return lf
    floor = float(cut.iloc[-1])
    return lf.filter(nw.col(first) >= floor - 1e-9 * max(1.0, abs(floor)))


def _counted(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("interactions", *ACTIVITY_TYPES, "deals_won"):
        if c in df:
            df[c] = df[c].fillna(0).astype(int)
    df["revenue"] = df["revenue"].fillna(0.0).astype(float)
    return df


def customer_lists(activities: Frame, deals: Frame, customers: Frame, employees: Frame,
                   period: Period, comparison: Period | None, at: datetime,
                   top: int = 50) -> CustomerLists:
    """The top ``top`` customers by activity and by revenue, and those that went quiet.
    Only those rows leave the engine, with their names."""
    acts, won = _per_customer(activities, deals, period)
    zero = {"deals_won": nw.col("deals_won").fill_null(0),
            "revenue": nw.col("revenue").fill_null(0.0)}
    busiest = _top(acts.group_by("customer_id").agg(interactions=nw.len())
                   .join(won, on="customer_id", how="left").with_columns(**zero),
                   ["interactions", "revenue"], top)
    typed = (  # counted by type for the top customers only
        acts.join(busiest.select("customer_id"), on="customer_id", how="semi")
        .select("customer_id",
                *[(nw.col("type") == t).cast(nw.Int64).alias(t) for t in ACTIVITY_TYPES])
        .group_by("customer_id").agg(nw.col(*ACTIVITY_TYPES).sum())
    )
    by_activity = busiest.join(typed, on="customer_id", how="left").select(
        "customer_id", "interactions", *ACTIVITY_TYPES, "deals_won", "revenue")
    best = _top(won.with_columns(revenue=nw.col("revenue").fill_null(0.0)),
                ["revenue", "deals_won"], top)
    their = (acts.join(best.select("customer_id"), on="customer_id", how="semi")
             .group_by("customer_id").agg(interactions=nw.len()))
    by_revenue = (best.join(their, on="customer_id", how="left")
                  .with_columns(interactions=nw.col("interactions").fill_null(0))
                  .select("customer_id", "revenue", "deals_won", "interactions"))
    top_activity = _counted(_named(by_activity, customers, employees)).sort_values(
        ["interactions", "revenue", "customer_id"], ascending=[False, False, True]).head(top)
    top_revenue = _counted(_named(by_revenue, customers, employees)).sort_values(
        ["revenue", "deals_won", "customer_id"], ascending=[False, False, True]).head(top)
    if comparison is None:
        quiet = pd.DataFrame(columns=["customer_id", "name", "owner", "last_contact",
                                      "days_since_contact", "revenue_365d"])
    else:
        quiet = _quiet_sorted(_named(_went_quiet(activities, deals, period, comparison, at),
                                     customers, employees, owner=True))
        quiet = quiet.assign(
            last_contact=_local_date(quiet["last_contact"], period.timezone),
            days_since_contact=np.floor((pd.Timestamp(at) - quiet["last_contact"]) / DAY)
            .astype("Int64"),
        )[["customer_id", "name", "owner", "last_contact", "days_since_contact", "revenue_365d"]]
    return CustomerLists(top_activity.reset_index(drop=True), top_revenue.reset_index(drop=True),
                         quiet)


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
