"""Marketing report charts and tables, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.marketing` and returns an
HTML block, or a short message when there is nothing to show. The ROI tables are built
here as rows of cells for :func:`crmkit.render.blocks.text_table` rather than from a frame
with :func:`crmkit.render.blocks.table`, because loss-makers are highlighted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import seaborn as sns
from IPython.display import HTML

from crmkit.render import blocks, plotting
from crmkit.render.formatting import PALETTE, fmt

_LOSS_ROW = "background:#fdecea"
_TOTAL_ROW = "font-weight:600;border-top:2px solid #d9dee4"
_LOSS_CELL = f"color:{PALETTE['bad']};font-weight:600"
_GAIN_CELL = f"color:{PALETTE['good']}"
_NO_WRAP = "white-space:nowrap"

# column -> (heading, unit for fmt or None for text)
_COLUMNS: dict[str, tuple[str, str | None]] = {
    "name": ("Campaign", None),
    "channel": ("Channel", None),
    "team_id": ("Team", None),
    "campaigns": ("Campaigns", "count"),
    "cost": ("Cost", "money"),
    "leads": ("Leads", "count"),
    "lead_conversion": ("Lead conversion", "rate"),
    "deals_won": ("Deals won", "count"),
    "revenue": ("Revenue", "money"),
    "acquired_customers": ("Acquired customers", "count"),
    "cost_per_lead": ("Cost per lead", "money"),
    "cac": ("CAC", "money"),
    "roi": ("ROI", "rate"),
}
CAMPAIGN_COLUMNS = ("name", "channel", "team_id", "cost", "leads", "lead_conversion", "deals_won",
                    "revenue", "acquired_customers", "cost_per_lead", "cac", "roi")
CHANNEL_COLUMNS = ("channel", "campaigns", "cost", "leads", "lead_conversion", "deals_won",
                   "revenue", "acquired_customers", "cost_per_lead", "cac", "roi")


def _text(value: Any, unit: str | None, currency: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—" if unit else ""
    return fmt(value, unit, currency) if unit else str(value)


def _missing(value: Any) -> bool:
    return value is None or pd.isna(value)


def _is_loss(roi: Any) -> bool:
    return not _missing(roi) and roi < 0


def _roi_cell(roi: Any, provisional: bool, currency: str) -> blocks.Cell:
    """ROI in the good or bad colour, '▼ … loss' when negative, '—' without cost."""
    if _missing(roi):
        return blocks.Cell("—", css_class="n", title="no cost in the period: no ROI")
    flag = "provisional" if provisional else None
    shown = fmt(roi, "rate", currency)
    if _is_loss(roi):
        return blocks.Cell(f"▼ {shown} loss", css_class="n", style=f"{_LOSS_CELL};{_NO_WRAP}",
                           flag=flag)
    return blocks.Cell(shown, css_class="n", style=f"{_GAIN_CELL};{_NO_WRAP}", flag=flag)


def _roi_row(rec: Mapping[str, Any], columns: Sequence[str], currency: str) -> blocks.Row:
    cells = []
    for c in columns:
        unit = _COLUMNS[c][1]
        if c == "roi":
            cells.append(_roi_cell(rec.get("roi"), bool(rec.get("provisional")), currency))
        elif unit:
            cells.append(blocks.Cell(_text(rec.get(c), unit, currency), css_class="n",
                                     style=_NO_WRAP))
        else:
            cells.append(blocks.Cell(_text(rec.get(c), unit, currency)))
    style = None
    if rec.get("_total"):
        style = _TOTAL_ROW
    elif _is_loss(rec.get("roi")):
        style = _LOSS_ROW
    return blocks.Row(cells, style)


def roi_table(
    df: pd.DataFrame, columns: Sequence[str], currency: str = "", caption: str | None = None,
    totals: Mapping[str, Any] | None = None, max_rows: int = 50,
) -> HTML:
    """A table whose loss-making rows (ROI < 0) are shaded and marked '▼ … loss', and
    whose ROI carries a 'provisional' tag while the row's leads are still maturing.

    ``totals`` (headline metrics) adds a last row.
    """
    if df.empty:
        return blocks.text("No campaign had cost, leads or won deals in this period.")
    records = [*df.head(max_rows).to_dict(orient="records"), *([dict(totals)] if totals else [])]
    return blocks.text_table(
        [_COLUMNS[c][0] for c in columns],
        [_roi_row(rec, columns, currency) for rec in records],
        caption,
        hidden=max(len(df) - max_rows, 0),
    )


def campaign_table(campaign: pd.DataFrame, metrics: Mapping[str, Any], currency: str = "",
                   provisional: bool = False) -> HTML:
    """Per campaign, best ROI first, loss-makers shaded, with a total row (campaigns in scope)."""
    totals = {**metrics, "name": "Total (campaigns in scope)", "_total": True,
              "provisional": provisional}
    caption = ("Campaigns with cost, leads or won deals in the period, best ROI first. Shaded: "
               "loss-makers (ROI below 0).")
    if len(campaign) and campaign["campaign_id"].isna().any():
        caption += " '(no campaign)': leads without a campaign, no cost, not in the total."
    return roi_table(campaign, CAMPAIGN_COLUMNS, currency, totals=totals, caption=caption)


def channel_table(channel: pd.DataFrame, currency: str = "") -> HTML:
    """Per channel, most leads first, loss-making channels shaded."""
    return roi_table(channel, CHANNEL_COLUMNS, currency, caption=(
        "Per channel: the campaigns' channel, or a lead's own channel when it has no campaign."
    ))


def cost_vs_revenue(campaign: pd.DataFrame, currency: str = "") -> HTML:
    """Scatter of cost against attributed revenue per campaign, with the break-even line.

    Both axes share one logarithmic scale (linear near 0, so campaigns without revenue or
    cost still show), which keeps small and large campaigns readable and the break-even
    line at 45°.
    """
    df = campaign[campaign["campaign_id"].notna()]
    df = df[(df["cost"] > 0) | (df["revenue"] > 0)]
    if df.empty:
        return blocks.text("No campaign had cost or attributed revenue in this period.")
    fig, ax = plotting.figure(width=9, height=5.2)
    values = pd.concat([df["cost"], df["revenue"]])
    positive = values[values > 0]
    low = 10 ** math.floor(math.log10(float(positive.min()))) if len(positive) else 1.0
    top = 10 ** math.ceil(math.log10(float(values.max()) * 1.5))
    for axis in ("x", "y"):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("symlog", linthresh=low)
    line = [0.0, top]
    ax.plot(line, line, color=PALETTE["neutral"], linestyle="--", linewidth=1,
            label="Break-even: revenue = cost")
    ax.fill_between(line, 0, line, color=PALETTE["bad"], alpha=0.07, label="Loss: below the line")
    colours = [
        PALETTE["neutral"] if r is None or pd.isna(r) else (PALETTE["bad"] if r < 0 else PALETTE["good"])
        for r in df["roi"]
    ]
    ax.scatter(df["cost"], df["revenue"], c=colours, s=60, zorder=3, edgecolor="white")
    for i, (name, x, y) in enumerate(zip(df["name"], df["cost"], df["revenue"], strict=True)):
        ax.annotate(str(name), (x, y), xytext=(7, 3 + 7 * (i % 2)), textcoords="offset points",
                    fontsize=8)
    unit = f" ({currency})" if currency else ""
    ax.set_xlabel(f"Cost in the period{unit}, log scale")
    ax.set_ylabel(f"Attributed revenue{unit}, log scale")
    ax.set_xlim(-0.3 * low, top)  # a little room so points at 0 are not cut in half
    ax.set_ylim(-0.3 * low, top)
    plotting.money_axis(ax, "x")
    plotting.money_axis(ax, "y")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Cost vs attributed revenue per campaign")
    return blocks.chart(fig, "Cost vs revenue", (
        "Green: ROI above 0; red: loss-maker, below the dashed break-even line; grey: no "
        "cost, so no ROI. Both axes use the same logarithmic scale."
    ))


def lead_funnel(funnel: pd.DataFrame) -> HTML:
    """Leads created in the period → converted → won, per channel."""
    if funnel.empty or funnel["leads"].sum() == 0:
        return blocks.text("No leads were created in this period.")
    long = funnel.melt(id_vars="channel", value_vars=["leads", "converted", "won"],
                       var_name="stage", value_name="count")
    long["stage"] = long["stage"].map({"leads": "Leads", "converted": "Converted",
                                       "won": "With a won deal"})
    fig, ax = plotting.figure(height=0.6 * len(funnel) + 1.4)
    sns.barplot(data=long, y="channel", x="count", hue="stage", ax=ax,
                palette=[PALETTE["secondary"], PALETTE["primary"], PALETTE["good"]],
                errorbar=None)
    for container in ax.containers:
        ax.bar_label(container, fmt="{:,.0f}", fontsize=8, padding=2)
    ax.set_xlabel("Leads created in the period (count)")
    ax.set_ylabel("Channel")
    ax.set_xlim(0, funnel["leads"].max() * 1.15)
    ax.legend(title=None, loc="lower right", fontsize=8)
    ax.set_title("Lead funnel per channel")
    return blocks.chart(fig, "Lead funnel", (
        "Of the leads created in the period: how many converted, and how many have a won deal "
        "so far. Recent leads have had little time to win, so the last step grows later."
    ))


def conversion_by_channel(channel: pd.DataFrame, overall: float | None = None) -> HTML:
    """Lead conversion per channel with its Wilson 95% interval."""
    df = channel[channel["leads"] > 0].sort_values("lead_conversion")
    if df.empty:
        return blocks.text("No leads were created in this period.")
    fig, ax = plotting.figure(height=0.4 * len(df) + 1.4)
    y = list(range(len(df)))
    low = (df["lead_conversion"] - df["lead_conversion_low"]).clip(lower=0)
    high = (df["lead_conversion_high"] - df["lead_conversion"]).clip(lower=0)
    ax.errorbar(df["lead_conversion"], y, xerr=[low, high], fmt="o", color=PALETTE["primary"],
                ecolor=PALETTE["secondary"], elinewidth=3, capsize=0)
    if overall is not None:
        ax.axvline(overall, color=PALETTE["accent"], linestyle="--", linewidth=1,
                   label="All campaigns in scope")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{c} (n={n:,})" for c, n in zip(df["channel"], df["leads"], strict=True)])
    ax.set_xlim(0, min(1.0, float(df["lead_conversion_high"].max()) * 1.2 + 0.02))
    plotting.percent_axis(ax, "x")
    ax.set_xlabel("Lead conversion: converted / leads created in the period (%), 95% Wilson interval")
    ax.set_ylabel("Channel (leads)")
    ax.set_title("Lead conversion by channel")
    return blocks.chart(fig, "Conversion by channel",
                        "Wide bars mean few leads: read them with care.")
