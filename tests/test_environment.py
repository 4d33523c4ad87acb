"""The environment files agree with ``pyproject.toml``: the locks of ``requirements/``, the
Makefile targets that install them, and the conda ``environment.yml``.

A dependency added to ``pyproject.toml`` without ``make lock`` fails here, and so does one
missing from ``environment.yml``: a scheduled run installs exactly what was tested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

#: Each lock and the pyproject.toml groups it must cover ("run": the base dependencies).
LOCKS = {"run": ("run",), "dev": ("run", "dev", "postgres", "spark"), "lab": ("run", "lab"),
         "postgres": ("run", "postgres"), "spark": ("run", "spark")}

#: conda-forge packages whose name differs from PyPI's (extras are conda packages of their own).
CONDA_NAMES = {
    "duckdb": "python-duckdb",
    "tzdata": "python-tzdata",
    "ibis-framework": "ibis-postgres",  # ibis-framework[postgres]
}
#: conda packages that are not Python dependencies of crmkit.
CONDA_ONLY = {"python", "pip"}


def declared(group: str) -> list[Requirement]:
    """The requirements of a pyproject.toml group ("run" for the base dependencies)."""
    specs = PYPROJECT["dependencies"] if group == "run" else PYPROJECT["optional-dependencies"][group]
    return [Requirement(s) for s in specs]


class Pin(NamedTuple):
    """One pinned requirement of a lock (a package may have one pin per environment marker)."""

    name: str
    version: Version
    marker: str
    entry: str


def pins(lock: str) -> dict[tuple[str, str], Pin]:
    """A lock's pins by (canonical name, environment marker)."""
    text = (ROOT / "requirements" / f"{lock}.txt").read_text(encoding="utf-8")
    out: dict[tuple[str, str], Pin] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text):
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        req = Requirement(entry.split("\\", 1)[0].strip())
        (spec,) = req.specifier
        assert spec.operator == "==", f"requirements/{lock}.txt: {req} is not pinned with =="
        pin = Pin(canonicalize_name(req.name), Version(spec.version), str(req.marker or ""), entry)
        out[pin.name, pin.marker] = pin
    return out


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    locked = pins(lock)
    assert locked, f"requirements/{lock}.txt pins nothing"
    unhashed = [pin.name for pin in locked.values() if "--hash=sha256:" not in pin.entry]
    assert not unhashed, f"requirements/{lock}.txt: no hash for {unhashed}; run `make lock`"
    text = (ROOT / "requirements" / f"{lock}.txt").read_text(encoding="utf-8")
    assert "file:" not in text and "/tmp" not in text, f"requirements/{lock}.txt names a local path"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_covers_pyproject(lock: str) -> None:
    """Every dependency of the lock's groups is pinned, at versions its bounds allow."""
    locked = pins(lock).values()
    for group in LOCKS[lock]:
        for req in declared(group):
            versions = [pin.version for pin in locked if pin.name == canonicalize_name(req.name)]
            assert versions, f"requirements/{lock}.txt lacks {req} (pyproject.toml, {group}); run `make lock`"
            outside = [str(v) for v in versions if not req.specifier.contains(v, prereleases=True)]
            assert not outside, (
                f"requirements/{lock}.txt pins {req.name} {outside}, outside {req} "
                f"(pyproject.toml, {group}); run `make lock`"
            )


def versions(lock: str) -> dict[str, set[Version]]:
    """A lock's versions by canonical name (a package may be pinned apart per marker)."""
    out: dict[str, set[Version]] = {}
    for pin in pins(lock).values():
        out.setdefault(pin.name, set()).add(pin.version)
    return out


@pytest.mark.parametrize(("base", "larger"), [("run", "dev"), ("run", "lab"), ("dev", "lab"),
                                               ("run", "postgres"), ("postgres", "dev"),
                                               ("run", "spark"), ("spark", "dev")])
def test_locks_agree_on_shared_packages(base: str, larger: str) -> None:
    """`make reports` then `make test` (or `make lab`) never changes an installed version."""
    a, b = versions(base), versions(larger)
    if base == "run":
        assert a.keys() <= b.keys(), f"requirements/{larger}.txt lacks {sorted(a.keys() - b.keys())}"
    differ = sorted(f"{name} {sorted(map(str, a[name]))} vs {sorted(map(str, b[name]))}"
                    for name in a.keys() & b.keys() if a[name] != b[name])
    assert not differ, f"requirements/{base}.txt and {larger}.txt differ: {differ}; run `make lock`"


def dry_run(target: str) -> str:
    """The commands `make -n -B <target>` would run (nothing is executed)."""
    done = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_installs_the_right_locks() -> None:
    reports, test = dry_run("reports"), dry_run("test")
    assert "--require-hashes -r requirements/run.txt" in reports
    assert "requirements/dev.txt" not in reports and "requirements/lab.txt" not in reports
    assert "--require-hashes -r requirements/dev.txt" in test
    for commands in (reports, test):
        assert "--no-deps -e ." in commands
        assert not re.search(r"pip install(?!.*(--require-hashes|--no-deps)).*$", commands, re.M), (
            "every pip install of make reports / make test is hash-checked or --no-deps"
        )


def conda_dependencies() -> dict[str, SpecifierSet]:
    """environment.yml's conda packages: name -> version bounds (pip section left out)."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    out: dict[str, SpecifierSet] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, bounds = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep).groups()  # type: ignore[union-attr]
            out[name] = SpecifierSet(bounds)
    return out


def test_environment_yml_lists_pyproject_dependencies() -> None:
    """Same packages, same bounds: every group of pyproject.toml, none left out, none extra."""
    conda = conda_dependencies()
    expected = {
        CONDA_NAMES.get(canonicalize_name(req.name), canonicalize_name(req.name)): req.specifier
        for group in ("run", *PYPROJECT["optional-dependencies"])
        for req in declared(group)
    }
    missing = sorted(expected.keys() - conda.keys())
    assert not missing, f"environment.yml lacks {missing} (in pyproject.toml)"
    extra = sorted(conda.keys() - expected.keys() - CONDA_ONLY)
    assert not extra, f"environment.yml lists {extra}, which pyproject.toml does not"
    for name, bounds in expected.items():
        assert conda[name] == bounds, (
            f"environment.yml: {name}{conda[name]} but pyproject.toml says {bounds}"
        )
    assert conda["python"] == SpecifierSet(PYPROJECT["requires-python"])
