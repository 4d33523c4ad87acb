"""Marketing report charts and tables, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.marketing` and returns an
block: the chart or table, a sentence when there is nothing to show, or nothing at all on a
page without data (``empty``, see :mod:`crmkit.render.charts`). The ROI tables are
:class:`~crmkit.render.tables.Table` Stylers of the breakdown (and of its totals row), which
an analyst restyles: loss-makers shaded and marked by Styler styles, channels in words, teams
by name, each money column at one scale with the currency in its heading, a CSV download of
every row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pandas as pd
from IPython.display import HTML
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator
from matplotlib.transforms import Bbox

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
from crmkit.periods import Period
from crmkit.render import blocks, plotting, ranking
from crmkit.render.charts._page import NOTHING, words
from crmkit.render.formatting import PALETTE, fmt, number
from crmkit.render.labels import label
from crmkit.render.plotting import ChartFigure
from crmkit.render.tables import Table
from crmkit.reports.context import period_in_words

__all__ = ["CAMPAIGN_COLUMNS", "CHANNEL_COLUMNS", "campaign_table", "channel_table",
           "channel_words", "conversion_by_channel", "cost_vs_revenue", "lead_funnel",
           "roi_table", "words"]

_LOSS_ROW = "background-color:#fdecea"
_TOTAL_ROW = "font-weight:600;border-top:2px solid #d9dee4"
_LOSS_CELL = f"color:{PALETTE['bad']};font-weight:600"
_GAIN_CELL = f"color:{PALETTE['good']}"
_NO_WRAP = "white-space:nowrap"

# column -> (heading, unit for fmt or None for text)
_COLUMNS: dict[str, tuple[str, str | None]] = {
    "name": (i18n.N_("Campaign"), None),
    "channel": (i18n.N_("Channel"), None),
    "team_id": (i18n.N_("Team"), None),
    "campaigns": (i18n.N_("Campaigns"), "count"),
    "cost": (i18n.N_("Cost"), "money"),
    "leads": (i18n.N_("Leads"), "count"),
    "lead_conversion": (i18n.N_("Lead conversion"), "rate"),
    "deals_won": (i18n.N_("Deals won"), "count"),
    "revenue": (i18n.N_("Revenue"), "money"),
    "acquired_customers": (i18n.N_("Acquired customers"), "count"),
    "cost_per_lead": (i18n.N_("Cost per lead"), "money"),
    "cac": (i18n.N_("CAC"), "money"),
    "roi": (i18n.N_("ROI"), "rate"),
}
#: The tables' columns: ROI, which the campaigns are ranked by, beside their names (the
#: tables are wider than a laptop's page column, and ROI came last, off to the right).
CAMPAIGN_COLUMNS = ("name", "channel", "team_id", "roi", "cost", "leads", "lead_conversion",
                    "deals_won", "revenue", "acquired_customers", "cost_per_lead", "cac")
CHANNEL_COLUMNS = ("channel", "campaigns", "roi", "cost", "leads", "lead_conversion", "deals_won",
                   "revenue", "acquired_customers", "cost_per_lead", "cac")


def channel_words(channel: Any) -> str:
    """A channel, or a list of channels ('direct, organic'), in words ('Direct, Organic')."""
    if not isinstance(channel, str):
        return "" if _missing(channel) else str(channel)
    return ", ".join(label(part) for part in channel.split(", "))


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _is_loss(roi: Any) -> bool:
    return not _missing(roi) and roi < 0


def _roi_cell(roi: Any, currency: str) -> blocks.Cell:
    """ROI as a percentage, '▼ … loss' when negative, '—' without cost."""
    if _missing(roi):
        return blocks.Cell("—", css_class="n", title=_("no cost in the period: no ROI"))
    shown = fmt(roi, "rate", currency)
    if _is_loss(roi):
        return blocks.Cell("▼ " + _("{roi} loss").format(roi=shown), css_class="n")
    return blocks.Cell(shown, css_class="n")


def _roi_style(roi: Any) -> str:
    """ROI in the good or bad colour, on one line."""
    if _missing(roi):
        return ""
    return f"{_LOSS_CELL if _is_loss(roi) else _GAIN_CELL};{_NO_WRAP}"


def _name_cell(name: Any) -> blocks.Cell:
    """A campaign's name as it is; crmkit's own '(no campaign)' in words."""
    if _missing(name):
        return blocks.Cell("")
    text = str(name)
    return blocks.Cell(_(text) if text.startswith("(") and text.endswith(")") else text)


def _row_styles(row: pd.Series, total_at: Any) -> list[str]:
    """The styles of a row's cells: the totals row set apart, a loss-maker shaded."""
    if total_at is not None and row.name == total_at:
        return [_TOTAL_ROW] * len(row)
    return [_LOSS_ROW if _is_loss(row.get("roi")) else ""] * len(row)


