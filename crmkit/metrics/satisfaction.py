"""Customer satisfaction metrics (METRICS.md, "Customer satisfaction").

NPS, CSAT and CES of the survey responses given in a period, each with its interval and
sample size, and the customer retention rate. Every function is pure: it takes canonical
tables (any frame :func:`crmkit.metrics._frames.lazy` accepts) and a
:class:`~crmkit.periods.Period`, runs inside whatever engine holds the tables and collects
only aggregates (or, for the verbatims, the few rows shown).

Score bands: NPS promoters score 9–10, passives 7–8, detractors 0–6; CSAT counts 4–5 as
satisfied (scale 1–5); CES is the mean score on 1–7, where higher means easier.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, TypedDict

import narwhals as nw
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.periods import Period

__all__ = [
    "Summary",
    "ces",
    "csat",
    "monthly_trend",
    "nps",
    "nps_by_segment",
    "nps_by_team",
    "nps_counts",
    "retention",
    "retentions",
    "score_distribution",
    "score_summary",
    "significance",
    "summary",
    "t_interval",
    "verbatims",
]

KINDS = ("nps", "csat", "ces")
SCALES = {"nps": range(0, 11), "csat": range(1, 6), "ces": range(1, 8)}
PROMOTER_MIN, DETRACTOR_MAX, CSAT_SATISFIED_MIN = 9, 6, 4
ACTIVE_DAYS = 90
VERBATIMS = 15
NO_TEAM, NO_SEGMENT = "(no team)", "(unknown)"


# -- the survey scores ----------------------------------------------------------------------


def _in_period(period: Period) -> nw.Expr:
    return F.in_window("responded_at", period.start_utc, period.end_utc)


def _flags() -> dict[str, nw.Expr]:
    score = nw.col("score")
    return {
        "promoter": (score >= PROMOTER_MIN).cast(nw.Int64),
        "detractor": (score <= DETRACTOR_MAX).cast(nw.Int64),
        "satisfied": (score >= CSAT_SATISFIED_MIN).cast(nw.Int64),
    }


_SUMS = (
    nw.len().alias("n"),
    nw.col("promoter").sum().alias("promoters"),
    nw.col("detractor").sum().alias("detractors"),
    nw.col("satisfied").sum().alias("satisfied"),
    nw.col("score").mean().alias("mean"),
    nw.col("score").var(ddof=1).alias("var"),
)


def _empty_kind() -> dict[str, Any]:
    return {"n": 0, "promoters": 0, "detractors": 0, "satisfied": 0, "mean": None, "var": None}


def _kind_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: int(F.clean(row[k]) or 0) for k in ("n", "promoters", "detractors", "satisfied")
    }
    out["mean"] = F.clean(row["mean"])
    out["var"] = F.clean(row["var"]) if out["n"] >= 2 else None
    return out


def score_summary(survey_responses: Frame, period: Period) -> dict[str, dict[str, Any]]:
    """Per survey kind, the responses in the period: n, promoters (9–10), detractors (0–6),
    satisfied (4–5), mean and sample variance of the score (one engine query).

    The band counts only mean something for their own kind (promoters for ``nps``,
    satisfied for ``csat``).
    """
    agg = F.to_pandas(
        F.lazy(survey_responses)
        .filter(_in_period(period) & nw.col("kind").is_in(list(KINDS)))
        .with_columns(**_flags())
        .group_by("kind")
        .agg(*_SUMS)
    )
    out = {kind: _empty_kind() for kind in KINDS}
    for row in agg.to_dict(orient="records"):
        out[str(row["kind"])] = _kind_row(row)
    return out


def nps_counts(survey_responses: Frame, period: Period) -> dict[str, int]:
    """``responses``, ``promoters``, ``passives``, ``detractors`` of the nps responses."""
    s = score_summary(survey_responses, period)["nps"]
    return {"responses": s["n"], "promoters": s["promoters"],
            "passives": s["n"] - s["promoters"] - s["detractors"], "detractors": s["detractors"]}


def nps(survey_responses: Frame, period: Period) -> stats.Interval:
    """NPS (−100..100) of the nps responses in the period, adjusted-Wald interval."""
    s = score_summary(survey_responses, period)["nps"]
    return stats.nps_interval(s["promoters"], s["detractors"], s["n"])


def csat(survey_responses: Frame, period: Period) -> stats.Interval:
    """Share of csat responses in the period scoring 4–5, Wilson interval."""
    s = score_summary(survey_responses, period)["csat"]
    return stats.wilson(s["satisfied"], s["n"])


def ces(survey_responses: Frame, period: Period) -> stats.Interval:
    """Mean ces score of the responses in the period, Student t interval."""
    s = score_summary(survey_responses, period)["ces"]
    return t_interval(s["n"], s["mean"], s["var"])


def t_interval(
    n: int, mean: float | None, var: float | None, confidence: float = 0.95
) -> stats.Interval:
    """Mean with a Student t interval built from the moments (n, mean, sample variance).

    The same answer as :func:`crmkit.stats.mean_t_interval` on the raw values, without
    collecting them: the engine computes n, mean and variance. No bounds when n < 2.
    """
    if n <= 0 or mean is None:
        return stats.Interval(None, None, None, max(int(n), 0))
    if n < 2 or var is None:
        return stats.Interval(float(mean), None, None, int(n))
    half = stats.t_ppf(0.5 + confidence / 2, n - 1) * math.sqrt(var / n)
    return stats.Interval(float(mean), float(mean) - half, float(mean) + half, int(n))


def _welch(a: dict[str, Any], b: dict[str, Any]) -> stats.Test:
    """Welch's t-test of two means from their moments (n, mean, var)."""
    if None in (a["mean"], a["var"], b["mean"], b["var"]) or a["n"] < 2 or b["n"] < 2:
        return stats.Test(None, None)
    if a["var"] / a["n"] + b["var"] / b["n"] == 0:
        return stats.Test(0.0, 1.0) if a["mean"] == b["mean"] else stats.Test(None, None)
    return stats.welch_from_moments(a["mean"], a["var"], a["n"], b["mean"], b["var"], b["n"])


