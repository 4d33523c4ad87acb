"""Fixtures shared by the tests: a private copy of the base export to break and a database
built from it (the import tests); what the session shares, each made once and only read by
the tests that use it (a test that changes one works on a copy): the monthly pack, rendered
in the background from the moment a collected test needs it, warm kernels, the Olist
import."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from exports import PIPELINE

from crmkit.sources.imports import import_exports

if TYPE_CHECKING:
    from published import Pack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A private copy of the base export, to break."""
    d = tmp_path / "export"
    shutil.copytree(PIPELINE, d)
    return d


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A Jupyter runtime folder of the test's own, for the kernels it starts: short, as their
    sockets' paths must fit in 107 bytes (a test's ``tmp_path`` may not; crmkit then puts a
    kernel's folder in the system's temporary folder instead)."""
    folder = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database built from the base export (the 'previous database' of the failure tests)."""
    path = tmp_path / "out" / "crm.duckdb"
    import_exports(PIPELINE, PIPELINE / "pipeline.yaml", path)
    return path


# -- shared by the session ------------------------------------------------------------------


#: What the session renders in the background (tests/published.py): fixture -> the
#: ``module:function`` of tests/ that renders it, into a folder of its own.
BACKGROUND = {"monthly_pack": "published:render_pack", "branded_site": "test_site:render_branded",
              "spark_payloads": "spark_parity:spark_payloads"}


def _worker() -> str | None:
    """The pytest-xdist worker this process is (``gw0``, ``gw1``...); None when it runs the
    tests alone or is the controller of the workers."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def _shared_folder(config: pytest.Config) -> Path:
    """Where the workers of one session render in the background: the controller's base
    temporary folder, in which each worker has its own (``popen-gw0``...)."""
    factory = config._tmp_path_factory  # tmp_path_factory's
    base: Path = factory.getbasetemp()
    return (base.parent if _worker() else base) / "background"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background renders the collected tests need, in the order they first need
    them. A session without them does not load the publishing stack here, so the unit tests
    still run while it is broken. Test workers (every one collects every test) share one
    process: ``gw0`` starts it."""
    jobs = {job: BACKGROUND[job] for item in session.items for job in BACKGROUND
            if job in getattr(item, "fixturenames", ())}
    if jobs:
        # lazy: only sessions with end-to-end tests need it (whose modules import it anyway)
        from published import start_background

        worker = _worker()
        if worker is None:
            folder = session.config._tmp_path_factory.mktemp("background")
        else:
            folder = _shared_folder(session.config)
            folder.mkdir(exist_ok=True)
        start_background(Path(os.environ["CRMKIT_DATABASE"]), folder, jobs, worker=worker)


def pytest_sessionfinish(session: pytest.Session) -> None:
    published = sys.modules.get("published")
    if published is not None:  # what its background and kernels still run
        published.stop_background()
        published.close_kernels()
    if _worker() is None and session.config.pluginmanager.has_plugin("dsession"):
        # the controller of test workers, once all are done: the process they shared
        from published import stop_shared_background

        stop_shared_background(_shared_folder(session.config))


@pytest.fixture(scope="session")
def monthly_pack(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Pack:
    """The monthly pack of a copy of the pinned demo with a team without records, and every
    report of a period before the data, as ``run-all`` publishes them (tests/published.py),
    rendered in the background while the tests before the first that needs it run.
    Read-only use."""
    from published import background  # lazy: see pytest_collection_finish

    pack: Pack = background("monthly_pack", BACKGROUND["monthly_pack"], demo_db,
                            lambda: tmp_path_factory.mktemp("background"))
    return pack


@pytest.fixture(scope="session")
def olist_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The public Olist example (``examples/olist``) imported with its mapping. Read-only use."""
    path = tmp_path_factory.mktemp("olist") / "olist.duckdb"
    import_exports(ROOT / "examples" / "olist", ROOT / "mappings" / "olist.yaml", path)
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """The PostgreSQL server of ``$CRMKIT_TEST_POSTGRES_URL`` (``.ci/run`` starts one): tests
    that need it skip without it, except under ``CI=true``, where they fail: CI must not pass
    without having run them."""
    from crmkit.backends.location import Location  # lazy: see pytest_collection_finish

    url = os.environ.get("CRMKIT_TEST_POSTGRES_URL", "").strip()
    if not url:
        message = "CRMKIT_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: under CI=true the PostgreSQL tests must run")
        pytest.skip(message)
    return Location(url)