def _heading(column: str, currency: str) -> str:
    text, unit = _COLUMNS[column]
    text = _(text)
    return f"{text} ({i18n.currency_symbol(currency)})" if unit == "money" and currency else text


def _download(df: pd.DataFrame, columns: Sequence[str], teams: Mapping[str, str],
              currency: str) -> pd.DataFrame:
    """The rows of a table for its CSV: raw numbers, channels in words, teams by name."""
    out = {}
    for c in (c for c in columns if c in df):  # a column hidden by hand is left out
        values = df[c]
        if c == "channel":
            values = values.map(channel_words)
        elif c == "team_id":
            values = values.map(lambda v: "" if _missing(v) else teams.get(v, str(v)))
        heading = _heading(c, currency)
        out[f"{heading} ({_('fraction')})" if _COLUMNS[c][1] == "rate" else heading] = values
    return pd.DataFrame(out)


def roi_table(
    df: pd.DataFrame, columns: Sequence[str], currency: str = "", caption: str | None = None,
    totals: Mapping[str, Any] | None = None, max_rows: int = 50,
    teams: Mapping[str, str] | None = None, filename: str | None = None, bottom: int = 0,
    rest: pd.DataFrame | None = None,
) -> Table | HTML:
    """A table whose loss-making rows (ROI < 0) are shaded and marked '▼ … loss', and
    whose ROI carries a 'provisional' tag while the row's leads are still maturing: a
    :class:`~crmkit.render.tables.Table` of ``columns`` (and ``provisional``, not shown).

    ``totals`` (headline metrics) adds a last row; ``teams`` names the teams (team id →
    name). Each money column is shown at one scale (the largest amount's, with the total
    row), the currency in its heading; the CSV download holds every row, unrounded. A long
    table shows its first ``max_rows`` rows and, with ``bottom``, its last ``bottom``;
    ``rest`` holds rows for the CSV download only, after the table's.
    """
    if df.empty:
        return blocks.text(_("No campaign had cost, leads or won deals in this period."))
    teams = dict(teams or {})
    units = {c: unit for c in columns if (unit := _COLUMNS[c][1]) is not None}
    styled = blocks.table(
        df.reindex(columns=[*columns, "provisional"]), units,
        {c: _COLUMNS[c][0] for c in columns}, currency, caption, max_rows,
        names={"team_id": teams}, filename=filename, totals=totals, bottom=bottom,
        cells={"name": _name_cell, "channel": lambda v: blocks.Cell(channel_words(v)),
               "roi": partial(_roi_cell, currency=currency)},
        flags={"roi": ("provisional", _("provisional"))},
        csv=lambda rows: _download(rows if rest is None else pd.concat(
            [rows, rest.reindex(columns=rows.columns)]), columns, teams, currency))
    styled.apply(_row_styles, axis=1, total_at=len(df) if totals else None)
    styled.map(_roi_style, subset=[c for c in columns if c == "roi"])
    return styled.map(lambda _v: _NO_WRAP, subset=[c for c in units if c != "roi"])


