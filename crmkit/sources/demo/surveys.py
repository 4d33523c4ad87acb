"""The demo's surveys: NPS of active customers, CSAT and CES after resolved tickets.

The NPS mix depends on the owner's team (midmarket sours with its decline); CSAT and CES
rate the agent, worse for the overloaded one. Some responses carry a short comment in the
words of a customer of that mood.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, HOUR
from crmkit.sources.demo.company import COMMENTS, MM
from crmkit.sources.demo.customers import Customers
from crmkit.sources.demo.people import Staff
from crmkit.sources.demo.service import Tickets
from crmkit.sources.demo.unit import Unit, pick

#: Detractor / passive / promoter shares of the NPS by team.
_NPS_MIX = np.array([[0.12, 0.32, 0.56], [0.18, 0.34, 0.48], [0.22, 0.36, 0.42], [0.14, 0.30, 0.56]])


def _nps(u: Unit, staff: Staff, cu: Customers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer, time and score of every NPS response (a relationship survey)."""
    rng, c = u.rng, u.clock
    a_lo, a_hi = cu.active(c, settled=30 * DAY)
    w = np.clip((a_hi - a_lo) / DAY, 0, None)
    n_nps = int(rng.poisson(2400))
    n_cust = rng.choice(len(w), n_nps, p=w / w.sum())
    n_t = c.sample(rng, a_lo[n_cust], a_hi[n_cust], customer=True, growth=False)
    team = staff.team[cu.owner0[n_cust]]
    sour = np.where(team == MM, 1.0 - c.decline(n_t), 0.0)
    mix = _NPS_MIX[team] + np.outer(sour, [0.3, 0.0, -0.3])
    x = rng.random(n_nps)
    bucket = (x > mix[:, 0]).astype(np.int64) + (x > mix[:, 0] + mix[:, 1])
    low = rng.choice(7, n_nps, p=[0.05, 0.05, 0.08, 0.12, 0.15, 0.25, 0.30])
    nps = np.select(
        [bucket == 0, bucket == 1],
        [low, 7 + (rng.random(n_nps) < 0.55)],
        default=9 + (rng.random(n_nps) < 0.45),
    )
    return n_cust, n_t, nps


def _ratings(u: Unit, tk: Tickets) -> tuple[np.ndarray, ...]:
    """CSAT and CES after resolved tickets: the tickets rated, when, and the scores."""
    rng, c = u.rng, u.clock
    res = np.flatnonzero(tk.has_res)
    v = rng.random(len(res))
    r_t = tk.resolved[res] + (np.exp(rng.normal(np.log(6), 1.0, len(res))) * HOUR).astype(np.int64)
    answered = r_t < c.end
    is_cs = (v < 0.33) & answered
    is_ce = (v >= 0.33) & (v < 0.45) & answered
    cs, ce = res[is_cs], res[is_ce]
    p_good = np.array([0.03, 0.05, 0.12, 0.33, 0.47])
    p_bad = np.array([0.12, 0.16, 0.2, 0.3, 0.22])
    csat = np.where(tk.overloaded[cs], rng.choice(5, len(cs), p=p_bad), rng.choice(5, len(cs), p=p_good)) + 1
    ces = np.clip(np.round(rng.normal(np.where(tk.overloaded[ce], 4.2, 5.4), 1.2)), 1, 7)
    return cs, ce, r_t[is_cs], r_t[is_ce], csat, ces


def _comments(u: Unit, kind: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Short verbatims by sentiment (None: no comment)."""
    n = len(kind)
    sentiment = np.where(
        kind == "nps",
        np.where(score <= 6, 0, np.where(score <= 8, 1, 2)),
        np.where(
            kind == "csat",
            np.where(score <= 2, 0, np.where(score == 3, 1, 2)),
            np.where(score <= 3, 0, np.where(score <= 5, 1, 2)),
        ),
    )
    has_comment = u.rng.random(n) < np.select([kind == "nps", kind == "csat"], [0.35, 0.25], 0.15)
    pools = [np.array(COMMENTS[k]) for k in ("detractor", "passive", "promoter")]
    comment = np.empty(n, dtype=object)
    for s, pool in enumerate(pools):
        rows = np.flatnonzero(has_comment & (sentiment == s))
        comment[rows] = pool[u.rng.integers(0, len(pool), len(rows))]
    return comment


def surveys(u: Unit, staff: Staff, cu: Customers, tk: Tickets) -> pd.DataFrame:
    """The ``survey_responses`` table, in response order."""
    n_cust, n_t, nps = _nps(u, staff, cu)
    cs, ce, cs_t, ce_t, csat, ces = _ratings(u, tk)
    n_nps = len(nps)
    kind = np.repeat(np.array(["nps", "csat", "ces"]), [n_nps, len(cs), len(ce)])
    score = np.concatenate([nps, csat, ces]).astype(float)
    t = np.concatenate([n_t, cs_t, ce_t])
    tix = np.concatenate([np.full(n_nps, -1), cs, ce])
    cust = np.concatenate([n_cust, tk.cust[cs], tk.cust[ce]])
    agent = np.concatenate([np.full(n_nps, -1), tk.agent[cs], tk.agent[ce]])
    order = np.argsort(t, kind="stable")
    kind, score, t, tix, cust, agent = (a[order] for a in (kind, score, t, tix, cust, agent))
    return pd.DataFrame(
        {
            "response_id": u.ids("r", len(t), 5),
            "kind": kind,
            "score": score,
            "responded_at": u.clock.to_utc(t),
            "customer_id": cu.ids[cust],
            "employee_id": pick(staff.ids, agent, agent >= 0),
            "ticket_id": pick(tk.ids, tix, tix >= 0),
            "comment": _comments(u, kind, score),
        }
    )
