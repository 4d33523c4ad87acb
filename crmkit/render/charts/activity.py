"""Customer activity report charts and tables, in the crmkit theme (see
:mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.activity` and returns an
HTML block: the chart or table, a short message when there is nothing to show, or nothing at
all on a page without data (``empty``, see :mod:`crmkit.render.charts`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from IPython.display import HTML

from crmkit import i18n
from crmkit.i18n import gettext as _
from crmkit.render import blocks, plotting
from crmkit.render.charts._page import NOTHING
from crmkit.render.formatting import PALETTE, count_share, number, share
from crmkit.render.labels import label
from crmkit.render.plotting import ChartFigure
from crmkit.render.tables import Table
from crmkit.verdict import p_words, signed

sns = plotting.seaborn()  # its heatmap (the quick way: crmkit.render.plotting)

#: One colour per customer status, the same in every chart and report.
STATUS_COLOURS = {
    "active": PALETTE["good"],
    "at risk": PALETTE["accent"],
    "lost": PALETTE["bad"],
    "never active": PALETTE["neutral"],
}


def _label(text: str) -> str:
    """An activity type in words ('site_visit' → 'Site visit'; any other '_' as a space)."""
    return label(text).replace("_", " ")


def _name(value: str) -> str:
    """A category of this report (a customer status, an RFM segment) as a name on a chart:
    in words, capitalised ('at risk' → 'At risk', 'potential loyalist' → 'Potential loyalist')."""
    text = label(value)
    return text[:1].upper() + text[1:]


def interactions_by_type(by_type: pd.DataFrame, period: str, comparison: str | None, *,
                         empty: bool = False) -> ChartFigure | HTML:
    """Interactions per activity type: this period beside the comparison period."""
    if empty:
        return NOTHING
    if by_type["interactions"].sum() == 0 and not (by_type["comparison"].fillna(0).sum() > 0):
        return blocks.text(_("No activities were logged in this period."))
    columns = {"interactions": (period, PALETTE["primary"])}
    if comparison:
        columns["comparison"] = (comparison, PALETTE["secondary"])
    shown = by_type.sort_values("interactions", ascending=False)
    counts = [shown[column].fillna(0).tolist() for column in columns]
    fig, ax = plotting.figure(height=0.42 * len(by_type) + 1.4)
    plotting.bars(ax, shown["type"].map(_label).tolist(), counts,
                  [colour for _which, colour in columns.values()],
                  labels=[which for which, _colour in columns.values()], horizontal=True)
    for container in ax.containers:
        ax.bar_label(container, labels=[number(v) for v in container.datavalues],
                     padding=3, fontsize="small")
    ax.set_xlim(0, max(max(c) for c in counts) * 1.15)
    ax.set_xlabel(_("Activities logged (count)"))
    ax.set_ylabel(_("Activity type"))
    plotting.foot_legend(ax)
    ax.set_title(_("Interactions by type: {period} vs {comparison}").format(
        period=period, comparison=comparison) if comparison else _("Interactions by type"))
    return blocks.chart(fig, _("Interactions by type"),
                        _("Activities logged in the period, by type."))


def customer_status(status: pd.DataFrame, comparison: str | None = None, *,
                    empty: bool = False) -> ChartFigure | HTML:
    """Customers per status at the period end (and at the comparison period's end)."""
    if empty:
        return NOTHING
    if status["customers"].sum() == 0:
        return blocks.text(_("No customers in scope at the period end."))
    fig, ax = plotting.figure(height=2.9)
    y = range(len(status))
    colours = [STATUS_COLOURS.get(s, PALETTE["neutral"]) for s in status["status"]]
    ax.barh(list(y), status["customers"], color=colours, height=0.6, label=_("Period end"))
    if comparison and status["comparison"].notna().any():
        ax.scatter(status["comparison"], list(y), marker="|", s=500, color="#1f2933", zorder=3,
                   label=_("End of {period}").format(period=comparison))
        plotting.foot_legend(ax)
    for i, (n, part) in enumerate(zip(status["customers"], status["share"], strict=True)):
        ax.text(n, i, "  " + count_share(n, part), va="center", fontsize="small")
    top = max(status["customers"].max(), status["comparison"].fillna(0).max())
    ax.set_xlim(0, top * 1.25)
    ax.set_yticks(list(y))
    ax.set_yticklabels([_name(s) for s in status["status"]])
    ax.invert_yaxis()
    ax.set_xlabel(_("Customers (count)"))
    ax.set_ylabel(_("Status at period end"))
    ax.set_title(_("Customer status by last contact"))
    caption = _("Last contact = last activity or purchase before the period end.")
    if comparison:
        caption += " " + _("Black ticks: the same counts at the end of the comparison period.")
    return blocks.chart(fig, _("Customer status"), caption)


def rfm_segments(segments: pd.DataFrame, currency: str = "", *, empty: bool = False) -> ChartFigure | HTML:
    """Customers and revenue per RFM segment (best segments first)."""
    if empty:
        return NOTHING
    if segments["customers"].sum() == 0:
        return blocks.text(_("No customer purchased in the 365 days before the period end."))
    fig, _axes = plotting.figure(height=2 * (0.3 * len(segments) + 1.1))
    fig.clf()  # two panels, one above the other (plotting.figure makes one)
    top, bottom = fig.subplots(2, 1, sharey=True)
    y = list(range(len(segments)))
    top.barh(y, segments["customers"], color=PALETTE["primary"], height=0.65)
    bottom.barh(y, segments["revenue"], color=PALETTE["accent"], height=0.65)
    for i, (n, s) in enumerate(zip(segments["customers"], segments["share"], strict=True)):
        top.text(n, i, " " + count_share(n, s), va="center", fontsize="small")
    for i, (r, s) in enumerate(zip(segments["revenue"], segments["revenue_share"], strict=True)):
        bottom.text(r, i, " " + share(s), va="center", fontsize="small")
    top.set_yticks(y)
    top.set_yticklabels([_name(s) for s in segments["segment"]])
    bottom.tick_params(axis="y", labelleft=True)
    top.invert_yaxis()
    top.set_xlim(0, segments["customers"].max() * 1.3)
    bottom.set_xlim(0, segments["revenue"].max() * 1.2)
    top.set_xlabel(_("Customers (count, share)"))
    revenue = _("Revenue in the last 365 days")
    bottom.set_xlabel(f"{revenue} ({i18n.currency_symbol(currency)})" if currency else revenue)
    plotting.money_axis(bottom, "x")
    top.set_ylabel(_("RFM segment"))
    bottom.set_ylabel(_("RFM segment"))
    top.set_title(_("Customers per segment"))
    bottom.set_title(_("Revenue per segment"))
    return blocks.chart(fig, _("RFM segments"),
                        _("Customers with a purchase in the 365 days before the period end, "
                        "by recency (R) and frequency + monetary (FM) scores; see Definitions."))


def rfm_table(segments: pd.DataFrame, currency: str = "", *, empty: bool = False) -> Table | HTML:
    """The RFM segments as a table (nothing when no customer purchased:
    :func:`rfm_segments` says so)."""
    if empty or segments["customers"].sum() == 0:
        return NOTHING
    return blocks.table(
        segments,
        units={"customers": "count", "share": "rate", "revenue": "money",
               "revenue_share": "rate", "recency_days_median": "days",
               "frequency_mean": "score", "monetary_mean": "money"},
        labels={"share": _("share of customers"), "recency_days_median": _("median days since purchase"),
                "frequency_mean": _("mean purchases"), "monetary_mean": _("mean spend")},
        currency=currency, caption=_("RFM segments (revenue: last 365 days)"), filename="rfm-segments")


def cohort_heatmap(cohorts: pd.DataFrame, *, empty: bool = False) -> ChartFigure | HTML:
    """Share of each first-purchase cohort buying again in each later month."""
    if empty:
        return NOTHING
    if cohorts.empty:
        return blocks.text(_("No customer made a first purchase in the cohort months."))
    grid = cohorts.pivot(index="cohort", columns="month_offset", values="share")
    sizes = cohorts.groupby("cohort")["customers"].first()
    grid.index = [f"{c} (n={number(sizes[c])})" for c in grid.index]
    fig, ax = plotting.figure(height=0.38 * len(grid) + 1.6)
    cmap = sns.light_palette(PALETTE["primary"], as_cmap=True)
    later = grid.drop(columns=[0], errors="ignore")
    vmax = float(later.max().max()) if later.notna().any().any() else 1.0
    # cells are narrow: percentages without the sign (the title and the scale say %)
    sns.heatmap(grid, annot=grid * 100, fmt=".0f", cmap=cmap, vmin=0, vmax=max(vmax, 0.05),
                linewidths=0.5, linecolor="white", cbar_kws={"label": _("Share of the cohort buying"),
                                                            "format": plotting.LocalPercent(1.0, 0)},
                annot_kws={"fontsize": "x-small"}, ax=ax)
    ax.grid(False)
    ax.set_xlabel(_("Months since the first purchase"))
    ax.set_ylabel(_("First-purchase month (customers)"))
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(_("Cohort retention: % of each cohort buying in the month"))
    return blocks.chart(fig, _("Cohort retention"),
                        _("Month 0 is 100% by construction; the colour scale is set by the later "
                        "months so their differences show."))


def status_table(status: pd.DataFrame, *, empty: bool = False) -> Table | HTML:
    """The customer-status breakdown as a table, its p-values in words (nothing when no
    customer is in scope at either end: :func:`customer_status` says so)."""
    if empty or (status["customers"].sum() == 0
                 and not status["comparison"].fillna(0).sum() > 0):
        return NOTHING
    shown = pd.DataFrame({
        "status": status["status"],
        "customers": status["customers"],
        "share": status["share"],
        "comparison": status["comparison"],
        "comparison_share": status["comparison_share"],
        # the test is of the share, so the change beside it is the share's, in points (the
        # cards above test the counts)
        "share change": [
            "—" if pd.isna(now) or pd.isna(then) else signed(100 * (now - then), 1, " pp")
            for now, then in zip(status["share"], status["comparison_share"], strict=True)
        ],
        "share changed?": [
            p_words(None if pd.isna(p) else float(p)) for p in status["p_value"]
        ],
    })
    caption = _("Customers per status at the period end; the test asks whether the share of "
                "customers in the status changed (two-proportion z-test; the cards above test "
                "the counts, so their p-values differ)")
    if status["comparison"].isna().all():
        shown = shown.drop(columns=["comparison", "comparison_share", "share change",
                                    "share changed?"])
        caption = _("Customers per status at the period end")
    elif status["p_value"].isna().all() and status["change"].isna().all():
        # nothing tested or stated (a period not over): the comparison's figures, no change
        shown = shown.drop(columns=["share change", "share changed?"])
        caption = _("Customers per status at the period end")
    return blocks.table(
        shown, units={"customers": "count", "share": "rate", "comparison": "count",
                      "comparison_share": "rate"},
        labels={"share": _("share of customers"), "comparison": _("at comparison end"),
                "comparison_share": _("share then")},
        caption=caption, filename="customer-status")


#: The customers that went quiet in the CSV download of their table: the largest buyers (a
#: call list); a company of 400,000 customers has tens of thousands, which the page's JSON
#: data lists (a CSV of them all would make the page megabytes long).
QUIET_CSV_ROWS = 1000


def went_quiet_table(quiet: pd.DataFrame, comparison: str | None, currency: str = "",
                     max_rows: int = 25, in_touch: int | None = None, *,
                     empty: bool = False, csv_rows: int = QUIET_CSV_ROWS) -> Table | HTML:
    """The customers that went quiet (a call list), largest buyers first, the first
    ``csv_rows`` of them in the CSV download. ``in_touch`` is the number of customers in
    touch during the comparison period (its active customers), when known: with none,
    nobody could go quiet and the page says so."""
    if empty:
        return NOTHING
    if comparison is None:
        return blocks.text(_("No comparison period (the report compares with none): nothing "
                           "to compare contacts with."))
    if quiet.empty and in_touch == 0:
        return blocks.text(_("No customer was in touch during {period}, so none can have gone "
                             "quiet since.").format(period=comparison))
    if quiet.empty:
        return blocks.text(_("Every customer in touch during {period} was in touch again in "
                             "this period.").format(period=comparison))
    table = blocks.table(
        quiet.head(csv_rows).drop(columns=["customer_id"]),
        units={"days_since_contact": "count", "revenue_365d": "money"},
        labels={"name": "customer", "last_contact": _("last contact"),
                "days_since_contact": _("days since"), "revenue_365d": _("revenue, last 365 days")},
        currency=currency, max_rows=max_rows, verbatim=("name", "owner"), filename="went-quiet",
        caption=i18n.ngettext(
            "{n} customer in touch during {period} and not since, by revenue in the 365 days "
            "to the period end",
            "{n} customers in touch during {period} and not since, by revenue in the 365 days "
            "to the period end", len(quiet)).format(n=number(len(quiet)), period=comparison))
    if len(quiet) <= csv_rows:
        return table
    return table.set_note(_("The CSV download holds the {shown} largest buyers of the {n}; the "
                            "page's JSON data lists them all.").format(
        shown=number(csv_rows), n=number(len(quiet))))


def employee_table(employee: pd.DataFrame, types: tuple[str, ...], teams: Mapping[str, str], *,
                   empty: bool = False) -> Table | HTML:
    """Activities logged in the period per employee and type (``types``), teams by name
    (``teams``: team id → name)."""
    if empty:
        return NOTHING
    return blocks.table(
        employee, units=dict.fromkeys(["interactions", *types], "count"),
        names={"team_id": teams}, verbatim=("name",), filename="activities-per-employee",
        caption=_("Activities logged in the period per employee and type (sellers and managers "
                "are listed even with none; (no employee): activities logged without one, "
                "e.g. web visits)"))


def customer_table(customer: pd.DataFrame, types: tuple[str, ...], currency: str = "", *,
                   empty: bool = False) -> Table | HTML:
    """The most active customers: activities in the period by type, deals and revenue won."""
    if empty:
        return NOTHING
    return blocks.table(
        customer, units=dict.fromkeys(["interactions", *types, "deals_won"], "count")
        | {"revenue": "money"}, labels={"name": _("Customer")}, currency=currency,
        verbatim=("name",), filename="most-active-customers",
        caption=_("Most active customers: activities in the period by type, revenue won"))


def top_revenue_table(top: pd.DataFrame, currency: str = "", *, empty: bool = False) -> Table | HTML:
    """The customers with the most revenue won in the period."""
    if empty:
        return NOTHING
    return blocks.table(
        top, units={"revenue": "money", "deals_won": "count", "interactions": "count"},
        labels={"name": _("Customer")}, currency=currency, verbatim=("name",),
        filename="top-customers-by-revenue",
        caption=_("Top customers by revenue won in the period"))
