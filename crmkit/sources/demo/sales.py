"""The demo's sales: deals (from leads, first deals of direct customers, and repeat
business: renewals, add-ons, more seats) and the quarterly quotas of the sales reps.

Win rates depend on the team, the seller, the channel and whether the customer already
buys; the midmarket team wins less and smaller over the last six months, the idle rep
opens few deals, and a handful of open deals have no probability (a data note). Quotas
follow a sales plan that expects what each rep's deals should bring in, so most reps land
near their quota, and the stories show as misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, HOUR, Clock, epoch_month
from crmkit.sources.demo.company import (
    AMOUNT_SIGMA,
    CHANNELS,
    IDLE,
    LOST_P,
    LOST_REASONS,
    MM,
    NURTURE_CHANNELS,
    NURTURE_SHARE,
    PRODUCT_P,
    PRODUCTS,
    REPEAT_AMOUNT,
    REPEAT_RATE,
    SEG_AMOUNT,
    SEG_CYCLE,
    STAGES,
    TEAM_WIN,
)
from crmkit.sources.demo.customers import Customers
from crmkit.sources.demo.marketing import Campaigns, Leads
from crmkit.sources.demo.people import Staff
from crmkit.sources.demo.unit import Unit, none_where, pick


@dataclass
class Plan:
    """What the sales plan expects of every deal drafted: its owner, when it would close
    and its amount times its chance to win, as if no story happened (no midmarket decline,
    an idle rep who works)."""

    owner: np.ndarray
    closes: np.ndarray
    value: np.ndarray


@dataclass
class Deals:
    """The deals of a unit in creation order (times in local seconds), and the plan."""

    ids: np.ndarray
    created: np.ndarray
    closed: np.ndarray
    status: np.ndarray
    owner: np.ndarray
    cust: np.ndarray
    amount: np.ndarray
    repeat: np.ndarray  # a deal with an existing customer (renewal, add-on, more seats)
    plan: Plan


@dataclass
class _Draft:
    """Every candidate deal before the thinning, in the order they were drawn."""

    cust: np.ndarray
    created: np.ndarray
    kind: np.ndarray  # 0: from a lead, 1: first deal of a direct customer, 2: repeat
    lead: np.ndarray  # lead position, -1: none
    owner: np.ndarray
    team: np.ndarray
    seg: np.ndarray
    campaign: np.ndarray
    channel: np.ndarray


def _draft(u: Unit, staff: Staff, cmp: Campaigns, leads: Leads, cu: Customers) -> _Draft:
    """Candidate deals: one per converted lead, a first deal for customers created directly,
    and repeat / expansion deals over each customer's life."""
    rng, c = u.rng, u.clock
    lead = np.flatnonzero(leads.converted)
    l_cust = leads.customer[lead]
    l_created = c.later(rng, leads.converted_at[lead], rng.uniform(0, 2, len(lead)))
    l_created = np.minimum(l_created, c.end - HOUR)
    direct = np.flatnonzero(cu.origin == 1)
    d_created = np.minimum(c.later(rng, cu.created[direct], rng.uniform(0, 3, len(direct))), c.end - HOUR)
    lo = np.maximum(cu.created + 20 * DAY, c.start - 365 * DAY)
    hi = np.minimum(cu.churn, c.end)
    years = np.clip((hi - lo) / (365.25 * DAY), 0, None)
    rate = REPEAT_RATE[cu.segment] * cu.propensity * years
    n_rep = rng.poisson(rate)
    rep = np.repeat(np.arange(len(n_rep)), n_rep)
    r_created = c.sample(rng, lo[rep], hi[rep], growth=False)
    cust = np.concatenate([l_cust, direct, rep])
    created = np.concatenate([l_created, d_created, r_created])
    kind = np.repeat(np.array([0, 1, 2]), [len(lead), len(direct), len(rep)])
    lead_idx = np.concatenate([lead, np.full(len(direct) + len(rep), -1)])
    owner = np.concatenate([leads.owner[lead], cu.owner0[direct], cu.owner0[rep]])
    owner = staff.on_duty(owner, created)
    campaign = np.where(lead_idx >= 0, leads.campaign[np.maximum(lead_idx, 0)], -1)
    channel = np.where(lead_idx >= 0, leads.channel[np.maximum(lead_idx, 0)], "direct")
    team = staff.team[owner]
    campaign = _nurtured(u, cmp, campaign, np.where(kind == 2, team, -1), created)
    return _Draft(cust, created, kind, lead_idx, owner, team, cu.segment[cust], campaign, channel)


