"""Marketing campaign metrics (METRICS.md, "Marketing campaigns").

Attribution is single-touch, as recorded: a lead belongs to its ``campaign_id``; a deal to
its own ``campaign_id``, else to its lead's. The channel of a fact is its campaign's
``channel``; a lead without a campaign keeps its own ``leads.channel`` (a deal without a
campaign takes its lead's); a blank channel is ``(unknown)``.

Scope is by campaign, not by owner (DATA_MODEL.md): a team's Marketing report covers the
campaigns whose ``campaigns.team_id`` is the team, with all their costs, leads and
attributed deals whoever owns them. ``campaign_ids=None`` means every campaign plus the
leads and deals without one (shown as ``(no campaign)``: they have leads, conversion and
revenue but no cost, and are left out of the headline totals).

Every function is pure: canonical tables (any frame :func:`crmkit.metrics._frames.lazy` accepts)
and a :class:`~crmkit.periods.Period` in, numbers or small pandas frames out. The filters
and aggregations run inside the engine that holds the tables; only per-campaign and
per-channel aggregates are collected.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any, TypedDict

import narwhals as nw
import pandas as pd

from crmkit import stats
from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.parameters import ALL_TEAMS
from crmkit.periods import Period

__all__ = [
    "Summary",
    "NO_CAMPAIGN",
    "UNKNOWN_CHANNEL",
    "age_reference",
    "attributed_deals",
    "attributed_leads",
    "by_campaign",
    "by_channel",
    "campaign_scope",
    "cells",
    "conversion_test",
    "cost_by_campaign",
    "days_to_win_median",
    "days_to_win_medians",
    "funnel",
    "lead_cells",
    "new_customer_cells",
    "significance",
    "summaries",
    "summary",
    "won_cells",
]

NO_CAMPAIGN = "(no campaign)"
UNKNOWN_CHANNEL = "(unknown)"


# -- attribution ---------------------------------------------------------------------------


def _blank(col: str) -> nw.Expr:
    return nw.col(col).is_null() | (nw.col(col).str.strip_chars() == "")


def _attribution(lead_channel: str) -> dict[str, nw.Expr]:
    """``campaign`` (id or ``(no campaign)``) and ``channel`` (the campaign's; without a
    campaign the lead's own; blank -> ``(unknown)``) from the joined columns."""
    raw = nw.when(nw.col("campaign_id").is_null()).then(nw.col(lead_channel)).otherwise(
        nw.col("_campaign_channel")
    )
    blank = raw.is_null() | (raw.str.strip_chars() == "")
    return {
        "campaign": nw.coalesce(nw.col("campaign_id"), nw.lit(NO_CAMPAIGN)),
        "channel": nw.when(blank).then(nw.lit(UNKNOWN_CHANNEL)).otherwise(raw),
        "_blank_channel": blank,
    }


def _clean_channel(col: str) -> nw.Expr:
    """A channel value, with null or blank text shown as ``(unknown)``."""
    return nw.when(_blank(col)).then(nw.lit(UNKNOWN_CHANNEL)).otherwise(nw.col(col))


def _in_scope(campaign_ids: Sequence[str] | None) -> nw.Expr | None:
    if campaign_ids is None:
        return None
    return nw.col("campaign_id").is_in(list(campaign_ids))


def attributed_leads(
    leads: Frame, campaigns: Frame, campaign_ids: Sequence[str] | None = None
) -> nw.LazyFrame:
    """Leads with their attribution: ``campaign`` (id, or ``(no campaign)``), ``channel``
    and ``_blank_channel`` (the channel was blank), narrowed to ``campaign_ids``."""
    camp = F.lazy(campaigns).select("campaign_id", nw.col("channel").alias("_campaign_channel"))
    lf = F.lazy(leads)
    scope = _in_scope(campaign_ids)
    if scope is not None:
        lf = lf.filter(scope)
    return lf.join(camp, on="campaign_id", how="left").with_columns(**_attribution("channel"))


def attributed_deals(
    deals: Frame, leads: Frame, campaigns: Frame, campaign_ids: Sequence[str] | None = None
) -> nw.LazyFrame:
    """Deals with their attribution: the deal's campaign, else its lead's.

    Deals with neither a campaign nor a lead are not marketing-sourced and are left out;
    ``campaign_ids=None`` keeps every other deal (lead-sourced deals without a campaign as
    ``(no campaign)``), a list keeps only deals attributed to those campaigns.
    """
    lead_attr = F.lazy(leads).select(
        "lead_id", nw.col("campaign_id").alias("_lead_campaign"),
        nw.col("channel").alias("_lead_channel"),
    )
    camp = F.lazy(campaigns).select(
        nw.col("campaign_id").alias("_cid"), nw.col("channel").alias("_campaign_channel")
    )
    lf = (
        F.lazy(deals)
        .select("deal_id", "customer_id", "status", "amount", "closed_at", "lead_id",
                nw.col("campaign_id").alias("_deal_campaign"))
        .join(lead_attr, on="lead_id", how="left")
        .with_columns(campaign_id=nw.coalesce(nw.col("_deal_campaign"), nw.col("_lead_campaign")))
    )
    scope = _in_scope(campaign_ids)
    keep = ~nw.col("campaign_id").is_null() | ~nw.col("lead_id").is_null()
    lf = lf.filter(keep if scope is None else scope)
    return (
        lf.join(camp, left_on="campaign_id", right_on="_cid", how="left")
        .with_columns(**_attribution("_lead_channel"))
    )


def campaign_scope(campaigns: Frame, team: str) -> list[str] | None:
    """The campaign ids a team's report covers (``None`` for ``all``: every campaign)."""
    if team == ALL_TEAMS:
        return None
    df = F.to_pandas(F.lazy(campaigns).filter(nw.col("team_id") == team).select("campaign_id"))
    return sorted(df["campaign_id"].astype(str))


# -- per (period, campaign, channel) aggregates ------------------------------------------
#
# Each query labels its rows with the period they fall in (``F.bucket``), so the report's
# period and its comparison period come out of the same few engine queries.


def _periods(periods: Period | Sequence[Period]) -> list[Period]:
    return [periods] if isinstance(periods, Period) else list(periods)


def _instants(periods: list[Period]) -> list[tuple[str, datetime, datetime]]:
    return [(p.label, p.start_utc, p.end_utc) for p in periods]


def _days(periods: list[Period]) -> list[tuple[str, datetime, datetime]]:
    """Local calendar days of each period as naive datetimes (for DATE columns)."""
    return [(p.label, datetime.combine(p.start, time()), datetime.combine(p.end, time()))
            for p in periods]


def _labelled(lf: nw.LazyFrame, col: str, buckets: list[tuple[str, datetime, datetime]]) -> nw.LazyFrame:
    """Rows whose ``col`` falls in one of the windows, labelled with it as ``period``."""
    lo, hi = min(b[1] for b in buckets), max(b[2] for b in buckets)
    return (
        lf.filter(F.in_window(col, lo, hi))
        .with_columns(period=F.bucket(col, buckets))
        .filter(~nw.col("period").is_null())
    )


def cost_by_campaign(
    campaign_costs: Frame, periods: Period | Sequence[Period],
    campaign_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Cost per period and campaign: ``campaign_costs.cost`` whose ``date`` is in the period.

    ``date`` is a local calendar day, so it is compared with the period's local days, not
    with UTC instants.
    """
    lf = F.lazy(campaign_costs)
    scope = _in_scope(campaign_ids)
    if scope is not None:
        lf = lf.filter(scope)
    df = F.to_pandas(
        _labelled(lf, "date", _days(_periods(periods)))
        .group_by("period", "campaign_id").agg(cost=nw.col("cost").sum())
    )
    df = df.rename(columns={"campaign_id": "campaign"})
    df["cost"] = df["cost"].astype(float)
    return df


def lead_cells(
    leads: Frame, deals: Frame, campaigns: Frame, periods: Period | Sequence[Period],
    campaign_ids: Sequence[str] | None = None,
    converted_by: Mapping[str, datetime] | None = None, as_of_end: datetime | None = None,
) -> pd.DataFrame:
    """Leads created in the period per (period, campaign, channel).

    Columns: ``leads``, ``aged`` and ``converted`` (the leads seen by the instant
    ``converted_by`` gives the period's label, when given: created before it, and of those
    the ones converted before it, as in Sales; else every lead and ``converted_at`` not
    null), ``converted_now`` (converted before ``as_of_end``, when given), ``won_leads``
    (leads with a won deal, for the funnel), ``last_lead_at`` (the youngest lead, for
    provisional ROI) and ``blank_channel`` (leads whose channel was blank).
    """
    won = F.distinct(
        F.lazy(deals).filter((nw.col("status") == "won") & ~nw.col("lead_id").is_null()),
        "lead_id",
    ).with_columns(_won=nw.lit(1))
    df = F.to_pandas(
        _labelled(attributed_leads(leads, campaigns, campaign_ids), "created_at",
                  _instants(_periods(periods)))
        .join(won, on="lead_id", how="left")
        .select(
            "period", "campaign", "channel", "created_at",
            _aged=_seen(converted_by).cast(nw.Int64),
            _converted=(_seen(converted_by) & _converted(converted_by)).cast(nw.Int64),
            _converted_now=_converted(None if as_of_end is None else {"": as_of_end}
                                      ).cast(nw.Int64),
            _won=nw.col("_won").fill_null(0).cast(nw.Int64),
            _blank=nw.col("_blank_channel").cast(nw.Int64),
        )
        .group_by("period", "campaign", "channel")
        .agg(
            leads=nw.len(),
            aged=nw.col("_aged").sum(),
            converted=nw.col("_converted").sum(),
            converted_now=nw.col("_converted_now").sum(),
            won_leads=nw.col("_won").sum(),
            last_lead_at=nw.col("created_at").max(),
            blank_channel=nw.col("_blank").sum(),
        )
    )
    for col in ("leads", "aged", "converted", "converted_now", "won_leads", "blank_channel"):
        df[col] = df[col].astype(int)
    df["last_lead_at"] = pd.to_datetime(df["last_lead_at"])
    return df


def _seen(by: Mapping[str, datetime] | None) -> nw.Expr:
    """A lead created before the instant ``by`` gives its period's label (:func:`_converted`);
    every lead when ``by`` is None."""
    if by is None:
        return nw.lit(True)
    return functools.reduce(operator.or_, [
        (nw.col("period") == label) & (nw.col("created_at") < at) for label, at in by.items()])


def _converted(by: Mapping[str, datetime] | None) -> nw.Expr:
    """A lead converted: before the instant ``by`` gives its period's label, or, with one
    instant under the label ``""``, before that one (any time when ``by`` is None)."""
    done = ~nw.col("converted_at").is_null()
    if by is None:
        return done
    if set(by) == {""}:
        return done & (nw.col("converted_at") < by[""])
    in_time = functools.reduce(operator.or_, [
        (nw.col("period") == label) & (nw.col("converted_at") < at) for label, at in by.items()])
    return done & in_time


def won_cells(
    deals: Frame, leads: Frame, campaigns: Frame, periods: Period | Sequence[Period],
    campaign_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Attributed deals won in the period per (period, campaign, channel): ``deals_won``,
    ``revenue``, ``amount_sumsq`` (Σ amount², for the revenue test) and
    ``acquired_customers`` (those of the deals that are a new customer's first, see
    :func:`new_customer_cells`), from one engine query. Pass the unscoped deals table."""
    buckets = _instants(_periods(periods))
    df = F.to_pandas(
        _labelled(
            attributed_deals(deals, leads, campaigns, campaign_ids).filter(nw.col("status") == "won"),
            "closed_at", buckets,
        )
        .join(_first_deals(deals, buckets), on="deal_id", how="left")
        .select("period", "campaign", "channel", "amount", _sq=nw.col("amount") * nw.col("amount"),
                _first=nw.col("_first").fill_null(0))
        .group_by("period", "campaign", "channel")
        .agg(deals_won=nw.len(), revenue=nw.col("amount").sum(), amount_sumsq=nw.col("_sq").sum(),
             acquired_customers=nw.col("_first").sum())
    )
    df[["deals_won", "acquired_customers"]] = df[["deals_won", "acquired_customers"]].astype(int)
    df[["revenue", "amount_sumsq"]] = df[["revenue", "amount_sumsq"]].fillna(0.0).astype(float)
    return df


def _first_deals(deals: Frame, buckets: list[tuple[str, datetime, datetime]]) -> nw.LazyFrame:
    """The first won deal (``deal_id``, with ``_first`` = 1) of each customer whose first
    purchase falls in one of the windows: :func:`crmkit.metrics.customers.first_won_deals`'
    (the earliest ``closed_at`` over the customer's whole history, all teams; ties: the
    smallest ``deal_id``). The customers first, then their first deal among their own
    deals of the windows only."""
    won = F.lazy(deals).filter(
        (nw.col("status") == "won") & ~nw.col("customer_id").is_null()
        & ~nw.col("closed_at").is_null()
    )
    new = _labelled(won.group_by("customer_id").agg(_first_at=nw.col("closed_at").min()),
                    "_first_at", buckets)
    lo, hi = min(b[1] for b in buckets), max(b[2] for b in buckets)
    return (
        won.filter(F.in_window("closed_at", lo, hi)).select("customer_id", "deal_id", "closed_at")
        .join(new, on="customer_id", how="inner")
        .filter(nw.col("closed_at") == nw.col("_first_at"))
        .group_by("customer_id").agg(nw.col("deal_id").min())
        .select("deal_id", _first=nw.lit(1, dtype=nw.Int64()))
    )


def new_customer_cells(
    deals: Frame, leads: Frame, campaigns: Frame, periods: Period | Sequence[Period],
    campaign_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """New customers per (period, campaign, channel): customers whose first won deal ever
    closes in the period, counted for the campaign that deal is attributed to.

    The first won deal is :func:`crmkit.metrics.customers.first_won_deals`' (the earliest
    ``closed_at`` over the customer's whole history, all teams; ties: the smallest
    ``deal_id``): the new customers of Customer activity. Pass the unscoped deals table.
    :func:`won_cells` counts them with the deals won (``acquired_customers``).
    """
    df = won_cells(deals, leads, campaigns, periods, campaign_ids)
    df = df[df["acquired_customers"] > 0]
    return df[["period", "campaign", "channel", "acquired_customers"]].reset_index(drop=True)


def days_to_win_median(deals: Frame, leads: Frame, before: datetime) -> float | None:
    """Median days from lead creation to won deal, over every won deal with a lead that
    closed before ``before`` (None when there is none)."""
    return days_to_win_medians(deals, leads, [before])[0]


def days_to_win_medians(deals: Frame, leads: Frame, befores: Sequence[datetime]
                        ) -> list[float | None]:
    """:func:`days_to_win_median` before each instant, from one query."""
    if not befores:
        return []
    lead_created = F.lazy(leads).select("lead_id", nw.col("created_at").alias("_lead_created"))
    won = (
        F.lazy(deals)
        .filter((nw.col("status") == "won") & ~nw.col("lead_id").is_null()
                & (nw.col("closed_at") < max(befores)))
        .join(lead_created, on="lead_id", how="inner")
    )
    days = F.days_between("_lead_created", "closed_at", won)
    row = F.one_row(
        won.select(*[agg for i, before in enumerate(befores) for agg in (
            nw.when(nw.col("closed_at") < before).then(days).median().alias(f"median{i}"),
            (nw.col("closed_at") < before).cast(nw.Int64).sum().alias(f"n{i}"))])
    )
    return [float(row[f"median{i}"]) if row[f"n{i}"] and row[f"median{i}"] is not None else None
            for i in range(len(befores))]


def cells(
    leads: Frame, deals: Frame, campaigns: Frame, campaign_costs: Frame,
    periods: Period | Sequence[Period], campaign_ids: Sequence[str] | None = None,
    converted_by: Mapping[str, datetime] | None = None, as_of_end: datetime | None = None,
) -> pd.DataFrame:
    """Every count of the report per (period, campaign, channel), in three engine queries.

    Columns: ``period`` (the period's label), ``campaign``, ``channel``, ``cost``,
    ``leads``, ``converted``, ``converted_now``, ``won_leads``, ``last_lead_at``,
    ``blank_channel``, ``deals_won``, ``revenue``, ``amount_sumsq``, ``acquired_customers``
    (``converted`` and ``converted_now``: :func:`lead_cells`). A real campaign has one
    channel; ``(no campaign)`` has one row per lead channel. Overlapping periods are
    computed one at a time (a row can only carry one label).
    """
    plist = _periods(periods)
    if _overlap(plist):
        return pd.concat(
            [cells(leads, deals, campaigns, campaign_costs, p, campaign_ids,
                   None if converted_by is None else {p.label: converted_by[p.label]},
                   as_of_end)
             for p in plist],
            ignore_index=True,
        )
    camp = _campaign_frame(campaigns)
    cost = cost_by_campaign(campaign_costs, plist, campaign_ids)
    cost = cost.merge(camp[["campaign", "channel"]], on="campaign", how="left")
    cost["channel"] = cost["channel"].fillna(UNKNOWN_CHANNEL)
    keys = ["period", "campaign", "channel"]
    out = cost[[*keys, "cost"]].astype({k: object for k in keys})
    for part in (
        lead_cells(leads, deals, campaigns, plist, campaign_ids, converted_by, as_of_end),
        won_cells(deals, leads, campaigns, plist, campaign_ids),  # with the new customers
    ):
        # plain object keys: empty Arrow-backed string columns cannot be merged
        out = out.merge(part.astype({k: object for k in keys}), on=keys, how="outer")
    counts = ["leads", "aged", "converted", "converted_now", "won_leads", "blank_channel",
              "deals_won", "acquired_customers"]
    out[counts] = out[counts].fillna(0).astype(int)
    out[["cost", "revenue", "amount_sumsq"]] = (
        out[["cost", "revenue", "amount_sumsq"]].fillna(0.0).astype(float)
    )
    return out.sort_values(keys).reset_index(drop=True)


def _overlap(periods: list[Period]) -> bool:
    spans = sorted((p.start_utc, p.end_utc) for p in periods)
    return any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False))


def _campaign_frame(campaigns: Frame) -> pd.DataFrame:
    """The campaigns table (small), with a clean channel, keyed as ``campaign``."""
    return F.to_pandas(F.lazy(campaigns).select(
        nw.col("campaign_id").alias("campaign"), "name", "team_id",
        _clean_channel("channel").alias("channel"),
    ))


# -- derived tables ------------------------------------------------------------------------

_SUMS = ["cost", "leads", "aged", "converted", "converted_now", "won_leads", "deals_won",
         "revenue", "amount_sumsq", "acquired_customers", "blank_channel"]


def _derive(df: pd.DataFrame, median_days: float | None, at: datetime) -> pd.DataFrame:
    """Add conversion (Wilson), cost per lead, CAC, ROI and the provisional flag."""
    df = df.copy()
    df["lead_conversion"], df["lead_conversion_low"], df["lead_conversion_high"] = (
        stats.wilson_columns(df["converted"], df["aged"]))
    df["cost_per_lead"] = [_per(c, n) for c, n in zip(df["cost"], df["leads"], strict=True)]
    df["cac"] = [_per(c, n) for c, n in zip(df["cost"], df["acquired_customers"], strict=True)]
    df["roi"] = [_roi(r, c) for r, c in zip(df["revenue"], df["cost"], strict=True)]
    df["provisional"] = [_maturing(t, median_days, at) for t in df["last_lead_at"]]
    return df


def _per(cost: float, n: int) -> float | None:
    """cost / n; N/A without cost too (no cost recorded is not 'free')."""
    return stats.ratio(cost, n) if cost > 0 else None


def _roi(revenue: float, cost: float) -> float | None:
    """(revenue − cost) / cost; a campaign with zero cost has no ROI."""
    return stats.ratio(revenue - cost, cost) if cost > 0 else None


def _maturing(last_lead_at: Any, median_days: float | None, at: datetime) -> bool:
    if median_days is None or last_lead_at is None or pd.isna(last_lead_at):
        return False
    age_days = (at - pd.Timestamp(last_lead_at).to_pydatetime()).total_seconds() / 86400.0
    return age_days < median_days


def age_reference(period: Period, as_of_end: datetime | None = None) -> datetime:
    """The instant lead ages are measured at: the period end, or the as-of instant if
    earlier (never before the period start)."""
    at = period.end_utc if as_of_end is None else min(period.end_utc, as_of_end)
    return max(at, period.start_utc)


def by_campaign(
    grid: pd.DataFrame, campaigns: Frame | pd.DataFrame, median_days: float | None,
    at: datetime,
) -> pd.DataFrame:
    """One row per campaign with any cost, lead or won deal in the period (plus
    ``(no campaign)`` when present), sorted by ROI: best first, N/A ROI after, ``(no
    campaign)`` last; a loss-maker has ``roi < 0``. ``grid``: :func:`cells` of one period;
    ``at``: the instant lead ages are measured at (:func:`age_reference`)."""
    cols = ["campaign_id", "name", "channel", "team_id", "cost", "leads", "converted",
            "lead_conversion", "lead_conversion_low", "lead_conversion_high", "deals_won",
            "revenue", "acquired_customers", "cost_per_lead", "cac", "roi", "provisional"]
    if grid.empty:
        return pd.DataFrame(columns=cols)
    camp = campaigns if isinstance(campaigns, pd.DataFrame) else _campaign_frame(campaigns)
    agg = grid.groupby("campaign", as_index=False).agg(
        {**dict.fromkeys(_SUMS, "sum"), "last_lead_at": "max",
         "channel": lambda s: ", ".join(sorted(set(s)))}
    )
    df = agg.merge(camp.drop(columns="channel"), on="campaign", how="left")
    none = df["campaign"] == NO_CAMPAIGN
    df["campaign_id"] = df["campaign"].where(~none, None)
    df["name"] = df["name"].where(df["name"].notna(), df["campaign"])
    df = _derive(df, median_days, at)
    df["_order"] = [2 if n else (0 if r is not None else 1) for n, r in zip(none, df["roi"], strict=True)]
    df["_roi"] = df["roi"].astype(float).fillna(-math.inf)
    df = df.sort_values(["_order", "_roi", "revenue", "name"], ascending=[True, False, False, True])
    return df[cols].reset_index(drop=True)


def by_channel(grid: pd.DataFrame, median_days: float | None, at: datetime) -> pd.DataFrame:
    """One row per channel: the same measures summed over the channel's campaigns (and
    the leads without a campaign, whose channel is their own), most leads first."""
    cols = ["channel", "campaigns", "cost", "leads", "converted", "lead_conversion",
            "lead_conversion_low", "lead_conversion_high", "deals_won", "revenue",
            "acquired_customers", "cost_per_lead", "cac", "roi", "provisional"]
    if grid.empty:
        return pd.DataFrame(columns=cols)
    real = grid["campaign"].where(grid["campaign"] != NO_CAMPAIGN)
    df = grid.assign(_campaign=real).groupby("channel", as_index=False).agg(
        {**dict.fromkeys(_SUMS, "sum"), "last_lead_at": "max", "_campaign": "nunique"}
    ).rename(columns={"_campaign": "campaigns"})
    df = _derive(df, median_days, at)
    return df.sort_values(["leads", "channel"], ascending=[False, True])[cols].reset_index(drop=True)


def funnel(grid: pd.DataFrame) -> pd.DataFrame:
    """Leads created in the period → converted → won, per channel (channels with leads).

    ``won`` counts the period's leads that have a won deal (at any time, as recorded): a
    cohort view, unlike ``deals_won`` which counts deals closed in the period.
    """
    cols = ["channel", "leads", "converted", "won", "converted_share", "won_share"]
    if grid.empty:
        return pd.DataFrame(columns=cols)
    df = grid.groupby("channel", as_index=False)[["leads", "converted", "won_leads"]].sum()
    df = df[df["leads"] > 0].rename(columns={"won_leads": "won"})
    df["converted_share"] = [stats.ratio(c, n) for c, n in zip(df["converted"], df["leads"], strict=True)]
    df["won_share"] = [stats.ratio(w, n) for w, n in zip(df["won"], df["leads"], strict=True)]
    return df.sort_values(["leads", "channel"], ascending=[False, True])[cols].reset_index(drop=True)


def conversion_test(channel: pd.DataFrame) -> stats.Test:
    """Chi-square test of independence of converted / not converted by channel
    (Pearson's statistic without continuity correction, as
    ``scipy.stats.chi2_contingency(table, correction=False)``).

    Channels without leads are dropped; with fewer than two channels, or when every lead
    (or none) converted, there is nothing to test.
    """
    seen = "aged" if "aged" in channel.columns else "leads"  # the leads seen by the as-of
    df = channel[channel[seen] > 0]
    table = [[int(c), int(n - c)] for c, n in zip(df["converted"], df[seen], strict=True)]
    if len(table) < 2 or sum(r[0] for r in table) == 0 or sum(r[1] for r in table) == 0:
        return stats.Test(None, None)
    rows = [sum(r) for r in table]
    cols = [sum(r[0] for r in table), sum(r[1] for r in table)]
    total = sum(rows)
    statistic = math.fsum(
        (observed - expected) ** 2 / expected
        for r, row in zip(table, rows, strict=True)
        for observed, expected in zip(r, (row * c / total for c in cols), strict=True)
    )
    return stats.Test(statistic, stats.chi2_sf(statistic, len(table) - 1))


# -- summary -------------------------------------------------------------------------------


def summaries(
    leads: Frame, deals: Frame, campaigns: Frame, campaign_costs: Frame,
    periods: Sequence[Period], campaign_ids: Sequence[str] | None = None,
    as_of_end: datetime | None = None, converted_by: Sequence[datetime] | None = None,
) -> list[Summary]:
    """:func:`summary` of several periods from the same engine queries.

    A period's leads count as converted up to its instant in ``converted_by`` (default: the
    as-of instant ``as_of_end``, or any time without one; a comparison period's leads at the
    same age as the period's, :func:`crmkit.periods.same_age`), and by the as-of instant in
    its ``lead_conversion_by_now``."""
    until = (list(converted_by) if converted_by is not None
             else None if as_of_end is None else [as_of_end] * len(periods))
    by = None if until is None else dict(zip((p.label for p in periods), until, strict=True))
    grid = cells(leads, deals, campaigns, campaign_costs, periods, campaign_ids, by, as_of_end)
    camp = _campaign_frame(campaigns)
    ats = [age_reference(period, as_of_end) for period in periods]
    medians = days_to_win_medians(deals, leads, ats)
    out = []
    for period, at, median_days in zip(periods, ats, medians, strict=True):
        one = grid[grid["period"] == period.label].drop(columns="period")
        out.append(_summarise(one, camp, median_days, at, period.length_days,
                              None if by is None else by[period.label]))
    return out


class Summary(TypedDict):
    """One period's marketing figures over the campaigns in scope."""

    metrics: dict[str, Any]  # every headline KPI under its METRICS.md name
    intervals: dict[str, stats.Interval]
    samples: dict[str, int]
    amount_sumsq: float  # of the attributed won deals, for the revenue test
    conversion_test: stats.Test  # chi-square of lead conversion across channels
    median_days_to_win: float | None
    age_reference: datetime  # the instant lead ages are measured at
    converted_by: datetime | None  # its leads count as converted before this instant
    lead_conversion_by_now: stats.Interval  # ... and by the as-of instant
    days: float  # the period's length, the exposure of its counts and revenue in the tests
    provisional: bool  # some campaign's ROI may still grow
    blank_channel_leads: int
    campaign: pd.DataFrame
    channel: pd.DataFrame
    funnel: pd.DataFrame


def summary(
    leads: Frame, deals: Frame, campaigns: Frame, campaign_costs: Frame, period: Period,
    campaign_ids: Sequence[str] | None = None, as_of_end: datetime | None = None,
) -> Summary:
    """Every headline Marketing KPI for one period, with the breakdowns they come from.

    Headline totals cover the campaigns in scope only (leads and deals without a campaign
    have no cost and no ROI; they appear as ``(no campaign)`` in the breakdowns). Pass the
    unscoped tables: scope is given by ``campaign_ids`` (``None``: every campaign).
    """
    return summaries(leads, deals, campaigns, campaign_costs, [period], campaign_ids,
                     as_of_end)[0]


def _summarise(
    grid: pd.DataFrame, camp: pd.DataFrame, median_days: float | None, at: datetime,
    days: float, converted_by: datetime | None = None,
) -> Summary:
    campaign = by_campaign(grid, camp, median_days, at)
    channel = by_channel(grid, median_days, at)
    tot = grid.loc[grid["campaign"] != NO_CAMPAIGN, _SUMS].sum()
    n_leads, n_new = int(tot["leads"]), int(tot["acquired_customers"])
    conv = stats.wilson(int(tot["converted"]), int(tot["aged"]))
    test = conversion_test(  # over the leads seen by the as-of instant
        grid.groupby("channel", as_index=False)[["aged", "converted"]].sum())
    cost, revenue = float(tot["cost"]), float(tot["revenue"])
    real = campaign[campaign["campaign_id"].notna()]
    return Summary(
        metrics={
            "cost": cost,
            "leads": n_leads,
            "lead_conversion": conv.value,
            "deals_won": int(tot["deals_won"]),
            "revenue": revenue,
            "cost_per_lead": _per(cost, n_leads),
            "cac": _per(cost, n_new),
            "roi": _roi(revenue, cost),
            "acquired_customers": n_new,
            "conversion_chi2_p_value": test.p_value,
        },
        intervals={"lead_conversion": conv},
        samples={"lead_conversion": conv.n,
                 **({"cost_per_lead": n_leads} if cost > 0 and n_leads else {}),
                 **({"cac": n_new} if cost > 0 and n_new else {})},
        amount_sumsq=float(tot["amount_sumsq"]),
        conversion_test=test,
        median_days_to_win=median_days,
        age_reference=at,
        converted_by=converted_by,
        lead_conversion_by_now=stats.wilson(int(tot["converted_now"]), n_leads),
        days=days,
        provisional=bool(real.loc[real["roi"].notna(), "provisional"].any()),
        blank_channel_leads=int(grid["blank_channel"].sum()) if len(grid) else 0,
        campaign=campaign,
        channel=channel,
        funnel=funnel(grid),
    )


def significance(current: Summary, previous: Summary) -> dict[str, stats.Test]:
    """Tests of the change of each headline KPI between two :func:`summary` results.

    Counts: conditional binomial test of two Poisson counts, as rates over the periods'
    lengths; conversion: two-proportion z-test; revenue: z-test of two compound-Poisson
    totals (variance Σ amount²) over the periods' lengths. Cost is spent, not sampled, and
    the ratios built on it (cost per lead, CAC, ROI) are not tested.
    """
    cm, pm = current["metrics"], previous["metrics"]
    days = current["days"], previous["days"]
    out = {name: stats.poisson_rate_test(int(cm[name]), int(pm[name]), *days)
           for name in ("leads", "deals_won", "acquired_customers")}
    a, b = current["intervals"]["lead_conversion"], previous["intervals"]["lead_conversion"]
    out["lead_conversion"] = (
        stats.Test(None, None) if a.value is None or b.value is None
        else stats.two_proportion_test(round(a.value * a.n), a.n, round(b.value * b.n), b.n)
    )
    out["revenue"] = stats.compound_poisson_test(
        cm["revenue"], current["amount_sumsq"], pm["revenue"], previous["amount_sumsq"], *days)
    return out


# -- the report ----------------------------------------------------------------------------
