"""The canonical tables as contracts: columns, logical types, keys, enumerations, links.

Every report reads the twelve canonical tables described in ``DATA_MODEL.md`` and
nothing else; :data:`TABLES` is the one place where they are defined, in dependency
(loading) order. Validation (:mod:`crmkit.model.validate`) and every back-end
(:mod:`crmkit.backends`) read their rules and types from here.

Logical types are ``id``/``str`` (text), ``timestamp`` (naive, UTC), ``date``, ``float``
and ``int``. In validated pandas frames they are ``str``, ``datetime64[us]`` (dates at
midnight), ``float64`` and ``Int64`` (:data:`PANDAS_DTYPES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

LogicalType = Literal["id", "str", "timestamp", "date", "float", "int"]

ROLES: tuple[str, ...] = ("sales", "marketing", "support", "manager", "other")
LEAD_STATUSES: tuple[str, ...] = ("new", "working", "converted", "disqualified")
DEAL_STATUSES: tuple[str, ...] = ("open", "won", "lost")
ACTIVITY_TYPES: tuple[str, ...] = (
    "call",
    "email",
    "meeting",
    "message",
    "site_visit",
    "request",
    "note",
    "other",
)
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
SURVEY_KINDS: tuple[str, ...] = ("nps", "csat", "ces")

#: Inclusive score range per survey kind (NPS scores must also be whole numbers).
SCORE_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

#: The largest amount of money the model accepts (deal amounts, budgets, costs, quota
#: targets): far above any real figure, far below what sums and fingerprints can hold.
MAX_AMOUNT: float = 1e15

#: Settings written to ``crmkit.settings`` when the caller does not give them.
SETTINGS_DEFAULTS: dict[str, str] = {"timezone": "UTC", "fiscal_year_start_month": "1"}

#: The pandas dtype of each logical type in a validated frame.
PANDAS_DTYPES: dict[str, Any] = {
    "id": "str",
    "str": "str",
    "timestamp": "datetime64[us]",
    "date": "datetime64[us]",
    "float": "float64",
    "int": "Int64",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column.

    ``enum`` lists the allowed (lower-case) values, ``fk`` names the table whose key the
    column refers to, ``min``/``max`` bound numeric values (inclusive).  A required column
    with ``null_is_note`` must be present, but a null value in it is a soft data note (the
    row loads) rather than a hard error.
    """

    name: str
    type: LogicalType
    required: bool = False
    enum: tuple[str, ...] | None = None
    fk: str | None = None
    min: float | None = None
    max: float | None = None
    null_is_note: bool = False

    @property
    def not_null(self) -> bool:
        """Whether a null value is a hard error (and the database column NOT NULL)."""
        return self.required and not self.null_is_note


