"""The "What changed" block at the top of every page: the sentences written from the
report's JSON twin (:func:`crmkit.reports.summary.summarize`, stored in it as ``summary``),
drawn by ``templates/summary.html.j2``, which escapes every text (names from the data too).

A sentence about a movement gets the marker of :func:`crmkit.verdict.verdict`: an arrow by
the direction of the change, coloured by whether that direction is better.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from IPython.display import HTML

from crmkit.render.templating import html_block
from crmkit.reports.data import ReportData
from crmkit.reports.summary import summarize
from crmkit.verdict import verdict

__all__ = ["summary"]


@dataclass(frozen=True)
class _Line:
    kind: str
    text: str
    arrow: str
    css_class: str


def summary(data: ReportData[Any, Any] | Mapping[str, Any]) -> HTML:
    """The "What changed" block of a report (its data, or its JSON twin): the twin's
    ``summary`` sentences, or, for a twin without them, the sentences written from it."""
    payload = data if isinstance(data, Mapping) else data.to_json()
    items = payload.get("summary")
    if not isinstance(items, list):
        items = summarize(payload)
    return html_block("summary.html.j2", items=[_line(payload, item) for item in items])


def _line(payload: Mapping[str, Any], item: Mapping[str, Any]) -> _Line:
    name = item.get("metric")
    definition = (payload.get("definitions") or {}).get(name)
    change = (payload.get("changes") or {}).get(name)
    if (not isinstance(definition, Mapping) or not isinstance(change, Mapping)
            or change.get("change_per_day") is not None):  # the total and its rate disagree
        return _Line(str(item.get("kind", "")), str(item.get("text", "")), "", "")
    v = verdict(
        unit=definition["unit"],
        higher_is_better=bool(definition.get("higher_is_better", True)),
        change_in_points=bool(definition.get("change_in_points")),
        value=payload["metrics"].get(name),
        previous=(payload.get("comparison") or {}).get(name),
        change=change.get("change"),
        p_value=change.get("p_value"),
        significant=change.get("significant"),
    )
    return _Line(str(item["kind"]), str(item["text"]), v.arrow, v.css_class)