# -- retention ------------------------------------------------------------------------------


def retention(
    activities: Frame, deals: Frame, period: Period, active_days: int = ACTIVE_DAYS,
    as_of_end: datetime | None = None,
) -> dict[str, Any]:
    """Customer retention over the period: R / S, always within 0..1.

    S: customers active at the period start; R: those of them still active at its end (the
    period end, or ``as_of_end``, the instant the report is made at, when earlier); E: every
    customer active at the end (R, and E − R who were not active at the start: new, or back
    after a pause). Active at instant t: an activity (occurred_at) or a won deal (closed_at)
    in ``[t − active_days, t)``. Pass every activity and deal of the customers counted (a
    :class:`~crmkit.metrics.customers.CustomerBook`), so each customer counts once. The rate
    is N/A when S is 0.
    """
    return retentions(activities, deals, [period], active_days, as_of_end)[0]


def retentions(
    activities: Frame, deals: Frame, periods: list[Period], active_days: int = ACTIVE_DAYS,
    as_of_end: datetime | None = None,
) -> list[dict[str, Any]]:
    """:func:`retention` of each period, from one pass over the customers' events."""
    window = timedelta(days=active_days)
    bounds = []
    for period in periods:
        start, end = period.start_utc, period.end_utc
        if as_of_end is not None:
            end = max(min(end, as_of_end), start)
        bounds.append((start - window, start, end - window, end))
    won = F.lazy(deals).filter(
        (nw.col("status") == "won") & ~nw.col("customer_id").is_null()
        & ~nw.col("closed_at").is_null()
    )
    ts = nw.Datetime("us")
    events = nw.concat([
        F.lazy(activities).filter(~nw.col("customer_id").is_null())
        .select("customer_id", t=nw.col("occurred_at").cast(ts)),
        won.select("customer_id", t=nw.col("closed_at").cast(ts)),
    ], how="vertical")
    flags: dict[str, nw.Expr] = {}
    for i, (s_from, start, e_from, end) in enumerate(bounds):
        flags[f"s{i}"] = F.in_window("t", s_from, start).cast(nw.Int64)
        flags[f"e{i}"] = F.in_window("t", e_from, end).cast(nw.Int64)
    first = min(min(s_from, e_from) for s_from, _, e_from, _ in bounds)
    last = max(max(start, end) for _, start, _, end in bounds)
    row = F.one_row(
        events.filter(F.in_window("t", first, last)).with_columns(**flags)
        .group_by("customer_id").agg(nw.col(*flags).max())
        .select(*[agg for i in range(len(bounds)) for agg in (
            nw.col(f"s{i}").sum().alias(f"S{i}"), nw.col(f"e{i}").sum().alias(f"E{i}"),
            (nw.col(f"s{i}") * nw.col(f"e{i}")).sum().alias(f"R{i}"))])
    )
    out = []
    for i in range(len(bounds)):
        s, r, e = int(row[f"S{i}"] or 0), int(row[f"R{i}"] or 0), int(row[f"E{i}"] or 0)
        out.append({
            "retention_rate": stats.ratio(r, s),
            "retention_start_customers": s,
            "retention_retained_customers": r,
            "retention_end_customers": e,
            "active_days": active_days,
        })
    return out