@dataclass(frozen=True)
class TableSpec:
    """One canonical table: its columns in canonical order and its (maybe composite) key."""

    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        """Names of the required columns (keys included)."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def foreign_keys(self) -> dict[str, str]:
        """Foreign-key columns mapped to the table they refer to."""
        return {c.name: c.fk for c in self.columns if c.fk is not None}


def _c(name: str, type_: LogicalType, required: bool = False, **kw: Any) -> ColumnSpec:
    return ColumnSpec(name, type_, required, **kw)


def _table(name: str, key: str | tuple[str, ...], *columns: ColumnSpec) -> TableSpec:
    return TableSpec(name, (key,) if isinstance(key, str) else key, tuple(columns))


#: The canonical tables in dependency order (load them in this order).
TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        _table("teams", "team_id", _c("team_id", "id", True), _c("name", "str", True)),
        _table(
            "employees",
            "employee_id",
            _c("employee_id", "id", True),
            _c("name", "str", True),
            _c("team_id", "id", True, fk="teams"),
            _c("role", "str", enum=ROLES),
            _c("hired_at", "timestamp"),
            _c("left_at", "timestamp"),
        ),
        _table(
            "customers",
            "customer_id",
            _c("customer_id", "id", True),
            _c("name", "str", True),
            _c("created_at", "timestamp", True),
            _c("segment", "str"),
            _c("industry", "str"),
            _c("region", "str"),
            _c("owner_id", "id", fk="employees"),
        ),
        _table(
            "campaigns",
            "campaign_id",
            _c("campaign_id", "id", True),
            _c("name", "str", True),
            _c("channel", "str", True, null_is_note=True),
            _c("team_id", "id", fk="teams"),
            _c("started_at", "timestamp"),
            _c("ended_at", "timestamp"),
            _c("budget", "float", min=0.0, max=MAX_AMOUNT),
        ),
        _table(
            "campaign_costs",
            ("campaign_id", "date"),
            _c("campaign_id", "id", True, fk="campaigns"),
            _c("date", "date", True),
            _c("cost", "float", True, min=0.0, max=MAX_AMOUNT),
        ),
        _table(
            "leads",
            "lead_id",
            _c("lead_id", "id", True),
            _c("created_at", "timestamp", True),
            _c("campaign_id", "id", fk="campaigns"),
            _c("channel", "str"),
            _c("owner_id", "id", fk="employees"),
            _c("status", "str", enum=LEAD_STATUSES),
            _c("converted_at", "timestamp"),
            _c("customer_id", "id", fk="customers"),
        ),
        _table(
            "deals",
            "deal_id",
            _c("deal_id", "id", True),
            _c("owner_id", "id", True, fk="employees"),
            _c("created_at", "timestamp", True),
            _c("status", "str", True, enum=DEAL_STATUSES),
            _c("customer_id", "id", fk="customers"),
            _c("lead_id", "id", fk="leads"),
            _c("campaign_id", "id", fk="campaigns"),
            _c("stage", "str"),
            _c("amount", "float", min=0.0, max=MAX_AMOUNT),
            _c("probability", "float", min=0.0, max=1.0),
            _c("expected_close_at", "timestamp"),
            _c("closed_at", "timestamp"),
            _c("product", "str"),
            _c("lost_reason", "str"),
        ),
        _table(
            "activities",
            "activity_id",
            _c("activity_id", "id", True),
            _c("occurred_at", "timestamp", True),
            _c("type", "str", True, enum=ACTIVITY_TYPES),
            _c("customer_id", "id", fk="customers"),
            _c("employee_id", "id", fk="employees"),
            _c("deal_id", "id", fk="deals"),
            _c("direction", "str", enum=DIRECTIONS),
            _c("duration_s", "int", min=0.0),
        ),
        _table(
            "tickets",
            "ticket_id",
            _c("ticket_id", "id", True),
            _c("opened_at", "timestamp", True),
            _c("customer_id", "id", fk="customers"),
            _c("employee_id", "id", fk="employees"),
            _c("channel", "str"),
            _c("priority", "str"),
            _c("first_response_at", "timestamp"),
            _c("resolved_at", "timestamp"),
            _c("sla_due_at", "timestamp"),
            _c("status", "str"),
        ),
        _table(
            "tasks",
            "task_id",
            _c("task_id", "id", True),
            _c("employee_id", "id", True, fk="employees"),
            _c("created_at", "timestamp", True),
            _c("due_at", "timestamp"),
            _c("completed_at", "timestamp"),
            _c("type", "str"),
        ),
        _table(
            "survey_responses",
            "response_id",
            _c("response_id", "id", True),
            _c("kind", "str", True, enum=SURVEY_KINDS),
            _c("score", "float", True),
            _c("responded_at", "timestamp", True),
            _c("customer_id", "id", fk="customers"),
            _c("employee_id", "id", fk="employees"),
            _c("ticket_id", "id", fk="tickets"),
            _c("comment", "str"),
        ),
        _table(
            "quotas",
            ("employee_id", "period_start"),
            _c("employee_id", "id", True, fk="employees"),
            _c("period_start", "date", True),
            _c("period_end", "date", True),
            _c("target_amount", "float", True, min=0.0, max=MAX_AMOUNT),
        ),
    )
}


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of ``table``."""
    spec = TABLES[table]
    return pd.DataFrame({c.name: pd.Series([], dtype=PANDAS_DTYPES[c.type]) for c in spec.columns})
