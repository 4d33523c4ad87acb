"""Fixtures shared by the tests: a private copy of the base export to break and a database
built from it (the import tests); what the session shares, each made once and only read by
the tests that use it (a test that changes one works on a copy): the monthly pack, rendered
in the background from the moment a collected test needs it, warm kernels, the Olist
import."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from exports import PIPELINE
from published import JOBS, Pack, background, close_kernels, start_background, stop_background

from crmkit.sources.imports import import_exports

ROOT = Path(__file__).resolve().parent.parent


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


# -- shared by the session ------------------------------------------------------------------


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background renders the collected tests need (tests/published.py), in the
    order they first need them."""
    jobs = list(dict.fromkeys(job for item in session.items for job in JOBS
                              if job in getattr(item, "fixturenames", ())))
    if jobs:
        folder = session.config._tmp_path_factory.mktemp("background")  # tmp_path_factory's
        start_background(Path(os.environ["CRMKIT_DATABASE"]), folder, jobs)


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_background()


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels() -> Iterator[None]:
    """The warm kernels of tests/published.py, shut down when the session ends."""
    yield
    close_kernels()


@pytest.fixture(scope="session")
def monthly_pack(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Pack:
    """The monthly pack of a copy of the pinned demo with a team without records, and every
    report of a period before the data, as ``run-all`` publishes them (tests/published.py),
    rendered in the background while the tests before the first that needs it run.
    Read-only use."""
    pack: Pack = background("monthly_pack", demo_db, lambda: tmp_path_factory.mktemp("background"))
    return pack


@pytest.fixture(scope="session")
def olist_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The public Olist example (``examples/olist``) imported with its mapping. Read-only use."""
    path = tmp_path_factory.mktemp("olist") / "olist.duckdb"
    import_exports(ROOT / "examples" / "olist", ROOT / "mappings" / "olist.yaml", path)
    return path
