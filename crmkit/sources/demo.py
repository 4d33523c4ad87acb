"""A deterministic demo CRM: two years of a made-up software company, as a canonical database.

:func:`build_demo` writes a DuckDB database in the canonical model (see :mod:`crmkit.model`)
that exercises every metric in ``METRICS.md``: seasonality (weaker summer and December,
stronger March, June and November) and ~20 % yearly growth, channels that convert and pay
differently, repeat purchases, support tickets with SLAs, surveys of all three kinds and
quarterly quotas.  It also plants stories that the reports must reveal:

* the ``midmarket`` team's revenue and win rate trend down over the last six months;
* one support agent (``STORY_OVERLOADED_AGENT``) carries about three times the tickets of
  a peer, with worse first-response times and SLA compliance;
* one campaign (``STORY_NEGATIVE_ROI_CAMPAIGN``) costs far more than it brings in;
* one sales rep (``STORY_IDLE_REP``) is idle: few activities, few deals;
* a handful of open deals have no probability (counted in the data notes).

The same ``seed``, ``end`` and ``scale`` give identical table contents.  Scale ``n`` builds
``n`` independent business units (each with its own staff, customers and campaigns, all in
the same four teams) one at a time and streams them through
:class:`crmkit.model.DatabaseWriter`, so memory stays flat; ids carry the unit number.

Internally all times are int64 seconds of local wall-clock time in the company time zone
(so business hours are local); they are converted to naive UTC on output.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crmkit.model import TABLES, DatabaseWriter

__all__ = [
    "PRODUCTS",
    "STAGES",
    "STORY_IDLE_REP",
    "STORY_NEGATIVE_ROI_CAMPAIGN",
    "STORY_OVERLOADED_AGENT",
    "TEAMS",
    "build_demo",
    "default_end",
]

# --------------------------------------------------------------------------------------
# The company
# --------------------------------------------------------------------------------------

#: (team_id, name) of the four demo teams.
TEAMS: tuple[tuple[str, str], ...] = (
    ("enterprise", "Enterprise"),
    ("midmarket", "Mid-Market"),
    ("smb", "SMB"),
    ("partners", "Partners"),
)
_ENT, _MM, _SMB, _PAR = range(4)

#: The ordered sales pipeline: (stage, probability).
STAGES: tuple[tuple[str, float], ...] = (
    ("qualification", 0.1),
    ("discovery", 0.25),
    ("proposal", 0.5),
    ("negotiation", 0.75),
    ("commitment", 0.9),
)

#: Products with their price multiplier against the segment's typical deal.
PRODUCTS: tuple[tuple[str, float], ...] = (
    ("CRM Core", 1.0),
    ("CRM Professional", 1.6),
    ("Analytics Add-on", 0.55),
    ("Support Plus", 0.4),
    ("Onboarding Services", 0.45),
)
_PRODUCT_P = np.array(
    [  # by segment: enterprise, midmarket, smb
        [0.20, 0.40, 0.20, 0.10, 0.10],
        [0.35, 0.30, 0.15, 0.10, 0.10],
        [0.50, 0.15, 0.10, 0.15, 0.10],
    ]
)
_SEGMENTS = np.array(["enterprise", "midmarket", "smb"])
_SEG_AMOUNT = np.array([48_000.0, 11_000.0, 2_500.0])  # median deal by segment
_SEG_CYCLE = np.array([[4.0, 85.0], [3.5, 45.0], [3.0, 21.0]])  # gamma shape, mean days
_TEAM_WIN = np.array([0.9, 1.0, 1.1, 1.0])
_LOST_REASONS = np.array(["price", "competitor", "no_budget", "no_decision", "timing"])
_LOST_P = np.array([0.32, 0.25, 0.15, 0.18, 0.10])

#: Monthly seasonality (Jan..Dec): weak summer and December, strong March, June, November.
_SEASON = np.array([0.95, 1.0, 1.25, 1.05, 1.0, 1.2, 0.8, 0.72, 1.05, 1.1, 1.25, 0.72])
_GROWTH = 0.20

# channel: (lead conversion, amount multiplier, win multiplier)
_CHANNELS: dict[str, tuple[float, float, float]] = {
    "email": (0.12, 0.9, 1.0),
    "paid_search": (0.15, 1.0, 1.0),
    "social": (0.08, 0.8, 0.9),
    "events": (0.22, 1.4, 1.1),
    "referral": (0.35, 1.25, 1.2),
    "webinar": (0.18, 1.1, 1.05),
    "display": (0.03, 0.6, 0.55),
    "organic": (0.18, 1.0, 1.0),
    "direct": (0.25, 1.0, 1.1),
}

# name, channel, team index (None: company-wide), start day offset in the window,
# duration days (None: always on), cost per day, leads per day
_CAMPAIGNS: tuple[tuple[str, str, int | None, int, int | None, float, float], ...] = (
    ("Always-on Search", "paid_search", _SMB, -150, None, 90.0, 2.3),
    ("Monthly Newsletter", "email", _MM, -150, None, 15.0, 1.7),
    ("LinkedIn Thought Leadership", "social", _MM, 60, 300, 60.0, 1.0),
    ("Spring Trade Fair", "events", _ENT, 250, 4, 12_000.0, 30.0),
    ("Partner Referral Program", "referral", _PAR, -150, None, 25.0, 1.1),
    ("Product Webinars", "webinar", _ENT, 100, 420, 60.0, 0.6),
    ("Summer Promo Mailing", "email", _SMB, 335, 45, 40.0, 4.0),
    ("Programmatic Display Push", "display", _SMB, 400, 150, 900.0, 2.0),
    ("Industry Summit", "events", _ENT, 490, 3, 15_000.0, 35.0),
    ("Instagram Stories", "social", _SMB, 450, 120, 35.0, 2.0),
    ("Mid-Market Webinar Series", "webinar", _MM, 480, 200, 50.0, 0.7),
    ("Brand Search", "paid_search", None, 300, None, 45.0, 0.8),
)
_NEGATIVE_CAMPAIGN = 7  # the display push

# Roster of one business unit, team by team.  Stories pick fixed positions in it.
_STAFFING: tuple[tuple[int, tuple[str, ...]], ...] = (
    (_ENT, ("manager", *("sales",) * 4, "support", "marketing")),
    (_MM, ("manager", *("sales",) * 5, "support", "marketing")),
    (_SMB, ("manager", *("sales",) * 6, *("support",) * 3, "marketing")),
    (_PAR, ("manager", *("sales",) * 3)),
)
_ROSTER: tuple[tuple[int, str], ...] = tuple(
    (team, role) for team, roles in _STAFFING for role in roles
)
_IDLE = 21  # smb sales #6
_LEAVER = 20  # smb sales #5, leaves ~4 months before the end
_NEW_HIRES = (4, 29)  # enterprise sales #4 (~9 months), partners sales #3 (~5 months)
_OVERLOADED = 22  # smb support #1

#: Ids of the planted story subjects at scale 1.  At larger scales every business unit
#: has its own, with the unit number after the dash (``e-0022`` in unit 0 at scale 10).
STORY_IDLE_REP = f"e-{_IDLE + 1:03d}"
STORY_OVERLOADED_AGENT = f"e-{_OVERLOADED + 1:03d}"
STORY_NEGATIVE_ROI_CAMPAIGN = f"cmp-{_NEGATIVE_CAMPAIGN + 1:02d}"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Anna Ben Clara David Elena Felix Greta Hugo Ines Jonas Katja Lars Mia Noah Olga Paul "
    "Quinn Rosa Sven Tina Uwe Vera Willem Xenia Yusuf Zoe Amir Bianca Carlos Dana Emil Fatima "
    "Georg Hanna Ivan Julia Karim Lena Marco Nina Oskar Petra Rafael Sofia Tomas Ulla Viktor "
    "Wanda Yara Zeno Aiko Bruno Chiara Dmitri Eva Finn Gil Helga Igor Jana"
)
_LAST = _words(
    "Schmidt Novak Rossi Dubois Jensen Kowalski Silva Meyer Horvat Lindqvist Moreau Bauer "
    "Costa Nowak Fischer Berg Keller Wagner Ricci Petrov Varga Lund Ortega Becker Hoffmann "
    "Marino Blom Sato Laine Weber Kraus Dahl Ferreira Brandt Sokolova Vogel Roth Janssen "
    "Navarro Engel Peters Koch Haas Simon Wolf Frank Lorenz Hartmann Winter Stein Kaiser "
    "Fuchs Lang Weiss Baumann Graf Arnold Bianchi Krause Popescu"
)
_CO_A = _words(
    "Nordic Alpine Blue Bright Cedar Clear Delta Eastern Fair Green Harbor Iron Lumen Maple "
    "Meridian North Oak Pioneer Quantum River Silver Summit Urban Vector West Zenith Atlas "
    "Beacon Crown Falcon"
)
_CO_B = _words(
    "Logistics Foods Systems Health Retail Energy Labs Media Tools Partners Works Dynamics "
    "Analytics Textiles Motors Pharma Finance Hotels Robotics Design"
)
_CO_C = np.array(["GmbH", "Ltd", "AG", "S.A.", "B.V.", "Oy", "AB", "SE", "Group", "& Co"])
_INDUSTRIES = np.array(
    [
        "software",
        "manufacturing",
        "retail",
        "healthcare",
        "finance",
        "logistics",
        "education",
        "hospitality",
        "media",
        "energy",
    ]
)
_REGIONS = np.array(
    ["DACH", "Nordics", "UK & Ireland", "Benelux", "France", "Iberia", "Italy", "CEE"]
)
_REGION_P = np.array([0.24, 0.12, 0.16, 0.11, 0.12, 0.09, 0.08, 0.08])

_ACTIVITY_TYPES = np.array(
    ["call", "email", "meeting", "message", "site_visit", "request", "note", "other"]
)
_TASK_TYPES = np.array(["follow_up", "call_back", "send_proposal", "prepare_meeting", "admin"])
_TICKET_CHANNELS = np.array(["email", "phone", "chat", "portal"])
_PRIORITIES = np.array(["low", "normal", "high", "urgent"])
_SLA_HOURS = np.array([24.0, 8.0, 4.0, 1.0])
_FIRST_RESPONSE_H = np.array([6.0, 2.5, 1.2, 0.4])  # median by priority

_COMMENTS = {
    "promoter": [
        "Great product, the team really listens.",
        "Setup was quick and the reports save us hours every week.",
        "Support answered within minutes. Impressed!",
        "Exactly what we needed for our sales team.",
        "Solid tool, fair price, friendly people.",
        "The new dashboard is fantastic.",
    ],
    "passive": [
        "Works fine, a few features are missing.",
        "Good overall, but the mobile app is slow.",
        "OK for now, we are still evaluating.",
        "Decent, the import could be easier.",
        "Does the job.",
    ],
    "detractor": [
        "Too expensive for what it does.",
        "The sync with our mail server keeps failing.",
        "Support took days to reply.",
        "Hard to use, our reps went back to spreadsheets.",
        "Billing was wrong twice this quarter.",
        "Missing the integrations we were promised.",
    ],
}
_HTML_COMMENTS = (
    "<script>alert(1)</script> still broken",
    'Price went up >20% & "support" never called back',
    "Tom & Jerry <b>rock</b>",
)

DAY = 86_400
HOUR = 3_600
_NEVER = np.int64(2**62)
_OFFICE = np.array(
    [0, 0, 0, 0, 0, 0, 0.2, 1.5, 6, 11, 12, 11.5, 7, 9, 11, 11, 9, 5, 2, 1, 0.5, 0.3, 0.1, 0]
)
_CUSTOMER = np.array(
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


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def default_end(today: date | None = None) -> date:
    """The last day of the last full month before ``today`` (default: today)."""
    today = today or date.today()
    return today.replace(day=1) - timedelta(days=1)


def build_demo(
    path: str | os.PathLike[str],
    *,
    seed: int = 42,
    end: date | None = None,
    scale: int = 1,
    timezone: str = "UTC",
    currency: str = "EUR",
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build the demo CRM database at ``path`` and return the path.

    Args:
        path: where to write the DuckDB file (replaced atomically if it exists).
        seed: random seed; the same ``seed``, ``end`` and ``scale`` give the same data.
        end: last day covered (data runs up to the end of that day, company time);
            default :func:`default_end`.  History starts two years earlier.
        scale: number of business units; scale 1 is ~30 employees, ~3,000 customers,
            ~4,000 deals and ~60,000 activities.
        timezone: company time zone (IANA name); business hours are local to it.
        currency: currency code stored in the settings.
        progress: called with short progress messages such as ``"customers 3,000"``.
    """
    if scale < 1:
        raise ValueError("scale must be >= 1")
    end = end or default_end()
    say = progress or (lambda _msg: None)
    clock = _Clock(end, timezone)
    settings = {
        "timezone": timezone,
        "currency": currency,
        "fiscal_year_start_month": "1",
        "source": f"demo seed={seed} end={end.isoformat()} scale={scale}",
    }
    unit_width = len(str(scale - 1)) if scale > 1 else 0
    with DatabaseWriter(path, settings) as writer:
        writer.append(
            "teams", pd.DataFrame({"team_id": [t for t, _ in TEAMS], "name": [n for _, n in TEAMS]})
        )
        for unit in range(scale):
            rng = np.random.default_rng([seed, unit])
            frames = _Unit(rng, clock, unit, unit_width, scale).frames()
            for name in TABLES:
                if name in frames:
                    writer.append(name, frames[name])
            if scale > 1:
                say(
                    f"unit {unit + 1}/{scale}: "
                    + ", ".join(
                        f"{n} {writer.rows[n]:,}" for n in ("customers", "deals", "activities")
                    )
                )
        for name in TABLES:
            say(f"{name} {writer.rows[name]:,}")
    return Path(path)


