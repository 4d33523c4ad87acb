"""Which days the data covers: the first and last local day of every kind of record.

A report of a period the data does not cover (an empty database, a team without records,
a period before or after the data, a comparison period before a kind of record starts)
publishes zeros and N/A; the page says why with these spans (see
:meth:`crmkit.reports.context.ReportContext.coverage_notes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import narwhals as nw
import pandas as pd

__all__ = ["EVENTS", "Span", "spans"]

#: The records whose timestamps say which days the data covers, and what they are called.
EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "activities": ("activities", ("occurred_at",)),
    "deals": ("deals", ("created_at", "closed_at")),
    "leads": ("leads", ("created_at",)),
    "tickets": ("tickets", ("opened_at",)),
    "tasks": ("tasks", ("created_at",)),
    "survey_responses": ("survey responses", ("responded_at",)),
}


@dataclass(frozen=True)
class Span:
    """The first and last local day with a record of one kind."""

    what: str
    first: date
    last: date


def _local_day(value: object, timezone: str) -> date | None:
    """A naive UTC timestamp as the local calendar day (None for a missing value)."""
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return None
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(timezone).date()


def _span(frame: nw.LazyFrame, what: str, columns: tuple[str, ...], timezone: str) -> Span | None:
    names = frame.collect_schema().names()
    present = [c for c in columns if c in names]
    if not present:
        return None
    # grouped by a constant: an empty table gives no row rather than a row of nulls, which
    # some engines refuse for a NOT NULL column (ibis on PostgreSQL)
    table = (
        frame.with_columns(_all=nw.lit(1))
        .group_by("_all")
        .agg(
            *[nw.col(c).min().alias(f"lo_{c}") for c in present],
            *[nw.col(c).max().alias(f"hi_{c}") for c in present],
        )
        .collect()
        .to_pandas()
    )
    if table.empty:
        return None
    row = table.iloc[0]
    lows = [d for c in present if (d := _local_day(row[f"lo_{c}"], timezone)) is not None]
    highs = [d for c in present if (d := _local_day(row[f"hi_{c}"], timezone)) is not None]
    if not lows or not highs:
        return None
    return Span(what, min(lows), max(highs))


def spans(tables: Mapping[str, nw.LazyFrame], timezone: str) -> dict[str, Span]:
    """The span of every kind of record in :data:`EVENTS` that has one, in local days."""
    found = {}
    for table, (what, columns) in EVENTS.items():
        if table in tables and (span := _span(tables[table], what, columns, timezone)):
            found[table] = span
    return found
