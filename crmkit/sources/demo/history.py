"""The demo's pipeline history: the snapshots crmkit would have taken of the demo's deals.

One snapshot at the end of each of the last 90 days and one at each month start before
(the instant a month begins), as if ``crmkit snapshot`` had run daily for three months and
monthly before. Each holds the deals open at its instant (created before it, not closed
before it: the Sales rule) as the CRM showed them then, derived from how each deal ends:

* its stage climbs from the first one to the stage it was won, lost or is open at, in
  step with the time elapsed; one deal in five moves a stage ahead for a while and slips
  back (a proposal that stalled);
* about a third of the deals changed amount once on the way (a revised proposal), and
  almost half were first expected to close 10 to 60 days earlier than the date they show
  now (the close date pushed out: the usual optimism of a forecast);
* about one deal in thirty was entered twice, and the copy deleted within a month (it
  leaves the pipeline as removed: the deals table never had it);
* the probability is the stage's, except for the deals the CRM has none for.

The last snapshot is the deals table itself (every open deal as it is recorded), so the
history ends where the data does. It draws from its own random stream, so the canonical
tables (and their fingerprint) are those the demo has without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmkit.sources.demo.clock import DAY, Clock
from crmkit.sources.demo.company import STAGES

#: Days of daily snapshots before the end of the data; monthly before that.
DAILY_DAYS = 90
_PROBABILITY = np.array([p for _, p in STAGES])
_STAGE_NAMES = np.array([s for s, _ in STAGES])


def snapshot_instants(clock: Clock) -> tuple[np.ndarray, np.ndarray]:
    """Local days of the snapshots and the instants they describe (local seconds: the
    midnight that ends each day), oldest first."""
    last = clock.end // DAY - 1
    daily = np.arange(last - DAILY_DAYS + 1, last + 1, dtype=np.int64)
    first = np.datetime64(int(clock.start // DAY), "D").astype("datetime64[M]") + 1
    upto = np.datetime64(int(daily[0]), "D").astype("datetime64[M]") + 1
    starts = np.arange(first, upto).astype("datetime64[D]").astype(np.int64)
    monthly = starts[starts <= daily[0]] - 1  # the day that ends at each month start
    days = np.unique(np.concatenate([monthly, daily]))
    return days, (days + 1) * DAY


class _Paths:
    """How every deal's stage, amount and expected close moved, drawn once per deal."""

    def __init__(self, deals: pd.DataFrame, end: np.datetime64, rng: np.random.Generator) -> None:
        n = len(deals)
        self.created = deals["created_at"].to_numpy("datetime64[us]")
        closed = deals["closed_at"].to_numpy("datetime64[us]")
        self.open_until = np.where(np.isnat(closed), np.datetime64("9999-12-31"), closed)
        ref = np.where(np.isnat(closed), end, closed)
        self.life = np.maximum((ref - self.created).astype(np.int64), 1)
        self.stage = pd.Index(_STAGE_NAMES).get_indexer(deals["stage"])
        self.amount = deals["amount"].to_numpy(float)
        self.no_probability = deals["probability"].isna().to_numpy()
        self.expected = deals["expected_close_at"].to_numpy("datetime64[us]")
        self.slip_from = np.where(rng.random(n) < 0.2, rng.uniform(0.4, 0.8, n), 2.0)
        self.slip_to = np.minimum(self.slip_from + rng.uniform(0.1, 0.3, n), 0.98)
        self.revised_at = np.where(rng.random(n) < 0.33, rng.uniform(0.15, 0.9, n), -1.0)
        first = self.amount * np.exp(rng.normal(0.05, 0.18, n))
        self.first_amount = np.where(first >= 10_000, np.round(first, -2), np.round(first, -1))
        self.pushed_at = np.where(rng.random(n) < 0.45, rng.uniform(0.2, 0.8, n), -1.0)
        self.first_expected = self.expected - _days(rng.uniform(10, 60, n))
        self.copy_from = self.created + _days(rng.uniform(0, 3, n))
        until = self.copy_from + _days(rng.uniform(2, 30, n))
        duplicated = (rng.random(n) < 0.03) & (until < end)  # deleted before the data ends
        self.copy_until = np.where(duplicated, until, self.copy_from)

    def open_at(self, instants: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (snapshot, deal) pair: the deals open at each of ``instants`` (positions;
        a copy of a deal repeats it), which snapshot, and whether the row is the copy."""
        rows, which, copy = [], [], []
        for k, instant in enumerate(instants):
            found = np.flatnonzero((self.created < instant) & (self.open_until >= instant))
            copies = found[(self.copy_from[found] < instant) & (self.copy_until[found] >= instant)]
            rows += [found, copies]
            which.append(np.full(len(found) + len(copies), k))
            copy.append(np.repeat([False, True], [len(found), len(copies)]))
        return np.concatenate(rows), np.concatenate(which), np.concatenate(copy)

    def state(self, rows: np.ndarray, instant: np.ndarray) -> dict[str, np.ndarray]:
        """The stage, amount, probability and expected close of deals ``rows`` at
        ``instant`` (one per row)."""
        frac = (instant - self.created[rows]).astype(np.int64) / self.life[rows]
        final = np.maximum(self.stage[rows], 0)
        stage = np.minimum(final, np.floor((final + 1) * frac).astype(np.int64))
        ahead = (frac >= self.slip_from[rows]) & (frac < self.slip_to[rows])
        stage = np.where(ahead, np.minimum(stage + 1, len(STAGES) - 1), stage)
        revised = frac >= self.revised_at[rows]
        pushed = frac >= self.pushed_at[rows]
        return {
            "stage": pd.Categorical.from_codes(np.where(self.stage[rows] >= 0, stage, -1),
                                               categories=_STAGE_NAMES),
            "amount": np.where(revised, self.amount[rows], self.first_amount[rows]),
            "probability": np.where(self.no_probability[rows], np.nan, _PROBABILITY[stage]),
            "expected_close_at": np.where(pushed, self.expected[rows], self.first_expected[rows]),
        }


def _days(n: np.ndarray) -> np.ndarray:
    return (n * DAY).astype("timedelta64[s]").astype("timedelta64[us]")


def pipeline_snapshots(deals: pd.DataFrame, clock: Clock, rng: np.random.Generator) -> pd.DataFrame:
    """The snapshot rows of one unit's ``deals`` table (see the module docstring)."""
    days, instants = snapshot_instants(clock)
    utc = clock.to_utc(instants).to_numpy("datetime64[us]")
    paths = _Paths(deals, utc[-1], rng)
    rows, which, copy = paths.open_at(utc)
    ids = deals["deal_id"].astype(str)

    def repeated(column: pd.Series, rows: np.ndarray) -> pd.Categorical:
        # the same few thousand texts in every snapshot: codes into them, no copies
        codes, texts = pd.factorize(column)
        return pd.Categorical.from_codes(codes[rows], categories=texts.astype(str))

    return pd.DataFrame({
        "snapshot_date": days[which].astype("datetime64[D]"),
        "taken_at": utc[which],
        "deal_id": repeated(pd.concat([ids, ids + "-copy"]), rows + len(ids) * copy),
        "owner_id": repeated(deals["owner_id"], rows),
        "customer_id": repeated(deals["customer_id"], rows),
        "created_at": paths.created[rows],
        **paths.state(rows, utc[which]),
    })
