"""The repository's own docs agree with the code and stand alone.

``docs/DATA_MODEL.md`` is written by hand, so every table, column, type, required flag, key,
enumeration and link of :data:`crmkit.model.TABLES` is checked against it (both ways);
``docs/METRICS.md`` is generated from the metric catalogue, so it must be what
``make docs`` would write now.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmkit.errors import CrmkitError
from crmkit.metrics.catalogue_doc import MARKER, regenerate
from crmkit.metrics.definitions import METRICS
from crmkit.model import TABLES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def doc_tables() -> dict[str, tuple[tuple[str, ...], list[tuple[str, str, bool, str]]]]:
    """DATA_MODEL.md's tables: name -> (key, [(column, type, required, rule)])."""
    text = (DOCS / "DATA_MODEL.md").read_text(encoding="utf-8")
    tables_part = text.split("\n## Tables\n", 1)[1].split("\n## ", 1)[0]
    out = {}
    for section in re.split(r"^### ", tables_part, flags=re.M)[1:]:
        heading, body = section.split("\n", 1)
        name = heading.strip().strip("`")
        key_line = re.search(r"^Key: (.+)\.$", body, re.M)
        assert key_line, f"DATA_MODEL.md, table {name}: no 'Key: ...' line"
        key = tuple(re.findall(r"`([^`]+)`", key_line.group(1)))
        columns = []
        for row in re.findall(r"^\| `([^`]+)` \|(.*)\|$", body, re.M):
            column, rest = row
            type_, required, rule = (cell.strip() for cell in rest.split("|", 2))
            assert required in ("yes", "no"), f"DATA_MODEL.md, {name}.{column}: required is {required!r}"
            columns.append((column, type_, required == "yes", rule))
        out[name] = (key, columns)
    return out


def test_data_model_doc_lists_every_table_in_order() -> None:
    assert list(doc_tables()) == list(TABLES), "DATA_MODEL.md tables differ from crmkit.model.TABLES"


@pytest.mark.parametrize("table", list(TABLES))
def test_data_model_doc_matches_the_contract(table: str) -> None:
    spec = TABLES[table]
    key, columns = doc_tables()[table]
    where = f"docs/DATA_MODEL.md, table {table}"
    assert key == spec.key, f"{where}: key {key}, code says {spec.key}"
    documented = [(c, t, r) for c, t, r, _ in columns]
    in_code = [(c.name, c.type, c.required) for c in spec.columns]
    assert documented == in_code, f"{where}: (column, type, required) differ from the code"
    for (name, _, _, rule), col in zip(columns, spec.columns, strict=True):
        links = re.findall(r"→ `([^`]+)`", rule)
        assert links == ([col.fk] if col.fk else []), f"{where}.{name}: link {links}, code says {col.fk}"
        if col.enum:
            assert re.findall(r"`([^`]+)`", rule.split("one of", 1)[-1]) == list(col.enum), (
                f"{where}.{name}: values differ from {col.enum}"
            )
        if col.min is not None and col.max is None:
            assert f">= {col.min:g}" in rule, f"{where}.{name}: rule should say >= {col.min:g}"
        if col.max is not None:
            assert f"{col.min:g}..{col.max:g}" in rule, f"{where}.{name}: range {col.min}..{col.max}"


def test_metrics_doc_is_current() -> None:
    page = (DOCS / "METRICS.md").read_text(encoding="utf-8")
    assert regenerate(page) == page, (
        "docs/METRICS.md is out of date with crmkit/metrics/definitions.py: run `make docs`"
    )


def test_metrics_doc_defines_every_metric_once() -> None:
    generated = (DOCS / "METRICS.md").read_text(encoding="utf-8").split(MARKER, 1)[1]
    names = re.findall(r"^\| `([^`]+)` \|", generated, re.M)
    assert sorted(names) == sorted(METRICS), "docs/METRICS.md and METRICS define different metrics"


def test_regenerate_needs_the_marker() -> None:
    with pytest.raises(CrmkitError, match="make docs"):
        regenerate("# Metric definitions\n")


def test_doc_links_resolve() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
        for target in re.findall(r"`(docs/[A-Za-z_]+\.md)`", text):
            assert (ROOT / target).exists(), f"{page.name} names missing {target}"
