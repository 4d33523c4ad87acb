"""The demo's customer service: support tickets with priorities, SLAs and response times.

Tickets come from active customers at customers' hours and are assigned round robin (a
few by hand); one support agent (``STORY_OVERLOADED_AGENT``) takes three turns, so carries
about three times a peer's tickets, and answers and resolves them more slowly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, HOUR
from crmkit.sources.demo.company import (
    FIRST_RESPONSE_H,
    OVERLOADED,
    PRIORITIES,
    SLA_HOURS,
    TICKET_CHANNELS,
)
from crmkit.sources.demo.customers import Customers
from crmkit.sources.demo.people import Staff
from crmkit.sources.demo.unit import Unit, pick


@dataclass
class Tickets:
    """The tickets of a unit in opening order (times in local seconds)."""

    ids: np.ndarray
    resolved: np.ndarray
    has_res: np.ndarray
    agent: np.ndarray
    cust: np.ndarray
    overloaded: np.ndarray


def tickets(u: Unit, staff: Staff, cu: Customers) -> tuple[Tickets, pd.DataFrame]:
    """The tickets of the unit and the ``tickets`` table."""
    rng, c = u.rng, u.clock
    a_lo, a_hi = cu.active(c)
    w = np.sqrt(cu.propensity) * np.clip((a_hi - a_lo) / DAY, 0, None)
    w *= np.array([1.8, 1.2, 1.0])[cu.segment]
    n = int(rng.poisson(6000))
    cust = rng.choice(len(w), n, p=w / w.sum())
    opened = c.sample(rng, a_lo[cust], a_hi[cust], customer=True, growth=False)
    order = np.argsort(opened, kind="stable")
    opened, cust = opened[order], cust[order]
    agents = np.flatnonzero(staff.role == "support")
    aw = np.where(agents == OVERLOADED, 3, 1)
    # a round-robin queue in which the overloaded agent takes three turns, some picked by hand
    slots = np.repeat(agents, aw)
    queue = rng.permuted(np.tile(slots, (-(-n // len(slots)), 1)), axis=1).ravel()[:n]
    by_hand = agents[rng.choice(len(agents), n, p=aw / aw.sum())]
    agent = np.where(rng.random(n) < 0.15, by_hand, queue)
    overloaded = agent == OVERLOADED
    prio = rng.choice(4, n, p=[0.25, 0.5, 0.18, 0.07])
    sla = opened + (SLA_HOURS[prio] * HOUR).astype(np.int64)
    fr_h = FIRST_RESPONSE_H[prio] * np.exp(rng.normal(0, 0.9, n))
    fr_h *= np.where(overloaded, 3.5, 1.0)
    first = opened + np.maximum(fr_h * HOUR, 60).astype(np.int64)
    res_h = 18.0 * np.array([1.4, 1.0, 0.8, 0.5])[prio] * np.exp(rng.normal(0, 1.0, n))
    res_h *= np.where(overloaded, 1.8, 1.0)
    resolved = first + (res_h * HOUR).astype(np.int64)
    never = rng.random(n) < 0.012
    has_first = (first < c.end) & ~never
    has_res = has_first & (resolved < c.end)
    unassigned = (~has_first) & (rng.random(n) < 0.5)
    status = np.where(
        has_res,
        np.where((c.end - resolved > 7 * DAY) & (rng.random(n) < 0.85), "closed", "resolved"),
        np.where(never & (c.end - opened > 30 * DAY), "closed", "open"),
    )
    tk = Tickets(u.ids("t", n, 5), resolved, has_res, agent, cust, overloaded)
    frame = pd.DataFrame(
        {
            "ticket_id": tk.ids,
            "opened_at": c.to_utc(opened),
            "customer_id": cu.ids[cust],
            "employee_id": pick(staff.ids, agent, ~unassigned),
            "channel": TICKET_CHANNELS[rng.choice(4, n, p=[0.45, 0.2, 0.25, 0.1])],
            "priority": PRIORITIES[prio],
            "first_response_at": c.to_utc(first, has_first),
            "resolved_at": c.to_utc(resolved, has_res),
            "sla_due_at": c.to_utc(sla),
            "status": status,
        }
    )
    return tk, frame
