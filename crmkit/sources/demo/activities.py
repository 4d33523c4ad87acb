"""The demo's customer activity: calls, emails, meetings, ... around deals and accounts.

Activities happen around each deal while it is open (fewer around a deal with an existing
customer), and over each customer's active life (more for big, keen customers); site
visits and requests come from customers at customers' hours. The idle rep logs few
activities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, HOUR
from crmkit.sources.demo.company import ACTIVITY_TYPES, IDLE
from crmkit.sources.demo.customers import Customers
from crmkit.sources.demo.people import Staff
from crmkit.sources.demo.sales import Deals
from crmkit.sources.demo.unit import Unit, none_where, pick

#: Activity types by position in ``ACTIVITY_TYPES``.
CALL, EMAIL, MEETING, MESSAGE, SITE_VISIT, REQUEST = range(6)


def _drawn(u: Unit, cu: Customers, dl: Deals) -> tuple[np.ndarray, ...]:
    """Time, type, customer, deal, employee and allowed time range of every candidate
    activity: around deals while they are open, then over the accounts' active life."""
    rng, c = u.rng, u.clock
    lo = np.maximum(dl.created, c.start)
    hi = np.where(dl.status == "open", c.end, dl.closed)
    days = np.clip((hi - lo) / DAY, 0, None)
    per_deal = np.where(dl.repeat, 0.5 + days / 12, 1.5 + days / 5.5)
    n_deal = rng.poisson(np.where(hi > lo, per_deal, 0.0))
    d = np.repeat(np.arange(len(n_deal)), n_deal)
    t_deal = c.sample(rng, lo[d], hi[d])
    type_deal = rng.choice(8, len(d), p=[0.3, 0.33, 0.15, 0.1, 0, 0, 0.12, 0])
    a_lo, a_hi = cu.active(c)
    active_days = np.clip((a_hi - a_lo) / DAY, 0, None)
    w = cu.propensity**0.7 * active_days * np.array([2.0, 1.3, 1.0])[cu.segment]
    n_acc = int(rng.poisson(35_000))
    cust_acc = rng.choice(len(w), n_acc, p=w / w.sum())
    type_acc = rng.choice(8, n_acc, p=[0.18, 0.28, 0.04, 0.14, 0.12, 0.09, 0.1, 0.05])
    t_acc = c.sample(rng, a_lo[cust_acc], a_hi[cust_acc], growth=False)
    return (
        np.concatenate([t_deal, t_acc]),
        np.concatenate([type_deal, type_acc]),
        np.concatenate([dl.cust[d], cust_acc]),
        np.concatenate([d, np.full(n_acc, -1)]),
        np.concatenate([dl.owner[d], cu.owner0[cust_acc]]),
        np.concatenate([lo[d], a_lo[cust_acc]]),
        np.concatenate([hi[d], a_hi[cust_acc]]),
    )


def activities(u: Unit, staff: Staff, cu: Customers, dl: Deals) -> pd.DataFrame:
    """The ``activities`` table."""
    rng, c = u.rng, u.clock
    t, typ, cust, deal, emp, t_lo, t_hi = _drawn(u, cu, dl)
    n = len(t)
    # site visits and requests come from customers, at customers' hours
    customer_tod = (typ == SITE_VISIT) | (typ == REQUEST)
    t = np.where(customer_tod, t // DAY * DAY + c.tod(rng, n, customer=True), t)
    t = np.clip(t, t_lo, np.maximum(t_hi - 1, t_lo))
    emp = staff.on_duty(emp, t)
    # site visits never have an employee; most inbound requests neither
    has_emp = (typ != SITE_VISIT) & ~((typ == REQUEST) & (rng.random(n) < 0.8))
    keep = np.where(emp == IDLE, rng.random(n) < 0.1, True)
    keep &= ~((t < staff.hired[emp]) | (t >= staff.left[emp])) | ~has_emp
    sel = np.flatnonzero(keep)
    sel = sel[np.argsort(t[sel], kind="stable")]
    t, typ, cust, deal, emp, has_emp = (a[sel] for a in (t, typ, cust, deal, emp, has_emp))
    direction, duration = _details(u, typ)
    return pd.DataFrame(
        {
            "activity_id": u.ids("a", len(sel), 6),
            "occurred_at": c.to_utc(t),
            "type": ACTIVITY_TYPES[typ],
            "customer_id": cu.ids[cust],
            "employee_id": pick(staff.ids, emp, has_emp),
            "deal_id": pick(dl.ids, deal, deal >= 0),
            "direction": none_where(direction, direction != ""),
            "duration_s": duration,
        }
    )


def _details(u: Unit, typ: np.ndarray) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Direction of calls, emails, messages, visits and requests ("" for the others), and
    duration in seconds of calls and meetings (NA for the others)."""
    rng, n = u.rng, len(typ)
    x = rng.random(n)
    direction = np.select(
        [typ == CALL, typ == EMAIL, typ == MESSAGE, (typ == SITE_VISIT) | (typ == REQUEST)],
        [
            np.where(x < 0.7, "outbound", "inbound"),
            np.where(x < 0.62, "outbound", "inbound"),
            np.where(x < 0.5, "outbound", "inbound"),
            np.full(n, "inbound"),
        ],
        default="",
    )
    call_s = np.clip(np.exp(rng.normal(np.log(300), 0.8, n)), 15, 4 * HOUR)
    meet_s = rng.choice(np.array([1800, 2700, 3600, 5400]), n, p=[0.35, 0.2, 0.35, 0.1])
    timed = (typ == CALL) | (typ == MEETING)
    duration = np.where(typ == CALL, np.round(call_s), np.where(typ == MEETING, meet_s, 0))
    dur = pd.array(np.where(timed, duration, 0).astype(np.int64), dtype="Int64")
    dur[~timed] = pd.NA
    return direction, dur