def campaign_table(campaign: pd.DataFrame, metrics: Mapping[str, Any], currency: str = "",
                   provisional: bool = False, teams: Mapping[str, str] | None = None, *,
                   empty: bool = False) -> Table | HTML:
    """Per campaign, best ROI first, loss-makers shaded, with a total row (campaigns in
    scope), as a :class:`~crmkit.render.tables.Table`; ``teams``: team id → name."""
    if empty:
        return NOTHING
    totals = {**metrics, "name": _("Total (campaigns in scope)"), "provisional": provisional}
    caption = _("Campaigns with cost, leads or won deals in the period, best ROI first. Shaded: "
                "loss-makers (ROI below 0).")
    top, bottom = ranking.ends(int(campaign["roi"].notna().sum()) if len(campaign) else 0)
    unranked = campaign["roi"].isna() if bottom else pd.Series(False, index=campaign.index)
    shown = campaign[~unranked]  # a long list: the two ends by ROI; those without one in the CSV
    if len(shown) and shown["campaign_id"].isna().any():
        caption += " " + _("'(no campaign)': leads without a campaign, no cost, not in the total.")
    table = roi_table(shown, CAMPAIGN_COLUMNS, currency, totals=totals, caption=caption,
                      teams=teams, filename="campaigns", max_rows=top if bottom else 50,
                      bottom=bottom, rest=campaign[unranked] if bottom else None)
    if not unranked.any() or not isinstance(table, Table):
        return table
    return table.set_note(ngettext(
        "{n} campaign without a cost (no ROI) is in the CSV download, not listed here.",
        "{n} campaigns without a cost (no ROI) are in the CSV download, not listed here.",
        int(unranked.sum())).format(n=number(int(unranked.sum()))))


def channel_table(channel: pd.DataFrame, currency: str = "", *,
                  empty: bool = False) -> Table | HTML:
    """Per channel, most leads first, loss-making channels shaded, as a
    :class:`~crmkit.render.tables.Table`."""
    if empty:
        return NOTHING
    return roi_table(channel, CHANNEL_COLUMNS, currency, caption=(
        _("Per channel: the campaigns' channel, or a lead's own channel when it has no campaign.")
    ), filename="channels")