# -- one period -----------------------------------------------------------------------------


class Summary(TypedDict):
    """One period's satisfaction figures."""

    metrics: dict[str, Any]  # every headline KPI under its METRICS.md name
    intervals: dict[str, stats.Interval]
    samples: dict[str, int]
    moments: dict[str, Any]  # score counts and moments, inputs of the tests
    retention: dict[str, Any]  # the retention formula's parts


def summary(
    survey_responses: Frame, activities: Frame, deals: Frame, period: Period,
    active_days: int = ACTIVE_DAYS, as_of_end: datetime | None = None,
    retained: dict[str, Any] | None = None,
) -> Summary:
    """Every headline satisfaction KPI for one period under its METRICS.md name.

    The scores count ``survey_responses``; retention counts the customers of ``activities``
    and ``deals`` (pass a :class:`~crmkit.metrics.customers.CustomerBook`'s, so each
    customer counts for one team), at the period end or ``as_of_end`` when earlier.
    Returns ``{"metrics", "intervals", "samples", "moments", "retention"}``; metrics are
    plain numbers, None when N/A. ``retained``: the period's :func:`retention`, when
    computed already (:func:`retentions` of several periods in one query).
    """
    s = score_summary(survey_responses, period)
    n_nps = s["nps"]
    nps_i = stats.nps_interval(n_nps["promoters"], n_nps["detractors"], n_nps["n"])
    promoters = stats.wilson(n_nps["promoters"], n_nps["n"])
    detractors = stats.wilson(n_nps["detractors"], n_nps["n"])
    csat_i = stats.wilson(s["csat"]["satisfied"], s["csat"]["n"])
    ces_i = t_interval(s["ces"]["n"], s["ces"]["mean"], s["ces"]["var"])
    ret = retained or retention(activities, deals, period, active_days, as_of_end)
    metrics = {
        "nps": nps_i.value,
        "nps_responses": n_nps["n"],
        "nps_promoters": n_nps["promoters"],
        "nps_passives": n_nps["n"] - n_nps["promoters"] - n_nps["detractors"],
        "nps_detractors": n_nps["detractors"],
        "nps_promoter_share": promoters.value,
        "nps_detractor_share": detractors.value,
        "csat": csat_i.value,
        "csat_responses": s["csat"]["n"],
        "ces": ces_i.value,
        "ces_responses": s["ces"]["n"],
        "retention_rate": ret["retention_rate"],
        "retention_start_customers": ret["retention_start_customers"],
        "retention_retained_customers": ret["retention_retained_customers"],
        "retention_end_customers": ret["retention_end_customers"],
    }
    return Summary(
        metrics=metrics,
        intervals={"nps": nps_i, "nps_promoter_share": promoters,
                   "nps_detractor_share": detractors, "csat": csat_i, "ces": ces_i},
        samples={"nps": nps_i.n, "nps_promoter_share": nps_i.n,
                 "nps_detractor_share": nps_i.n, "csat": csat_i.n, "ces": ces_i.n,
                 "retention_rate": ret["retention_start_customers"]},
        moments=s,
        retention=ret,
    )


