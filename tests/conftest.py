"""Fixtures of the import tests: a private copy of the base export to break, and a
database built from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from exports import PIPELINE

from crmkit.sources.imports import import_exports


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A private copy of the base export, to break."""
    d = tmp_path / "export"
    shutil.copytree(PIPELINE, d)
    return d


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database built from the base export (the 'previous database' of the failure tests)."""
    path = tmp_path / "out" / "crm.duckdb"
    import_exports(PIPELINE, PIPELINE / "pipeline.yaml", path)
    return path