def cost_vs_revenue(campaign: pd.DataFrame, currency: str = "", *, empty: bool = False) -> ChartFigure | HTML:
    """Scatter of cost against attributed revenue per campaign, with the break-even line.

    Both axes share one logarithmic scale (linear near 0, so campaigns without revenue or
    cost still show), which keeps small and large campaigns readable and the break-even
    line at 45°.
    """
    if empty:
        return NOTHING
    df = campaign[campaign["campaign_id"].notna()]
    df = df[(df["cost"] > 0) | (df["revenue"] > 0)]
    if df.empty:
        return blocks.text(_("No campaign had cost or attributed revenue in this period."))
    fig, ax = plotting.figure(height=5.2)
    values = pd.concat([df["cost"], df["revenue"]])
    positive = values[values > 0]
    low = 10 ** math.floor(math.log10(float(positive.min()))) if len(positive) else 1.0
    top = 10 ** math.ceil(math.log10(float(values.max()) * 1.5))
    for axis in ("x", "y"):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("symlog", linthresh=low)
    line = [0.0, top]
    ax.plot(line, line, color=PALETTE["neutral"], linestyle="--", linewidth=1,
            label=_("Break-even: revenue = cost"))
    ax.fill_between(line, 0, line, color=PALETTE["bad"], alpha=0.07, label=_("Loss: below the line"))
    colours = [
        PALETTE["neutral"] if r is None or pd.isna(r) else (PALETTE["bad"] if r < 0 else PALETTE["good"])
        for r in df["roi"]
    ]
    ax.scatter(df["cost"], df["revenue"], c=colours, s=60 if len(df) <= ranking.WHOLE else 24,
               zorder=3, edgecolor="white")
    unit = f" ({i18n.currency_symbol(currency)})" if currency else ""
    ax.set_xlabel(_("Cost in the period{unit}, log scale").format(unit=unit))
    ax.set_ylabel(_("Attributed revenue{unit}, log scale").format(unit=unit))
    ax.set_xlim(-0.3 * low, top)  # a little room so points at 0 are not cut in half
    ax.set_ylim(-0.3 * low, top)
    for axis in (ax.xaxis, ax.yaxis):  # 0, then each power of ten from the linear part up:
        # the scale's own ticks inside the linear part (100 below a threshold of 1,000) were
        # drawn over the 0
        axis.set_major_locator(FixedLocator([0.0, *_decades(low, top)]))
        axis.set_minor_locator(NullLocator())
    plotting.money_axis(ax, "x")
    plotting.money_axis(ax, "y")
    plotting.foot_legend(ax)
    ax.set_title(_("Cost vs attributed revenue per campaign"))
    named = _name_campaigns(ax, df)  # last: names are placed where the axes are laid out
    caption = _("Green: ROI above 0; red: loss-maker, below the dashed break-even line; grey: no "
                "cost, so no ROI. Both axes use the same logarithmic scale.")
    if named.is_cut:
        caption += " " + ngettext(
            "Every campaign is a point; named: the {top} with the largest profit (revenue − cost) "
            "and the {bottom} with the largest loss, of {total}; every campaign is in the CSV "
            "download of the campaign table.",
            "Every campaign is a point; named: the {top} with the largest profit (revenue − cost) "
            "and the {bottom} with the largest loss, of {total}; every campaign is in the CSV "
            "download of the campaign table.",
            named.total).format(total=number(named.total), top=named.top, bottom=named.bottom)
    return blocks.chart(fig, _("Cost vs revenue"), caption)


#: Campaigns a scatter of many names from each end: more names would hide one another.
_NAMED = 5


def _decades(low: float, top: float) -> list[float]:
    """The powers of ten from ``low`` to ``top``."""
    return [10.0 ** e for e in range(round(math.log10(low)), round(math.log10(top)) + 1)]


def _name_campaigns(ax: Any, df: pd.DataFrame) -> ranking.Cut:
    """Each campaign's name beside its point; of a long list only the ends by profit
    (revenue − cost, of the campaigns with a cost). Returns the campaigns named.

    Names are placed once the axes are laid out (they take no part in the layout), the
    points farthest from the middle first: right of the point, or left of it where the
    name would run past the axes, moved a line at a time away from the nearer edge until
    it covers no name placed before and no other point (three names near 40k of revenue
    were drawn into one another). A moved name keeps a thin line to its point. A name too
    long to fit inside the axes anywhere is shortened, a word at a time, with an ellipsis
    (the campaign table names it whole)."""
    profit = (df["revenue"] - df["cost"]).where(df["cost"] > 0)
    named = ranking.cut(df.assign(_profit=profit), "_profit", n=_NAMED)
    fig = ax.figure
    fig.tight_layout()  # where the axes will be: names are placed in pixels
    renderer = fig._get_renderer()
    frame = ax.get_window_extent(renderer)
    middle = (frame.y0 + frame.y1) / 2
    dots = [tuple(ax.transData.transform(p)) for p in zip(df["cost"], df["revenue"], strict=True)]
    names: list[Any] = []  # the boxes of the names placed
    points = list(zip(named.frame["name"], named.frame["cost"], named.frame["revenue"], strict=True))
    probe = ax.annotate("", (0, 0), xytext=(0, 0), textcoords="offset points", fontsize="small",
                        annotation_clip=False)
    for name, x, y in sorted(points, key=lambda p: -abs(ax.transData.transform(p[1:])[1] - middle)):
        at = tuple(ax.transData.transform((x, y)))
        others = [Bbox.from_extents(u - _DOT, v - _DOT, u + _DOT, v + _DOT)
                  for u, v in dots if (u, v) != at]  # its own point is no obstacle
        probe.xy, probe.xycoords = (x, y), "data"
        shown = str(name)
        while True:
            probe.set_text(shown)
            (dx, dy), align, box, moved = _place(probe, at, at[1] > middle, frame,
                                                 (names, others), renderer)
            if frame.x0 <= box.x0 and box.x1 <= frame.x1 or len(shown) <= _SHORTEST:
                break
            shown = _shorter(shown)
        text = ax.annotate(shown, (x, y), xytext=(dx, dy), textcoords="offset points",
                           fontsize="small", ha=align, annotation_clip=False,
                           arrowprops=({"arrowstyle": "-", "color": PALETTE["neutral"], "linewidth": 0.6,
                                        "shrinkA": 0, "shrinkB": 4} if moved else None))
        text.set_in_layout(False)
        names.append(box)
    probe.remove()
    return named


