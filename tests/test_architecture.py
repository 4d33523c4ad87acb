"""The layering the README promises is what the imports do.

Data flows one way: sources → model → metrics → reports → render → publish. A module may
import crmkit modules of its own layer or of a lower one, never of a higher one; there are
no import cycles; crmkit imports sit at the top of a module (none hidden in a function to
dodge a cycle: one that waits for speed says so with ``# lazy:``); every function is under
60 lines; nothing points outside the repository.
"""

from __future__ import annotations

import ast
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "crmkit"

#: Layer of each module prefix (the longest matching prefix wins).
LAYERS = {
    "crmkit.errors": 0, "crmkit._version": 0, "crmkit._media": 0, "crmkit._files": 0, "crmkit._yaml": 0, "crmkit._html": 0,
    "crmkit._docstrings": 0, "crmkit._lazy": 0, "crmkit._special": 0, "crmkit.periods": 0,
    "crmkit.stats": 0, "crmkit.verdict": 0, "crmkit.i18n": 0,
    "crmkit.model": 1,
    "crmkit.backends": 2,
    "crmkit.parameters": 3, "crmkit.store": 3, "crmkit.sources": 3,
    "crmkit.metrics": 4,
    "crmkit.reports": 5, "crmkit.catalog": 5,
    "crmkit.render": 6,
    "crmkit.publish": 7,
    "crmkit.cli": 8, "crmkit": 8,
}
MAX_FUNCTION_LINES = 60
#: The workplace folder beside the repository that nothing may depend on (spelled in two
#: parts so that this file does not match itself).
OUTSIDE = "../" + "shared"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """(imported crmkit module, whether the import is hidden: inside a function or class
    body without a ``# lazy:`` comment saying why it waits)."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    top_level = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        if _type_checking(tree, node):
            continue  # for the type checker only: no import at run time
        lazy = _says_lazy(lines, node.lineno, node.end_lineno or node.lineno)
        for name in dict.fromkeys(names):
            if name in MODULES and name != module:
                found.append((name, id(node) not in top_level and not lazy))
    return found


def _says_lazy(lines: list[str], first: int, last: int) -> bool:
    """Whether an import (lines ``first..last``, 1-based) or the run of imports and
    comments right above it carries a ``# lazy:`` comment."""
    if any("# lazy:" in line for line in lines[first - 1 : last]):
        return True
    above = first - 2
    while above >= 0 and lines[above].strip().startswith(("#", "from ", "import ")):
        if "# lazy:" in lines[above]:
            return True
        above -= 1
    return False


def _type_checking(tree: ast.Module, node: ast.AST) -> bool:
    """Imports under ``if TYPE_CHECKING:`` exist for the type checker only."""
    return any(
        isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        and any(child is node for child in ast.walk(block))
        for block in tree.body
    )


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
        for m, targets in GRAPH.items()
        for t, _ in targets
        if _layer(t) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_crmkit_imports_are_at_the_top_of_modules():
    """An import may wait inside a function only to keep start-up fast, and says so with a
    ``# lazy:`` comment on it or the line above (it still counts for layers and cycles)."""
    hidden = sorted({f"{m} imports {t} inside a function" for m, ts in GRAPH.items()
                     for t, inner in ts if inner})
    assert not hidden, "\n".join(hidden)


def test_no_import_cycles():
    edges = defaultdict(set)
    for m, targets in GRAPH.items():
        for t, _ in targets:
            if not t.startswith(m + "."):  # a package's __init__ may re-export its modules
                edges[m].add(t)
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*trail, node])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(MODULES):
        if module not in state and (cycle := visit(module, [])):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_functions_are_short():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length >= MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert not long, "\n".join(long)


def test_only_the_command_line_reaches_the_sources():
    """Sources (the demo, imports) feed the database; nothing that reads it imports them."""
    reaching = sorted({f"{m} imports {t}" for m, ts in GRAPH.items() for t, _ in ts
                       if t.startswith("crmkit.sources") and not m.startswith("crmkit.sources")
                       and m != "crmkit.cli"})
    assert not reaching, "\n".join(reaching)


def test_report_ids_name_their_modules():
    from crmkit.reports import REPORTS

    for report_id, spec in REPORTS.items():
        assert spec.id == report_id
        assert f"crmkit.reports.{report_id}" in MODULES
        assert f"crmkit.metrics.{report_id}" in MODULES
        assert f"crmkit.render.charts.{report_id}" in MODULES
        assert (ROOT / "notebooks" / f"{report_id}.ipynb").exists()


def test_nothing_points_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=False).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    outside = [
        f for f in tracked
        if (ROOT / f).is_file() and (ROOT / f).suffix not in {".png", ".duckdb", ".parquet"}
        and OUTSIDE in (ROOT / f).read_text(encoding="utf-8", errors="ignore")
    ]
    assert not outside, outside
