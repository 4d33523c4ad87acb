"""Pipeline history metrics (METRICS.md, "Sales: pipeline history"), from crmkit's pipeline
snapshots (:mod:`crmkit.backends.snapshots`): how the open pipeline moved over a period,
and how far the forecast made at each month's start was from what was won.

Pure functions like the other metric modules: the snapshots and the deals in (any frame
:func:`crmkit.metrics._frames.lazy` accepts, one engine), a small pandas frame out. A
snapshot is named by the instant it describes (``taken_at``). Which snapshots exist is
read from ``days`` (:func:`snapshot_days`, of the company-wide table), so a team without an
open deal at a snapshot still has that snapshot, with nothing in it.

Pipeline movement: between the snapshot at (or last before) the period start and the one
at (or last before) its end, every deal of either snapshot falls in exactly one part:

* **new**: in the end snapshot only (created in the period, or not open at the start);
* **won** / **lost**: in the start snapshot only, recorded won / lost since;
* **removed**: in the start snapshot only and neither won nor lost (deleted, reopened
  later, or handed to another team);
* **advanced** / **slipped**: in both, the stage moved forward / back;
* **amount changes**: in both, the same stage, another amount.

A deal whose stage moved carries its amount change in advanced or slipped (never in amount
changes), so each deal is counted once. Amounts are added in whole cents in the engine, so
``opening + new + advanced + slipped + amount changes − won − lost − removed = closing``
holds exactly. Won, lost and removed take the amount the deal had in the start snapshot.
The stage order: the data model gives none, so stages are ordered by their mean probability
in the two snapshots (a CRM orders its stages by probability, as the stage funnel does); a
deal without a stage is before the first stage, a stage without any probability after the
last (by name).
"""

from __future__ import annotations

import functools
import operator
from datetime import datetime, timedelta
from typing import Any, TypedDict

import narwhals as nw
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.metrics.sales import monthly_trend
from crmkit.periods import Period

__all__ = [
    "ACCURACY_WINDOW",
    "PARTS",
    "Movement",
    "forecast_accuracy",
    "forecast_bias",
    "forecasts_at_start",
    "pipelines_at",
    "movement_snapshots",
    "pipeline_movement",
    "snapshot_days",
]

#: The parts of a pipeline movement, in the order the waterfall shows them (between the
#: two totals, ``opening`` and ``closing``).
PARTS = ("opening", "new", "advanced", "slipped", "amount_changes", "won", "lost", "removed",
         "closing")
#: Parts that take deals out of the open pipeline (their amounts are subtracted).
_OUT = ("won", "lost", "removed")
#: How long before a month's start its forecast snapshot may have been taken.
ACCURACY_WINDOW = timedelta(days=7)
_NO_STAGE = "(none)"


def _cents() -> nw.Expr:
    """An amount in whole cents (a deal without an amount counts as 0)."""
    return (nw.col("amount").fill_null(0.0) * 100).round(0).cast(nw.Int64)


def snapshot_days(snapshots: Frame) -> pd.DataFrame:
    """The snapshots there are: ``snapshot_date`` (a local day) and ``taken_at`` (the
    instant it describes, naive UTC), oldest first."""
    df = F.to_pandas(F.distinct(F.lazy(snapshots), "snapshot_date", "taken_at"))
    if df.empty:
        return pd.DataFrame({"snapshot_date": pd.Series([], dtype=object),
                             "taken_at": pd.Series([], dtype="datetime64[us]")})
    df["snapshot_date"] = pd.to_datetime(df["snapshot_date"]).dt.date
    df["taken_at"] = pd.to_datetime(df["taken_at"]).astype("datetime64[us]")
    return df.sort_values("taken_at", kind="stable").reset_index(drop=True)


def _last_at(days: pd.DataFrame, at: datetime) -> dict[str, Any] | None:
    """The latest snapshot taken at or before ``at``."""
    i = int(days["taken_at"].searchsorted(pd.Timestamp(at), side="right"))  # oldest first
    return None if i == 0 else _row(days.iloc[i - 1])


def _row(row: pd.Series) -> dict[str, Any]:
    return {"snapshot_date": row["snapshot_date"],
            "taken_at": pd.Timestamp(row["taken_at"]).to_pydatetime()}


