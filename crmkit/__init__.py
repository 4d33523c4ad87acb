"""crmkit: CRM reports over a canonical, validated data model.

The public surface is small; everything else lives in its layer (``crmkit.metrics``,
``crmkit.reports``, ``crmkit.render``, ``crmkit.publish``, ...: see the README's
Architecture section). Names are imported on first use so that the command line starts
fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from crmkit._version import __version__ as __version__

__all__ = [
    "REPORTS",
    "ReportContext",
    "ReportData",
    "Store",
    "compare_period",
    "open_report",
    "parse_period",
    "run_report",
]

_LOCATIONS = {
    "REPORTS": "crmkit.reports",
    "ReportContext": "crmkit.reports",
    "ReportData": "crmkit.reports",
    "open_report": "crmkit.reports",
    "Store": "crmkit.store",
    "parse_period": "crmkit.periods",
    "compare_period": "crmkit.periods",
    "run_report": "crmkit.publish.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'crmkit' has no attribute {name!r}")
