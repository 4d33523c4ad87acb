"""Custom reports: ``crmkit new-report NAME`` creates a notebook from the template, or
promotes an analyst's notebook (``--from work/explore.ipynb``); ``crmkit prepare-lab`` lays
out the analyst's ``work/`` folder and the nbstripout git filter (``make lab``).

The new notebook has the standard parameters, header and JSON twin, and the building
blocks (KPI cards with comparison, a trend chart, a breakdown table, definitions, data
notes) wired to Sales metrics as a starting point. The runner, presets (``reports: all``)
and the index pick it up with no other change. The ids of the standard reports
(:data:`crmkit.reports.REPORTS`) are taken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from crmkit._files import write_atomic
from crmkit.errors import ParameterError
from crmkit.publish.notebooks import REPORT_ID, find_notebooks
from crmkit.reports import REPORTS, title

TEMPLATE = Path(__file__).parent / "templates" / "custom_report.ipynb"
#: The analyst's starter notebook, copied into ``work/`` (load, one metric, a chart, a card).
EXPLORE = Path(__file__).parent / "templates" / "lab" / "explore.ipynb"


def new_report(name: str, notebooks: str | os.PathLike[str] | None = None,
               source: str | os.PathLike[str] | None = None) -> Path:
    """Create ``notebooks/<name>.ipynb`` from the template, or from the notebook
    ``source`` (stored without outputs); refuse unsafe names, the standard reports' ids,
    existing notebooks and a source without a ``parameters`` cell."""
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
    nb = _promoted(Path(source)) if source is not None else nbformat.read(TEMPLATE, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("{{REPORT_ID}}", name)
    nb.metadata["title"] = f"{title(name)} report"
    write_atomic(target, nbformat.writes(nb))
    return target


def _promoted(source: Path) -> nbformat.NotebookNode:
    """An analyst's notebook as a report stores it: no outputs, no execution counts."""
    try:
        nb = nbformat.read(source, as_version=4)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read notebook {source}: {exc}") from None
    if not any("parameters" in c.metadata.get("tags", ()) for c in nb.cells):
        raise ParameterError(
            f"{source} has no cell tagged parameters: the runner passes period, team, ... to "
            "it (tag the first cell, holding those variables, parameters)")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def prepare_lab(root: str | os.PathLike[str]) -> Path:
    """The analyst's ``work/`` folder under ``root`` (ignored by git): a copy of each
    report notebook and the starter ``explore.ipynb``, none overwritten; and the
    nbstripout git filter (``.gitattributes`` names it) set in the repository's config,
    so that a notebook saved with outputs is stored without them. Returns ``work/``."""
    root = Path(root)
    work = root / "work"
    work.mkdir(exist_ok=True)
    for nb in [*sorted((root / "notebooks").glob("*.ipynb")), EXPLORE]:
        if not (work / nb.name).exists():
            shutil.copyfile(nb, work / nb.name)
    if (root / ".git").exists():
        strip = Path(sys.executable).with_name("nbstripout")
        for key, value in (("clean", f"'{strip}' --keep-id"), ("smudge", "cat"),
                           ("required", "true")):
            subprocess.run(["git", "-C", str(root), "config", f"filter.nbstripout.{key}", value],
                           check=True)
    return work
