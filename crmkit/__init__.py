"""crmkit: CRM reports over a canonical, validated data model.

The public surface is small; everything else lives in its domain module
(``crmkit.metrics.sales``, ``crmkit.periods``, ...). Names are imported on first use so that the
command line starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "ReportContext",
    "ReportData",
    "Store",
    "compare_period",
    "open_report",
    "parse_period",
    "run_report",
]

_LOCATIONS = {
    "ReportContext": "crmkit.reports.context",
    "ReportData": "crmkit.reports.context",
    "open_report": "crmkit.reports.context",
    "Store": "crmkit.store",
    "parse_period": "crmkit.periods",
    "compare_period": "crmkit.periods",
    "run_report": "crmkit.publish.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'crmkit' has no attribute {name!r}")
