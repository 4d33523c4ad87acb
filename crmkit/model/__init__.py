"""The canonical CRM model: the table contracts and the validation of data against them.

* :mod:`crmkit.model.tables` — :data:`TABLES` lists the twelve canonical tables in
  dependency (loading) order, with their columns, logical types, required columns, keys,
  enumerations and foreign keys;
* :mod:`crmkit.model.validate` — :func:`validate` checks a set of pandas frames against
  the contracts, returns coerced copies and soft :class:`DataNote` findings, and raises
  :class:`DataValidationError` on the first hard violation.

Writing and reading a database is the back-ends' job (:mod:`crmkit.backends.duckdb`,
:mod:`crmkit.backends.postgres`); the model knows no engine.
"""

from __future__ import annotations

from crmkit.model.tables import (
    ACTIVITY_TYPES,
    DEAL_STATUSES,
    DIRECTIONS,
    LEAD_STATUSES,
    PANDAS_DTYPES,
    ROLES,
    SCORE_RANGES,
    SETTINGS_DEFAULTS,
    SURVEY_KINDS,
    TABLES,
    ColumnSpec,
    LogicalType,
    TableSpec,
    empty_frame,
)
from crmkit.model.validate import (
    MAX_EXAMPLES,
    DataNote,
    DataValidationError,
    SettingError,
    check_setting,
    checked_settings,
    short_value,
    validate,
    validate_all,
    validate_table,
)

__all__ = [
    "ACTIVITY_TYPES",
    "DEAL_STATUSES",
    "DIRECTIONS",
    "LEAD_STATUSES",
    "MAX_EXAMPLES",
    "PANDAS_DTYPES",
    "ROLES",
    "SCORE_RANGES",
    "SETTINGS_DEFAULTS",
    "SURVEY_KINDS",
    "TABLES",
    "ColumnSpec",
    "DataNote",
    "DataValidationError",
    "LogicalType",
    "SettingError",
    "TableSpec",
    "check_setting",
    "checked_settings",
    "empty_frame",
    "short_value",
    "validate",
    "validate_all",
    "validate_table",
]
