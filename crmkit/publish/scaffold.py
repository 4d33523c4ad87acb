"""Custom reports: ``crmkit new-report NAME`` creates a notebook from the template.

The new notebook has the standard parameters, header and JSON twin, and the building
blocks (KPI cards with comparison, a trend chart, a breakdown table, definitions, data
notes) wired to Sales metrics as a starting point. The runner, presets (``reports: all``)
and the index pick it up with no other change. The ids of the standard reports
(:data:`crmkit.reports.REPORTS`) are taken.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

from crmkit._files import write_atomic
from crmkit.errors import ParameterError
from crmkit.publish.notebooks import REPORT_ID, find_notebooks
from crmkit.reports import REPORTS, title

TEMPLATE = Path(__file__).parent / "templates" / "custom_report.ipynb"


def new_report(name: str, notebooks: str | os.PathLike[str] | None = None) -> Path:
    """Create ``notebooks/<name>.ipynb``; refuse unsafe names, the standard reports' ids
    and existing notebooks."""
    if not REPORT_ID.match(name or ""):
        raise ParameterError(
            f"report {name!r}: a report id is lower-case letters, digits and _, "
            "starting with a letter (e.g. q3_review)"
        )
    if name in REPORTS:
        raise ParameterError(
            f"report {name!r} is a standard report (crmkit.reports.{name}); choose another name"
        )
    folder = find_notebooks(notebooks)
    target = folder / f"{name}.ipynb"
    if target.exists():
        raise ParameterError(f"{target} already exists; choose another name or edit it")
    nb = nbformat.read(TEMPLATE, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("{{REPORT_ID}}", name)
    nb.metadata["title"] = f"{title(name)} report"
    write_atomic(target, nbformat.writes(nb))
    return target