def _nurtured(
    u: Unit, cmp: Campaigns, campaign: np.ndarray, team: np.ndarray, created: np.ndarray
) -> np.ndarray:
    """Credit some repeat deals (``team`` >= 0) to a nurture campaign (a newsletter, a
    webinar, an event) of their team running when they are created, as a CRM records the
    campaign that brought an existing customer back."""
    out = campaign.copy()
    for j in np.flatnonzero(np.isin(cmp.channel, NURTURE_CHANNELS)):
        running = (team == cmp.team[j]) & (created >= cmp.start[j]) & (created < cmp.end[j])
        out = np.where(running & (u.rng.random(len(out)) < NURTURE_SHARE), j, out)
    return out


def _outcomes(u: Unit, staff: Staff, d: _Draft) -> dict[str, np.ndarray]:
    """Cycle length, win or loss, close time, status, stage and its probability."""
    rng, c = u.rng, u.clock
    n = len(d.cust)
    shape, mean = SEG_CYCLE[d.seg, 0], SEG_CYCLE[d.seg, 1]
    planned = np.maximum(rng.gamma(shape, mean / shape), 3.0)
    actual = planned * np.exp(rng.normal(0.1, 0.35, n))
    base_win = np.where(d.kind == 2, 0.42, 0.26)
    close_guess = d.created + (actual * DAY).astype(np.int64)
    ch_win = np.array([CHANNELS[x][2] for x in d.channel])
    p_plan = np.clip(base_win * TEAM_WIN[d.team] * staff.skill[d.owner] * ch_win, 0.02, 0.9)
    p_win = np.clip(p_plan * np.where(d.team == MM, c.decline(close_guess) ** 0.8, 1.0), 0.02, 0.9)
    won = rng.random(n) < p_win
    actual = np.where(won, actual, actual * rng.uniform(0.35, 1.0, n))
    closed_at = c.later(rng, d.created, actual)
    status = np.where(closed_at < c.end, np.where(won, "won", "lost"), "open")
    stage_lost = rng.choice(5, n, p=[0.3, 0.3, 0.2, 0.14, 0.06])
    stage_won = np.where(rng.random(n) < 0.85, 4, 3)
    frac = (c.end - d.created) / (actual * DAY)
    stage_open = np.clip((frac * 4.2 + rng.normal(0, 0.6, n)).astype(np.int64), 0, 4)
    stage = np.where(status == "won", stage_won, np.where(status == "lost", stage_lost, stage_open))
    return {
        "planned": planned,
        "actual": actual,
        "close_guess": close_guess,
        "closed_at": closed_at,
        "status": status,
        "stage": stage,
        "prob": np.array([p for _, p in STAGES])[stage],
        "p_plan": p_plan,
    }


def _amounts(u: Unit, d: _Draft, close_guess: np.ndarray) -> tuple[np.ndarray, ...]:
    """Product and amount of every deal: the segment's typical deal times the product's,
    the channel's and a repeat deal's multiplier, rounded; and the amount the plan expects
    (before the midmarket decline)."""
    rng, n = u.rng, len(d.cust)
    product = np.zeros(n, dtype=np.int64)
    for s in range(3):
        rows = np.flatnonzero(d.seg == s)
        product[rows] = rng.choice(len(PRODUCTS), len(rows), p=PRODUCT_P[s])
    ch_amount = np.array([CHANNELS[x][1] for x in d.channel])
    amount = (
        SEG_AMOUNT[d.seg]
        * np.array([m for _, m in PRODUCTS])[product]
        * ch_amount
        * np.where(d.kind == 2, REPEAT_AMOUNT[d.seg], 1.0)
        * np.exp(rng.normal(0, AMOUNT_SIGMA, n))
    )
    planned = amount
    amount = amount * np.where(d.team == MM, 0.85 + 0.15 * u.clock.decline(close_guess), 1.0)
    amount = np.where(d.seg == 2, np.round(amount, -1), np.round(amount, -2)).clip(50)
    return product, amount, planned


