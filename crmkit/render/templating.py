"""Report blocks as notebook outputs: a template of ``crmkit/render/templates/`` rendered
by the package's one autoescaping Jinja2 environment (:mod:`crmkit._html`)."""

from __future__ import annotations

from typing import Any

from IPython.display import HTML

from crmkit._html import render

__all__ = ["html_block"]


def html_block(template: str, **values: Any) -> HTML:
    """Render one block template (e.g. ``cards.html.j2``) as a notebook HTML output."""
    return HTML(render(f"blocks/{template}", **values))
