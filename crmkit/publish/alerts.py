"""Alerts: the threshold rules of a preset (:class:`crmkit.publish.presets.AlertRule`)
evaluated on the JSON twins a run published.

A rule fires on a page when its metric is below or above the threshold (``below`` and
``above`` are strict), when the metric ``drops`` significantly (a significant change the
worse way for that metric, by :mod:`crmkit.verdict`), or, for a ``breakdown`` rule, once
for every row of the breakdown that meets every condition of ``where``. A metric that is
N/A (``null``) never fires.

Firing alerts are kept in ``output/alerts.json`` (:func:`write_alerts`): the alerts of the
pages a run published replace those of the same pages, the others stay, so the file
describes the pages on disk, as the index does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmkit._files import locked, write_atomic
from crmkit.parameters import ALL_TEAMS
from crmkit.publish.presets import AlertRule, Bound
from crmkit.publish.site import ALERTS_FILE, TITLE_SEPARATOR, kpi
from crmkit.render.formatting import fmt


@dataclass(frozen=True)
class Alert:
    """One firing alert: the rule (``rule``: its key), the page (``href`` relative to the
    output folder), what fired (``subject``: the metric, or the breakdown and its row) and
    the sentence that says it; ``to``: who is told by e-mail."""

    rule: str
    report: str
    period: str
    slug: str
    team: str
    team_name: str
    title: str
    href: str
    subject: str
    text: str
    to: tuple[str, ...] = ()

    @property
    def page(self) -> tuple[str, str, str]:
        return self.slug, self.team, self.report

    @property
    def key(self) -> str:
        """What fired, on which page: the same alert in a later run has the same key."""
        return f"{self.rule}:{self.slug}/{self.team}/{self.report}:{self.subject}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def meets(bound: Bound, value: Any) -> bool:
    """Whether ``value`` (a finite number) is below ``bound.below`` and above ``bound.above``
    (each where given); anything else does not meet it."""
    if not _number(value):
        return False
    return ((bound.below is None or value < bound.below)
            and (bound.above is None or value > bound.above))


def applies(rule: AlertRule, entry: Mapping[str, Any]) -> bool:
    """Whether a rule looks at a page: its report, its team selection."""
    if rule.report is not None and entry.get("report") != rule.report:
        return False
    team = entry.get("team")
    if rule.teams is None:
        return True
    return any((sel == "each" and team != ALL_TEAMS) or sel == team for sel in rule.teams)


def evaluate(rules: Iterable[AlertRule], entries: Iterable[Mapping[str, Any]]) -> list[Alert]:
    """Every alert the rules fire on the pages (JSON twins with their ``_href``)."""
    fired: list[Alert] = []
    for entry in entries:
        for rule in rules:
            if not applies(rule, entry):
                continue
            fired += _metric(rule, entry) if rule.metric else _breakdown(rule, entry)
    return fired


def _alert(rule: AlertRule, entry: Mapping[str, Any], subject: str, text: str) -> Alert:
    period = str((entry.get("period") or {}).get("label", ""))
    slug, team, _ = ["", "", *str(entry.get("_href", "")).split("/")][-3:]
    title = str(entry.get("title") or entry.get("report"))
    return Alert(rule.key, str(entry["report"]), period, slug, team,
                 str(entry.get("team_name") or team), title, str(entry.get("_href", "")),
                 subject, f"{text}{TITLE_SEPARATOR}{title}", rule.to)


def _metric(rule: AlertRule, entry: Mapping[str, Any]) -> list[Alert]:
    name = str(rule.metric)
    metrics = entry.get("metrics") or {}
    if name not in metrics or not _number(metrics[name]):
        return []
    shown = kpi(dict(entry), name)
    if rule.drops:
        significant = ((entry.get("changes") or {}).get(name) or {}).get("significant") is True
        if not (significant and shown.change.better is False):
            return []
        return [_alert(rule, entry, name, f"{shown.label} dropped significantly to {shown.value}: "
                       f"{shown.change.shown}, {shown.change.significance}")]
    if not meets(rule, metrics[name]):
        return []
    return [_alert(rule, entry, name, f"{shown.label} is {shown.value}, "
                   f"{_limits(rule, _unit(entry, name), entry)}")]


def _unit(entry: Mapping[str, Any], name: str) -> str:
    definition = (entry.get("definitions") or {}).get(name) or {}
    return str(definition.get("unit") or "score") if isinstance(definition, dict) else "score"


def _limits(bound: Bound, unit: str, entry: Mapping[str, Any]) -> str:
    currency = str(entry.get("currency") or "")
    parts = [f"{word} {fmt(limit, unit, currency)}" for word, limit in
             (("below", bound.below), ("above", bound.above)) if limit is not None]
    return " and ".join(parts)


def _breakdown(rule: AlertRule, entry: Mapping[str, Any]) -> list[Alert]:
    rows = (entry.get("breakdowns") or {}).get(str(rule.breakdown))
    if not isinstance(rows, list):
        return []
    fired = []
    for i, record in enumerate(rows):
        if not isinstance(record, dict) or not all(
                meets(bound, record.get(column)) for column, bound in rule.where.items()):
            continue
        name = _row_name(record, i)
        facts = ", ".join(
            f"{column} {fmt(record[column], _unit(entry, column), str(entry.get('currency') or ''))} "
            f"({_limits(bound, _unit(entry, column), entry)})" for column, bound in rule.where.items())
        fired.append(_alert(rule, entry, f"{rule.breakdown}:{name}",
                            f"{str(rule.breakdown).capitalize()} {name}: {facts}"))
    return fired


def _row_name(record: Mapping[str, Any], index: int) -> str:
    """How a breakdown row is named: its ``name``, else its first text value, else its place."""
    for value in (record.get("name"), *record.values()):
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return f"row {index + 1}"


def read_alerts(root: Path) -> list[dict[str, Any]]:
    """The alerts recorded in ``root/alerts.json`` (none when it is missing or unreadable)."""
    try:
        data = json.loads((root / ALERTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    alerts = data.get("alerts") if isinstance(data, dict) else None
    return [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []


def write_alerts(root: Path, fired: list[Alert], pages: Iterable[tuple[str, str, str]]
                 ) -> list[dict[str, Any]]:
    """Record ``fired`` in ``root/alerts.json``: they replace the alerts of ``pages`` (the
    pages the run published: (period folder, team folder, report)); the rest stay."""
    redone = set(pages)
    with locked(root):
        kept = [a for a in read_alerts(root)
                if (a.get("slug"), a.get("team"), a.get("report")) not in redone]
        alerts = kept + [{**asdict(a), "to": list(a.to), "key": a.key} for a in fired]
        alerts.sort(key=lambda a: (str(a.get("slug")), str(a.get("team")), str(a.get("report")),
                                   str(a.get("text"))))
        document = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "alerts": alerts}
        write_atomic(root / ALERTS_FILE, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return alerts
