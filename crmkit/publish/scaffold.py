"""Custom reports: ``crmkit new-report NAME`` creates a notebook from the template.

The new notebook has the standard parameters, header and JSON twin, and the building
blocks (KPI cards with comparison, a trend chart, a breakdown table, definitions, data
notes) wired to Sales metrics as a starting point. The runner, presets (``reports: all``)
and the index pick it up with no other change.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

TEMPLATE = Path(__file__).parent / "templates" / "custom_report.ipynb"


def new_report(name: str, notebooks: str | os.PathLike[str] | None = None) -> Path:
    """Create ``notebooks/<name>.ipynb``; refuse unsafe names and existing notebooks."""
    from crmkit.errors import ParameterError
    from crmkit.publish.runner import REPORT_ID, find_notebooks, write_atomic

    if not REPORT_ID.match(name or ""):
        raise ParameterError(
            f"report {name!r}: a report id is lower-case letters, digits and _, "
            "starting with a letter (e.g. q3_review)"
        )
    folder = find_notebooks(notebooks)
    target = folder / f"{name}.ipynb"
    if target.exists():
        raise ParameterError(f"{target} already exists; choose another name or edit it")
    nb = nbformat.read(TEMPLATE, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("{{REPORT_ID}}", name)
    nb.metadata["title"] = f"{name.replace('_', ' ').title()} report"
    write_atomic(target, nbformat.writes(nb))
    return target
