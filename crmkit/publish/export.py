"""From an executed notebook to what is published: its JSON twin and its HTML page.

The HTML exporter (nbconvert, with the ``crmkit`` template: code hidden, bookkeeping cells
removed, the site's branding and navigation around the report) takes about a second to
import and compile its templates, so a run builds it in a background thread while its
notebook executes (:func:`start_html_exporter`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat

from crmkit._media import JSON_MIMETYPE

TEMPLATES = Path(__file__).parent / "templates"

#: Cells the page leaves out: set-up, the parameters cell and the one papermill injected.
REMOVED_TAGS = frozenset({"remove-cell", "injected-parameters", "parameters"})


def extract_json(nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The report's JSON twin, taken from the executed notebook's outputs."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if JSON_MIMETYPE in data:
                value = data[JSON_MIMETYPE]
                return json.loads(value) if isinstance(value, str) else dict(value)
    return None


def twin_text(payload: Mapping[str, Any]) -> str:
    """The JSON twin as it is published: indented as ``json.dumps(indent=2)`` would, except
    that each row of a breakdown is one line. As readable, and written by the json module's
    C encoder: an indented dump runs in Python, about 2 s for the 11 MB twin of a page of
    3,000 people."""
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    def indented(value: Any, depth: int) -> str:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=2)
        return text.replace("\n", "\n" + " " * depth)

    def rows(name: str, value: Any, last: bool) -> list[str]:
        end = "" if last else ","
        if not isinstance(value, list) or not value:
            return [f"    {dumps(name)}: {indented(value, 4)}{end}"]
        lines = [f"      {dumps(row)}," for row in value]
        lines[-1] = lines[-1][:-1]
        return [f"    {dumps(name)}: [", *lines, f"    ]{end}"]

    lines = ["{"]
    for i, (key, value) in enumerate(payload.items()):
        end = "" if i == len(payload) - 1 else ","
        key = str(key)
        if key == "breakdowns" and isinstance(value, Mapping) and value:
            lines.append(f"  {dumps(key)}: {{")
            for j, (name, table) in enumerate(value.items()):
                lines += rows(str(name), table, j == len(value) - 1)
            lines.append(f"  }}{end}")
        else:
            lines.append(f"  {dumps(key)}: {indented(value, 2)}{end}")
    lines.append("}")
    return "\n".join(lines) if payload else "{}"


def to_html(nb: nbformat.NotebookNode, exporter: Any = None,
            chrome: Mapping[str, Any] | None = None) -> str:
    """Self-contained HTML with code hidden and bookkeeping cells removed. ``chrome`` is
    what the site adds around the report (:func:`crmkit.publish.site.chrome`: the title,
    and the head, top and bottom of the page as markup), printed by the ``crmkit`` template
    with autoescape on."""
    resources = {"crmkit": dict(chrome)} if chrome else None
    body, _ = (exporter or html_exporter()).from_notebook_node(nb, resources=resources)
    return body


def html_exporter() -> Any:
    """nbconvert's HTML exporter with the ``crmkit`` template, its templates compiled."""
    # lazy: nbconvert costs about a second of CLI start-up
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_TAGS)
    config.TagRemovePreprocessor.enabled = True
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    exporter = HTMLExporter(
        config=config, template_name="crmkit", extra_template_basedirs=[str(TEMPLATES)]
    )
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    # Jinja compiles the templates on first use: do it now, on an empty notebook.
    exporter.from_notebook_node(nbformat.v4.new_notebook())
    return exporter


def start_html_exporter() -> Future[Any]:
    """Build :func:`html_exporter` in a background thread; ``.result()`` waits for it.

    papermill is imported here first, in the calling thread: nbconvert imports some of
    the same modules, and two threads importing a module at once can see it half made.
    """
    import papermill  # noqa: F401  # lazy: papermill costs about 0.5 s of CLI start-up

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmkit-exporter")
    try:
        return pool.submit(html_exporter)
    finally:
        pool.shutdown(wait=False)  # the submitted build still runs; a failed run need not wait
