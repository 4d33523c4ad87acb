"""Sales report charts and tables, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.sales` and returns an
HTML block: the chart or table, a sentence when there is nothing to show, or nothing at all
on a page without data (``empty``, see :mod:`crmkit.render.charts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import pandas as pd
from IPython.display import HTML
from matplotlib.ticker import MaxNLocator

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.i18n import ngettext
from crmkit.metrics.definitions import METRICS
from crmkit.periods import Period
from crmkit.render import blocks, plotting, ranking
from crmkit.render.charts._page import NOTHING
from crmkit.render.formatting import PALETTE, compact, count_share, money_scale, number, scaled
from crmkit.render.labels import label
from crmkit.render.plotting import ChartFigure
from crmkit.render.tables import Table
from crmkit.reports.context import period_in_words


def revenue_trend(month: pd.DataFrame, current: list[str], currency: str = "", *,
                  empty: bool = False) -> ChartFigure | HTML:
    """Monthly revenue bars (the report's months highlighted) with the win rate line."""
    if empty:
        return NOTHING
    if month.empty:
        return blocks.text(_("No closed deals in the trend window."))
    won = (month["revenue"].fillna(0) != 0).any()
    if not won and month["win_rate"].isna().all():
        return blocks.text(_("Revenue trend: no deal was won or lost from {first} to {last} (the "
                             "twelve months shown), so there is nothing to chart.").format(
            first=month["month"].iloc[0], last=month["month"].iloc[-1]))
    fig, ax = plotting.figure()
    colours = [PALETTE["primary"] if m in current else PALETTE["secondary"] for m in month["month"]]
    plotting.bars(ax, month["month"].tolist(), [month["revenue"].tolist()], colours)
    ax.set_xlabel(_("Month the deals closed"))
    ax.set_ylabel(_("Revenue") + (f" ({i18n.currency_symbol(currency)})" if currency else ""))
    plotting.money_axis(ax)
    if not (month["revenue"].fillna(0) > 0).any():  # deals lost, none won: one tick, 0
        ax.set_ylim(0, 1)
        ax.set_yticks([0])
    ax.tick_params(axis="x", rotation=45, rotation_mode="xtick")  # each label ends at its tick
    ax2 = ax.twinx()
    ax2.plot(
        range(len(month)), month["win_rate"], color=PALETTE["accent"], marker="o", label=_("Win rate")
    )
    ax2.set_ylabel(_("Win rate (%)"))
    ax2.set_ylim(0, 1)
    plotting.percent_axis(ax2)
    ax2.grid(False)
    plotting.foot_legend(ax2)
    ax.set_title(_("Revenue and win rate by month"))
    caption = _("Bars: revenue of deals won in the month; line: win rate of deals closed in the "
                "month (the cards count the same deals). Darker bars: this report's period.")
    if not won:
        caption += " " + _("No deal was won in these months: revenue is 0 in every one.")
    return blocks.chart(fig, _("Revenue trend"), caption)


def stage_funnel(funnel: pd.DataFrame, period: Period | None = None, *,
                 empty: bool = False) -> ChartFigure | HTML:
    """The deals *created* in the period by the furthest stage reached: a cohort, not the
    deals closed in it (those are the cards' deals won and lost), and titled so."""
    if empty:
        return NOTHING
    when = (_("in {period}").format(period=period_in_words(period)) if period is not None
            else _("in the period"))
    if funnel.empty or funnel["reached"].max() == 0:
        return blocks.text(_("No deals were created {when}: no stage funnel.").format(when=when))
    fig, ax = plotting.figure(height=0.45 * len(funnel) + 1.2)
    shown = funnel.assign(stage=funnel["stage"].map(label))
    plotting.bars(ax, shown["stage"].tolist(), [shown["reached"].tolist()], [PALETTE["primary"]],
                  horizontal=True)
    for i, (n, share) in enumerate(zip(funnel["reached"], funnel["share"], strict=True)):
        ax.text(n, i, "  " + count_share(n, share), va="center", fontsize="small")
    ax.set_xlabel(_("Deals created (count) that reached the stage"))
    ax.set_ylabel(_("Furthest stage reached"))
    ax.set_xlim(0, funnel["reached"].max() * 1.2)
    title = _("Deals created {when}, by furthest stage reached").format(when=when)
    ax.set_title(title)
    return blocks.chart(
        fig, title,
        _("A cohort: the {n} deals created {when} and how far each has got so far (won deals "
          "count as having passed every stage). Not the deals closed in the period, which the "
          "Deals won and Deals lost cards count.").format(n=number(int(funnel["reached"].iloc[0])),
                                                          when=when),
    )


def win_rate_by_employee(employee: pd.DataFrame, *, empty: bool = False) -> ChartFigure | HTML:
    """Win rate per seller with its Wilson 95% interval."""
    if empty:
        return NOTHING
    shown = ranking.cut(employee[employee["closed"] > 0], "win_rate", then="closed")
    # cut: lowest first, each end as ranked (ties across the two ends stay on their side)
    df = shown.ranked.iloc[::-1] if shown.is_cut else shown.frame.sort_values("win_rate")
    if df.empty:
        return blocks.text(_("No deals were closed in this period."))
    fig, ax = plotting.figure(height=0.32 * (len(df) + 2 * shown.is_cut) + 1.3)
    y = ranking.positions(len(df), shown.bottom if shown.is_cut else None)
    if shown.is_cut:  # lowest first, from the bottom up
        ranking.mark_gap(ax, shown.bottom + 0.5, shown.left)
    low = (df["win_rate"] - df["win_rate_low"]).clip(lower=0)
    high = (df["win_rate_high"] - df["win_rate"]).clip(lower=0)
    ax.errorbar(
        df["win_rate"],
        list(y),
        xerr=[low, high],
        fmt="o",
        color=PALETTE["primary"],
        ecolor=PALETTE["secondary"],
        elinewidth=3,
        capsize=0,
        clip_on=False,  # a dot at 0% or 100% is drawn whole, over the frame
    )
    ax.set_yticks(list(y))
    ax.set_ylim(min(y) - 0.6, max(y) + 0.6)  # half a row beyond the ends: their dots whole
    ax.set_yticklabels([f"{n} (n={c})" for n, c in zip(df["name"], df["closed"], strict=True)])
    ax.set_xlim(0, 1)
    plotting.percent_axis(ax, "x")
    ax.set_xlabel(_("Win rate: won / closed deals (%), with 95% Wilson interval"))
    ax.set_ylabel(_("Seller (deals closed)"))
    ax.set_title(_("Win rate per seller"))
    caption = _("Deals closed in the period. Wide bars mean few closed deals: read them with care.")
    if shown.is_cut:
        caption = ngettext(
            "Of {total} seller, the {top} with the highest win rate and the {bottom} with the "
            "lowest (ties: most deals closed first); every seller is in the CSV download of the "
            "table below.",
            "Of {total} sellers, the {top} with the highest win rate and the {bottom} with the "
            "lowest (ties: most deals closed first); every seller is in the CSV download of the "
            "table below.", shown.total).format(total=number(shown.total), top=shown.top,
                                                bottom=shown.bottom) + " " + caption
    return blocks.chart(fig, _("Win rate per seller"), caption)


def pipeline_by_close(pipe: pd.DataFrame, currency: str = "", *, empty: bool = False) -> ChartFigure | HTML:
    """Open pipeline by month of expected close: full and probability-weighted amounts."""
    if empty:
        return NOTHING
    deals = int(pipe["deals"].sum()) if "deals" in pipe else 0
    if pipe.empty or pipe["amount"].fillna(0).sum() == 0:
        if deals:
            return blocks.text(i18n.ngettext(
                "{n} deal open at the period end, none with an amount: no pipeline to chart.",
                "{n} deals open at the period end, none with an amount: no pipeline to chart.",
                deals).format(n=number(deals)))
        return blocks.text(_("No open deals at the period end."))
    fig, ax = plotting.figure()
    plotting.bars(ax, pipe["month"].map(label).tolist(),
                  [pipe["amount"].tolist(), pipe["weighted"].tolist()],
                  [PALETTE["secondary"], PALETTE["primary"]],
                  labels=[_("Amount"), _("Amount × probability")])
    ax.set_xlabel(_("Expected close month"))
    ax.tick_params(axis="x", rotation=45, rotation_mode="xtick")  # each label ends at its tick
    ax.set_ylabel(_("Open pipeline") + (f" ({i18n.currency_symbol(currency)})" if currency else ""))
    plotting.money_axis(ax)
    plotting.foot_legend(ax)
    ax.set_title(_("Open pipeline at the period end, by expected close"))
    return blocks.chart(
        fig,
        _("Pipeline by expected close"),
        _("Deals open at the period end (the Open pipeline and Weighted pipeline cards); "
        "'Overdue': expected to close before the month the period ends in (deals expected in "
        "that month are in its own bar, even when their date has passed)."),
    )


def seller_table(employee: pd.DataFrame, teams: Mapping[str, str], currency: str = "", *,
                 empty: bool = False) -> Table | HTML:
    """Per seller: deals closed in the period, win rate (small samples flagged), revenue
    and open pipeline at its end; teams by name (``teams``: team id → name)."""
    if empty:
        return NOTHING
    return blocks.table(
        employee.drop(columns=["win_rate_low", "win_rate_high"]),
        units={"deals_won": "count", "deals_lost": "count", "closed": "count",
               "win_rate": "rate", "revenue": "money", "avg_deal_size": "money",
               "open_pipeline": "money"},
        labels={"name": _("Seller"), "closed": _("Deals closed")},
        currency=currency, samples={"win_rate": "closed"}, names={"team_id": teams},
        verbatim=("name",),
        caption=_("Per seller: deals closed in the period, open pipeline at its end"),
        filename="sellers")


def product_table(product: pd.DataFrame, currency: str = "", *, empty: bool = False) -> Table | HTML:
    """Deals won in the period by product, with their share of the revenue."""
    if empty:
        return NOTHING
    return blocks.table(
        product,
        units={"deals_won": "count", "revenue": "money", "avg_deal_size": "money",
               "revenue_share": "rate"},
        currency=currency, verbatim=("product",), caption=_("Deals won in the period by product"),
        filename="products")


# -- pipeline history ------------------------------------------------------------------------

#: The waterfall's one colour rule: the open pipeline at each snapshot, what a part added to
#: it, what a part took out of it.
_TOTAL, _ADDED, _TAKEN = PALETTE["neutral"], PALETTE["primary"], PALETTE["accent"]
_TOTALS = ("opening", "closing")
#: The accuracy table's amounts, by the metric each is (the revenue won is the Revenue).
_ACCURACY_MONEY = ("forecast_at_month_start", "revenue", "forecast_month_error")


def _part_label(part: str) -> str:
    return _(METRICS[f"pipeline_{part}"].label)


def pipeline_movement(parts: pd.DataFrame, words: str, currency: str = "", *,
                      empty: bool = False) -> ChartFigure | HTML:
    """A waterfall of the open pipeline from the opening snapshot to the closing one, every
    part labelled with its amount and its deals; without a movement, ``words`` (why, and
    how to start collecting snapshots)."""
    if empty:
        return NOTHING
    if parts.empty:
        return blocks.text(words)
    fig, ax = plotting.figure(height=0.4 * len(parts) + 1.5)
    running, ends = 0.0, []
    for i, row in enumerate(parts.itertuples(index=False)):
        total = row.part in _TOTALS
        left = 0.0 if total else running
        running = row.amount if total else running + row.amount
        colour = _TOTAL if total else _ADDED if row.amount >= 0 else _TAKEN
        ax.barh(i, row.amount, left=left, color=colour, height=0.6)
        if i + 1 < len(parts):  # the step to the next bar
            ax.plot([running, running], [i + 0.3, i + 0.7], color=_TOTAL, linewidth=0.8)
        ends.append(max(left, left + row.amount))
        shown = compact(row.amount) if total else _signed_money(row.amount)
        ax.text(ends[-1], i, f" {shown}", va="center")
    ax.set_yticks(range(len(parts)))
    ax.set_yticklabels([f"{_part_label(p)} ({number(n)})" for p, n in zip(parts["part"], parts["deals"],
                                                                       strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, max(ends) * 1.3 or 1)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # room for "1.25M" on a phone
    plotting.money_axis(ax, "x")
    ax.set_xlabel(_("Open pipeline") + (f" ({i18n.currency_symbol(currency)})" if currency else ""))
    ax.set_ylabel(_("Part (deals)"))
    ax.set_title(_("How the open pipeline moved"))
    caption = words + " " + _("Grey: the open pipeline in each snapshot; blue: what a part added "
                              "to it; orange: what a part took out (won deals leave the open "
                              "pipeline too). In brackets: the deals of each part.")
    return blocks.chart(fig, _("Pipeline movement"), caption)


def _signed_money(value: float) -> str:
    """An amount with its sign, in the compact form: +2.71M, −684.3k, 0."""
    text = compact(value)
    return f"+{text}" if value > 0 and text != "0" else text


def movement_table(parts: pd.DataFrame, currency: str = "", *, empty: bool = False) -> Table | HTML:
    """The waterfall's parts as a table: deals and amount of each."""
    if empty or parts.empty:
        return NOTHING
    shown = parts.assign(part=[_part_label(p) for p in parts["part"]])
    return blocks.table(
        shown, units={"deals": "count", "amount": "money"},
        labels={"part": _("Part"), "deals": _("Deals"), "amount": _("Amount"),
                "snapshot_date": _("Snapshot of")},
        currency=currency, verbatim=("part",),
        caption=_("Pipeline movement: opening and closing are the open pipeline; each part between "
                "is what it added, or took out (−)"),
        filename="pipeline-movement")


def forecast_accuracy(accuracy: pd.DataFrame, words: str, currency: str = "", *,
                      empty: bool = False) -> Table | HTML:
    """Per past month: the forecast at its start (from the snapshot then) against what was
    won, with the errors, the three amounts at one scale so they compare at a glance, as a
    :class:`~crmkit.render.tables.Table`; then the bias in one sentence, its note (or why
    there is no table)."""
    if empty or not words:
        return NOTHING
    if accuracy.empty:
        return blocks.text(words)
    money = ("forecast", "actual", "error")
    scale = money_scale(accuracy[list(money)].to_numpy().ravel().tolist())
    shown = accuracy[["month", *money, "relative_error", "deals_counted", "snapshot_date"]]
    return blocks.table(
        shown, {**dict.fromkeys(money, "money"), "relative_error": "rate", "deals_counted": "count"},
        {"month": _("Month"), **{c: _(METRICS[n].label) for c, n in zip(money, _ACCURACY_MONEY,
                                                                       strict=True)},
         "relative_error": _("Relative error"), "deals_counted": _("Deals in forecast"),
         "snapshot_date": _("Snapshot of")},
        currency, _("Forecast at each month start (from the pipeline snapshot at the end of the "
                    "day before) against the revenue won in the month"),
        verbatim=("month", "snapshot_date"), filename="forecast-accuracy",
        cells=dict.fromkeys(money, partial(_amount_cell, scale=scale)),
    ).set_note(words)


def _amount_cell(value: Any, scale: tuple[float, str, int]) -> blocks.Cell:
    """An amount at a scale shared with other columns ('—' when missing)."""
    if value is None or value != value:
        return blocks.Cell("—", css_class="n")
    return blocks.Cell(scaled(value, scale), css_class="n")