def deals(u: Unit, staff: Staff, cmp: Campaigns, leads: Leads, cu: Customers) -> tuple[Deals, pd.DataFrame]:
    """The deals of the unit and the ``deals`` table."""
    rng, c = u.rng, u.clock
    d = _draft(u, staff, cmp, leads, cu)
    n = len(d.cust)
    # thin: the idle rep opens few deals
    drafted = d.cust >= 0
    keep = np.where(d.owner == IDLE, rng.random(n) < 0.3, True) & drafted
    out = _outcomes(u, staff, d)
    product, amount, planned = _amounts(u, d, out["close_guess"])
    expected = (d.created + (out["planned"] * DAY).astype(np.int64)) // DAY * DAY
    lost_reason = LOST_REASONS[rng.choice(len(LOST_REASONS), n, p=LOST_P)]
    # keep, order by creation
    sel = np.flatnonzero(keep)
    sel = sel[np.argsort(d.created[sel], kind="stable")]
    status, stage, prob = out["status"][sel], out["stage"][sel], out["prob"][sel].astype(float)
    open_rows = np.flatnonzero(status == "open")
    if len(open_rows):  # planted: a few open deals without probability
        prob[rng.choice(open_rows, min(6, len(open_rows)), replace=False)] = np.nan
    dl = Deals(
        u.ids("d", len(sel), 5),
        d.created[sel],
        out["closed_at"][sel],
        status,
        d.owner[sel],
        d.cust[sel],
        amount[sel],
        d.kind[sel] == 2,
        Plan(d.owner[drafted], out["close_guess"][drafted], (out["p_plan"] * planned)[drafted]),
    )
    frame = pd.DataFrame(
        {
            "deal_id": dl.ids,
            "owner_id": staff.ids[dl.owner],
            "created_at": c.to_utc(dl.created),
            "status": status,
            "customer_id": cu.ids[dl.cust],
            "lead_id": pick(leads.ids, d.lead[sel], d.lead[sel] >= 0),
            "campaign_id": pick(cmp.ids, d.campaign[sel], d.campaign[sel] >= 0),
            "stage": np.array([s for s, _ in STAGES])[stage],
            "amount": dl.amount,
            "probability": prob,
            "expected_close_at": c.to_utc(expected[sel]),
            "closed_at": c.to_utc(dl.closed, status != "open"),
            "product": np.array([p for p, _ in PRODUCTS])[product[sel]],
            "lost_reason": none_where(lost_reason[sel], status == "lost"),
        }
    )
    return dl, frame


def _quarters(c: Clock) -> tuple[np.ndarray, np.ndarray]:
    """First and end (exclusive) day of every calendar quarter the window touches."""
    first_m = epoch_month(c.start)
    last_m = epoch_month(c.end - 1)
    months = np.arange(first_m - first_m % 3, last_m - last_m % 3 + 1, 3)
    starts = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ends = (months + 3).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return starts, ends


def quotas(u: Unit, staff: Staff, dl: Deals) -> pd.DataFrame:
    """The ``quotas`` table: a quarterly target per sales rep, from the sales plan (what the
    rep's deals were expected to bring in that quarter, :class:`Plan`, give or take 6 %).

    The plan knows each rep's book, takeovers and events, but not the stories: the
    midmarket decline and the idle rep miss their quotas. A quarter only partly inside the
    data is planned from the part inside, scaled to the whole quarter. A rep's quota is at
    least half the team's median, pro rata of the quarter employed (a new hire's ramp).
    """
    c = u.clock
    starts, ends = _quarters(c)
    s_sec, e_sec = starts * DAY, ends * DAY
    covered = np.minimum(e_sec, c.end) - np.maximum(s_sec, c.start)
    reps = np.flatnonzero(staff.role == "sales")
    p = dl.plan
    inside = (p.closes >= c.start) & (p.closes < c.end)
    quarter = np.searchsorted(ends * DAY, p.closes[inside], side="right")
    plan = np.zeros((len(staff.ids), len(starts)))
    np.add.at(plan, (p.owner[inside], quarter), p.value[inside])
    noise = np.exp(u.rng.normal(0, 0.06, (len(reps), len(starts))))
    target = plan[reps] * (e_sec - s_sec) / covered * noise
    employed = np.minimum(staff.left[reps, None], e_sec) - np.maximum(staff.hired[reps, None], s_sec)
    employed = np.clip(employed / (e_sec - s_sec), 0.0, 1.0)
    team = staff.team[reps]
    for t in np.unique(team):  # a new hire's ramp quota: half a colleague's, pro rata
        full = np.where(employed[team == t] == 1.0, target[team == t], np.nan)
        floor = 0.5 * np.nan_to_num(np.nanmedian(full, axis=0)) * employed[team == t]
        target[team == t] = np.maximum(target[team == t], floor)
    r, q = np.nonzero(employed > 0)
    return pd.DataFrame(
        {
            "employee_id": staff.ids[reps[r]],
            "period_start": c.to_date(s_sec[q]),
            "period_end": c.to_date(e_sec[q]),
            "target_amount": np.round(np.maximum(target[r, q], 1000.0), -3),
        }
    )
