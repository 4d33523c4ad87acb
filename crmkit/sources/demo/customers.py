"""The demo's customers: an installed base, direct sign-ups and converted leads.

A converted lead becomes a new customer, or (about one in five) joins an existing one
created before it; that link is written back into the leads, whose table is finished here.
Every customer has a propensity to buy and a churn time that drive deals, activities,
tickets and surveys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, NEVER, Clock
from crmkit.sources.demo.company import (
    CO_A,
    CO_B,
    CO_C,
    ENT,
    INDUSTRIES,
    MM,
    REGION_P,
    REGIONS,
    SEGMENTS,
    SMB,
    TEAMS,
)
from crmkit.sources.demo.marketing import Campaigns, Leads
from crmkit.sources.demo.people import Staff
from crmkit.sources.demo.unit import Unit, pick


@dataclass
class Customers:
    """The customers of a unit in creation order (times in local seconds)."""

    ids: np.ndarray
    created: np.ndarray
    team: np.ndarray
    owner0: np.ndarray  # the first owner (the current one is the successor if they left)
    segment: np.ndarray
    propensity: np.ndarray
    churn: np.ndarray
    origin: np.ndarray  # 0: installed base, 1: direct, 2: from a lead

    def active(self, clock: Clock, settled: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """When each customer is active inside the window: from ``settled`` seconds after
        it was created (or the window start) to its churn (or the window end)."""
        return np.maximum(self.created + settled, clock.start), np.minimum(self.churn, clock.end)


def customers(u: Unit, staff: Staff, leads: Leads) -> tuple[Customers, pd.DataFrame]:
    """The customers of the unit and the ``customers`` table; links the converted leads."""
    rng, c = u.rng, u.clock
    conv = np.flatnonzero(leads.converted)
    existing = rng.random(len(conv)) < 0.22  # converted into an existing customer
    new_from_lead = conv[~existing]
    n_base, n_direct = int(rng.poisson(2200)), int(rng.poisson(800))
    created, team, owner0, origin, segment, order = _founded(u, staff, leads, new_from_lead, n_base, n_direct)
    n = len(created)
    _link_leads(u, leads, created, team, order, conv[existing], new_from_lead, n_base + n_direct)
    # current owner: the owner's successor if the owner left
    owner = np.where(staff.left[owner0] < NEVER, staff.successor[owner0], owner0)
    propensity = np.minimum(rng.gamma(0.9, 1 / 0.9, n), 5.0)
    churn = created + (rng.exponential(2.5, n) * 365 * DAY).astype(np.int64)
    cu = Customers(u.ids("c", n, 5), created, team, owner0, segment, propensity, churn, origin)
    a = rng.integers(0, len(CO_A), n)
    b = rng.integers(0, len(CO_B), n)
    names = np.strings.add(np.strings.add(np.strings.add(np.array(CO_A)[a], " "), np.array(CO_B)[b]), " ")
    names = np.strings.add(names, CO_C[rng.integers(0, len(CO_C), n)])
    frame = pd.DataFrame(
        {
            "customer_id": cu.ids,
            "name": names,
            "created_at": c.to_utc(created),
            "segment": SEGMENTS[segment],
            "industry": INDUSTRIES[rng.integers(0, len(INDUSTRIES), n)],
            "region": REGIONS[rng.choice(len(REGIONS), n, p=REGION_P)],
            "owner_id": staff.ids[owner],
        }
    )
    return cu, frame


def _founded(
    u: Unit, staff: Staff, leads: Leads, new_from_lead: np.ndarray, n_base: int, n_direct: int
) -> tuple[np.ndarray, ...]:
    """Creation time, team, first owner, origin and segment of every customer, in creation
    order, and the order that sorted them."""
    rng, c = u.rng, u.clock
    direct_start = c.start - 365 * DAY
    n = n_base + n_direct + len(new_from_lead)
    created = np.concatenate(
        [
            c.sample(rng, c.first, direct_start, n_base),
            c.sample(rng, direct_start, c.end, n_direct),
            leads.converted_at[new_from_lead],
        ]
    )
    team = np.concatenate(
        [
            rng.choice(4, n_base + n_direct, p=[0.12, 0.26, 0.47, 0.15]),
            leads.team[new_from_lead],
        ]
    )
    owner0 = np.concatenate([staff.assign(rng, team[: n_base + n_direct]), leads.owner[new_from_lead]])
    origin = np.repeat(np.array([0, 1, 2]), [n_base, n_direct, len(new_from_lead)])
    segment = np.where(
        team == ENT,
        0,
        np.where(team == MM, 1, np.where(team == SMB, 2, rng.choice(3, n, p=[0.0, 0.4, 0.6]))),
    )
    order = np.argsort(created, kind="stable")
    return (*(a[order] for a in (created, team, owner0, origin, segment)), order)


def _link_leads(
    u: Unit,
    leads: Leads,
    created: np.ndarray,
    team: np.ndarray,
    order: np.ndarray,
    existing: np.ndarray,
    new_from_lead: np.ndarray,
    first_from_lead: int,
) -> None:
    """Set ``leads.customer``: the customer a converted lead created, or an existing one of
    the lead's team created before the lead (a lead with none left stays ``working``, not
    converted)."""
    n = len(created)
    # position of each lead-created customer after sorting
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    lead_customer = np.full(len(leads.created), -1)
    lead_customer[new_from_lead] = pos[first_from_lead + np.arange(len(new_from_lead))]
    chosen = np.full(len(existing), -1)
    draw = u.rng.random(len(existing))
    for t in range(len(TEAMS)):
        rows = np.flatnonzero(leads.team[existing] == t)
        pool = np.flatnonzero(team == t)  # in creation order, as ``created``
        cands = np.searchsorted(created[pool], leads.created[existing[rows]])  # created before
        pick = pool[np.minimum((draw[rows] * cands).astype(np.int64), len(pool) - 1)] if len(pool) else -1
        chosen[rows] = np.where(cands > 0, pick, -1)
    ok = chosen >= 0
    lead_customer[existing[ok]] = chosen[ok]
    leads.converted[existing[~ok]] = False
    leads.status[existing[~ok]] = "working"
    leads.customer = lead_customer


def leads_frame(u: Unit, staff: Staff, cmp: Campaigns, leads: Leads, cu: Customers) -> pd.DataFrame:
    """The ``leads`` table, once the converted leads know their customer."""
    ok_cust = leads.customer >= 0
    return pd.DataFrame(
        {
            "lead_id": leads.ids,
            "created_at": u.clock.to_utc(leads.created),
            "campaign_id": pick(cmp.ids, leads.campaign, leads.campaign >= 0),
            "channel": leads.channel,
            "owner_id": staff.ids[leads.owner],
            "status": leads.status,
            "converted_at": u.clock.to_utc(leads.converted_at, leads.converted),
            "customer_id": pick(cu.ids, leads.customer, leads.converted & ok_cust),
        }
    )
