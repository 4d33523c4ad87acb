"""Shared test set-up for tests/ and for the nbval run of notebooks/.

A small demo database with a pinned seed and end date is built once (cached in the
system temp folder, keyed on the generator's source) and exposed to every test and to the
notebook kernels through ``CRMKIT_DATABASE``; ``CRMKIT_AS_OF`` pins "today" so the
notebooks' default period (last month) is the demo's last month.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest
from filelock import FileLock

PINNED_END = date(2025, 6, 30)
PINNED_AS_OF = "2025-07-01"
PINNED_SEED = 7
ROOT = Path(__file__).parent
#: The folders a test session keeps to itself: environment variable -> name prefix.
_SESSION_FOLDERS = {"CRMKIT_CACHE_DIR": "crmkit-cache-", "JUPYTER_RUNTIME_DIR": "crmkit-runtime-"}


def _demo_database() -> Path:
    code = ROOT / "crmkit"
    demo, model = (code / "sources" / "demo").rglob("*.py"), (code / "model").rglob("*.py")
    sources = sorted([*demo, *model, code / "backends" / "duckdb.py"])
    key = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"crmkit-test-{PINNED_SEED}-{PINNED_END}-{key}.duckdb"
    # one build when several sessions start at once (the test workers of `make test`)
    with FileLock(f"{path}.lock"):
        if not path.exists():
            from crmkit.sources.demo import build_demo

            build_demo(path, seed=PINNED_SEED, end=PINNED_END, scale=1)
    return path


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["CRMKIT_DATABASE"] = str(_demo_database())
    os.environ["CRMKIT_AS_OF"] = PINNED_AS_OF
    # the tests' `crmkit run` talks to no `crmkit serve` a developer may have running
    os.environ["CRMKIT_SERVE_SOCKET"] = str(Path(tempfile.mkdtemp(prefix="crmkit-serve-")) / "serve.sock")
    # Remembered fingerprints go to a folder of this session, not the developer's cache;
    # kernels' connection files and sockets too (what a killed kernel leaves goes with it).
    # The session's test workers (pytest-xdist) use their controller's, which outlive them:
    # the background renders they share may run on after the worker that started them ends.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        for variable, prefix in _SESSION_FOLDERS.items():
            os.environ[variable] = tempfile.mkdtemp(prefix=prefix)


def pytest_unconfigure(config: pytest.Config) -> None:
    with contextlib.suppress(OSError, KeyError):
        Path(os.environ["CRMKIT_SERVE_SOCKET"]).parent.rmdir()  # empty: no server ran there
    if "PYTEST_XDIST_WORKER" not in os.environ:
        for variable in _SESSION_FOLDERS:
            shutil.rmtree(os.environ.get(variable, ""), ignore_errors=True)


@pytest.fixture(scope="session")
def demo_db() -> Path:
    """The pinned demo database (read-only use: tests must not modify it)."""
    return Path(os.environ["CRMKIT_DATABASE"])


@pytest.fixture(autouse=True)
def _seed_and_close_figures():
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# Fixture notebooks (one deliberately broken) are inputs of the runner tests, not tests.
collect_ignore_glob = ["tests/fixtures/*"]
