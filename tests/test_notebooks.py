"""Every report notebook follows the house rules: stored without outputs, the fixed kernel,
the standard parameters, thin cells, and the JSON twin published by its last cell."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEMPLATE = ROOT / "crmkit" / "publish" / "templates" / "custom_report.ipynb"
STANDARD = {"period", "team", "compare_to", "as_of", "database", "timezone"}


def test_there_are_notebooks():
    assert any(p.stem == "sales" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", [*NOTEBOOKS, TEMPLATE], ids=lambda p: p.name)
def test_notebook_rules(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "crmkit"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and code[0] is params[0], "the first code cell holds the parameters"
    names = {t.id for node in ast.parse(params[0].source).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert names >= STANDARD, STANDARD - names
    assert "blocks.publish(data)" in code[-1].source and "remove-cell" in code[-1].metadata.get("tags", [])
    assert "open_report(" in code[1].source and "blocks.header(ctx)" in code[1].source
    for cell in code:
        assert len(cell.source.splitlines()) <= 15, f"cell over 15 lines: {cell.source[:60]}"
