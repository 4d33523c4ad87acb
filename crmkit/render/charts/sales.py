"""Sales report charts, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by a metric module and returns the chart as
an HTML block, or a short message when there is nothing to draw.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from IPython.display import HTML

from crmkit.render import blocks, plotting
from crmkit.render.formatting import PALETTE


def revenue_trend(month: pd.DataFrame, current: list[str], currency: str = "") -> HTML:
    """Monthly revenue bars (the report's months highlighted) with the win rate line."""
    if month.empty:
        return blocks.text("No closed deals in the trend window.")
    if not (month["revenue"].fillna(0) != 0).any() and month["win_rate"].isna().all():
        return blocks.text(f"Revenue trend: no deal was won or lost from {month['month'].iloc[0]} "
                           f"to {month['month'].iloc[-1]} (the twelve months shown), so there is "
                           "nothing to chart.")
    fig, ax = plotting.figure()
    colours = [PALETTE["primary"] if m in current else PALETTE["secondary"] for m in month["month"]]
    sns.barplot(
        data=month, x="month", y="revenue", hue="month", palette=colours, legend=False, ax=ax,
        errorbar=None,
    )
    ax.set_xlabel("Month (closed_at)")
    ax.set_ylabel(f"Revenue ({currency})" if currency else "Revenue")
    plotting.money_axis(ax)
    if not (month["revenue"].fillna(0) > 0).any():  # deals lost, none won: one tick, 0
        ax.set_ylim(0, 1)
        ax.set_yticks([0])
    ax.tick_params(axis="x", rotation=45)
    ax2 = ax.twinx()
    ax2.plot(
        range(len(month)), month["win_rate"], color=PALETTE["accent"], marker="o", label="Win rate"
    )
    ax2.set_ylabel("Win rate (%)")
    ax2.set_ylim(0, 1)
    plotting.percent_axis(ax2)
    ax2.grid(False)
    ax2.legend(loc="upper left")
    ax.set_title("Revenue and win rate by month")
    return blocks.chart(
        fig,
        "Revenue trend",
        "Bars: revenue of deals won in the month; "
        "line: win rate of deals closed in the month. Darker bars: this report's period.",
    )


def stage_funnel(funnel: pd.DataFrame) -> HTML:
    """Deals created in the period by the furthest stage reached."""
    if funnel.empty or funnel["reached"].max() == 0:
        return blocks.text("No deals were created in this period.")
    fig, ax = plotting.figure(height=0.45 * len(funnel) + 1.2)
    sns.barplot(data=funnel, y="stage", x="reached", color=PALETTE["primary"], ax=ax, errorbar=None)
    for i, (n, share) in enumerate(zip(funnel["reached"], funnel["share"], strict=True)):
        ax.text(n, i, f"  {n:,} ({100 * (share or 0):.0f}%)", va="center", fontsize=9)
    ax.set_xlabel("Deals created in the period that reached the stage (count)")
    ax.set_ylabel("Stage")
    ax.set_xlim(0, funnel["reached"].max() * 1.2)
    ax.set_title("Stage funnel")
    return blocks.chart(fig, "Stage funnel", "Won deals count as having passed every stage.")


def win_rate_by_employee(employee: pd.DataFrame) -> HTML:
    """Win rate per seller with its Wilson 95% interval."""
    df = employee[employee["closed"] > 0].sort_values("win_rate")
    if df.empty:
        return blocks.text("No deals were closed in this period.")
    fig, ax = plotting.figure(height=0.32 * len(df) + 1.3)
    y = range(len(df))
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
    )
    ax.set_yticks(list(y))
    ax.set_yticklabels([f"{n} (n={c})" for n, c in zip(df["name"], df["closed"], strict=True)])
    ax.set_xlim(0, 1)
    plotting.percent_axis(ax, "x")
    ax.set_xlabel("Win rate: won / closed deals (%), with 95% Wilson interval")
    ax.set_ylabel("Seller")
    ax.set_title("Win rate per seller")
    return blocks.chart(
        fig, "Win rate per seller", "Wide bars mean few closed deals: read them with care."
    )


def pipeline_by_close(pipe: pd.DataFrame, currency: str = "") -> HTML:
    """Open pipeline by month of expected close: full and probability-weighted amounts."""
    if pipe.empty or pipe["amount"].sum() == 0:
        return blocks.text("No open deals at the period end.")
    long = pipe.melt(
        id_vars="month", value_vars=["amount", "weighted"], var_name="measure", value_name="value"
    )
    long["measure"] = long["measure"].map({"amount": "Amount", "weighted": "Amount × probability"})
    fig, ax = plotting.figure()
    sns.barplot(
        data=long,
        x="month",
        y="value",
        hue="measure",
        palette=[PALETTE["secondary"], PALETTE["primary"]],
        ax=ax,
        errorbar=None,
    )
    ax.set_xlabel("Expected close month")
    ax.set_ylabel(f"Open pipeline ({currency})" if currency else "Open pipeline")
    plotting.money_axis(ax)
    ax.legend(title=None)
    ax.set_title("Open pipeline by expected close")
    return blocks.chart(
        fig,
        "Pipeline by expected close",
        "Deals open at the period end; 'overdue': expected close already passed.",
    )
