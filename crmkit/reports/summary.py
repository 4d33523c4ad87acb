"""What changed: three to five sentences written from a report's JSON twin alone.

:func:`summarize` reads the twin (``metrics``, ``comparison``, ``changes``, ``samples``,
``breakdowns``, ``definitions``) and writes, in this order:

* **movements**: the clearest significant changes against the comparison period (smallest
  p-value first), with the change and the test in words (:mod:`crmkit.verdict`). A metric
  without a significance test is never called up or down; when nothing moved significantly
  the summary says so. A period not over, against a whole comparison period
  (``coverage.in_progress``), is not compared: one sentence says so, and it has no trend.
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
sentences. The text is plain text: pages escape it when they show it. It is written in the
active locale (:mod:`crmkit.i18n`): every sentence is a message of the catalogue with named
places for its values, numbers in the locale's digits, counts with the plural form they need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
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
        text = i18n.decimal(f"{round(a):,}")
    elif unit == "rate":
        text, suffix = i18n.decimal(f"{100 * a:.1f}"), i18n.percent_sign()
    elif unit in ("money", "money_per_day"):
        text = (i18n.decimal(f"{a / 1e6:,.2f}") + i18n.compact_suffix("M") if a >= 1e6 else
                i18n.decimal(f"{a / 1e3:,.1f}") + i18n.compact_suffix("k") if a >= 1e4 else
                i18n.decimal(f"{a:,.0f}"))
        suffix = ((f" {i18n.currency_symbol(currency)}" if currency else "")
                  + (_("/day") if unit == "money_per_day" else ""))
    elif unit in ("days", "hours", "score"):
        text = i18n.decimal(f"{a:.1f}")
        suffix = {"days": _(" days"), "hours": _(" h"), "score": ""}[unit]
    elif unit == "minutes":
        text, suffix = f"{a:.0f}", _(" min")
    else:
        text = i18n.decimal(f"{a:,.2f}")
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
        """A ratio as a multiple: '2.9×'; under 0.1 to two significant digits ('0.032×', not
        '0.0×')."""
        value = _at(self.payload, path)
        self.refs[path] = value
        decimals = 1
        if value and abs(value) < 0.1:
            decimals = 1 - math.floor(math.log10(abs(value)))
        return i18n.decimal(f"{value:.{decimals}f}") + "×"

    def small(self, path: str) -> str:
        """'a small sample: n=12' when the sample at ``path`` is small (1 to 29), else ''."""
        value = _at(self.payload, path)
        if not small_sample(value):
            return ""
        self.refs[path] = value
        return _("a small sample: n={n}").format(n=i18n.decimal(f"{value:,}"))

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

    def won_deals(self, path: str) -> str:
        """A count of won deals in the plural form it needs ('1 won deal', '3 won deals';
        '1 выигранная сделка', '5 выигранных сделок')."""
        value = _at(self.payload, path)
        n = value if isinstance(value, int) else round(value)
        return ngettext("{n} won deal", "{n} won deals", n).format(n=self.number(path, "count"))

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
    team, period = s.text("team_name"), s.text("period.label")
    if payload.get("comparison_period"):
        text = _("Nothing was recorded for {team} in {period}, so there is nothing to compare "
                 "with {comparison}.").format(team=team, period=period,
                                              comparison=s.text("comparison_period.label"))
    else:
        text = _("Nothing was recorded for {team} in {period}, so there is nothing to "
                 "compare.").format(team=team, period=period)
    return s.item("empty", text)


def _movements(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The significant changes against the comparison period, smallest p-value first; or
    one sentence saying why none is stated."""
    if not payload.get("comparison_period") or payload.get("comparison") is None:
        return [_Sentence(payload).item(
            "movement", _("There is no comparison period, so no change is stated."))]
    if _coverage(payload, "in_progress"):
        s = _Sentence(payload)
        return [s.item("movement", _(
            "{period} is not over (as of {as_of}): its numbers so far are not compared with "
            "the whole of {comparison}, so no change is stated.").format(
            period=s.text("period.label"), as_of=_as_of(s.text("as_of")),
            comparison=s.text("comparison_period.label")))]
    if _nothing_in(payload["comparison"]):
        s = _Sentence(payload)
        return [s.item("movement", _("Nothing was recorded in {period}, so no change is "
                                     "stated.").format(period=s.text("comparison_period.label")))]
    moved = sorted((ch["p_value"], name) for name, ch in (payload.get("changes") or {}).items()
                   if _significant(payload, name) or _per_day(payload, name))
    if moved:
        return [_per_day_movement(payload, name) if _per_day(payload, name)
                else _movement(payload, name) for _p, name in moved]
    tested = any(_finite(ch.get("p_value")) for ch in payload["changes"].values()
                 if isinstance(ch, Mapping))
    s = _Sentence(payload)
    cmp = s.text("comparison_period.label")
    return [s.item("movement",
                   (_("No number changed significantly against {period}.") if tested else
                    _("No number has a significance test against {period}, so none is called "
                      "up or down.")).format(period=cmp))]


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