#: The fewest characters a name is shortened to (:func:`_shorter`).
_SHORTEST = 8


def _shorter(name: str) -> str:
    """``name`` a word shorter, ending in an ellipsis (a single word: a quarter shorter)."""
    whole = name.removesuffix("…").rstrip()
    words = whole.split()
    cut = (" ".join(words[:-1]) if len(words) > 1
           else whole[:max(_SHORTEST - 1, len(whole) * 3 // 4)])
    return cut.rstrip(" ,;:-–—") + "…"


#: How far a name moves at a time, and at most, in points; half a point's width and the
#: room kept between two names, in pixels.
_LINE, _FARTHEST, _DOT, _GAP = 12.0, 120.0, 5.0, 2.0


def _place(text: Any, at: tuple[float, float], above_middle: bool, frame: Any,
           taken: tuple[list[Any], list[Any]], renderer: Any) -> tuple[tuple[float, float], str, Any, bool]:
    """Where ``text`` (an annotation in offset points of the point ``at``, in pixels) stays
    inside ``frame`` and covers none of the ``taken`` names and points, a little room kept
    from the names, its line back to its point (when moved) crossing none of them (see
    :func:`_name_campaigns`): its offset, alignment, box and whether it moved from beside
    its point. Where no place is clear (many points close together), the first inside the
    frame that covers no name, else the one inside it that covers the fewest."""
    names, dots = taken
    step, start = (-_LINE, -_LINE - 1) if above_middle else (_LINE, 3.0)
    inside: list[tuple[int, tuple[float, float], str, Any, int]] = []  # (names covered, ...)
    for k in range(int(_FARTHEST // _LINE) + 1):
        dy = start + k * step
        for dx, align in ((7.0, "left"), (-7.0, "right")):
            text.set_position((dx, dy))
            text.set_horizontalalignment(align)
            box = text.get_window_extent(renderer)
            if not (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1):
                continue
            room = box.padded(_GAP)
            covered = sum(room.overlaps(b) for b in names)
            inside.append((covered, (dx, dy), align, box, k))
            if covered or any(box.overlaps(b) for b in dots):
                continue
            end = (box.x0 if align == "left" else box.x1, (box.y0 + box.y1) / 2)
            line = [(at[0] + (end[0] - at[0]) * t / 10, at[1] + (end[1] - at[1]) * t / 10)
                    for t in range(1, 10)]
            if k == 0 or not any(b.contains(u, v) for b in names for u, v in line):
                return (dx, dy), align, box, k > 0
    if not inside:  # a name wider than the axes: beside its point
        text.set_position((7.0, start))
        text.set_horizontalalignment("left")
        return (7.0, start), "left", text.get_window_extent(renderer), False
    covered, offset, align, box, k = min(inside, key=lambda c: (c[0], c[4]))
    return offset, align, box, k > 0


def lead_funnel(funnel: pd.DataFrame, period: Period | None = None, *,
                empty: bool = False) -> ChartFigure | HTML:
    """The leads *created* in the period → converted → with a won deal, per channel: a
    cohort, not the deals won in the period (the Deals won card), and titled so."""
    if empty:
        return NOTHING
    when = (_("in {period}").format(period=period_in_words(period)) if period is not None
            else _("in the period"))
    if funnel.empty or funnel["leads"].sum() == 0:
        return blocks.text(_("No leads were created {when}: no lead funnel.").format(when=when))
    fig, ax = plotting.figure(height=0.6 * len(funnel) + 1.4)
    plotting.bars(ax, funnel["channel"].map(channel_words).tolist(),
                  [funnel[stage].tolist() for stage in ("leads", "converted", "won")],
                  [PALETTE["secondary"], PALETTE["primary"], PALETTE["good"]],
                  labels=[_("Leads"), _("Converted"), _("With a won deal")], horizontal=True)
    for container in ax.containers:
        ax.bar_label(container, labels=[number(v) for v in container.datavalues],
                     fontsize="small", padding=2)
    ax.set_xlabel(_("Leads created {when} (count)").format(when=when))
    ax.set_ylabel(_("Channel"))
    ax.set_xlim(0, funnel["leads"].max() * 1.15)
    plotting.foot_legend(ax)
    title = _("Leads created {when}, by how far they got").format(when=when)
    ax.set_title(title)
    caption = _("A cohort: all {n} leads created {when}, with or without a campaign (the Leads "
                "card counts those of the campaigns in scope), how many converted and how many "
                "have a won deal so far. Not the deals won in the period, which the Deals won "
                "card counts. Recent leads have had little time to win, so the last step grows "
                "later.").format(n=number(int(funnel["leads"].sum())), when=when)
    if not funnel["won"].fillna(0).any():
        caption += " " + _("None of these leads has a won deal yet: that bar is 0 for every "
                           "channel.")
    return blocks.chart(fig, title, caption)


def conversion_by_channel(channel: pd.DataFrame, overall: float | None = None, *,
                          empty: bool = False) -> ChartFigure | HTML:
    """Lead conversion per channel with its Wilson 95% interval."""
    if empty:
        return NOTHING
    df = channel[channel["leads"] > 0].sort_values("lead_conversion")
    if df.empty:
        return blocks.text(_("No leads were created in this period."))
    fig, ax = plotting.figure(height=0.4 * len(df) + 1.4)
    y = list(range(len(df)))
    low = (df["lead_conversion"] - df["lead_conversion_low"]).clip(lower=0)
    high = (df["lead_conversion_high"] - df["lead_conversion"]).clip(lower=0)
    ax.errorbar(df["lead_conversion"], y, xerr=[low, high], fmt="o", color=PALETTE["primary"],
                ecolor=PALETTE["secondary"], elinewidth=3, capsize=0,
                clip_on=False)  # a dot at 0% or 100% is drawn whole, over the frame
    if overall is not None:
        ax.axvline(overall, color=PALETTE["accent"], linestyle="--", linewidth=1,
                   label=_("All campaigns in scope"))
        plotting.foot_legend(ax)
    ax.set_yticks(y)
    ax.set_ylim(-0.6, len(df) - 0.4)  # half a row beyond the first and last: their dots whole
    ax.set_yticklabels([f"{channel_words(c)} (n={number(n)})"
                        for c, n in zip(df["channel"], df["leads"], strict=True)])
    ax.set_xlim(0, min(1.0, float(df["lead_conversion_high"].max()) * 1.2 + 0.02))
    plotting.percent_axis(ax, "x")
    ax.xaxis.set_major_locator(MaxNLocator(5))  # few ticks: each reads at a phone's width
    ax.set_xlabel(_("Lead conversion: converted / leads created in the period (%), 95% Wilson interval"))
    ax.set_ylabel(_("Channel (leads)"))
    ax.set_title(_("Lead conversion by channel"))
    return blocks.chart(fig, _("Conversion by channel"),
                        _("Wide bars mean few leads: read them with care."))
