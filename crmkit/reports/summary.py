"""What changed: three to five sentences written from a report's JSON twin alone.

:func:`summarize` reads the twin (``metrics``, ``comparison``, ``changes``, ``samples``,
``breakdowns``, ``definitions``) and writes, in this order:

* **movements**: the clearest significant changes against the comparison period (smallest
  p-value first), with the change and the test in words (:mod:`crmkit.verdict`). A metric
  without a significance test is never called up or down; when nothing moved significantly
  the summary says so.
* **the trend**, where a report has a monthly breakdown that ends with the period (Sales
  revenue, Satisfaction NPS): the period against the months before it by a stated rule,
  the highest of them, the lowest of them, or within their range (with that range).
* **contributions**, read from the breakdowns only: the product and the seller with the
  most revenue, the person with the largest rise or fall behind a significant change of a
  team total, the campaign with the most revenue, the teams with the lowest and highest
  NPS. They say who contributed what, never why.
* **flags**: possible overload or idleness (Performance), campaigns with a negative ROI
  (Marketing), customers that went quiet (Activity), the detractor share (Satisfaction),
  and rates and scores from small samples (n < 30), which are never stated without saying so.

A period with nothing recorded gets one sentence saying there is nothing to compare.

Each sentence is an item ``{"kind", "text", "refs"}`` (a movement also names its
``metric``): ``refs`` maps the JSON path of every value the sentence shows
(``metrics.win_rate``, ``changes.win_rate.p_value``, ``breakdowns.employee.0.name``) to that
value, so every number and every name in a sentence can be traced to the twin. Numbers are
formatted as the cards format them, with a true minus sign. The same twin gives the same
sentences. The text is plain text: pages escape it when they show it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from crmkit.parameters import ALL_TEAMS
from crmkit.verdict import MINUS, signed, small_sample, verdict

__all__ = ["summarize"]

#: At most this many sentences.
MOST = 5

#: Per report: the monthly breakdown column read for the trend, with its sample column.
_TREND: dict[str, tuple[str, str | None]] = {
    "sales": ("revenue", None),
    "satisfaction": ("nps", "nps_responses"),
}

#: Per report: the key figures stated when fewer than three other sentences are found.
_KEY_FIGURES: dict[str, tuple[str, ...]] = {
    "sales": ("revenue", "deals_won", "win_rate"),
    "activity": ("interactions", "active_customers", "new_customers"),
    "marketing": ("cost", "leads", "revenue"),
    "performance": ("activities", "tickets_resolved", "sla_compliance"),
    "satisfaction": ("nps", "csat", "retention_rate"),
}
#: At least this many sentences when there is data (the key figures fill up).
FEWEST = 3

#: Where a sentence of each kind stands: the order in which the candidates are taken
#: (kind, rank), and the order in which the chosen ones are read.
_PRIORITY = (("movement", 0), ("flag", 0), ("driver", 0), ("trend", 0), ("small", 0),
             ("movement", 1), ("driver", 1), ("flag", 1))
_READING = ("empty", "level", "movement", "trend", "driver", "flag", "small")


# -- values and their paths ---------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _at(payload: Any, path: str) -> Any:
    """The value at a dotted path of the twin (list items by index); None if absent."""
    value = payload
    for key in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def _plain(value: float, unit: str, currency: str) -> str:
    """A value as the cards show it (``crmkit.render.formatting.fmt``), with a true minus
    (none on a value that rounds to 0)."""
    a = abs(value)
    suffix = ""
    if unit == "count":
        text = f"{round(a):,}"
    elif unit == "rate":
        text, suffix = f"{100 * a:.1f}", "%"
    elif unit in ("money", "money_per_day"):
        text = f"{a / 1e6:,.2f}M" if a >= 1e6 else f"{a / 1e3:,.1f}k" if a >= 1e4 else f"{a:,.0f}"
        suffix = (f" {currency}" if currency else "") + ("/day" if unit == "money_per_day" else "")
    elif unit in ("days", "hours", "score"):
        text, suffix = f"{a:.1f}", {"days": " days", "hours": " h", "score": ""}[unit]
    elif unit == "minutes":
        text, suffix = f"{a:.0f}", " min"
    else:
        text = f"{a:,.2f}"
    sign = MINUS if value < 0 and any(c in "123456789" for c in text) else ""
    return f"{sign}{text}{suffix}"


class _Sentence:
    """One sentence being written: every value it shows is read through this object,
    which records the value's JSON path in ``refs``."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload
        self.refs: dict[str, Any] = {}

    def text(self, path: str) -> str:
        """A text value (a name, a label, a period) as it is."""
        value = _at(self.payload, path)
        self.refs[path] = value
        return str(value)

    def number(self, path: str, unit: str) -> str:
        """A number formatted for its unit (money with the report's currency)."""
        value = _at(self.payload, path)
        self.refs[path] = value
        currency = ""
        if unit in ("money", "money_per_day") and self.payload.get("currency"):
            currency = self.text("currency")
        return _plain(value, unit, currency)

    def times(self, path: str) -> str:
        """A ratio as a multiple: '2.9×'."""
        value = _at(self.payload, path)
        self.refs[path] = value
        return f"{value:.1f}×"

    def small(self, path: str) -> str:
        """'a small sample: n=12' when the sample at ``path`` is small (1 to 29), else ''."""
        value = _at(self.payload, path)
        if not small_sample(value):
            return ""
        self.refs[path] = value
        return f"a small sample: n={value:,}"

    def change(self, name: str, where: str = "") -> str:
        """A metric's change against the comparison period, with its test in words
        (:func:`crmkit.verdict.verdict`): '−8.0 pp{where}, significant (p=0.001)'."""
        d, ch = self.payload["definitions"][name], self.payload["changes"][name]
        key = _change_key(d)
        self.refs[f"changes.{name}.{key}"] = delta = ch[key]
        self.refs[f"changes.{name}.p_value"] = ch["p_value"]
        shown = (signed(100 * delta, 1, "%") if key == "change" else
                 signed(delta, 1, " pp" if key == "change_pp" else " pts"))
        v = verdict(unit=d["unit"], higher_is_better=bool(d.get("higher_is_better", True)),
                    change_in_points=bool(d.get("change_in_points")),
                    value=self.payload["metrics"].get(name),
                    previous=self.payload["comparison"].get(name), change=ch.get("change"),
                    p_value=ch["p_value"], significant=ch.get("significant"))
        return f"{shown}{where}, {v.significance}"

    def count(self, path: str, noun: str) -> str:
        """A count with its noun: '1 won deal', '3 won deals'."""
        return f"{self.number(path, 'count')} {noun}{'' if _at(self.payload, path) == 1 else 's'}"

    def item(self, kind: str, text: str, **extra: Any) -> dict[str, Any]:
        return {"kind": kind, "text": text, "refs": dict(self.refs), **extra}


