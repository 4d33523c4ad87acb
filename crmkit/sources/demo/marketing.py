"""The demo's marketing: campaigns with their daily costs, and the leads they bring.

Channels convert and pay differently (:data:`~crmkit.sources.demo.company.CHANNELS`);
the display push (``STORY_NEGATIVE_ROI_CAMPAIGN``) costs far more than it brings in, and
midmarket leads convert less and less over the last six months.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, HOUR, Clock
from crmkit.sources.demo.company import CAMPAIGNS, CHANNELS, IDLE, MM, SEASON, TEAMS
from crmkit.sources.demo.people import Staff
from crmkit.sources.demo.unit import Unit, pick

#: ``date.toordinal()`` of 1970-01-01: day numbers here count from the epoch.
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass
class Campaigns:
    """The campaigns of a unit, by position in :data:`CAMPAIGNS` (times in local seconds)."""

    ids: np.ndarray
    channel: np.ndarray
    team: np.ndarray  # team position, -1: company-wide
    start: np.ndarray
    end: np.ndarray
    rate: np.ndarray  # leads per active day


@dataclass
class Leads:
    """The leads of a unit in creation order; ``customer`` is filled by the customers."""

    ids: np.ndarray
    created: np.ndarray
    campaign: np.ndarray  # campaign position, -1: none
    channel: np.ndarray
    team: np.ndarray
    owner: np.ndarray
    converted: np.ndarray
    converted_at: np.ndarray
    status: np.ndarray
    customer: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def campaigns(u: Unit) -> tuple[Campaigns, pd.DataFrame, pd.DataFrame]:
    """The campaigns of the unit and the ``campaigns`` and ``campaign_costs`` tables."""
    rng, c = u.rng, u.clock
    k = len(CAMPAIGNS)
    suffix = f" (unit {u.number + 1})" if u.scale > 1 else ""
    names = np.array([f"{x[0]}{suffix}" for x in CAMPAIGNS])
    channel = np.array([x[1] for x in CAMPAIGNS])
    team = np.array([-1 if x[2] is None else x[2] for x in CAMPAIGNS])
    start_day = np.array([_start_day(c, x[3]) for x in CAMPAIGNS])
    dur = np.array([x[4] or 0 for x in CAMPAIGNS])
    ongoing = np.array([x[4] is None for x in CAMPAIGNS])
    end_day = np.where(ongoing, c.end // DAY, np.minimum(start_day + dur, c.end // DAY))
    daily = np.array([x[5] for x in CAMPAIGNS]) * np.exp(rng.normal(0, 0.1, k))
    planned_days = np.where(ongoing, c.end // DAY - start_day, dur)
    budget = np.round(daily * planned_days * rng.uniform(0.95, 1.1, k), -2)
    rate = np.array([x[6] for x in CAMPAIGNS])
    cmp = Campaigns(u.ids("cmp", k, 2), channel, team, start_day * DAY, end_day * DAY, rate)
    frame = pd.DataFrame(
        {
            "campaign_id": cmp.ids,
            "name": names,
            "channel": channel,
            "team_id": pick(np.array([t for t, _ in TEAMS]), team, team >= 0),
            "started_at": c.to_utc(start_day * DAY + 9 * HOUR),
            "ended_at": c.to_utc((start_day + dur) * DAY + 18 * HOUR - DAY, ~ongoing),
            "budget": budget,
        }
    )
    return cmp, frame, _costs(u, cmp, start_day, end_day, daily)


def _start_day(c: Clock, start: int | tuple[int, int]) -> int:
    """The first day (days since 1970) of a campaign: ``start`` days before the end of the
    data, or the latest ``(month, day)`` at least 30 days before it; never later than that."""
    latest = c.end // DAY - 30
    if isinstance(start, int):
        return min(c.end // DAY - start, latest)
    last = date.fromordinal(latest + EPOCH_ORDINAL)
    on = date(last.year - (start > (last.month, last.day)), *start)
    return on.toordinal() - EPOCH_ORDINAL


def _costs(
    u: Unit, cmp: Campaigns, start_day: np.ndarray, end_day: np.ndarray, daily: np.ndarray
) -> pd.DataFrame:
    """The ``campaign_costs`` table: a cost a day while a campaign is active, by season."""
    k = len(cmp.ids)
    days_active = end_day - start_day
    rep = np.repeat(np.arange(k), days_active)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(days_active) - days_active, days_active)
    day = start_day[rep] + offset
    month = day.view("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    cost = daily[rep] * SEASON[month] * np.exp(u.rng.normal(0, 0.25, len(rep)))
    return pd.DataFrame(
        {
            "campaign_id": cmp.ids[rep],
            "date": u.clock.to_date(day * DAY),
            "cost": np.round(cost, 2),
        }
    )


def leads(u: Unit, staff: Staff, cmp: Campaigns) -> Leads:
    """The leads of the unit: from campaigns and organic, with owner and outcome."""
    rng, c = u.rng, u.clock
    # campaign leads: volume by rate x active days; events collect leads for a week after
    lead_end = np.minimum(cmp.end + np.where(cmp.channel == "events", 7, 0) * DAY, c.end)
    expected = cmp.rate * (lead_end - cmp.start) / DAY
    n_cmp = rng.poisson(expected)
    by_campaign = np.repeat(np.arange(len(n_cmp)), n_cmp)
    org_start = c.start - 150 * DAY
    n_org = int(rng.poisson(1800))
    n = len(by_campaign) + n_org
    campaign = np.concatenate([by_campaign, np.full(n_org, -1)])
    created = np.concatenate(
        [
            c.sample(rng, cmp.start[by_campaign], lead_end[by_campaign]),
            c.sample(rng, org_start, c.end, n_org, customer=True),
        ]
    )
    channel = np.concatenate(
        [
            cmp.channel[by_campaign],
            rng.choice(np.array(["organic", "direct"]), n_org, p=[0.6, 0.4]),
        ]
    )
    team = np.where(campaign >= 0, cmp.team[np.maximum(campaign, 0)], -1)
    team = np.where(team >= 0, team, rng.choice(4, n, p=[0.15, 0.3, 0.4, 0.15]))
    owner = staff.on_duty(staff.assign(rng, team), created)
    converted, converted_at, status = _outcomes(u, created, channel, team, owner)
    order = np.argsort(created, kind="stable")
    return Leads(
        u.ids("l", n, 5),
        created[order],
        campaign[order],
        channel[order],
        team[order],
        owner[order],
        converted[order],
        converted_at[order],
        status[order],
    )


def _outcomes(
    u: Unit, created: np.ndarray, channel: np.ndarray, team: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether and when each lead converted, and its status at the end of the window."""
    rng, c = u.rng, u.clock
    n = len(created)
    conv_p = np.array([CHANNELS[ch][0] for ch in channel])
    conv_p = conv_p * np.where(team == MM, 0.8 + 0.2 * c.decline(created), 1.0)
    conv_p = conv_p * np.where(owner == IDLE, 0.5, 1.0)
    lag = 1.0 + rng.gamma(2.0, 5.0, n)
    converted_at = c.later(rng, created, lag)
    converted = (rng.random(n) < conv_p) & (converted_at < c.end)
    age = (c.end - created) / DAY
    x = rng.random(n)
    status = np.where(
        age < 10,
        np.where(x < 0.7, "new", "working"),
        np.where(
            age < 45,
            np.where(x < 0.1, "new", np.where(x < 0.65, "working", "disqualified")),
            np.where(x < 0.15, "working", "disqualified"),
        ),
    )
    return converted, converted_at, np.where(converted, "converted", status)