# --------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------


class _Clock:
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
        flat = _SEASON[month] * np.where(weekday >= 5, 0.1, 1.0)
        self.ndays = len(days)
        # with growth: for flows that drive the business (leads, new customers); without:
        # for flows proportional to the customer base, which grows by itself
        self.cum = np.concatenate([[0.0], np.cumsum(flat * (1 + _GROWTH) ** years)])
        self.cum_flat = np.concatenate([[0.0], np.cumsum(flat)])
        self.p_office = _OFFICE / _OFFICE.sum()
        self.p_customer = _CUSTOMER / _CUSTOMER.sum()

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
        """The midmarket story: 1 until six months before the end, then down to 0.3."""
        span = 182 * DAY
        frac = np.clip((t - (self.end - span)) / span, 0.0, 1.0)
        return 1.0 - 0.7 * frac

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


def _ids(prefix: str, unit: int, unit_width: int, n: int, width: int) -> np.ndarray:
    if n >= 10**width:
        raise ValueError(f"too many {prefix} rows in one unit ({n:,})")
    head = f"{prefix}-{unit:0{unit_width}d}" if unit_width else f"{prefix}-"
    return np.strings.add(head, np.strings.zfill(np.arange(1, n + 1).astype(str), width))


def _pick(values: np.ndarray, idx: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``values[idx]`` as an object array with None where not valid."""
    out = values[np.clip(idx, 0, len(values) - 1)].astype(object)
    if valid is not None:
        out[~valid] = None
    return out


def _none_where(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.asarray(values).astype(object)
    out[~valid] = None
    return out


@dataclass
class _Staff:
    ids: np.ndarray
    team: np.ndarray
    role: np.ndarray
    hired: np.ndarray
    left: np.ndarray
    successor: np.ndarray
    predecessor: np.ndarray
    weight: np.ndarray  # share of sales work (customers, leads)

    def on_duty(self, emp: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Hand work outside an employee's employment to their successor or predecessor."""
        emp = np.where(t >= self.left[emp], self.successor[emp], emp)
        return np.where(t < self.hired[emp], self.predecessor[emp], emp)

    def reps(self, team: int) -> np.ndarray:
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


# --------------------------------------------------------------------------------------
# One business unit
# --------------------------------------------------------------------------------------


class _Unit:
    """Generates the tables of one business unit from its own random stream."""

    def __init__(
        self, rng: np.random.Generator, clock: _Clock, unit: int, unit_width: int, scale: int
    ) -> None:
        self.rng = rng
        self.c = clock
        self.unit = unit
        self.uw = unit_width
        self.scale = scale
        self.out: dict[str, pd.DataFrame] = {}

    def ids(self, prefix: str, n: int, width: int) -> np.ndarray:
        return _ids(prefix, self.unit, self.uw, n, width)

    def frames(self) -> dict[str, pd.DataFrame]:
        self.employees()
        self.campaigns()
        self.leads()
        self.customers()
        self.deals()
        self.activities()
        self.tickets()
        self.tasks()
        self.surveys()
        self.quotas()
        return self.out

    # ---- employees -------------------------------------------------------------------

    def employees(self) -> None:
        rng, c = self.rng, self.c
        n = len(_ROSTER)
        team = np.array([t for t, _ in _ROSTER])
        role = np.array([r for _, r in _ROSTER])
        first = rng.permutation(len(_FIRST))[:n]
        last = rng.integers(0, len(_LAST), n)
        names = np.strings.add(np.strings.add(np.array(_FIRST)[first], " "), np.array(_LAST)[last])
        # hired 1.3..7.5 years before the window (before any history), managers earliest
        years_before = rng.uniform(1.3, 6.0, n) + np.where(role == "manager", 1.5, 0.0)
        hired_day = (c.start - (years_before * 365 * DAY).astype(np.int64)) // DAY
        hired = hired_day * DAY + 9 * HOUR
        for i, months in zip(_NEW_HIRES, (9, 5), strict=True):
            hired[i] = (c.end - months * 30 * DAY) // DAY * DAY + 9 * HOUR
        left = np.full(n, _NEVER)
        left[_LEAVER] = (c.end - 122 * DAY) // DAY * DAY + 18 * HOUR
        idx = np.arange(n)
        successor = idx.copy()
        predecessor = idx.copy()
        for i in (_LEAVER, *_NEW_HIRES):
            anchor = self.staff_first_rep(team, role, team[i])
            (successor if i == _LEAVER else predecessor)[i] = anchor
        weight = np.where(role == "sales", rng.uniform(0.8, 1.2, n), 0.0)
        weight[_IDLE] = 0.45
        self.staff = _Staff(
            self.ids("e", n, 3), team, role, hired, left, successor, predecessor, weight
        )
        self.seller_skill = np.exp(rng.normal(0.0, 0.18, n))
        self.out["employees"] = pd.DataFrame(
            {
                "employee_id": self.staff.ids,
                "name": names,
                "team_id": np.array([t for t, _ in TEAMS])[team],
                "role": role,
                "hired_at": c.to_utc(hired),
                "left_at": c.to_utc(left, left < _NEVER),
            }
        )

    @staticmethod
    def staff_first_rep(team: np.ndarray, role: np.ndarray, t: int) -> int:
        return int(np.flatnonzero((team == t) & (role == "sales"))[0])

    # ---- campaigns -------------------------------------------------------------------

    def campaigns(self) -> None:
        rng, c = self.rng, self.c
        k = len(_CAMPAIGNS)
        suffix = f" (unit {self.unit + 1})" if self.scale > 1 else ""
        names = np.array([f"{x[0]}{suffix}" for x in _CAMPAIGNS])
        channel = np.array([x[1] for x in _CAMPAIGNS])
        team = np.array([-1 if x[2] is None else x[2] for x in _CAMPAIGNS])
        window_days = (c.end - c.start) // DAY
        start_day = c.start // DAY + np.array([min(x[3], window_days - 30) for x in _CAMPAIGNS])
        dur = np.array([x[4] or 0 for x in _CAMPAIGNS])
        ongoing = np.array([x[4] is None for x in _CAMPAIGNS])
        end_day = np.where(ongoing, c.end // DAY, np.minimum(start_day + dur, c.end // DAY))
        daily = np.array([x[5] for x in _CAMPAIGNS]) * np.exp(rng.normal(0, 0.1, k))
        planned_days = np.where(ongoing, c.end // DAY - start_day, dur)
        budget = np.round(daily * planned_days * rng.uniform(0.95, 1.1, k), -2)
        self.cmp_ids = self.ids("cmp", k, 2)
        self.cmp_channel = channel
        self.cmp_team = team
        self.cmp_start = start_day * DAY
        self.cmp_end = end_day * DAY
        self.cmp_rate = np.array([x[6] for x in _CAMPAIGNS])
        self.out["campaigns"] = pd.DataFrame(
            {
                "campaign_id": self.cmp_ids,
                "name": names,
                "channel": channel,
                "team_id": _pick(np.array([t for t, _ in TEAMS]), team, team >= 0),
                "started_at": c.to_utc(start_day * DAY + 9 * HOUR),
                "ended_at": c.to_utc((start_day + dur) * DAY + 18 * HOUR - DAY, ~ongoing),
                "budget": budget,
            }
        )
        # daily costs while active
        days_active = end_day - start_day
        rep = np.repeat(np.arange(k), days_active)
        offset = np.arange(len(rep)) - np.repeat(np.cumsum(days_active) - days_active, days_active)
        day = start_day[rep] + offset
        month = day.view("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
        cost = daily[rep] * _SEASON[month] * np.exp(rng.normal(0, 0.25, len(rep)))
        self.out["campaign_costs"] = pd.DataFrame(
            {
                "campaign_id": self.cmp_ids[rep],
                "date": c.to_date(day * DAY),
                "cost": np.round(cost, 2),
            }
        )

    # ---- leads -----------------------------------------------------------------------

    def leads(self) -> None:
        rng, c, staff = self.rng, self.c, self.staff
        # campaign leads: volume by rate x active days; events collect leads for a week after
        lead_end = np.minimum(
            self.cmp_end + np.where(self.cmp_channel == "events", 7, 0) * DAY, c.end
        )
        expected = self.cmp_rate * (lead_end - self.cmp_start) / DAY
        n_cmp = rng.poisson(expected)
        cmp = np.repeat(np.arange(len(n_cmp)), n_cmp)
        org_start = c.start - 150 * DAY
        n_org = int(rng.poisson(1800))
        n = len(cmp) + n_org
        campaign = np.concatenate([cmp, np.full(n_org, -1)])
        created = np.concatenate(
            [
                c.sample(rng, self.cmp_start[cmp], lead_end[cmp]),
                c.sample(rng, org_start, c.end, n_org, customer=True),
            ]
        )
        channel = np.concatenate(
            [
                self.cmp_channel[cmp],
                rng.choice(np.array(["organic", "direct"]), n_org, p=[0.6, 0.4]),
            ]
        )
        team = np.where(campaign >= 0, self.cmp_team[np.maximum(campaign, 0)], -1)
        team = np.where(team >= 0, team, rng.choice(4, n, p=[0.15, 0.3, 0.4, 0.15]))
        owner = staff.on_duty(staff.assign(rng, team), created)
        conv_p = np.array([_CHANNELS[ch][0] for ch in channel])
        conv_p = conv_p * np.where(team == _MM, c.decline(created), 1.0)
        conv_p = conv_p * np.where(owner == _IDLE, 0.5, 1.0)
        lag = 1.0 + rng.gamma(2.0, 5.0, n)
        converted_at = c.later(rng, created, lag)
        converted = (rng.random(n) < conv_p) & (converted_at < c.end)
        age = (c.end - created) / DAY
        u = rng.random(n)
        status = np.where(
            age < 10,
            np.where(u < 0.7, "new", "working"),
            np.where(
                age < 45,
                np.where(u < 0.1, "new", np.where(u < 0.65, "working", "disqualified")),
                np.where(u < 0.15, "working", "disqualified"),
            ),
        )
        status = np.where(converted, "converted", status)
        order = np.argsort(created, kind="stable")
        self.lead_ids = self.ids("l", n, 5)
        self.ld = {
            "created": created[order],
            "campaign": campaign[order],
            "channel": channel[order],
            "team": team[order],
            "owner": owner[order],
            "converted": converted[order],
            "converted_at": converted_at[order],
            "status": status[order],
        }

    # ---- customers -------------------------------------------------------------------

    def customers(self) -> None:
        rng, c, staff, ld = self.rng, self.c, self.staff, self.ld
        conv = np.flatnonzero(ld["converted"])
        existing = rng.random(len(conv)) < 0.22  # converted into an existing customer
        new_from_lead = conv[~existing]
        n_base, n_direct = int(rng.poisson(1350)), int(rng.poisson(500))
        direct_start = c.start - 365 * DAY
        n_lead = len(new_from_lead)
        n = n_base + n_direct + n_lead
        created = np.concatenate(
            [
                c.sample(rng, c.first, direct_start, n_base),
                c.sample(rng, direct_start, c.end, n_direct),
                ld["converted_at"][new_from_lead],
            ]
        )
        team = np.concatenate(
            [
                rng.choice(4, n_base + n_direct, p=[0.15, 0.28, 0.42, 0.15]),
                ld["team"][new_from_lead],
            ]
        )
        owner0 = np.concatenate(
            [staff.assign(rng, team[: n_base + n_direct]), ld["owner"][new_from_lead]]
        )
        origin = np.repeat(np.array([0, 1, 2]), [n_base, n_direct, n_lead])
        segment = np.where(
            team == _ENT,
            0,
            np.where(
                team == _MM, 1, np.where(team == _SMB, 2, rng.choice(3, n, p=[0.1, 0.35, 0.55]))
            ),
        )
        order = np.argsort(created, kind="stable")
        created, team, owner0, origin, segment = (
            a[order] for a in (created, team, owner0, origin, segment)
        )
        # position of each lead-created customer after sorting
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        lead_customer = np.full(len(ld["created"]), -1)
        lead_customer[new_from_lead] = pos[n_base + n_direct + np.arange(n_lead)]
        # leads converting into an existing customer: one created before the lead
        ex = conv[existing]
        cands = np.searchsorted(created, ld["created"][ex])  # customers created before
        ok = cands > 0
        pick = (rng.random(len(ex)) * np.maximum(cands, 1)).astype(np.int64)
        lead_customer[ex[ok]] = pick[ok]
        ld["converted"][ex[~ok]] = False
        ld["status"][ex[~ok]] = "working"
        ld["customer"] = lead_customer
        # current owner: the owner's successor if the owner left
        owner = np.where(staff.left[owner0] < _NEVER, staff.successor[owner0], owner0)
        propensity = np.minimum(rng.gamma(0.9, 1 / 0.9, n), 5.0)
        churn = created + (rng.exponential(2.5, n) * 365 * DAY).astype(np.int64)
        self.cu = {
            "created": created,
            "team": team,
            "owner0": owner0,
            "segment": segment,
            "propensity": propensity,
            "churn": churn,
            "origin": origin,
        }
        self.cust_ids = self.ids("c", n, 5)
        a = rng.integers(0, len(_CO_A), n)
        b = rng.integers(0, len(_CO_B), n)
        names = np.strings.add(
            np.strings.add(np.strings.add(np.array(_CO_A)[a], " "), np.array(_CO_B)[b]), " "
        )
        names = np.strings.add(names, _CO_C[rng.integers(0, len(_CO_C), n)])
        self.out["customers"] = pd.DataFrame(
            {
                "customer_id": self.cust_ids,
                "name": names,
                "created_at": c.to_utc(created),
                "segment": _SEGMENTS[segment],
                "industry": _INDUSTRIES[rng.integers(0, len(_INDUSTRIES), n)],
                "region": _REGIONS[rng.choice(len(_REGIONS), n, p=_REGION_P)],
                "owner_id": staff.ids[owner],
            }
        )
        ok_cust = ld["customer"] >= 0
        self.out["leads"] = pd.DataFrame(
            {
                "lead_id": self.lead_ids,
                "created_at": c.to_utc(ld["created"]),
                "campaign_id": _pick(self.cmp_ids, ld["campaign"], ld["campaign"] >= 0),
                "channel": ld["channel"],
                "owner_id": staff.ids[ld["owner"]],
                "status": ld["status"],
                "converted_at": c.to_utc(ld["converted_at"], ld["converted"]),
                "customer_id": _pick(self.cust_ids, ld["customer"], ld["converted"] & ok_cust),
            }
        )

    # ---- deals -----------------------------------------------------------------------

    def deals(self) -> None:
        rng, c, staff, ld, cu = self.rng, self.c, self.staff, self.ld, self.cu
        # 1. one deal per converted lead
        lead = np.flatnonzero(ld["converted"])
        l_cust = ld["customer"][lead]
        l_created = c.later(rng, ld["converted_at"][lead], rng.uniform(0, 2, len(lead)))
        l_created = np.minimum(l_created, c.end - HOUR)
        # 2. a first deal for customers created directly (not from a lead)
        direct = np.flatnonzero(cu["origin"] == 1)
        d_created = np.minimum(
            c.later(rng, cu["created"][direct], rng.uniform(0, 3, len(direct))), c.end - HOUR
        )
        # 3. repeat / expansion deals over each customer's life
        lo = np.maximum(cu["created"] + 20 * DAY, c.start - 365 * DAY)
        hi = np.minimum(cu["churn"], c.end)
        years = np.clip((hi - lo) / (365.25 * DAY), 0, None)
        rate = np.array([0.55, 0.65, 0.75])[cu["segment"]] * cu["propensity"] * years
        n_rep = rng.poisson(rate)
        rep = np.repeat(np.arange(len(n_rep)), n_rep)
        r_created = c.sample(rng, lo[rep], hi[rep], growth=False)
        cust = np.concatenate([l_cust, direct, rep])
        created = np.concatenate([l_created, d_created, r_created])
        kind = np.repeat(np.array([0, 1, 2]), [len(lead), len(direct), len(rep)])
        lead_idx = np.concatenate([lead, np.full(len(direct) + len(rep), -1)])
        n = len(cust)
        owner = np.concatenate([ld["owner"][lead], cu["owner0"][direct], cu["owner0"][rep]])
        owner = staff.on_duty(owner, created)
        team = staff.team[owner]
        seg = cu["segment"][cust]
        campaign = np.where(lead_idx >= 0, ld["campaign"][np.maximum(lead_idx, 0)], -1)
        channel = np.where(lead_idx >= 0, ld["channel"][np.maximum(lead_idx, 0)], "direct")
        ch_amount = np.array([_CHANNELS[x][1] for x in channel])
        ch_win = np.array([_CHANNELS[x][2] for x in channel])
        # thin: the idle rep, and fewer midmarket deals lately
        keep = np.where(owner == _IDLE, rng.random(n) < 0.3, True)
        keep &= np.where((team == _MM) & (kind == 2), rng.random(n) < c.decline(created), True)
        keep &= cust >= 0
        # cycle: planned and actual length in days
        shape, mean = _SEG_CYCLE[seg, 0], _SEG_CYCLE[seg, 1]
        planned = np.maximum(rng.gamma(shape, mean / shape), 3.0)
        actual = planned * np.exp(rng.normal(0.1, 0.35, n))
        base_win = np.where(kind == 2, 0.42, 0.26)
        close_guess = created + (actual * DAY).astype(np.int64)
        p_win = base_win * _TEAM_WIN[team] * self.seller_skill[owner] * ch_win
        p_win = np.clip(
            p_win * np.where(team == _MM, c.decline(close_guess) ** 1.5, 1.0), 0.02, 0.9
        )
        won = rng.random(n) < p_win
        actual = np.where(won, actual, actual * rng.uniform(0.35, 1.0, n))
        closed_at = c.later(rng, created, actual)
        is_closed = closed_at < c.end
        status = np.where(is_closed, np.where(won, "won", "lost"), "open")
        # stage reached
        stage_lost = rng.choice(5, n, p=[0.3, 0.3, 0.2, 0.14, 0.06])
        stage_won = np.where(rng.random(n) < 0.85, 4, 3)
        frac = (c.end - created) / (actual * DAY)
        stage_open = np.clip((frac * 4.2 + rng.normal(0, 0.6, n)).astype(np.int64), 0, 4)
        stage = np.where(
            status == "won", stage_won, np.where(status == "lost", stage_lost, stage_open)
        )
        prob = np.array([p for _, p in STAGES])[stage]
        # amount
        product = np.zeros(n, dtype=np.int64)
        for s in range(3):
            rows = np.flatnonzero(seg == s)
            product[rows] = rng.choice(len(PRODUCTS), len(rows), p=_PRODUCT_P[s])
        amount = (
            _SEG_AMOUNT[seg]
            * np.array([m for _, m in PRODUCTS])[product]
            * ch_amount
            * np.where(kind == 2, 0.8, 1.0)
            * np.exp(rng.normal(0, 0.55, n))
        )
        amount *= np.where(team == _MM, 0.4 + 0.6 * c.decline(close_guess), 1.0)
        amount = np.where(seg == 2, np.round(amount, -1), np.round(amount, -2)).clip(50)
        expected = (created + (planned * DAY).astype(np.int64)) // DAY * DAY
        lost_reason = _LOST_REASONS[rng.choice(len(_LOST_REASONS), n, p=_LOST_P)]
        # keep, order by creation
        sel = np.flatnonzero(keep)
        sel = sel[np.argsort(created[sel], kind="stable")]
        m = len(sel)
        status, stage, prob = status[sel], stage[sel], prob[sel].astype(float)
        open_rows = np.flatnonzero(status == "open")
        if len(open_rows):  # planted: a few open deals without probability
            prob[rng.choice(open_rows, min(6, len(open_rows)), replace=False)] = np.nan
        self.dl = {
            "created": created[sel],
            "closed": closed_at[sel],
            "status": status,
            "owner": owner[sel],
            "cust": cust[sel],
            "amount": amount[sel],
            "campaign": campaign[sel],
            "actual": actual[sel],
        }
        self.deal_ids = self.ids("d", m, 5)
        closed = status != "open"
        self.out["deals"] = pd.DataFrame(
            {
                "deal_id": self.deal_ids,
                "owner_id": staff.ids[owner[sel]],
                "created_at": c.to_utc(created[sel]),
                "status": status,
                "customer_id": self.cust_ids[cust[sel]],
                "lead_id": _pick(self.lead_ids, lead_idx[sel], lead_idx[sel] >= 0),
                "campaign_id": _pick(self.cmp_ids, campaign[sel], campaign[sel] >= 0),
                "stage": np.array([s for s, _ in STAGES])[stage],
                "amount": amount[sel],
                "probability": prob,
                "expected_close_at": c.to_utc(expected[sel]),
                "closed_at": c.to_utc(closed_at[sel], closed),
                "product": np.array([p for p, _ in PRODUCTS])[product[sel]],
                "lost_reason": _none_where(lost_reason[sel], status == "lost"),
            }
        )

    # ---- activities ------------------------------------------------------------------

    def activities(self) -> None:
        rng, c, staff, dl, cu = self.rng, self.c, self.staff, self.dl, self.cu
        # around deals, while they are open
        lo = np.maximum(dl["created"], c.start)
        hi = np.where(dl["status"] == "open", c.end, dl["closed"])
        days = np.clip((hi - lo) / DAY, 0, None)
        n_deal = rng.poisson(np.where(hi > lo, 1.5 + days / 5.5, 0.0))
        d = np.repeat(np.arange(len(n_deal)), n_deal)
        t_deal = c.sample(rng, lo[d], hi[d])
        type_deal = rng.choice(8, len(d), p=[0.3, 0.33, 0.15, 0.1, 0, 0, 0.12, 0])
        emp_deal = dl["owner"][d]
        # account life: customers while active in the window
        a_lo = np.maximum(cu["created"], c.start)
        a_hi = np.minimum(cu["churn"], c.end)
        active_days = np.clip((a_hi - a_lo) / DAY, 0, None)
        w = cu["propensity"] ** 0.7 * active_days * np.array([2.0, 1.3, 1.0])[cu["segment"]]
        n_acc = int(rng.poisson(35_000))
        cust_acc = rng.choice(len(w), n_acc, p=w / w.sum())
        type_acc = rng.choice(8, n_acc, p=[0.18, 0.28, 0.04, 0.14, 0.12, 0.09, 0.1, 0.05])
        t_acc = c.sample(rng, a_lo[cust_acc], a_hi[cust_acc], growth=False)
        cust = np.concatenate([dl["cust"][d], cust_acc])
        t = np.concatenate([t_deal, t_acc])
        typ = np.concatenate([type_deal, type_acc])
        deal = np.concatenate([d, np.full(n_acc, -1)])
        emp = np.concatenate([emp_deal, cu["owner0"][cust_acc]])
        n = len(t)
        # site visits and requests come from customers, at customers' hours
        t_lo = np.concatenate([lo[d], a_lo[cust_acc]])
        t_hi = np.concatenate([hi[d], a_hi[cust_acc]])
        customer_tod = (typ == 4) | (typ == 5)
        t = np.where(customer_tod, t // DAY * DAY + c.tod(rng, n, customer=True), t)
        t = np.clip(t, t_lo, np.maximum(t_hi - 1, t_lo))
        emp = staff.on_duty(emp, t)
        # site visits (4) never have an employee; most inbound requests (5) neither
        has_emp = (typ != 4) & ~((typ == 5) & (rng.random(n) < 0.8))
        keep = np.where(emp == _IDLE, rng.random(n) < 0.1, True)
        keep &= ~((t < staff.hired[emp]) | (t >= staff.left[emp])) | ~has_emp
        sel = np.flatnonzero(keep)
        sel = sel[np.argsort(t[sel], kind="stable")]
        t, typ, cust, deal, emp, has_emp = (a[sel] for a in (t, typ, cust, deal, emp, has_emp))
        n = len(sel)
        u = rng.random(n)
        direction = np.select(
            [typ == 0, typ == 1, typ == 3, (typ == 4) | (typ == 5)],
            [
                np.where(u < 0.7, "outbound", "inbound"),
                np.where(u < 0.62, "outbound", "inbound"),
                np.where(u < 0.5, "outbound", "inbound"),
                np.full(n, "inbound"),
            ],
            default="",
        )
        call_s = np.clip(np.exp(rng.normal(np.log(300), 0.8, n)), 15, 4 * HOUR)
        meet_s = rng.choice(np.array([1800, 2700, 3600, 5400]), n, p=[0.35, 0.2, 0.35, 0.1])
        duration = np.where(typ == 0, np.round(call_s), np.where(typ == 2, meet_s, 0))
        dur = pd.array(
            np.where((typ == 0) | (typ == 2), duration, 0).astype(np.int64), dtype="Int64"
        )
        dur[~((typ == 0) | (typ == 2))] = pd.NA
        self.out["activities"] = pd.DataFrame(
            {
                "activity_id": self.ids("a", n, 6),
                "occurred_at": c.to_utc(t),
                "type": _ACTIVITY_TYPES[typ],
                "customer_id": self.cust_ids[cust],
                "employee_id": _pick(staff.ids, emp, has_emp),
                "deal_id": _pick(self.deal_ids, deal, deal >= 0),
                "direction": _none_where(direction, direction != ""),
                "duration_s": dur,
            }
        )

    # ---- tickets ---------------------------------------------------------------------

    def tickets(self) -> None:
        rng, c, staff, cu = self.rng, self.c, self.staff, self.cu
        a_lo = np.maximum(cu["created"], c.start)
        a_hi = np.minimum(cu["churn"], c.end)
        w = np.sqrt(cu["propensity"]) * np.clip((a_hi - a_lo) / DAY, 0, None)
        w *= np.array([1.8, 1.2, 1.0])[cu["segment"]]
        n = int(rng.poisson(6000))
        cust = rng.choice(len(w), n, p=w / w.sum())
        opened = c.sample(rng, a_lo[cust], a_hi[cust], customer=True, growth=False)
        order = np.argsort(opened, kind="stable")
        opened, cust = opened[order], cust[order]
        agents = np.flatnonzero(staff.role == "support")
        aw = np.where(agents == _OVERLOADED, 3.0, 1.0)
        agent = agents[rng.choice(len(agents), n, p=aw / aw.sum())]
        overloaded = agent == _OVERLOADED
        prio = rng.choice(4, n, p=[0.25, 0.5, 0.18, 0.07])
        sla = opened + (_SLA_HOURS[prio] * HOUR).astype(np.int64)
        fr_h = _FIRST_RESPONSE_H[prio] * np.exp(rng.normal(0, 0.9, n))
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
        self.tk = {
            "opened": opened,
            "resolved": resolved,
            "has_res": has_res,
            "agent": agent,
            "cust": cust,
            "overloaded": overloaded,
        }
        self.ticket_ids = self.ids("t", n, 5)
        self.out["tickets"] = pd.DataFrame(
            {
                "ticket_id": self.ticket_ids,
                "opened_at": c.to_utc(opened),
                "customer_id": self.cust_ids[cust],
                "employee_id": _pick(staff.ids, agent, ~unassigned),
                "channel": _TICKET_CHANNELS[rng.choice(4, n, p=[0.45, 0.2, 0.25, 0.1])],
                "priority": _PRIORITIES[prio],
                "first_response_at": c.to_utc(first, has_first),
                "resolved_at": c.to_utc(resolved, has_res),
                "sla_due_at": c.to_utc(sla),
                "status": status,
            }
        )

    # ---- tasks -----------------------------------------------------------------------

    def tasks(self) -> None:
        rng, c, staff = self.rng, self.c, self.staff
        role_w = {"sales": 1.0, "support": 0.5, "manager": 0.4, "marketing": 0.3}
        lo = np.maximum(staff.hired, c.start)
        hi = np.minimum(staff.left, c.end)
        w = np.array([role_w.get(r, 0.2) for r in staff.role]) * np.clip((hi - lo) / DAY, 0, None)
        w[_IDLE] *= 0.4
        n = int(rng.poisson(8000))
        emp = rng.choice(len(w), n, p=w / w.sum())
        created = c.sample(rng, lo[emp], hi[emp])
        order = np.argsort(created, kind="stable")
        created, emp = created[order], emp[order]
        due_days = rng.choice(np.array([1, 2, 3, 5, 7, 10]), n)
        due = (created // DAY + due_days) * DAY + 17 * HOUR
        p_done = np.where(emp == _IDLE, 0.35, 0.88)
        done = rng.random(n) < p_done
        late = rng.random(n) < np.where(emp == _IDLE, 0.6, 0.22)
        on_time = created + ((due - created) * rng.uniform(0.05, 1.0, n)).astype(np.int64)
        late_t = due + (rng.exponential(2.5, n) * DAY).astype(np.int64)
        completed = np.where(late, late_t, on_time)
        done &= (completed < c.end) & (completed < staff.left[emp])
        self.out["tasks"] = pd.DataFrame(
            {
                "task_id": self.ids("tk", n, 5),
                "employee_id": staff.ids[emp],
                "created_at": c.to_utc(created),
                "due_at": c.to_utc(due),
                "completed_at": c.to_utc(completed, done),
                "type": _TASK_TYPES[
                    rng.choice(len(_TASK_TYPES), n, p=[0.35, 0.2, 0.15, 0.15, 0.15])
                ],
            }
        )

    # ---- surveys ---------------------------------------------------------------------

    def surveys(self) -> None:
        rng, c, staff, cu, tk = self.rng, self.c, self.staff, self.cu, self.tk
        # NPS: relationship survey of active customers; mix depends on the owner's team
        a_lo = np.maximum(cu["created"] + 30 * DAY, c.start)
        a_hi = np.minimum(cu["churn"], c.end)
        w = np.clip((a_hi - a_lo) / DAY, 0, None)
        n_nps = int(rng.poisson(1400))
        n_cust = rng.choice(len(w), n_nps, p=w / w.sum())
        n_t = c.sample(rng, a_lo[n_cust], a_hi[n_cust], customer=True, growth=False)
        team = staff.team[cu["owner0"][n_cust]]
        # detractor / passive / promoter shares by team; midmarket sours with the decline
        mix = np.array(
            [[0.16, 0.30, 0.54], [0.24, 0.33, 0.43], [0.26, 0.36, 0.38], [0.14, 0.30, 0.56]]
        )[team]
        sour = np.where(team == _MM, 1.0 - c.decline(n_t), 0.0)
        mix = mix + np.outer(sour, [0.5, 0.0, -0.5])
        u = rng.random(n_nps)
        bucket = (u > mix[:, 0]).astype(np.int64) + (u > mix[:, 0] + mix[:, 1])
        low = rng.choice(7, n_nps, p=[0.05, 0.05, 0.08, 0.12, 0.15, 0.25, 0.30])
        nps = np.select(
            [bucket == 0, bucket == 1],
            [low, 7 + (rng.random(n_nps) < 0.55)],
            default=9 + (rng.random(n_nps) < 0.45),
        )
        # CSAT and CES after resolved tickets, rating the agent
        res = np.flatnonzero(tk["has_res"])
        v = rng.random(len(res))
        r_t = tk["resolved"][res] + (np.exp(rng.normal(np.log(6), 1.0, len(res))) * HOUR).astype(
            np.int64
        )
        answered = r_t < c.end
        cs = res[(v < 0.33) & answered]
        ce = res[(v >= 0.33) & (v < 0.45) & answered]
        cs_t = r_t[(v < 0.33) & answered]
        ce_t = r_t[(v >= 0.33) & (v < 0.45) & answered]
        over_cs = tk["overloaded"][cs]
        p_good = np.array([0.03, 0.05, 0.12, 0.33, 0.47])
        p_bad = np.array([0.12, 0.16, 0.2, 0.3, 0.22])
        csat = (
            np.where(over_cs, rng.choice(5, len(cs), p=p_bad), rng.choice(5, len(cs), p=p_good)) + 1
        )
        over_ce = tk["overloaded"][ce]
        ces = np.clip(np.round(rng.normal(np.where(over_ce, 4.2, 5.4), 1.2)), 1, 7)
        kind = np.repeat(np.array(["nps", "csat", "ces"]), [n_nps, len(cs), len(ce)])
        score = np.concatenate([nps, csat, ces]).astype(float)
        t = np.concatenate([n_t, cs_t, ce_t])
        tix = np.concatenate([np.full(n_nps, -1), cs, ce])
        cust = np.concatenate([n_cust, tk["cust"][cs], tk["cust"][ce]])
        agent = np.concatenate([np.full(n_nps, -1), tk["agent"][cs], tk["agent"][ce]])
        order = np.argsort(t, kind="stable")
        kind, score, t, tix, cust, agent = (a[order] for a in (kind, score, t, tix, cust, agent))
        n = len(t)
        # comments: short verbatims by sentiment
        sentiment = np.where(
            kind == "nps",
            np.where(score <= 6, 0, np.where(score <= 8, 1, 2)),
            np.where(
                kind == "csat",
                np.where(score <= 2, 0, np.where(score == 3, 1, 2)),
                np.where(score <= 3, 0, np.where(score <= 5, 1, 2)),
            ),
        )
        has_comment = rng.random(n) < np.select([kind == "nps", kind == "csat"], [0.35, 0.25], 0.15)
        pools = [np.array(_COMMENTS[k]) for k in ("detractor", "passive", "promoter")]
        comment = np.empty(n, dtype=object)
        for s, pool in enumerate(pools):
            rows = np.flatnonzero(has_comment & (sentiment == s))
            comment[rows] = pool[rng.integers(0, len(pool), len(rows))]
        # planted: HTML-like text in the latest NPS verbatims (escaping must be tested)
        det = np.flatnonzero((kind == "nps") & (sentiment == 0))[::-1]
        pro = np.flatnonzero((kind == "nps") & (sentiment == 2))[::-1]
        for i, row in enumerate(det[:2]):
            comment[row] = _HTML_COMMENTS[i]
        if len(pro):
            comment[pro[0]] = _HTML_COMMENTS[2]
        self.out["survey_responses"] = pd.DataFrame(
            {
                "response_id": self.ids("r", n, 5),
                "kind": kind,
                "score": score,
                "responded_at": c.to_utc(t),
                "customer_id": self.cust_ids[cust],
                "employee_id": _pick(staff.ids, agent, agent >= 0),
                "ticket_id": _pick(self.ticket_ids, tix, tix >= 0),
                "comment": comment,
            }
        )

    # ---- quotas ----------------------------------------------------------------------

    def quotas(self) -> None:
        rng, c, staff, dl = self.rng, self.c, self.staff, self.dl
        # quarters (as epoch months) from the one holding the window start to the last one
        first_m = _epoch_month(c.start)
        last_m = _epoch_month(c.end - 1)
        months = np.arange(first_m - first_m % 3, last_m - last_m % 3 + 1, 3)
        starts = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        ends = (months + 3).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        reps = np.flatnonzero(staff.role == "sales")
        # typical quarterly revenue per rep (won deals in the window)
        won = (dl["status"] == "won") & (dl["closed"] >= c.start)
        rev = np.bincount(dl["owner"][won], weights=dl["amount"][won], minlength=len(staff.ids))
        days_on = np.clip(
            (np.minimum(staff.left, c.end) - np.maximum(staff.hired, c.start)) / (91.3 * DAY),
            0.5,
            None,
        )
        rep_q = rev / days_on
        team_med = np.array([np.median(rep_q[reps][staff.team[reps] == t]) for t in range(4)])
        typical = 0.5 * rep_q + 0.5 * team_med[staff.team]
        grid_r, grid_q = np.meshgrid(reps, np.arange(len(starts)), indexing="ij")
        r, q = grid_r.ravel(), grid_q.ravel()
        s_sec, e_sec = starts[q] * DAY, ends[q] * DAY
        active = (s_sec < staff.left[r]) & (e_sec > staff.hired[r])
        r, q, s_sec, e_sec = r[active], q[active], s_sec[active], e_sec[active]
        mid = (s_sec + e_sec) / 2
        growth = (1 + _GROWTH) ** ((mid - (c.start + c.end) / 2) / (365.25 * DAY))
        ramp = np.where(s_sec < staff.hired[r], 0.5, 1.0)
        target = typical[r] * growth * ramp * np.exp(rng.normal(0, 0.08, len(r)))
        target = np.round(np.maximum(target, 1000.0), -3)
        self.out["quotas"] = pd.DataFrame(
            {
                "employee_id": staff.ids[r],
                "period_start": c.to_date(s_sec),
                "period_end": c.to_date(e_sec),
                "target_amount": target,
            }
        )


def _epoch_month(t: int) -> int:
    """Months since 1970-01 of local time ``t`` (seconds)."""
    return int(np.datetime64(t // DAY, "D").astype("datetime64[M]").astype(np.int64))
