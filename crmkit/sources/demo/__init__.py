"""A deterministic demo CRM: two years of a made-up software company, as a canonical database.

:func:`build_demo` writes a DuckDB database in the canonical model (see :mod:`crmkit.model`)
that exercises every metric in ``METRICS.md``: seasonality (weaker summer and December,
stronger March, June and November) and ~20 % yearly growth, channels that convert and pay
differently, repeat purchases, support tickets with SLAs, surveys of all three kinds and
quarterly quotas.  Its numbers are those of a plausible software company: marketing costs
about 5 % of revenue, most campaigns pay back, most sellers land near their quota, and
every text is plain (hostile text belongs in the tests that plant it).  It also plants
stories that the reports must reveal:

* the ``midmarket`` team's revenue and win rate trend down over the last six months, and
  it falls well short of its quota;
* one support agent (``STORY_OVERLOADED_AGENT``) carries about three times the tickets of
  a peer, with worse first-response times and SLA compliance;
* one campaign (``STORY_NEGATIVE_ROI_CAMPAIGN``), still running at the end, costs far more
  than it brings in;
* one sales rep (``STORY_IDLE_REP``) is idle: few activities, few deals, far below quota;
* a handful of open deals have no probability (counted in the data notes).

Beside the canonical tables it writes a pipeline history (:mod:`.history`): the snapshots
``crmkit snapshot`` would have taken, daily for the last 90 days and at each month start
before, so the Sales page shows how the pipeline moved and how good the forecast was.

The same ``seed``, ``end`` and ``scale`` give identical table contents.  Scale ``n`` builds
``n`` independent business units (each with its own staff, customers and campaigns, all in
the same four teams) one at a time and streams them through
:class:`crmkit.backends.duckdb.DatabaseWriter`, so memory stays flat; ids carry the unit number.

Internally all times are int64 seconds of local wall-clock time in the company time zone
(so business hours are local); they are converted to naive UTC on output.

One module per table group, each drawing from the unit's random stream in the order of
:func:`unit_frames`: :mod:`.people` (employees, tasks), :mod:`.marketing` (campaigns,
costs, leads), :mod:`.customers`, :mod:`.sales` (deals, quotas), :mod:`.activities`,
:mod:`.service` (tickets) and :mod:`.surveys`; the company itself is :mod:`.company`,
the calendar :mod:`.clock`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crmkit.backends.duckdb import DatabaseWriter
from crmkit.errors import ParameterError
from crmkit.model import TABLES
from crmkit.sources.demo.activities import activities
from crmkit.sources.demo.clock import Clock
from crmkit.sources.demo.company import (
    PRODUCTS,
    STAGES,
    STORY_IDLE_REP,
    STORY_NEGATIVE_ROI_CAMPAIGN,
    STORY_OVERLOADED_AGENT,
    TEAMS,
)
from crmkit.sources.demo.customers import customers, leads_frame
from crmkit.sources.demo.history import pipeline_snapshots
from crmkit.sources.demo.marketing import campaigns, leads
from crmkit.sources.demo.people import employees, tasks
from crmkit.sources.demo.russian import SETTINGS as RUSSIAN
from crmkit.sources.demo.russian import TEAM_NAMES as RUSSIAN_TEAMS
from crmkit.sources.demo.russian import russian_frames
from crmkit.sources.demo.sales import deals, quotas
from crmkit.sources.demo.service import tickets
from crmkit.sources.demo.surveys import surveys
from crmkit.sources.demo.unit import Unit

__all__ = [
    "PRODUCTS",
    "STAGES",
    "STORY_IDLE_REP",
    "STORY_NEGATIVE_ROI_CAMPAIGN",
    "STORY_OVERLOADED_AGENT",
    "TEAMS",
    "build_demo",
    "default_end",
    "unit_frames",
]


#: The random stream of the pipeline history, apart from the units' own.
HISTORY_STREAM = 1_000_003


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
    currency: str | None = None,
    progress: Callable[[str], None] | None = None,
    locale: str = "en",
) -> Path:
    """Build the demo CRM database at ``path`` and return the path.

    Args:
        path: where to write the DuckDB file (replaced atomically if it exists).
        seed: random seed; the same ``seed``, ``end`` and ``scale`` give the same data.
        end: last day covered (data runs up to the end of that day, company time);
            default :func:`default_end`.  History starts two years earlier.
        scale: number of business units; scale 1 is ~30 employees, ~4,000 customers,
            ~16,000 deals and ~80,000 activities.
        timezone: company time zone (IANA name); business hours are local to it.
        currency: currency code stored in the settings (default EUR; RUB for ``ru``).
        progress: called with short progress messages such as ``"customers 3,000"``.
        locale: ``ru`` makes the same company Russian (:mod:`.russian`: Cyrillic names,
            RUB, Europe/Moscow unless ``timezone`` says otherwise, ``locale: ru`` in the
            settings); ``en`` (the default) is the English demo, unchanged.

    Raises:
        ParameterError: a scale below 1 or a time zone that is not an IANA name.
    """
    if scale < 1:
        raise ParameterError(f"demo scale {scale} must be 1 or more")
    end = end or default_end()
    say = progress or (lambda _msg: None)
    settings = _settings(locale, timezone, currency, f"demo seed={seed} end={end.isoformat()} "
                         f"scale={scale}")
    russian = locale == "ru"
    clock = Clock(end, settings["timezone"])
    team_names = [RUSSIAN_TEAMS.get(n, n) if russian else n for _, n in TEAMS]
    width = len(str(scale - 1)) if scale > 1 else 0
    with DatabaseWriter(path, settings) as writer:
        writer.append(
            "teams", pd.DataFrame({"team_id": [t for t, _ in TEAMS], "name": team_names})
        )
        for number in range(scale):
            frames = unit_frames(Unit(np.random.default_rng([seed, number]), clock, number, width, scale))
            if russian:
                frames = russian_frames(frames)
            for name in TABLES:
                if name in frames:
                    writer.append(name, frames[name])
            history = np.random.default_rng([seed, number, HISTORY_STREAM])  # not the unit's
            writer.append_snapshots(pipeline_snapshots(frames["deals"], clock, history))
            if scale > 1:
                counts = ", ".join(f"{n} {writer.rows[n]:,}" for n in ("customers", "deals", "activities"))
                say(f"unit {number + 1}/{scale}: {counts}")
        for name in TABLES:
            say(f"{name} {writer.rows[name]:,}")
    return Path(path)


def _settings(locale: str, timezone: str, currency: str | None, source: str) -> dict[str, str]:
    """The demo's settings: the English company's, or (``ru``) the Russian company's
    (:mod:`.russian`: RUB, Europe/Moscow unless a time zone is given, ``locale: ru``)."""
    if locale not in ("en", "ru"):
        raise ParameterError(f"demo locale {locale!r}: use en or ru")
    russian = locale == "ru"
    return {
        "timezone": RUSSIAN["timezone"] if russian and timezone == "UTC" else timezone,
        "currency": currency or (RUSSIAN["currency"] if russian else "EUR"),
        "fiscal_year_start_month": "1",
        "source": source,
        **({"locale": "ru"} if russian else {}),
    }


def unit_frames(u: Unit) -> dict[str, pd.DataFrame]:
    """The canonical tables of one business unit (all but ``teams``), drawn in a fixed
    order from the unit's random stream: change the order and the data changes."""
    staff, employee_frame = employees(u)
    cmp, campaign_frame, cost_frame = campaigns(u)
    lead_rows = leads(u, staff, cmp)
    cu, customer_frame = customers(u, staff, lead_rows)
    dl, deal_frame = deals(u, staff, cmp, lead_rows, cu)
    activity_frame = activities(u, staff, cu, dl)
    tk, ticket_frame = tickets(u, staff, cu)
    return {
        "employees": employee_frame,
        "campaigns": campaign_frame,
        "campaign_costs": cost_frame,
        "customers": customer_frame,
        "leads": leads_frame(u, staff, cmp, lead_rows, cu),
        "deals": deal_frame,
        "activities": activity_frame,
        "tickets": ticket_frame,
        "tasks": tasks(u, staff),
        "survey_responses": surveys(u, staff, cu, tk),
        "quotas": quotas(u, staff, dl),
    }