def movement_snapshots(days: pd.DataFrame, period: Period, until: datetime | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The two snapshots a movement over ``period`` compares: at (or last before) its
    start, or failing that the first inside it, and at (or last before) its end (or
    ``until``, if earlier); None without two distinct ones."""
    end_at = min(period.end_utc, until) if until is not None else period.end_utc
    start = _last_at(days, period.start_utc)
    if start is None:
        inside = days[days["taken_at"] > pd.Timestamp(period.start_utc)]
        start = _row(inside.iloc[0]) if not inside.empty else None
    end = _last_at(days, end_at)
    if start is None or end is None or end["taken_at"] <= start["taken_at"]:
        return None
    return start, end


class Movement(TypedDict):
    """A pipeline movement: its parts and the snapshots it runs between."""

    parts: pd.DataFrame  # part, deals, amount, snapshot_date (PARTS order)
    start: dict[str, Any]  # snapshot_date, taken_at
    end: dict[str, Any]
    stage_order: list[str]


def pipeline_movement(snapshots: Frame, deals: Frame, period: Period, *,
                      days: pd.DataFrame | None = None, until: datetime | None = None
                      ) -> Movement | None:
    """How the open pipeline moved over ``period`` (see the module docstring), or None
    when fewer than two snapshots bracket it (:func:`movement_snapshots`).

    ``parts`` has one row per part of :data:`PARTS`: ``deals``, how many deals it holds,
    and ``amount``: the open pipeline for ``opening`` and ``closing``, else the signed
    change the part brings (negative for won, lost and removed).
    """
    days = snapshot_days(snapshots) if days is None else days
    pair = movement_snapshots(days, period, until)
    if pair is None:
        return None
    start, end = pair
    found = _pairs(F.lazy(snapshots), F.lazy(deals), start["taken_at"], end["taken_at"])
    order = _stage_order(found)
    cents = _parts(found, order)
    rows = [{"part": part, "deals": cents[part][0],
             "amount": (-1 if part in _OUT else 1) * cents[part][1] / 100.0,
             "snapshot_date": {"opening": start, "closing": end}.get(part, {}).get("snapshot_date")}
            for part in PARTS]
    return Movement(parts=pd.DataFrame(rows), start=start, end=end, stage_order=order)


def _pairs(snapshots: nw.LazyFrame, deals: nw.LazyFrame, t0: datetime, t1: datetime
           ) -> pd.DataFrame:
    """The deals of the snapshots taken at ``t0`` and at ``t1``, side by side (one engine
    query, each snapshot read once), grouped by their stage in each (``_stage0``,
    ``_stage1``: null where the deal is not in that snapshot, ``(none)`` without a stage)
    and, for the deals of the start snapshot only, by what became of them (``_outcome``:
    won or lost before the end snapshot, as the deals record it now, else removed; null
    for the others). Per group: ``n`` deals, their amounts in cents in each snapshot
    (``c0``, ``c1``), the sum (``d``) and count (``changed``) of their amount changes, and
    the sums and counts of their probabilities in each (``p0s``, ``p0n``, ``p1s``,
    ``p1n``)."""
    def side(k: str, at: datetime) -> nw.LazyFrame:
        return snapshots.filter(nw.col("taken_at") == at).select(
            nw.col("deal_id").alias(f"_id{k}"), nw.col("stage").fill_null(_NO_STAGE).alias(f"_stage{k}"),
            _cents().alias(f"_c{k}"), nw.col("probability").alias(f"_p{k}"))

    closed = deals.select(nw.col("deal_id").alias("_id0"), nw.col("status").alias("_status"),
                          nw.col("closed_at").alias("_closed_at"))
    gone = nw.col("_stage1").is_null()
    closed_as = (gone & (nw.col("_closed_at") < t1)).fill_null(False)
    outcome = (nw.when(closed_as & (nw.col("_status") == "won")).then(nw.lit("won"))
               .otherwise(nw.when(closed_as & (nw.col("_status") == "lost")).then(nw.lit("lost"))
                          .otherwise(nw.when(gone).then(nw.lit("removed")))))
    return F.to_pandas(
        side("0", t0).join(closed, on="_id0", how="left")  # before the full join, which
        .join(side("1", t1), left_on="_id0", right_on="_id1", how="full")  # may widen ids
        .with_columns(_outcome=outcome, _d=nw.col("_c1") - nw.col("_c0"))
        .with_columns(_changed=(nw.col("_d") != 0).cast(nw.Int64))
        .group_by("_stage0", "_stage1", "_outcome", drop_null_keys=False)
        .agg(n=nw.len(), c0=nw.col("_c0").sum(), c1=nw.col("_c1").sum(), d=nw.col("_d").sum(),
             changed=nw.col("_changed").sum(), p0s=nw.col("_p0").sum(), p0n=nw.col("_p0").count(),
             p1s=nw.col("_p1").sum(), p1n=nw.col("_p1").count())
    )


def _stage_order(found: pd.DataFrame) -> list[str]:
    """The stages of both snapshots (:func:`_pairs`) by their mean probability in both
    (without any probability: last, by name)."""
    stages = pd.concat([
        found[[f"_stage{k}", f"p{k}s", f"p{k}n"]].set_axis(["stage", "p_sum", "p_n"], axis=1)
        for k in "01"])
    stages = stages[stages["stage"].notna() & (stages["stage"] != _NO_STAGE)]
    stages = stages.astype({"stage": str}).groupby("stage")[["p_sum", "p_n"]].sum()
    mean = (stages["p_sum"] / stages["p_n"].where(stages["p_n"] > 0)).rename("p").reset_index()
    mean["p"] = mean["p"].round(9)  # stages of the same mean tie (then by name), whatever
    # order the engine added their probabilities in
    mean["known"] = mean["p"].notna()
    mean = mean.sort_values(["known", "p", "stage"], ascending=[False, True, True],
                            na_position="last", kind="stable")
    return [str(s) for s in mean["stage"]]


def _parts(found: pd.DataFrame, order: list[str]) -> dict[str, tuple[int, int]]:
    """Each part's deals and Σ amount in cents (the change it brings for advanced, slipped
    and amount changes; the start amount for won, lost and removed), from :func:`_pairs`."""
    in0, in1 = found["_stage0"].notna(), found["_stage1"].notna()

    def total(rows: pd.Series, n: str, c: str) -> tuple[int, int]:
        return int(found.loc[rows, n].sum()), int(found.loc[rows, c].sum())

    out = {"opening": total(in0, "n", "c0"), "closing": total(in1, "n", "c1"),
           "new": total(in1 & ~in0, "n", "c1"),
           **{part: total(in0 & ~in1 & (found["_outcome"] == part), "n", "c0") for part in _OUT}}
    rank = {_NO_STAGE: -1, **{stage: i for i, stage in enumerate(order)}}
    moved = {"advanced": [0, 0], "slipped": [0, 0], "amount_changes": [0, 0]}
    for r in found[in0 & in1].to_dict("records"):
        before, after = (rank.get(str(r[k]), len(order)) for k in ("_stage0", "_stage1"))
        if r["_stage0"] == r["_stage1"] or before == after:
            moved["amount_changes"][0] += int(r["changed"])
            moved["amount_changes"][1] += int(r["d"])
        else:
            part = moved["advanced" if after > before else "slipped"]
            part[0] += int(r["n"])
            part[1] += int(r["d"])
    return {**out, **{k: (v[0], v[1]) for k, v in moved.items()}}


# -- forecast accuracy ---------------------------------------------------------------------


def forecast_accuracy(snapshots: Frame, deals: Frame, months: list[Period], *,
                      days: pd.DataFrame | None = None, won: pd.DataFrame | None = None,
                      window: timedelta = ACCURACY_WINDOW) -> pd.DataFrame:
    """Per month with a snapshot at or just before its start (within ``window``): the
    forecast as it stood then (Σ amount × probability of the deals open in that snapshot
    whose expected close falls in the month; deals without a probability add nothing)
    against the revenue won in the month (the deals' ``amount``, status won, ``closed_at``
    in the month); ``error`` = forecast − actual, ``relative_error`` = error / actual.
    Months without such a snapshot are left out. ``won``: the revenue per month already
    computed (:func:`crmkit.metrics.sales.monthly_trend` of these months or more)."""
    columns = ["month", "snapshot_date", "forecast", "actual", "error", "relative_error",
               "deals_counted"]
    made = forecasts_at_start(snapshots, months, days=days, window=window)
    if not made:
        return pd.DataFrame({c: [] for c in columns})
    if won is None:
        won = monthly_trend(deals, [m for m in months if m.label in made])
    actual = won.set_index("month")["revenue"]
    rows = []
    for label, then in made.items():
        forecast, got = then["forecast"], float(actual.get(label, 0.0))
        rows.append({"month": label, "snapshot_date": then["snapshot_date"], "forecast": forecast,
                     "actual": got, "error": forecast - got,
                     "relative_error": stats.ratio(forecast - got, got),
                     "deals_counted": then["deals_counted"]})
    return pd.DataFrame(rows, columns=columns)


def forecasts_at_start(snapshots: Frame, periods: list[Period], *,
                       days: pd.DataFrame | None = None, window: timedelta = ACCURACY_WINDOW
                       ) -> dict[str, dict[str, Any]]:
    """The forecast made at the start of each period that has a pipeline snapshot taken at
    or up to ``window`` before it began (the last one), by the period's label: ``forecast``
    (Σ amount × probability of the deals open in that snapshot whose expected close falls in
    the period, as they stood then; without a probability a deal adds nothing),
    ``deals_counted`` and ``snapshot_date``. Periods without such a snapshot are left out;
    the periods must not overlap. One engine query."""
    days = snapshot_days(snapshots) if days is None else days
    chosen = {}
    for p in periods:
        snap = _last_at(days, p.start_utc)
        if snap is not None and snap["taken_at"] >= p.start_utc - window:
            chosen[p.label] = (p, snap)
    if not chosen:
        return {}
    found = _forecasts_then(snapshots, chosen)
    sums = {(label, pd.Timestamp(taken_at)): (forecast, n) for label, taken_at, forecast, n
            in found[["month", "taken_at", "forecast", "n"]].itertuples(index=False)}
    out = {}
    for label, (_, snap) in chosen.items():
        forecast, n = sums.get((label, pd.Timestamp(snap["taken_at"])), (0.0, 0))
        out[label] = {"forecast": 0.0 if pd.isna(forecast) else float(forecast),
                      "deals_counted": int(n), "snapshot_date": snap["snapshot_date"]}
    return out


def _forecasts_then(snapshots: Frame, chosen: dict[str, tuple[Period, dict[str, Any]]]
                    ) -> pd.DataFrame:
    """Per month of ``chosen`` (its label: the month and the snapshot taken at its start)
    and its snapshot: Σ amount × probability (``forecast``) and the count (``n``) of the
    snapshot's deals expected to close in the month, from one engine query that reads
    only those rows (each snapshot's deals due in its own month)."""
    buckets = [(label, m.start_utc, m.end_utc) for label, (m, _) in chosen.items()]
    taken = [snap["taken_at"] for _, snap in chosen.values()]
    due = functools.reduce(operator.or_, [
        (nw.col("taken_at") == snap["taken_at"])
        & F.in_window("expected_close_at", m.start_utc, m.end_utc) for m, snap in chosen.values()])
    found = F.to_pandas(
        F.lazy(snapshots)  # the range first: an engine skips the blocks outside it
        .filter((nw.col("taken_at") >= min(taken)) & (nw.col("taken_at") <= max(taken)) & due)
        .with_columns(month=F.bucket("expected_close_at", buckets),
                      _w=nw.col("amount") * nw.col("probability"))
        .group_by("taken_at", "month").agg(forecast=nw.col("_w").sum(), n=nw.len())
    )
    found["taken_at"] = pd.to_datetime(found["taken_at"])
    return found


#: How long before an instant a snapshot may have been taken to stand for the pipeline then.
PIPELINE_WINDOW = timedelta(days=1)


def pipelines_at(snapshots: Frame, instants: list[datetime], *,
                 days: pd.DataFrame | None = None, window: timedelta = PIPELINE_WINDOW
                 ) -> dict[datetime, dict[str, Any]]:
    """The open pipeline at each instant that has a pipeline snapshot taken at it or up to
    ``window`` before (the last one), as that snapshot recorded it, by the instant:
    ``open_deals``, ``open_pipeline`` (Σ amount), ``weighted_pipeline`` (Σ amount ×
    probability), ``missing_probability`` and ``missing_amount`` (open deals without one)
    and ``snapshot_date``. Instants without such a snapshot are left out. One engine
    query."""
    days = snapshot_days(snapshots) if days is None else days
    chosen: dict[datetime, dict[str, Any]] = {}
    for at in instants:
        snap = _last_at(days, at)
        if snap is not None and snap["taken_at"] >= at - window:
            chosen[at] = snap
    if not chosen:
        return {}
    taken = sorted({snap["taken_at"] for snap in chosen.values()})
    found = F.to_pandas(
        F.lazy(snapshots)
        .filter(functools.reduce(operator.or_, [nw.col("taken_at") == t for t in taken]))
        .group_by("taken_at")
        .agg(open_deals=nw.len(), open_pipeline=nw.col("amount").sum(),
             weighted_pipeline=(nw.col("amount") * nw.col("probability")).sum(),
             with_probability=nw.col("probability").count(),
             with_amount=nw.col("amount").count())
    )
    rows = {pd.Timestamp(r["taken_at"]): r for r in found.to_dict(orient="records")}
    out = {}
    for at, snap in chosen.items():
        r = rows.get(pd.Timestamp(snap["taken_at"]), {})
        n = int(r.get("open_deals") or 0)
        out[at] = {"open_deals": n,
                   "open_pipeline": float(r.get("open_pipeline") or 0.0),
                   "weighted_pipeline": float(r.get("weighted_pipeline") or 0.0),
                   "missing_probability": n - int(r.get("with_probability") or 0),
                   "missing_amount": n - int(r.get("with_amount") or 0),
                   "snapshot_date": snap["snapshot_date"]}
    return out


def forecast_bias(accuracy: pd.DataFrame) -> dict[str, Any]:
    """The bias of the forecasts of :func:`forecast_accuracy`: ``bias``, the mean signed
    error over the months shown, and ``bias_relative``, that mean against the mean actual
    revenue (Σ error / Σ actual; None when nothing was won); ``months`` counted."""
    n = len(accuracy)
    if not n:
        return {"months": 0, "bias": None, "bias_relative": None}
    error, actual = float(accuracy["error"].sum()), float(accuracy["actual"].sum())
    return {"months": n, "bias": error / n, "bias_relative": stats.ratio(error, actual)}