def significance(current: Summary, previous: Summary) -> dict[str, stats.Test]:
    """Tests of the change of each KPI between two :func:`summary` results.

    NPS: two-sample z-test from the adjusted-Wald variances; CSAT and the promoter and
    detractor shares: two-proportion z-test; CES: Welch's t-test from the moments;
    retention: two-proportion z-test of R out of S.
    """
    cm, pm = current["moments"], previous["moments"]
    a, b = cm["nps"], pm["nps"]
    out: dict[str, stats.Test] = {}
    if a["n"] and b["n"]:
        diff = (a["promoters"] - a["detractors"]) / a["n"] - (b["promoters"] - b["detractors"]) / b["n"]
        out["nps"] = stats.two_sample_z_test(
            diff, stats.nps_variance(a["promoters"], a["detractors"], a["n"]),
            stats.nps_variance(b["promoters"], b["detractors"], b["n"]),
        )
    else:
        out["nps"] = stats.Test(None, None)
    out["nps_promoter_share"] = stats.two_proportion_test(a["promoters"], a["n"], b["promoters"], b["n"])
    out["nps_detractor_share"] = stats.two_proportion_test(a["detractors"], a["n"], b["detractors"], b["n"])
    out["csat"] = stats.two_proportion_test(
        cm["csat"]["satisfied"], cm["csat"]["n"], pm["csat"]["satisfied"], pm["csat"]["n"]
    )
    out["ces"] = _welch(cm["ces"], pm["ces"])
    out["retention_rate"] = _retention_test(current["retention"], previous["retention"])
    return out


def _retention_test(a: dict[str, Any], b: dict[str, Any]) -> stats.Test:
    return stats.two_proportion_test(
        a["retention_retained_customers"], a["retention_start_customers"],
        b["retention_retained_customers"], b["retention_start_customers"],
    )


# -- breakdowns -----------------------------------------------------------------------------


