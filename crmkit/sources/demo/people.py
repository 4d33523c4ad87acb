"""The demo's people: the staff of a unit (employees) and their tasks.

The roster is fixed (:data:`~crmkit.sources.demo.company.ROSTER`); the stories pick
positions in it: a new hire or two, a leaver whose work passes to a colleague, an idle
sales rep who does little and completes few tasks on time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, HOUR, NEVER
from crmkit.sources.demo.company import FIRST, IDLE, LAST, LEAVER, NEW_HIRES, ROSTER, TASK_TYPES, TEAMS
from crmkit.sources.demo.unit import Unit


@dataclass
class Staff:
    """The employees of a unit, by position in the roster (times in local seconds)."""

    ids: np.ndarray
    team: np.ndarray
    role: np.ndarray
    hired: np.ndarray
    left: np.ndarray
    successor: np.ndarray
    predecessor: np.ndarray
    weight: np.ndarray  # share of sales work (customers, leads)
    skill: np.ndarray  # a seller's win-rate multiplier

    def on_duty(self, emp: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Hand work outside an employee's employment to their successor or predecessor."""
        emp = np.where(t >= self.left[emp], self.successor[emp], emp)
        return np.where(t < self.hired[emp], self.predecessor[emp], emp)

    def reps(self, team: int) -> np.ndarray:
        """Positions of the sales reps of ``team``."""
        return np.flatnonzero((self.team == team) & (self.role == "sales"))

    def assign(self, rng: np.random.Generator, team: np.ndarray) -> np.ndarray:
        """A sales rep of each row's team, by work share."""
        out = np.zeros(len(team), dtype=np.int64)
        for t in range(len(TEAMS)):
            rows = np.flatnonzero(team == t)
            reps = self.reps(t)
            w = self.weight[reps] / self.weight[reps].sum()
            out[rows] = reps[rng.choice(len(reps), len(rows), p=w)]
        return out


def _first_rep(team: np.ndarray, role: np.ndarray, t: int) -> int:
    return int(np.flatnonzero((team == t) & (role == "sales"))[0])


def employees(u: Unit) -> tuple[Staff, pd.DataFrame]:
    """The staff of the unit and the ``employees`` table."""
    rng, c = u.rng, u.clock
    n = len(ROSTER)
    team = np.array([t for t, _ in ROSTER])
    role = np.array([r for _, r in ROSTER])
    first = rng.permutation(len(FIRST))[:n]
    last = rng.integers(0, len(LAST), n)
    names = np.strings.add(np.strings.add(np.array(FIRST)[first], " "), np.array(LAST)[last])
    # hired 1.3..7.5 years before the window (before any history), managers earliest
    years_before = rng.uniform(1.3, 6.0, n) + np.where(role == "manager", 1.5, 0.0)
    hired_day = (c.start - (years_before * 365 * DAY).astype(np.int64)) // DAY
    hired = hired_day * DAY + 9 * HOUR
    for i, months in zip(NEW_HIRES, (9, 5), strict=True):
        hired[i] = (c.end - months * 30 * DAY) // DAY * DAY + 9 * HOUR
    left = np.full(n, NEVER)
    left[LEAVER] = (c.end - 122 * DAY) // DAY * DAY + 18 * HOUR
    idx = np.arange(n)
    successor = idx.copy()
    predecessor = idx.copy()
    for i in (LEAVER, *NEW_HIRES):
        anchor = _first_rep(team, role, team[i])
        (successor if i == LEAVER else predecessor)[i] = anchor
    weight = np.where(role == "sales", rng.uniform(0.8, 1.2, n), 0.0)
    weight[IDLE] = 0.45
    skill = np.exp(rng.normal(0.0, 0.18, n))
    staff = Staff(u.ids("e", n, 3), team, role, hired, left, successor, predecessor, weight, skill)
    frame = pd.DataFrame(
        {
            "employee_id": staff.ids,
            "name": names,
            "team_id": np.array([t for t, _ in TEAMS])[team],
            "role": role,
            "hired_at": c.to_utc(hired),
            "left_at": c.to_utc(left, left < NEVER),
        }
    )
    return staff, frame


def tasks(u: Unit, staff: Staff) -> pd.DataFrame:
    """The ``tasks`` table: work items of every employee, the idle rep's often late or open."""
    rng, c = u.rng, u.clock
    role_w = {"sales": 1.0, "support": 0.5, "manager": 0.4, "marketing": 0.3}
    lo = np.maximum(staff.hired, c.start)
    hi = np.minimum(staff.left, c.end)
    w = np.array([role_w.get(r, 0.2) for r in staff.role]) * np.clip((hi - lo) / DAY, 0, None)
    w[IDLE] *= 0.4
    n = int(rng.poisson(8000))
    emp = rng.choice(len(w), n, p=w / w.sum())
    created = c.sample(rng, lo[emp], hi[emp])
    order = np.argsort(created, kind="stable")
    created, emp = created[order], emp[order]
    due_days = rng.choice(np.array([1, 2, 3, 5, 7, 10]), n)
    due = (created // DAY + due_days) * DAY + 17 * HOUR
    p_done = np.where(emp == IDLE, 0.35, 0.88)
    done = rng.random(n) < p_done
    late = rng.random(n) < np.where(emp == IDLE, 0.6, 0.22)
    on_time = created + ((due - created) * rng.uniform(0.05, 1.0, n)).astype(np.int64)
    late_t = due + (rng.exponential(2.5, n) * DAY).astype(np.int64)
    completed = np.where(late, late_t, on_time)
    done &= (completed < c.end) & (completed < staff.left[emp])
    return pd.DataFrame(
        {
            "task_id": u.ids("tk", n, 5),
            "employee_id": staff.ids[emp],
            "created_at": c.to_utc(created),
            "due_at": c.to_utc(due),
            "completed_at": c.to_utc(completed, done),
            "type": TASK_TYPES[rng.choice(len(TASK_TYPES), n, p=[0.35, 0.2, 0.15, 0.15, 0.15])],
        }
    )
