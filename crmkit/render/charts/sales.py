"""Sales report charts and tables, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.sales` and returns an
HTML block: the chart or table, a sentence when there is nothing to show, or nothing at all
on a page without data (``empty``, see :mod:`crmkit.render.charts`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import seaborn as sns
from IPython.display import HTML

from crmkit.periods import Period
from crmkit.render import blocks, plotting
from crmkit.render.charts._page import NOTHING
from crmkit.render.formatting import PALETTE
from crmkit.render.labels import label
from crmkit.reports.context import period_in_words


def revenue_trend(month: pd.DataFrame, current: list[str], currency: str = "", *,
                  empty: bool = False) -> HTML:
    """Monthly revenue bars (the report's months highlighted) with the win rate line."""
    if empty:
        return NOTHING
    if month.empty:
        return blocks.text("No closed deals in the trend window.")
    won = (month["revenue"].fillna(0) != 0).any()
    if not won and month["win_rate"].isna().all():
        return blocks.text(f"Revenue trend: no deal was won or lost from {month['month'].iloc[0]} "
                           f"to {month['month'].iloc[-1]} (the twelve months shown), so there is "
                           "nothing to chart.")
    fig, ax = plotting.figure()
    colours = [PALETTE["primary"] if m in current else PALETTE["secondary"] for m in month["month"]]
    sns.barplot(
        data=month, x="month", y="revenue", hue="month", palette=colours, legend=False, ax=ax,
        errorbar=None,
    )
    ax.set_xlabel("Month the deals closed")
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
    caption = ("Bars: revenue of deals won in the month; line: win rate of deals closed in the "
               "month (the cards count the same deals). Darker bars: this report's period.")
    if not won:
        caption += " No deal was won in these months: revenue is 0 in every one."
    return blocks.chart(fig, "Revenue trend", caption)


def stage_funnel(funnel: pd.DataFrame, period: Period | None = None, *,
                 empty: bool = False) -> HTML:
    """The deals *created* in the period by the furthest stage reached: a cohort, not the
    deals closed in it (those are the cards' deals won and lost), and titled so."""
    if empty:
        return NOTHING
    when = f"in {period_in_words(period)}" if period is not None else "in the period"
    if funnel.empty or funnel["reached"].max() == 0:
        return blocks.text(f"No deals were created {when}: no stage funnel.")
    fig, ax = plotting.figure(height=0.45 * len(funnel) + 1.2)
    shown = funnel.assign(stage=funnel["stage"].map(label))
    sns.barplot(data=shown, y="stage", x="reached", color=PALETTE["primary"], ax=ax, errorbar=None)
    for i, (n, share) in enumerate(zip(funnel["reached"], funnel["share"], strict=True)):
        ax.text(n, i, f"  {n:,} ({100 * (share or 0):.0f}%)", va="center", fontsize="small")
    ax.set_xlabel("Deals created (count) that reached the stage")
    ax.set_ylabel("Furthest stage reached")
    ax.set_xlim(0, funnel["reached"].max() * 1.2)
    title = f"Deals created {when}, by furthest stage reached"
    ax.set_title(title)
    return blocks.chart(
        fig, title,
        f"A cohort: the {int(funnel['reached'].iloc[0]):,} deals created {when} and how far each "
        "has got so far (won deals count as having passed every stage). Not the deals closed "
        "in the period, which the Deals won and Deals lost cards count.",
    )


def win_rate_by_employee(employee: pd.DataFrame, *, empty: bool = False) -> HTML:
    """Win rate per seller with its Wilson 95% interval."""
    if empty:
        return NOTHING
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
    ax.set_ylabel("Seller (deals closed)")
    ax.set_title("Win rate per seller")
    return blocks.chart(
        fig, "Win rate per seller", "Deals closed in the period. Wide bars mean few closed "
        "deals: read them with care."
    )


def pipeline_by_close(pipe: pd.DataFrame, currency: str = "", *, empty: bool = False) -> HTML:
    """Open pipeline by month of expected close: full and probability-weighted amounts."""
    if empty:
        return NOTHING
    deals = int(pipe["deals"].sum()) if "deals" in pipe else 0
    if pipe.empty or pipe["amount"].fillna(0).sum() == 0:
        if deals:
            return blocks.text(f"{deals:,} deal(s) open at the period end, none with an amount: "
                               "no pipeline to chart.")
        return blocks.text("No open deals at the period end.")
    long = pipe.assign(month=pipe["month"].map(label)).melt(
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
    ax.tick_params(axis="x", rotation=45)
    ax.set_ylabel(f"Open pipeline ({currency})" if currency else "Open pipeline")
    plotting.money_axis(ax)
    ax.legend(title=None)
    ax.set_title("Open pipeline at the period end, by expected close")
    return blocks.chart(
        fig,
        "Pipeline by expected close",
        "Deals open at the period end (the Open pipeline and Weighted pipeline cards); "
        "'Overdue': expected close already passed.",
    )


def seller_table(employee: pd.DataFrame, teams: Mapping[str, str], currency: str = "", *,
                 empty: bool = False) -> HTML:
    """Per seller: deals closed in the period, win rate (small samples flagged), revenue
    and open pipeline at its end; teams by name (``teams``: team id → name)."""
    if empty:
        return NOTHING
    return blocks.table(
        employee.drop(columns=["win_rate_low", "win_rate_high"]),
        units={"deals_won": "count", "deals_lost": "count", "closed": "count",
               "win_rate": "rate", "revenue": "money", "avg_deal_size": "money",
               "open_pipeline": "money"},
        labels={"name": "Seller", "closed": "Deals closed"},
        currency=currency, samples={"win_rate": "closed"}, names={"team_id": teams},
        verbatim=("name",),
        caption="Per seller: deals closed in the period, open pipeline at its end",
        filename="sellers")


def product_table(product: pd.DataFrame, currency: str = "", *, empty: bool = False) -> HTML:
    """Deals won in the period by product, with their share of the revenue."""
    if empty:
        return NOTHING
    return blocks.table(
        product,
        units={"deals_won": "count", "revenue": "money", "avg_deal_size": "money",
               "revenue_share": "rate"},
        currency=currency, verbatim=("product",), caption="Deals won in the period by product",
        filename="products")