# -- what the twin holds ------------------------------------------------------------------


def _defined(payload: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """A metric's definition, when it has one that can be summarised (not a p-value)."""
    d = (payload.get("definitions") or {}).get(name)
    return d if isinstance(d, Mapping) and d.get("unit") not in (None, "p_value") else None


def _change_key(definition: Mapping[str, Any]) -> str:
    """The ``changes`` field a metric's change is stated in: percentage points for rates,
    points for scores that change in points, else the relative change."""
    if definition["unit"] == "rate":
        return "change_pp"
    return "change_points" if definition.get("change_in_points") else "change"


def _nothing_in(values: Mapping[str, Any] | None) -> bool:
    return not values or all(v in (None, 0) for v in values.values())


def _rows(payload: Mapping[str, Any], breakdown: str) -> list[Mapping[str, Any]]:
    rows = (payload.get("breakdowns") or {}).get(breakdown)
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _placeholder(name: Any) -> bool:
    """A row that stands for no one: '(no employee)', '(no campaign)'."""
    return not isinstance(name, str) or (name.startswith("(") and name.endswith(")"))


def _coverage(payload: Mapping[str, Any], key: str) -> bool:
    return bool((payload.get("coverage") or {}).get(key))


# -- the sentences ------------------------------------------------------------------------


def summarize(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Three to five sentences on what changed, from a report's JSON twin alone (see the
    module's docstring); one sentence for a period with nothing recorded."""
    if _coverage(payload, "empty") or (_nothing_in(payload.get("metrics"))
                                       and _nothing_in(payload.get("comparison"))):
        return [_nothing_recorded(payload)]
    report = str(payload.get("report"))
    found: dict[str, list[dict[str, Any]]] = {
        "movement": _movements(payload),
        "trend": _trend(payload, *_TREND[report]) if report in _TREND else [],
        "driver": _DRIVERS.get(report, _none)(payload),
        "flag": _FLAGS.get(report, _none)(payload),
        "small": _small_samples(payload),
    }
    chosen = [found[kind][rank] for kind, rank in _PRIORITY if rank < len(found[kind])]
    chosen = chosen[:MOST]
    if len(chosen) < FEWEST:
        chosen += _key_figures(payload)
    if any(item["kind"] == "small" for item in chosen):  # not a sample another one states
        others = [item for item in chosen if item["kind"] != "small"]
        chosen = others + _small_samples(payload, {p for item in others for p in item["refs"]})
    return sorted(chosen, key=lambda item: _READING.index(item["kind"]))


def _none(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    return []


def _nothing_recorded(payload: Mapping[str, Any]) -> dict[str, Any]:
    s = _Sentence(payload)
    text = f"Nothing was recorded for {s.text('team_name')} in {s.text('period.label')}"
    if payload.get("comparison_period"):
        text += f", so there is nothing to compare with {s.text('comparison_period.label')}."
    else:
        text += ", so there is nothing to compare."
    return s.item("empty", text)


def _movements(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The significant changes against the comparison period, smallest p-value first; or
    one sentence saying why none is stated."""
    if not payload.get("comparison_period") or payload.get("comparison") is None:
        return [_Sentence(payload).item(
            "movement", "There is no comparison period, so no change is stated.")]
    if _nothing_in(payload["comparison"]):
        s = _Sentence(payload)
        return [s.item("movement", f"Nothing was recorded in {s.text('comparison_period.label')}"
                                   ", so no change is stated.")]
    moved = sorted((ch["p_value"], name) for name, ch in (payload.get("changes") or {}).items()
                   if _significant(payload, name))
    if moved:
        return [_movement(payload, name) for _, name in moved]
    tested = any(_finite(ch.get("p_value")) for ch in payload["changes"].values()
                 if isinstance(ch, Mapping))
    s = _Sentence(payload)
    cmp = s.text("comparison_period.label")
    return [s.item("movement",
                   f"No number changed significantly against {cmp}." if tested else
                   f"No number has a significance test against {cmp}, so none is called up "
                   "or down.")]


def _significant(payload: Mapping[str, Any], name: str) -> bool:
    """Whether a metric moved significantly and every value its sentence shows is there."""
    ch, d = (payload.get("changes") or {}).get(name), _defined(payload, name)
    if not isinstance(ch, Mapping) or d is None or ch.get("significant") is not True:
        return False
    previous = (payload.get("comparison") or {}).get(name)
    if _coverage(payload, "comparison_before_data") and previous in (None, 0):
        return False  # a comparison before the data is missing data, not a quiet period
    values = (ch.get("p_value"), ch.get(_change_key(d)), payload["metrics"].get(name), previous)
    return all(_finite(v) for v in values) and ch[_change_key(d)] != 0


def _movement(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    d = payload["definitions"][name]
    up = payload["changes"][name][_change_key(d)] > 0
    s = _Sentence(payload)
    text = (f"{s.text(f'definitions.{name}.label')} {'rose' if up else 'fell'} to "
            f"{s.number(f'metrics.{name}', d['unit'])} in {s.text('period.label')} from "
            f"{s.number(f'comparison.{name}', d['unit'])} in "
            f"{s.text('comparison_period.label')}: {s.change(name)}")
    small = s.small(f"samples.{name}")
    return s.item("movement", f"{text}{'; ' + small if small else ''}.", metric=name)


def _trend(payload: Mapping[str, Any], column: str, n_column: str | None
           ) -> list[dict[str, Any]]:
    """The period's value of a monthly breakdown that ends with it, against the months
    before it: the highest or the lowest of them, or within their range."""
    rows = _rows(payload, "month")
    d = _defined(payload, column)
    period = (payload.get("period") or {}).get("label")
    if d is None or not rows or rows[-1].get("month") != period or not _finite(rows[-1].get(column)):
        return []
    before = [i for i, r in enumerate(rows[:-1]) if _finite(r.get(column))]
    if len(before) < 3:
        return []
    last = len(rows) - 1
    low = min(before, key=lambda i: (rows[i][column], i))
    high = max(before, key=lambda i: (rows[i][column], -i))
    s = _Sentence(payload)

    def at(i: int) -> str:
        small = s.small(f"breakdowns.month.{i}.{n_column}") if n_column else ""
        return (f"{s.number(f'breakdowns.month.{i}.{column}', d['unit'])} in "
                f"{s.text(f'breakdowns.month.{i}.month')}{f' ({small})' if small else ''}")

    head = f"{s.text(f'definitions.{column}.label')}, {at(last)}, is "
    since = s.text(f"breakdowns.month.{before[0]}.month")
    value = rows[last][column]
    if value > rows[high][column]:
        text = f"{head}the highest of any month since {since} (the previous high: {at(high)})."
    elif value < rows[low][column]:
        text = f"{head}the lowest of any month since {since} (the previous low: {at(low)})."
    else:
        text = f"{head}within the range of the months since {since}: {at(low)} to {at(high)}."
    return [s.item("trend", text)]


def _key_figures(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The period's key figures as they are (no change claimed); for a period with nothing
    recorded, those of the comparison period."""
    if _nothing_in(payload["metrics"]):
        return _quiet_period(payload)
    key = _KEY_FIGURES.get(str(payload.get("report")), tuple(payload["metrics"])[:3])
    names = [n for n in key
             if _defined(payload, n) is not None and _finite(payload["metrics"].get(n))]
    if not names:
        return []
    s = _Sentence(payload)
    parts = []
    for name in names:
        small = s.small(f"samples.{name}")
        parts.append(f"{s.text(f'definitions.{name}.label')} "
                     f"{s.number(f'metrics.{name}', payload['definitions'][name]['unit'])}"
                     f"{f' ({small})' if small else ''}")
    return [s.item("level", f"Key figures for {s.text('period.label')}: {_series(parts)}.")]


def _quiet_period(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Nothing recorded in the period, something in the comparison period: what it was."""
    before = payload["comparison"]
    names = [n for n in (*_KEY_FIGURES.get(str(payload.get("report")), ()), *before)
             if _defined(payload, n) is not None and _finite(before.get(n)) and before[n] != 0]
    names = list(dict.fromkeys(names))[:3]
    s = _Sentence(payload)
    parts = [f"{s.text(f'definitions.{n}.label')} "
             f"{s.number(f'comparison.{n}', payload['definitions'][n]['unit'])}" for n in names]
    text = (f"Nothing was recorded for {s.text('team_name')} in {s.text('period.label')}"
            + (f"; in {s.text('comparison_period.label')}: {_series(parts)}." if parts else "."))
    return [s.item("level", text)]


def _small_samples(payload: Mapping[str, Any], shown: Collection[str] = ()
                   ) -> list[dict[str, Any]]:
    """The rates and scores of the period that rest on fewer than 30 observations (those
    whose sample another sentence already states, at the paths ``shown``, left out)."""
    names = [name for name, n in (payload.get("samples") or {}).items()
             if small_sample(n) and f"samples.{name}" not in shown
             and (d := _defined(payload, name)) is not None and d["unit"] in ("rate", "score")
             and _finite(payload["metrics"].get(name))]
    if not names:
        return []
    s = _Sentence(payload)
    parts = [f"{s.text(f'definitions.{n}.label')} "
             f"{s.number(f'metrics.{n}', payload['definitions'][n]['unit'])} "
             f"(n={s.number(f'samples.{n}', 'count')})" for n in names[:4]]
    return [s.item("small", f"Read with care, from a small sample: {_series(parts)}.")]


def _series(parts: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


# -- contributions, from the breakdowns ---------------------------------------------------


def _top(rows: Sequence[Mapping[str, Any]], column: str, name: str = "name") -> int | None:
    """The index of the row with the largest positive ``column`` (a real name only; the
    first of equals)."""
    found = [i for i, r in enumerate(rows)
             if not _placeholder(r.get(name)) and _finite(r.get(column)) and r[column] > 0]
    return max(found, key=lambda i: (rows[i][column], -i)) if found else None


def _sales_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    products = _rows(payload, "product")
    if (i := _top(products, "revenue", "product")) is not None and _finite(
            products[i].get("revenue_share")):
        s = _Sentence(payload)
        row = f"breakdowns.product.{i}"
        out.append(s.item("driver", (
            f"Most revenue came from {s.text(f'{row}.product')}: "
            f"{s.number(f'{row}.revenue', 'money')}, {s.number(f'{row}.revenue_share', 'rate')} "
            f"of the total.")))
    return out + _most_revenue(payload, "employee", "seller")


def _most_revenue(payload: Mapping[str, Any], breakdown: str, who: str) -> list[dict[str, Any]]:
    """The row of ``breakdown`` with the most revenue, and its won deals (a seller, a
    customer)."""
    if (i := _top(_rows(payload, breakdown), "revenue")) is None:
        return []
    s = _Sentence(payload)
    row = f"breakdowns.{breakdown}.{i}"
    return [s.item("driver", (
        f"The {who} with the most revenue was {s.text(f'{row}.name')}: "
        f"{s.number(f'{row}.revenue', 'money')} from {s.count(f'{row}.deals_won', 'won deal')}."))]


def _activity_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    people = _rows(payload, "employee")
    if (i := _top(people, "interactions")) is not None:
        s = _Sentence(payload)
        row = f"breakdowns.employee.{i}"
        out.append(s.item("driver", (
            f"{s.text(f'{row}.name')} logged the most interactions: "
            f"{s.number(f'{row}.interactions', 'count')} of "
            f"{s.number('metrics.interactions', 'count')}.")))
    return out + _most_revenue(payload, "top_revenue", "customer")


def _marketing_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The campaign with the most revenue and the one with the most leads (of the
    campaigns in scope: the headline totals leave out leads without a campaign)."""
    campaigns = [r if r.get("campaign_id") is not None else {} for r in _rows(payload, "campaign")]
    out = []
    for column, what in (("revenue", " of revenue"), ("leads", " leads")):
        i = _top(campaigns, column)
        total = payload["metrics"].get(column)
        if i is None or not _finite(total):
            continue
        s = _Sentence(payload)
        unit = "money" if column == "revenue" else "count"
        row = f"breakdowns.campaign.{i}"
        if campaigns[i][column] == total:
            text = (f"All {s.number(f'metrics.{column}', unit)}{what} from campaigns came "
                    f"from {s.text(f'{row}.name')}.")
        else:
            text = (f"Of the {s.number(f'metrics.{column}', unit)}{what} from campaigns, "
                    f"the most came from {s.text(f'{row}.name')}: "
                    f"{s.number(f'{row}.{column}', unit)}.")
        out.append(s.item("driver", text))
    return out


def _satisfaction_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    teams = [(i, r) for i, r in enumerate(_rows(payload, "nps_by_team")) if _finite(r.get("nps"))]
    if len(teams) < 2 or payload.get("team") != ALL_TEAMS:
        return []
    low = min(teams, key=lambda t: (t[1]["nps"], t[0]))[0]
    high = max(teams, key=lambda t: (t[1]["nps"], -t[0]))[0]
    s = _Sentence(payload)

    def team(i: int) -> str:
        row = f"breakdowns.nps_by_team.{i}"
        small = s.small(f"{row}.responses")
        return (f"{s.text(f'{row}.team')} ({s.number(f'{row}.nps', 'score')}"
                f"{', ' + small if small else ''})")

    return [s.item("driver", f"By team, NPS is lowest in {team(low)} and highest in {team(high)}.")]


def _performance_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """For the first significant change of a team total (an additive metric: a count or an
    amount that people's figures add up to), the person whose own figure moved furthest the
    same way."""
    moved: str | None = next((m["metric"] for m in _movements(payload) if "metric" in m), None)
    if moved is None:
        return _performance_leaders(payload)
    d = payload["definitions"][moved]
    if not d.get("additive", d["unit"] in ("count", "money")):
        return []
    way = 1 if payload["metrics"][moved] > payload["comparison"][moved] else -1
    rows = _rows(payload, "employee")
    gap = {i: way * (r[moved] - r[f"{moved}_previous"]) for i, r in enumerate(rows)
           if _finite(r.get(moved)) and _finite(r.get(f"{moved}_previous"))
           and not _placeholder(r.get("name"))}
    found = [i for i in gap if gap[i] > 0]
    if not found:
        return []
    i = max(found, key=lambda j: (gap[j], -j))
    s = _Sentence(payload)
    row, unit = f"breakdowns.employee.{i}", payload["definitions"][moved]["unit"]
    text = (f"{s.text(f'{row}.name')} contributed most to the change of "
            f"{s.text(f'definitions.{moved}.label')}: {s.number(f'{row}.{moved}', unit)} "
            f"against {s.number(f'{row}.{moved}_previous', unit)} in "
            f"{s.text('comparison_period.label')}.")
    return [s.item("driver", text)]


def _performance_leaders(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Without a significant change to explain: who did the most of the team's work (the
    most revenue won, the most tickets resolved), as levels, no change claimed."""
    rows, out = _rows(payload, "employee"), []
    for column, noun in (("revenue", "revenue won"), ("tickets_resolved", "tickets resolved")):
        if (i := _top(rows, column)) is None:
            continue
        s = _Sentence(payload)
        row = f"breakdowns.employee.{i}"
        unit = "money" if column == "revenue" else "count"
        out.append(s.item("driver", (
            f"The most {noun} in {s.text('period.label')}: {s.text(f'{row}.name')}, "
            f"{s.number(f'{row}.{column}', unit)}.")))
    return out


# -- flags --------------------------------------------------------------------------------


def _workload_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(payload, "employee")
    out = []
    for flag, words in (("high", "Possible overload"), ("low", "Possibly idle")):
        found = [i for i, r in enumerate(rows) if r.get("workload_flag") == flag
                 and _finite(r.get("workload_ratio")) and isinstance(r.get("name"), str)]
        found.sort(key=lambda i: (-rows[i]["workload_ratio"] if flag == "high"
                                  else rows[i]["workload_ratio"], i))
        if not found:
            continue
        s = _Sentence(payload)
        people = [f"{s.text(f'breakdowns.employee.{i}.name')} with a workload of "
                  f"{s.number(f'breakdowns.employee.{i}.workload', 'count')}, "
                  f"{s.times(f'breakdowns.employee.{i}.workload_ratio')} the median of the role "
                  f"({s.number(f'breakdowns.employee.{i}.workload_role_median', 'count')})"
                  for i in found[:3]]
        out.append(s.item("flag", f"{words}: {_series(people)}."))
    return out


def _roi_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(payload, "campaign")
    found = sorted((r["roi"], i) for i, r in enumerate(rows)
                   if _finite(r.get("roi")) and r["roi"] < 0 and isinstance(r.get("name"), str))
    if not found:
        return []
    s = _Sentence(payload)
    parts = [f"{s.text(f'breakdowns.campaign.{i}.name')} (ROI "
             f"{s.number(f'breakdowns.campaign.{i}.roi', 'rate')} on "
             f"{s.number(f'breakdowns.campaign.{i}.cost', 'money')} of cost)" for _, i in found[:3]]
    return [s.item("flag", f"Negative return on marketing cost: {_series(parts)}.")]


def _quiet_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(payload, "went_quiet")
    found = [i for i, r in enumerate(rows) if isinstance(r.get("name"), str)
             and _finite(r.get("revenue_365d")) and r["revenue_365d"] > 0][:2]
    if not found or not payload.get("comparison_period"):
        return []
    s = _Sentence(payload)

    def customer(i: int) -> str:
        row = f"breakdowns.went_quiet.{i}"
        owner = (f", owner {s.text(f'{row}.owner')}" if isinstance(rows[i].get("owner"), str)
                 else "")
        return (f"{s.text(f'{row}.name')} ({s.number(f'{row}.revenue_365d', 'money')} "
                f"of revenue in the past year{owner})")

    text = (f"Went quiet (a contact in {s.text('comparison_period.label')}, none in "
            f"{s.text('period.label')}), largest customers first: "
            f"{_series([customer(i) for i in found])}.")
    return [s.item("flag", text)]


def _detractor_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    name = "nps_detractor_share"
    if not _finite(payload["metrics"].get(name)) or not _finite(
            payload["metrics"].get("nps_responses")):
        return []
    s = _Sentence(payload)
    text = (f"Detractors were {s.number(f'metrics.{name}', 'rate')} of the "
            f"{s.number('metrics.nps_responses', 'count')} NPS responses"
            f"{' (a small sample)' if small_sample(payload['metrics']['nps_responses']) else ''}")
    ch, d = (payload.get("changes") or {}).get(name), _defined(payload, name)
    if (isinstance(ch, Mapping) and d is not None and _finite(ch.get(_change_key(d)))
            and _finite(ch.get("p_value"))):
        text += ", " + s.change(name, f" against {s.text('comparison_period.label')}")
    return [s.item("flag", text + ".")]


_DRIVERS: dict[str, Callable[[Mapping[str, Any]], list[dict[str, Any]]]] = {
    "sales": _sales_drivers, "activity": _activity_drivers, "marketing": _marketing_drivers,
    "performance": _performance_drivers, "satisfaction": _satisfaction_drivers,
}
_FLAGS: dict[str, Callable[[Mapping[str, Any]], list[dict[str, Any]]]] = {
    "performance": _workload_flags, "marketing": _roi_flags, "activity": _quiet_flags,
    "satisfaction": _detractor_flags,
}
