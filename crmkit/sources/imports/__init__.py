"""Imports of CRM exports (CSV, Parquet, Excel) into the canonical model.

``crmkit import SOURCE_DIR [--mapping FILE] [--database PATH]`` reads the export files,
maps them onto the canonical tables of ``docs/DATA_MODEL.md`` as a YAML mapping says (or by
name, for a folder of canonical-shape files), validates every rule and writes a DuckDB
database that the reports read, atomically, with a data-quality report beside it.

Layers, in the order data flows:

* :mod:`~crmkit.sources.imports.mapping` parses and checks the mapping file (pydantic models);
* :mod:`~crmkit.sources.imports.sources` reads the files as text, keeping file and line per row;
* :mod:`~crmkit.sources.imports.staging` builds each canonical table with one DuckDB query and
  reads its values as canonical types (:mod:`~crmkit.sources.imports.values`);
* :mod:`crmkit.model` validates the tables, :mod:`crmkit.backends.duckdb` writes the database;
* :mod:`~crmkit.sources.imports.quality` writes the data-quality report (a Jinja2 template);
* :mod:`~crmkit.sources.imports.pipeline` runs the steps in this order (:func:`import_exports`).
"""

from __future__ import annotations

from crmkit.sources.imports.errors import ImportFailed, Problem
from crmkit.sources.imports.mapping import Mapping, canonical_mapping, load_mapping
from crmkit.sources.imports.pipeline import DEFAULT_IMPORT_DATABASE, ImportResult, import_exports

__all__ = [
    "DEFAULT_IMPORT_DATABASE",
    "ImportFailed",
    "ImportResult",
    "Mapping",
    "Problem",
    "canonical_mapping",
    "import_exports",
    "load_mapping",
]
