"""Parameter documentation shared by the CLI, the notebooks and the Python API."""

from __future__ import annotations

PARAMS = {
    "period": (
        "Period to report on: 2025-06, 2025-Q2, 2025-H1, 2025, 2025-W23, "
        "2025-06-01..2025-06-15, FY2025-Q1, or relative to as_of: this-month, last-month, "
        "this-quarter, last-quarter, ytd, last-7d, last-30d, last-90d; to date (up to the "
        "as-of time, compared with the same elapsed part): today, this-week, month-to-date, "
        "quarter-to-date. Default: last-month."
    ),
    "team": "Team id or name, or 'all' for the whole company. Default: all.",
    "compare_to": (
        "Comparison period: previous (the period just before, same length), year_ago, or "
        "none. Default: previous."
    ),
    "as_of": (
        "Date (YYYY-MM-DD: the end of that day) or local time in the company time zone "
        "(YYYY-MM-DDTHH:MM[:SS], no offset) the report is made at: anchors relative periods, "
        "cuts to-date ones and the forecast. Default: today (now for to-date periods) in the "
        "company time zone, or $CRMKIT_AS_OF."
    ),
    "database": (
        "Canonical DuckDB database file. Default: $CRMKIT_DATABASE, else "
        "$CRMKIT_DATABASE_URL (a PostgreSQL database, from the environment only), else "
        "data/demo.duckdb in the current folder or a parent."
    ),
    "timezone": "IANA time zone that cuts periods. Default: the dataset's setting, else UTC.",
}


def doc(*names: str) -> str:
    """A numpydoc 'Parameters' block for the named shared parameters."""
    lines = ["Parameters", "----------"]
    for name in names:
        lines += [name, "    " + PARAMS[name]]
    return "\n".join(lines)
