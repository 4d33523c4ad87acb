"""Report notebooks: where they are, which reports exist, and a report's own parameters.

The standard reports are those of the catalogue (:data:`crmkit.catalog.CATALOG`); any other
notebook in the notebooks folder is a custom report (``crmkit new-report``) and runs the
same way. A report's own parameters (``--param NAME=VALUE``, ``params:`` in a preset) are
checked against its notebook's parameters cell and typed before they reach it.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from crmkit._lazy import hidden
from crmkit.catalog import CATALOG
from crmkit.errors import ParameterError

#: A report id: also a file name, so nothing that could leave the notebooks folder.
REPORT_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

#: Parameters every report notebook declares; each has its own option on the command line.
STANDARD = frozenset({"period", "team", "compare_to", "as_of", "database", "timezone", "locale"})

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:+\- ]{0,64}$")


#: crmkit's own report notebooks: the repository's ``notebooks/`` beside the package.
SHIPPED = Path(__file__).resolve().parent.parent.parent / "notebooks"


def shipped(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is crmkit's own notebooks folder (:data:`SHIPPED`)."""
    with contextlib.suppress(OSError):
        return Path(folder).resolve() == SHIPPED
    return False


def find_notebooks(notebooks: str | os.PathLike[str] | None = None) -> Path:
    """The report notebooks folder: the argument, ``$CRMKIT_NOTEBOOKS``, ``./notebooks``,
    or the repository's ``notebooks/`` beside the package."""
    for candidate in (notebooks, os.environ.get("CRMKIT_NOTEBOOKS"), "notebooks", SHIPPED):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    raise ParameterError("no notebooks folder found; pass --notebooks DIR")


def available_reports(notebooks: str | os.PathLike[str] | None = None) -> list[str]:
    """Report ids with a notebook in the folder: the catalogue's in page order, then the
    custom reports (any other notebook) by name."""
    folder = find_notebooks(notebooks)
    found = {p.stem for p in folder.glob("*.ipynb") if REPORT_ID.match(p.stem)}
    standard = [report for report in CATALOG if report in found]
    return standard + sorted(found - set(standard))


def report_notebook(report: str, folder: Path) -> Path:
    """The notebook of a report id; a one-line error for an unsafe or unknown id."""
    if not REPORT_ID.match(report or ""):
        raise ParameterError(
            f"report {report!r}: a report id is lower-case letters, digits and _ (e.g. sales); "
            f"available reports: {_listed(folder)}"
        )
    source = folder / f"{report}.ipynb"
    if not source.exists():
        raise ParameterError(f"no report {report!r}; available reports: {_listed(folder)}")
    return source


def _listed(folder: Path) -> str:
    return ", ".join(available_reports(folder)) or "none"


def report_parameters(report: str, source: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Validate a report's own parameters against its notebook's parameters cell.

    Names must be declared there (and not be one of the standard parameters, which have
    their own options); values are numbers, booleans or short plain text, so nothing
    unsafe reaches the notebook, and a number is finite, in range and of its default's kind
    (:func:`crmkit.parameters.check_own_parameter`).
    """
    if not extra:
        return {}
    pm = load_papermill()
    # lazy: Babel, 0.02 s, before a run's kernel process starts (crmkit.publish.spawn)
    from crmkit.parameters import check_own_parameter

    found = pm.inspect_notebook(str(source))
    declared = set(found) - STANDARD
    return {
        name: check_own_parameter(report, name, _checked(report, name, value, declared),
                                  found.get(name, {}).get("default"))
        for name, value in extra.items()
    }


def _checked(report: str, name: str, value: Any, declared: set[str]) -> Any:
    """One own parameter, typed; a one-line ParameterError for a name or value it refuses."""
    if name in STANDARD:
        option = "--" + name.replace("_", "-")
        raise ParameterError(f"{report}: parameter {name!r} has its own option ({option})")
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise ParameterError(f"{report}: unknown parameter {name!r}; its parameters: {known}")
    if isinstance(value, str):
        if not _SAFE_VALUE.match(value):
            raise ParameterError(
                f"{report}: parameter {name}={value!r}: use letters, digits and . _ - : + only"
            )
        return typed(value)
    if not isinstance(value, int | float | bool):
        raise ParameterError(f"{report}: parameter {name}: a number, true/false or short text")
    return value


def typed(text: str) -> Any:
    """A command-line value as the notebook should see it: bool, int, float or the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


#: What papermill imports as it loads and crmkit never uses: PyArrow, for notebooks on HDFS
#: (0.1 s of a run's command, which needs NumPy only, to draw).
PAPERMILL_UNUSED = ("pyarrow",)


def load_papermill() -> ModuleType:
    """papermill, imported without :data:`PAPERMILL_UNUSED` (an ``hdfs://`` path then says
    that it needs PyArrow), which import as usual afterwards. Only in a process of one
    thread (a run's command): in another, a thread could be importing one meanwhile."""
    alone = threading.active_count() == 1
    with hidden(*PAPERMILL_UNUSED) if alone else contextlib.nullcontext():
        import papermill  # lazy: 0.5 s; a command that runs no notebook need not wait

    return papermill
