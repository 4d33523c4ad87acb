"""The demo's calendar: times as int64 seconds of local wall-clock time, and samplers.

All times inside the generator are seconds of local time in the company time zone (so
business hours are local); :meth:`Clock.to_utc` converts them to naive UTC on output.
Day weights combine the company's season, its yearly growth and quiet weekends.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from crmkit.sources.demo.company import GROWTH, SEASON

DAY = 86_400
HOUR = 3_600
#: A time after every other: "not yet" (an employee who never leaves).
NEVER = np.int64(2**62)

#: Relative activity per hour of the day: office work, and customers (a longer day).
OFFICE = np.array([0, 0, 0, 0, 0, 0, 0.2, 1.5, 6, 11, 12, 11.5, 7, 9, 11, 11, 9, 5, 2, 1, 0.5, 0.3, 0.1, 0])
CUSTOMER = np.array(
    [
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.6,
        2,
        5,
        8,
        9,
        9,
        7,
        8,
        8.5,
        8.5,
        7.5,
        6,
        4.5,
        3.5,
        3,
        2.2,
        1.3,
        0.7,
    ]
)


class Clock:
    """Local calendar of one build: day weights (season, growth, weekdays) and samplers."""

    def __init__(self, end: date, timezone: str) -> None:
        self.timezone = timezone
        end_excl = end + timedelta(days=1)
        start = (pd.Timestamp(end_excl) - pd.DateOffset(years=2)).date()
        first = (pd.Timestamp(start) - pd.DateOffset(years=3)).date()
        self.day0 = int(np.datetime64(first, "D").astype(np.int64))
        self.start = int(np.datetime64(start, "D").astype(np.int64)) * DAY
        self.end = int(np.datetime64(end_excl, "D").astype(np.int64)) * DAY
        self.first = self.day0 * DAY
        days = np.arange(self.day0, self.end // DAY, dtype=np.int64)
        month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
        weekday = (days + 3) % 7  # 0 = Monday
        years = (days * DAY - self.end) / (365.25 * DAY)
        flat = SEASON[month] * np.where(weekday >= 5, 0.1, 1.0)
        self.ndays = len(days)
        # with growth: for flows that drive the business (leads, new customers); without:
        # for flows proportional to the customer base, which grows by itself
        self.cum = np.concatenate([[0.0], np.cumsum(flat * (1 + GROWTH) ** years)])
        self.cum_flat = np.concatenate([[0.0], np.cumsum(flat)])
        self.p_office = OFFICE / OFFICE.sum()
        self.p_customer = CUSTOMER / CUSTOMER.sum()

    def tod(self, rng: np.random.Generator, n: int, customer: bool = False) -> np.ndarray:
        """Seconds after midnight with a business-hours profile."""
        p = self.p_customer if customer else self.p_office
        return rng.choice(24, n, p=p).astype(np.int64) * HOUR + rng.integers(0, HOUR, n)

    def sample(
        self,
        rng: np.random.Generator,
        lo: np.ndarray | int,
        hi: np.ndarray | int,
        n: int | None = None,
        customer: bool = False,
        growth: bool = True,
    ) -> np.ndarray:
        """One time per row in ``[lo, hi)`` following the calendar's day weights.

        ``customer`` uses the customers' (longer) day profile instead of office hours;
        ``growth=False`` leaves out the yearly growth (season and weekdays only).
        """
        cum = self.cum if growth else self.cum_flat
        lo_a = np.asarray(lo, dtype=np.int64)
        hi_a = np.asarray(hi, dtype=np.int64)
        if n is None:
            n = int(np.broadcast(lo_a, hi_a).size)
        lo_a = np.broadcast_to(lo_a, (n,))
        hi_a = np.maximum(np.broadcast_to(hi_a, (n,)), lo_a + 1)
        dlo = np.clip(lo_a // DAY - self.day0, 0, self.ndays - 1)
        dhi = np.clip((hi_a - 1) // DAY - self.day0, 0, self.ndays - 1) + 1
        c0, c1 = cum[dlo], cum[dhi]
        u = c0 + rng.random(n) * (c1 - c0)
        d = np.clip(np.searchsorted(cum, u, side="right") - 1, dlo, dhi - 1)
        t = (self.day0 + d) * DAY + self.tod(rng, n, customer)
        span = np.minimum(hi_a - lo_a, 2 * HOUR)
        jitter = (rng.random(n) * span).astype(np.int64)
        t = np.where(t < lo_a, lo_a + jitter, t)
        t = np.where(t >= hi_a, hi_a - 1 - jitter, t)
        return np.clip(t, lo_a, hi_a - 1)

    def uniform(
        self, rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int
    ) -> np.ndarray:
        """Uniform times in ``[lo, hi)`` (no season, no business hours)."""
        lo_a = np.broadcast_to(np.asarray(lo, dtype=np.int64), (n,))
        hi_a = np.maximum(np.broadcast_to(np.asarray(hi, dtype=np.int64), (n,)), lo_a + 1)
        return lo_a + (rng.random(n) * (hi_a - lo_a)).astype(np.int64)

    def later(
        self, rng: np.random.Generator, base: np.ndarray, days: np.ndarray, customer: bool = False
    ) -> np.ndarray:
        """``base`` plus about ``days`` days, landing in business hours, never before base.

        Office work that would fall on a weekend moves to the Monday after.
        """
        n = len(base)
        target_day = (base + (np.asarray(days) * DAY).astype(np.int64)) // DAY
        if not customer:
            weekday = (target_day + 3) % 7
            target_day = target_day + np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))
        t = target_day * DAY + self.tod(rng, n, customer)
        return np.maximum(t, base + 15 * 60)

    def decline(self, t: np.ndarray) -> np.ndarray:
        """The midmarket story: 1 until six months before the end, then down to 0.4."""
        span = 182 * DAY
        frac = np.clip((t - (self.end - span)) / span, 0.0, 1.0)
        return 1.0 - 0.6 * frac

    def to_utc(self, t: np.ndarray, valid: np.ndarray | None = None) -> pd.Series:
        """Local seconds -> naive UTC ``datetime64[us]`` (NaT where not valid)."""
        t = np.asarray(t, dtype=np.int64)
        if valid is not None:
            t = np.where(valid, t, np.iinfo(np.int64).min)
        idx = pd.DatetimeIndex(t.view("datetime64[s]"))
        if self.timezone != "UTC":
            idx = (
                idx.tz_localize(
                    self.timezone,
                    ambiguous=np.zeros(len(idx), dtype=bool),
                    nonexistent="shift_forward",
                )
                .tz_convert("UTC")
                .tz_localize(None)
            )
        return pd.Series(idx.astype("datetime64[us]"))

    @staticmethod
    def to_date(t: np.ndarray) -> pd.Series:
        """Local seconds -> local calendar date (as ``datetime64[us]`` at midnight)."""
        days = (np.asarray(t, dtype=np.int64) // DAY).view("datetime64[D]")
        return pd.Series(days.astype("datetime64[us]"))


def epoch_month(t: int) -> int:
    """Months since 1970-01 of local time ``t`` (seconds)."""
    return int(np.datetime64(t // DAY, "D").astype("datetime64[M]").astype(np.int64))