def _nps_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add passives, NPS with its interval and the small-sample flag to grouped counts."""
    df = df.copy()
    for col in ("responses", "promoters", "detractors"):
        df[col] = df[col].fillna(0).astype(int)
    df["passives"] = df["responses"] - df["promoters"] - df["detractors"]
    intervals = [stats.nps_interval(p, d, n) for p, d, n in
                 zip(df["promoters"], df["detractors"], df["responses"], strict=True)]
    df["nps"] = [i.value for i in intervals]
    df["nps_low"] = [i.low for i in intervals]
    df["nps_high"] = [i.high for i in intervals]
    df["small_sample"] = df["responses"] < stats.SMALL_SAMPLE
    return df


_NPS_COUNTS = (
    nw.len().alias("responses"),
    nw.col("promoter").sum().alias("promoters"),
    nw.col("detractor").sum().alias("detractors"),
)


def _nps_in(survey_responses: Frame, period: Period) -> nw.LazyFrame:
    flags = _flags()
    return (
        F.lazy(survey_responses)
        .filter((nw.col("kind") == "nps") & _in_period(period))
        .with_columns(promoter=flags["promoter"], detractor=flags["detractor"])
    )


def nps_by_team(
    survey_responses: Frame, customers: Frame, employees: Frame, teams: Frame, period: Period
) -> pd.DataFrame:
    """NPS per team of the nps responses in the period, with n, interval and flag.

    Team of a response (DATA_MODEL.md): the current team of its rated employee; a
    response without an employee falls back to its customer's owner. Pass unscoped tables
    to compare every team. Responses with no team at all are grouped as ``(no team)``.
    """
    staff = F.lazy(employees).select("employee_id", "team_id")
    owners = F.lazy(customers).select(
        nw.col("customer_id").alias("_cid"), nw.col("owner_id").alias("_owner")
    )
    agg = F.to_pandas(
        _nps_in(survey_responses, period)
        .select("employee_id", "customer_id", "promoter", "detractor")
        .join(staff.rename({"team_id": "_emp_team"}), on="employee_id", how="left")
        .join(owners, left_on="customer_id", right_on="_cid", how="left")
        .join(staff.rename({"employee_id": "_oid", "team_id": "_owner_team"}),
              left_on="_owner", right_on="_oid", how="left")
        .with_columns(
            team_id=nw.when(~nw.col("employee_id").is_null()).then(nw.col("_emp_team"))
            .otherwise(nw.col("_owner_team"))
        )
        .with_columns(team_id=nw.coalesce(nw.col("team_id"), nw.lit(NO_TEAM)))
        .group_by("team_id")
        .agg(*_NPS_COUNTS)
    )
    names = F.to_pandas(F.lazy(teams).select("team_id", "name"))
    frame = names.merge(agg, on="team_id", how="outer")
    frame["name"] = frame["name"].where(frame["name"].notna(), frame["team_id"])
    frame = frame.rename(columns={"name": "team"})
    frame = _nps_columns(frame)
    frame["_last"] = frame["team_id"] == NO_TEAM
    frame = frame[(frame["responses"] > 0) | ~frame["_last"]]
    frame = frame.sort_values(["_last", "team"]).drop(columns="_last").reset_index(drop=True)
    return frame[["team_id", "team", "responses", "promoters", "passives", "detractors",
                  "nps", "nps_low", "nps_high", "small_sample"]]


def nps_by_segment(survey_responses: Frame, customers: Frame, period: Period) -> pd.DataFrame:
    """NPS per customer segment (``customers.segment``) of the nps responses in the period.

    Responses without a customer, or whose customer has no segment, are ``(unknown)``.
    """
    seg = F.lazy(customers).select(nw.col("customer_id").alias("_cid"), "segment")
    agg = F.to_pandas(
        _nps_in(survey_responses, period)
        .select("customer_id", "promoter", "detractor")
        .join(seg, left_on="customer_id", right_on="_cid", how="left")
        .with_columns(segment=nw.coalesce(nw.col("segment"), nw.lit(NO_SEGMENT)))
        .group_by("segment")
        .agg(*_NPS_COUNTS)
    )
    if agg.empty:
        agg = pd.DataFrame({"segment": pd.Series([], dtype=object), "responses": [],
                            "promoters": [], "detractors": []})
    frame = _nps_columns(agg)
    frame["_last"] = frame["segment"] == NO_SEGMENT
    frame = frame.sort_values(["_last", "segment"]).drop(columns="_last").reset_index(drop=True)
    return frame[["segment", "responses", "promoters", "passives", "detractors", "nps",
                  "nps_low", "nps_high", "small_sample"]]


def _band(kind: str, score: int) -> str:
    if kind == "nps":
        return ("detractor" if score <= DETRACTOR_MAX
                else "promoter" if score >= PROMOTER_MIN else "passive")
    if kind == "csat":
        return "satisfied" if score >= CSAT_SATISFIED_MIN else "not satisfied"
    return "effort score"


def score_distribution(survey_responses: Frame, period: Period) -> pd.DataFrame:
    """Responses in the period per survey kind and score, every score of each scale listed
    (0–10 for nps, 1–5 for csat, 1–7 for ces), with its share of the kind's responses and
    its band (detractor / passive / promoter; satisfied / not satisfied)."""
    agg = F.to_pandas(
        F.lazy(survey_responses)
        .filter(_in_period(period) & nw.col("kind").is_in(list(KINDS)))
        .group_by("kind", "score")
        .agg(responses=nw.len())
    )
    counts = {(str(k), int(s)): int(n) for k, s, n in
              zip(agg["kind"], agg["score"], agg["responses"], strict=True)}
    rows = []
    for kind in KINDS:
        total = sum(n for (k, _), n in counts.items() if k == kind)
        for score in SCALES[kind]:
            n = counts.get((kind, score), 0)
            rows.append({"kind": kind, "score": score, "responses": n,
                         "share": stats.ratio(n, total), "band": _band(kind, score)})
    return pd.DataFrame(rows)


def monthly_trend(survey_responses: Frame, months: list[Period]) -> pd.DataFrame:
    """Per month: NPS, CSAT and CES with their intervals and n (one engine query)."""
    buckets = [(m.label, m.start_utc, m.end_utc) for m in months]
    agg = F.to_pandas(
        F.lazy(survey_responses)
        .filter(nw.col("kind").is_in(list(KINDS))
                & F.in_window("responded_at", months[0].start_utc, months[-1].end_utc))
        .with_columns(month=F.bucket("responded_at", buckets), **_flags())
        .filter(~nw.col("month").is_null())
        .group_by("month", "kind")
        .agg(*_SUMS)
    )
    found = {(str(r["month"]), str(r["kind"])): _kind_row(r) for r in agg.to_dict(orient="records")}
    rows = []
    for m in months:
        g = {kind: found.get((m.label, kind), _empty_kind()) for kind in KINDS}
        n_i = stats.nps_interval(g["nps"]["promoters"], g["nps"]["detractors"], g["nps"]["n"])
        c_i = stats.wilson(g["csat"]["satisfied"], g["csat"]["n"])
        e_i = t_interval(g["ces"]["n"], g["ces"]["mean"], g["ces"]["var"])
        row: dict[str, Any] = {"month": m.label}
        for name, i in (("nps", n_i), ("csat", c_i), ("ces", e_i)):
            row.update({name: i.value, f"{name}_low": i.low, f"{name}_high": i.high,
                        f"{name}_responses": i.n})
        rows.append(row)
    return pd.DataFrame(rows)


def verbatims(
    survey_responses: Frame, customers: Frame, period: Period, limit: int = VERBATIMS
) -> pd.DataFrame:
    """The ``limit`` most recent detractor comments of the period: nps responses scoring
    0–6 with a non-blank comment, newest first, with the local date, score and the
    customer's segment. Comments are returned as given; show them escaped (as text)."""
    seg = F.lazy(customers).select(nw.col("customer_id").alias("_cid"), "segment")
    rows = F.to_pandas(
        F.lazy(survey_responses)
        .filter((nw.col("kind") == "nps") & _in_period(period)
                & (nw.col("score") <= DETRACTOR_MAX) & ~nw.col("comment").is_null())
        .filter(nw.col("comment").str.strip_chars() != "")
        .select("response_id", "responded_at", "score", "customer_id", "comment")
        .join(seg, left_on="customer_id", right_on="_cid", how="left")
        .sort(["responded_at", "response_id"], descending=[True, True])
        .head(limit)
    )
    when = pd.to_datetime(rows["responded_at"])
    local = when.dt.tz_localize("UTC").dt.tz_convert(period.timezone)
    return pd.DataFrame({
        "date": [d.date().isoformat() for d in local],
        "score": rows["score"].astype(int).to_numpy(),
        "segment": [NO_SEGMENT if pd.isna(s) else str(s) for s in rows["segment"]],
        "comment": [str(c).strip() for c in rows["comment"]],
        "response_id": rows["response_id"].astype(str).to_numpy(),
        "responded_at": [d.isoformat() for d in when],
    })


# -- the report -----------------------------------------------------------------------------

