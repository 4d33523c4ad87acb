"""From an executed notebook to what is published: its JSON twin and its HTML page.

The HTML exporter (nbconvert, with the ``crmkit`` template: code hidden, bookkeeping cells
removed, the site's branding and navigation around the report) takes about a second to
import and compile its templates, so a run builds it in a background thread while its
notebook executes (:func:`start_html_exporter`).
"""

from __future__ import annotations

import html.entities
import json
import re
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import nbformat

from crmkit._media import JSON_MIMETYPE
from crmkit.publish.background import background

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


#: What nbconvert's HTML exporter does to the page it wrote, with BeautifulSoup's Python
#: parser (0.07 s for a page of 1 MB, on every page): an image without alternative text
#: gets this one, and every output (and code input) is made reachable by keyboard.
NO_ALT = "No description has been provided for this image"
_RAW_TEXT = re.compile(r"(<(script|style|textarea|title)[\t\n\f\r />].*?</\2\s*>|<!--.*?-->)",
                       re.S | re.I)
#: A start tag of an image or a division: quoted values may hold ">".
_START_TAG = re.compile(r"""<(img|div)(?=[\t\n\f\r />])((?:"[^"]*"|'[^']*'|[^'">])*)>""", re.I)
_ATTRIBUTE = re.compile(r"""([^\t\n\f\r "'>/=]+)"""  # a name, then perhaps = and a value
                        r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"|'[^']*'|[^\t\n\f\r "'=<>`]+))?""")
#: The outputs and code inputs nbconvert makes reachable by keyboard.
_FOCUSABLE = frozenset({"jp-OutputArea-output", "jp-Cell-inputWrapper"})


def _start_tag(found: re.Match[str]) -> str:
    """An image without alternative text gets :data:`NO_ALT`, an output or code input
    without a tabindex gets ``tabindex="0"`` (as nbconvert's parse did)."""
    name, attributes = found.group(1), found.group(2)
    given: dict[str, str] = {}
    for key, value in _ATTRIBUTE.findall(attributes):
        given.setdefault(key.lower(), value.strip("\"'") if value[:1] in "\"'" else value)
    if name.lower() == "img":
        return found.group(0) if "alt" in given else f'<{name} alt="{NO_ALT}"{attributes}>'
    if "tabindex" in given or not _FOCUSABLE & set(given.get("class", "").split()):
        return found.group(0)
    return f'<{name} tabindex="0"{attributes}>'


_CHARACTER_REFERENCE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _character(found: re.Match[str]) -> str:
    """A reference to a character beyond ASCII (``&#1063;``, ``&laquo;``) as the character
    itself, which is what BeautifulSoup wrote; ASCII ones (``&lt;``, ``&#39;``) stay."""
    ref = found.group(1)
    if ref[0] == "#":
        code = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
        ok = 0xA0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF
        return chr(code) if ok else found.group(0)
    text = html.entities.html5.get(f"{ref};", "")
    return text if text and min(map(ord, text)) >= 0xA0 else found.group(0)


def accessible(page: str) -> str:
    """``page`` as nbconvert's HTML exporter finishes it, without parsing it again: the
    alternative text of images that have none, ``tabindex="0"`` on every output and code
    input, characters beyond ASCII as themselves (nbconvert's Markdown headings write them
    as ``&#1063;``); scripts, styles, text areas, titles and comments are left as they
    are."""
    parts = _RAW_TEXT.split(page)
    for i in range(0, len(parts), 3):  # then the raw text the split kept, and its tag
        text = _START_TAG.sub(_start_tag, parts[i])
        parts[i] = _CHARACTER_REFERENCE.sub(_character, text)
    return "".join(parts[i] for i in range(len(parts)) if i % 3 != 2)


def html_exporter() -> Any:
    """nbconvert's HTML exporter with the ``crmkit`` template, its templates compiled."""
    # lazy: nbconvert costs about a second of CLI start-up
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class PageExporter(HTMLExporter):  # type: ignore[misc]
        """The HTML exporter without its last step, which parses the whole page again
        (:func:`accessible` does what it did)."""

        def from_notebook_node(  # type: ignore[override]
            self, nb: nbformat.NotebookNode, resources: Any = None, **kw: Any
        ) -> tuple[str, Any]:
            # HTMLExporter.from_notebook_node (nbconvert 7), up to the parse
            language = nb.metadata.get("language_info", {})
            lexer = language.get("pygments_lexer", language.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return accessible(page), resources

    return configured(PageExporter)


def configured(exporter_class: Any) -> Any:
    """An exporter of ``exporter_class`` (an nbconvert ``HTMLExporter``) set up as
    :func:`html_exporter`'s: the ``crmkit`` template, code hidden, bookkeeping cells
    removed, the templates compiled."""
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_TAGS)
    config.TagRemovePreprocessor.enabled = True
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    # the notebook validated once, after the last of its 13 preprocessors, not after each:
    # half of a page's export (0.03-0.05 s), each time over the whole notebook
    config.HTMLExporter.optimistic_validation = True
    exporter = exporter_class(
        config=config, template_name="crmkit", extra_template_basedirs=[str(TEMPLATES)]
    )
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    # Jinja compiles the templates on first use: do it now, on an empty notebook.
    exporter.from_notebook_node(nbformat.v4.new_notebook())
    return exporter


def start_html_exporter() -> Future[Any]:
    """Build :func:`html_exporter` in the process's background thread
    (:func:`crmkit.publish.background.background`), then compile there the templates of
    the page's chrome and of the index (:func:`crmkit._html.compile_templates`);
    ``.result()`` waits for the exporter.

    papermill is imported here first, in the calling thread: nbconvert imports some of
    the same modules, and two threads importing a module at once can see it half made.
    """
    from crmkit._html import compile_templates  # lazy: loads Jinja2, as nbconvert does
    from crmkit.publish.notebooks import load_papermill  # lazy: papermill, 0.5 s

    load_papermill()

    built = background().submit(html_exporter)
    # the page's chrome and the index; a template that fails to compile fails where it is
    # rendered, as before (nothing waits for this)
    background().submit(compile_templates, "site")
    return built