def _as_of(text: str) -> str:
    """An as-of day or local time as the header says it: "2025-06-10 14:00" (seconds only
    when there are some), not the JSON's "2025-06-10T14:00:00"."""
    text = text.replace("T", " ")
    return text[:-3] if len(text) == 19 and text.endswith(":00") else text


def _per_day(payload: Mapping[str, Any], name: str) -> bool:
    """Whether a count or total's rate a day moved significantly against its total (the
    periods of different lengths: ``changes[name].change_per_day``)."""
    ch: Mapping[str, Any] = (payload.get("changes") or {}).get(name) or {}
    p: Any = ch.get("p_value")
    return (_finite(ch.get("change_per_day")) and _finite(p) and p < 0.05
            and _finite(payload["metrics"].get(name)) and _finite(payload["comparison"].get(name)))


def _per_day_movement(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A total that moved one way while its rate a day moved significantly the other: what
    the test found, and that the total's change is not called significant."""
    s = _Sentence(payload)
    ch = payload["changes"][name]
    s.refs[f"changes.{name}.change"] = ch["change"]
    s.refs[f"changes.{name}.change_per_day"] = ch["change_per_day"]
    s.refs[f"changes.{name}.p_value"] = p = ch["p_value"]
    shown = (f"p<{i18n.decimal('0.001')}" if p < 0.001 else f"p={i18n.decimal(f'{p:.3f}')}")
    d = payload["definitions"][name]
    text = _("{label}: {value} in {period} against {previous} in {comparison}, {total} in "
             "total but {rate} a day, a significant change of the rate ({p}); the periods "
             "differ in length.").format(
        label=s.text(f"definitions.{name}.label"), value=s.number(f"metrics.{name}", d["unit"]),
        period=s.text("period.label"), previous=s.number(f"comparison.{name}", d["unit"]),
        comparison=s.text("comparison_period.label"),
        total=signed(100 * ch["change"], 1, "%"), rate=signed(100 * ch["change_per_day"], 1, "%"),
        p=shown)
    return s.item("movement", text, metric=name)


def _movement(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    d = payload["definitions"][name]
    up = payload["changes"][name][_change_key(d)] > 0
    s = _Sentence(payload)
    text = (_("{label} rose to {value} in {period} from {previous} in {comparison}: {change}")
            if up else
            _("{label} fell to {value} in {period} from {previous} in {comparison}: {change}")
            ).format(label=s.text(f"definitions.{name}.label"),
                     value=s.number(f"metrics.{name}", d["unit"]), period=s.text("period.label"),
                     previous=s.number(f"comparison.{name}", d["unit"]),
                     comparison=s.text("comparison_period.label"), change=s.change(name))
    small = s.small(f"samples.{name}")
    return s.item("movement", f"{text}{'; ' + small if small else ''}.", metric=name)


def _trend(payload: Mapping[str, Any], column: str, n_column: str | None
           ) -> list[dict[str, Any]]:
    """The period's value of a monthly breakdown that ends with it, against the months
    before it: the highest or the lowest of them, or within their range."""
    rows = _rows(payload, "month")
    d = _defined(payload, column)
    period = (payload.get("period") or {}).get("label")
    if (d is None or not rows or rows[-1].get("month") != period or not _finite(rows[-1].get(column))
            or (payload.get("period") or {}).get("cut")  # a part of a month is no month
            or _coverage(payload, "in_progress")):
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
        return _("{value} in {month}").format(
            value=s.number(f"breakdowns.month.{i}.{column}", d["unit"]),
            month=s.text(f"breakdowns.month.{i}.month")) + (f" ({small})" if small else "")

    label = s.text(f"definitions.{column}.label")
    now = at(last)
    since = s.text(f"breakdowns.month.{before[0]}.month")
    value = rows[last][column]
    if value > rows[high][column]:
        text = _("{label}, {now}, is the highest of any month since {since} (the previous high: "
                 "{other}).").format(label=label, now=now, since=since, other=at(high))
    elif value < rows[low][column]:
        text = _("{label}, {now}, is the lowest of any month since {since} (the previous low: "
                 "{other}).").format(label=label, now=now, since=since, other=at(low))
    else:
        text = _("{label}, {now}, is within the range of the months since {since}: {low} to "
                 "{high}.").format(label=label, now=now, since=since, low=at(low), high=at(high))
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
    return [s.item("level", _("Key figures for {period}: {figures}.").format(
        period=s.text("period.label"), figures=_series(parts)))]


def _quiet_period(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Nothing recorded in the period, something in the comparison period: what it was."""
    before = payload["comparison"]
    names = [n for n in (*_KEY_FIGURES.get(str(payload.get("report")), ()), *before)
             if _defined(payload, n) is not None and _finite(before.get(n)) and before[n] != 0]
    names = list(dict.fromkeys(names))[:3]
    s = _Sentence(payload)
    parts = [f"{s.text(f'definitions.{n}.label')} "
             f"{s.number(f'comparison.{n}', payload['definitions'][n]['unit'])}" for n in names]
    team, period = s.text("team_name"), s.text("period.label")
    text = (_("Nothing was recorded for {team} in {period}; in {comparison}: {figures}.").format(
        team=team, period=period, comparison=s.text("comparison_period.label"),
        figures=_series(parts)) if parts else
        _("Nothing was recorded for {team} in {period}.").format(team=team, period=period))
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
    return [s.item("small", _("Read with care, from a small sample: {figures}.").format(
        figures=_series(parts)))]


def _series(parts: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c' (the active locale's 'and')."""
    if len(parts) == 1:
        return parts[0]
    return _("{first} and {last}").format(first=", ".join(parts[:-1]), last=parts[-1])


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
        out.append(s.item("driver", _(
            "Most revenue came from {product}: {revenue}, {share} of the total.").format(
            product=s.text(f"{row}.product"), revenue=s.number(f"{row}.revenue", "money"),
            share=s.number(f"{row}.revenue_share", "rate"))))
    return out + _most_revenue(payload, "employee", "seller")


def _most_revenue(payload: Mapping[str, Any], breakdown: str, who: str) -> list[dict[str, Any]]:
    """The row of ``breakdown`` with the most revenue, and its won deals (a seller, a
    customer)."""
    if (i := _top(_rows(payload, breakdown), "revenue")) is None:
        return []
    s = _Sentence(payload)
    row = f"breakdowns.{breakdown}.{i}"
    text = (_("The seller with the most revenue was {name}: {revenue} from {deals}.")
            if who == "seller" else
            _("The customer with the most revenue was {name}: {revenue} from {deals}."))
    return [s.item("driver", text.format(
        name=s.text(f"{row}.name"), revenue=s.number(f"{row}.revenue", "money"),
        deals=s.won_deals(f"{row}.deals_won")))]


def _activity_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    people = _rows(payload, "employee")
    if (i := _top(people, "interactions")) is not None:
        s = _Sentence(payload)
        row = f"breakdowns.employee.{i}"
        out.append(s.item("driver", _(
            "{name} logged the most interactions: {count} of {total}.").format(
            name=s.text(f"{row}.name"), count=s.number(f"{row}.interactions", "count"),
            total=s.number("metrics.interactions", "count"))))
    return out + _most_revenue(payload, "top_revenue", "customer")


def _marketing_drivers(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The campaign with the most revenue and the one with the most leads (of the
    campaigns in scope: the headline totals leave out leads without a campaign)."""
    campaigns = [r if r.get("campaign_id") is not None else {} for r in _rows(payload, "campaign")]
    out = []
    for column in ("revenue", "leads"):
        i = _top(campaigns, column)
        total = payload["metrics"].get(column)
        if i is None or not _finite(total):
            continue
        s = _Sentence(payload)
        unit = "money" if column == "revenue" else "count"
        row = f"breakdowns.campaign.{i}"
        whole = s.number(f"metrics.{column}", unit)
        if campaigns[i][column] == total:
            text = (_("All {total} of revenue from campaigns came from {name}.")
                    if column == "revenue" else
                    _("All {total} leads from campaigns came from {name}.")).format(
                total=whole, name=s.text(f"{row}.name"))
        else:
            text = (_("Of the {total} of revenue from campaigns, the most came from {name}: "
                      "{value}.") if column == "revenue" else
                    _("Of the {total} leads from campaigns, the most came from {name}: "
                      "{value}.")).format(total=whole, name=s.text(f"{row}.name"),
                                          value=s.number(f"{row}.{column}", unit))
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

    return [s.item("driver", _("By team, NPS is lowest in {low} and highest in {high}.").format(
        low=team(low), high=team(high)))]


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
    text = _("{name} contributed most to the change of {label}: {value} against {previous} in "
             "{comparison}.").format(
        name=s.text(f"{row}.name"), label=s.text(f"definitions.{moved}.label"),
        value=s.number(f"{row}.{moved}", unit),
        previous=s.number(f"{row}.{moved}_previous", unit),
        comparison=s.text("comparison_period.label"))
    return [s.item("driver", text)]


def _performance_leaders(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Without a significant change to explain: who did the most of the team's work (the
    most revenue won, the most tickets resolved), as levels, no change claimed."""
    rows, out = _rows(payload, "employee"), []
    for column, most in (("revenue", N_REVENUE), ("tickets_resolved", N_TICKETS)):
        if (i := _top(rows, column)) is None:
            continue
        s = _Sentence(payload)
        row = f"breakdowns.employee.{i}"
        unit = "money" if column == "revenue" else "count"
        out.append(s.item("driver", _(most).format(
            period=s.text("period.label"), name=s.text(f"{row}.name"),
            value=s.number(f"{row}.{column}", unit))))
    return out


N_REVENUE = i18n.N_("The most revenue won in {period}: {name}, {value}.")
N_TICKETS = i18n.N_("The most tickets resolved in {period}: {name}, {value}.")


# -- flags --------------------------------------------------------------------------------


def _workload_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(payload, "employee")
    out = []
    for flag, words in (("high", i18n.N_("Possible overload: {people}.")),
                        ("low", i18n.N_("Possibly idle: {people}."))):
        found = [i for i, r in enumerate(rows) if r.get("workload_flag") == flag
                 and _finite(r.get("workload_ratio")) and isinstance(r.get("name"), str)]
        found.sort(key=lambda i: (-rows[i]["workload_ratio"] if flag == "high"
                                  else rows[i]["workload_ratio"], i))
        if not found:
            continue
        s = _Sentence(payload)
        people = [_("{name} with a workload of {workload}, {ratio} the median of the role "
                    "({median})").format(
            name=s.text(f"breakdowns.employee.{i}.name"),
            workload=s.number(f"breakdowns.employee.{i}.workload", "count"),
            ratio=s.times(f"breakdowns.employee.{i}.workload_ratio"),
            median=s.number(f"breakdowns.employee.{i}.workload_role_median", "count"))
            for i in found[:3]]
        out.append(s.item("flag", _(words).format(people=_series(people))))
    return out


def _roi_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(payload, "campaign")
    found = sorted((r["roi"], i) for i, r in enumerate(rows)
                   if _finite(r.get("roi")) and r["roi"] < 0 and isinstance(r.get("name"), str))
    if not found:
        return []
    s = _Sentence(payload)
    parts = [_("{name} (ROI {roi} on {cost} of cost)").format(
        name=s.text(f"breakdowns.campaign.{i}.name"),
        roi=s.number(f"breakdowns.campaign.{i}.roi", "rate"),
        cost=s.number(f"breakdowns.campaign.{i}.cost", "money")) for _roi, i in found[:3]]
    return [s.item("flag", _("Negative return on marketing cost: {campaigns}.").format(
        campaigns=_series(parts)))]


def _quiet_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(payload, "went_quiet")
    found = [i for i, r in enumerate(rows) if isinstance(r.get("name"), str)
             and _finite(r.get("revenue_365d")) and r["revenue_365d"] > 0][:2]
    if not found or not payload.get("comparison_period"):
        return []
    s = _Sentence(payload)

    def customer(i: int) -> str:
        row = f"breakdowns.went_quiet.{i}"
        name, revenue = s.text(f"{row}.name"), s.number(f"{row}.revenue_365d", "money")
        if isinstance(rows[i].get("owner"), str):
            return _("{name} ({revenue} of revenue in the past year, owner {owner})").format(
                name=name, revenue=revenue, owner=s.text(f"{row}.owner"))
        return _("{name} ({revenue} of revenue in the past year)").format(name=name,
                                                                         revenue=revenue)

    text = _("Went quiet (a contact in {comparison}, none in {period}), largest customers "
             "first: {customers}.").format(
        comparison=s.text("comparison_period.label"), period=s.text("period.label"),
        customers=_series([customer(i) for i in found]))
    return [s.item("flag", text)]


def _detractor_flags(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    name = "nps_detractor_share"
    if not _finite(payload["metrics"].get(name)) or not _finite(
            payload["metrics"].get("nps_responses")):
        return []
    s = _Sentence(payload)
    text = _("Detractors were {share} of the {n} NPS responses").format(
        share=s.number(f"metrics.{name}", "rate"), n=s.number("metrics.nps_responses", "count"))
    if small_sample(payload["metrics"]["nps_responses"]):
        text += " " + _("(a small sample)")
    ch, d = (payload.get("changes") or {}).get(name), _defined(payload, name)
    if (isinstance(ch, Mapping) and d is not None and _finite(ch.get(_change_key(d)))
            and _finite(ch.get("p_value"))):
        text += ", " + s.change(name, " " + _("against {period}").format(
            period=s.text("comparison_period.label")))
    return [s.item("flag", text + ".")]


_DRIVERS: dict[str, Callable[[Mapping[str, Any]], list[dict[str, Any]]]] = {
    "sales": _sales_drivers, "activity": _activity_drivers, "marketing": _marketing_drivers,
    "performance": _performance_drivers, "satisfaction": _satisfaction_drivers,
}
_FLAGS: dict[str, Callable[[Mapping[str, Any]], list[dict[str, Any]]]] = {
    "performance": _workload_flags, "marketing": _roi_flags, "activity": _quiet_flags,
    "satisfaction": _detractor_flags,
}
