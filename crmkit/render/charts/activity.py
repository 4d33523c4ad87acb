"""Customer activity report charts, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.activity` and returns the
chart as an HTML block, or a short message when there is nothing to draw.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from IPython.display import HTML

from crmkit.render import blocks, plotting
from crmkit.render.formatting import PALETTE, fmt_change
from crmkit.stats import Test

#: One colour per customer status, the same in every chart and report.
STATUS_COLOURS = {
    "active": PALETTE["good"],
    "at risk": PALETTE["accent"],
    "lost": PALETTE["bad"],
    "never active": PALETTE["neutral"],
}


def _label(text: str) -> str:
    return text.replace("_", " ")


def interactions_by_type(by_type: pd.DataFrame, period: str, comparison: str | None) -> HTML:
    """Interactions per activity type: this period beside the comparison period."""
    if by_type["interactions"].sum() == 0 and not (by_type["comparison"].fillna(0).sum() > 0):
        return blocks.text("No activities were logged in this period.")
    value_vars = ["interactions"] + (["comparison"] if comparison else [])
    long = by_type.assign(type=by_type["type"].map(_label)).melt(
        id_vars="type", value_vars=value_vars, var_name="which", value_name="count")
    long["which"] = long["which"].map({"interactions": period, "comparison": comparison})
    long["count"] = long["count"].fillna(0)
    order = by_type.sort_values("interactions", ascending=False)["type"].map(_label).tolist()
    fig, ax = plotting.figure(height=0.42 * len(by_type) + 1.4)
    palette = {period: PALETTE["primary"]}
    if comparison:
        palette[comparison] = PALETTE["secondary"]
    sns.barplot(data=long, y="type", x="count", hue="which", order=order,
                hue_order=list(palette), palette=palette, ax=ax, errorbar=None)
    for container in ax.containers:
        ax.bar_label(container, labels=[f"{v:,.0f}" for v in container.datavalues],
                     padding=3, fontsize=8)
    ax.set_xlim(0, long["count"].max() * 1.15)
    ax.set_xlabel("Activities logged (count)")
    ax.set_ylabel("Activity type")
    ax.legend(title=None, loc="lower right")
    ax.set_title("Interactions by type" + (f": {period} vs {comparison}" if comparison else ""))
    return blocks.chart(fig, "Interactions by type",
                        "Activities whose occurred_at falls in the period, by type.")


def customer_status(status: pd.DataFrame, comparison: str | None = None) -> HTML:
    """Customers per status at the period end (and at the comparison period's end)."""
    if status["customers"].sum() == 0:
        return blocks.text("No customers in scope at the period end.")
    fig, ax = plotting.figure(height=2.9)
    y = range(len(status))
    colours = [STATUS_COLOURS.get(s, PALETTE["neutral"]) for s in status["status"]]
    ax.barh(list(y), status["customers"], color=colours, height=0.6, label="Period end")
    if comparison and status["comparison"].notna().any():
        ax.scatter(status["comparison"], list(y), marker="|", s=500, color="#1f2933", zorder=3,
                   label=f"End of {comparison}")
        ax.legend(loc="lower right")
    for i, (n, share) in enumerate(zip(status["customers"], status["share"], strict=True)):
        ax.text(n, i, f"  {n:,} ({100 * (share or 0):.0f}%)", va="center", fontsize=9)
    top = max(status["customers"].max(), status["comparison"].fillna(0).max())
    ax.set_xlim(0, top * 1.25)
    ax.set_yticks(list(y))
    ax.set_yticklabels(status["status"])
    ax.invert_yaxis()
    ax.set_xlabel("Customers (count)")
    ax.set_ylabel("Status at period end")
    ax.set_title("Customer status by last contact")
    caption = "Last contact = last activity or purchase before the period end."
    if comparison:
        caption += " Black ticks: the same counts at the end of the comparison period."
    return blocks.chart(fig, "Customer status", caption)


def rfm_segments(segments: pd.DataFrame, currency: str = "") -> HTML:
    """Customers and revenue per RFM segment (best segments first)."""
    if segments["customers"].sum() == 0:
        return blocks.text("No customer purchased in the 365 days before the period end.")
    fig, _ = plotting.figure(width=10, height=0.36 * len(segments) + 1.6)
    fig.clf()  # two panels side by side (blocks.figure makes one)
    left = fig.add_subplot(1, 2, 1)
    right = fig.add_subplot(1, 2, 2, sharey=left)
    y = list(range(len(segments)))
    left.barh(y, segments["customers"], color=PALETTE["primary"], height=0.65)
    right.barh(y, segments["revenue"], color=PALETTE["accent"], height=0.65)
    for i, (n, s) in enumerate(zip(segments["customers"], segments["share"], strict=True)):
        left.text(n, i, f" {n:,} ({100 * (s or 0):.0f}%)", va="center", fontsize=8)
    for i, (r, s) in enumerate(zip(segments["revenue"], segments["revenue_share"], strict=True)):
        right.text(r, i, f" {100 * (s or 0):.0f}%", va="center", fontsize=8)
    left.set_yticks(y)
    left.set_yticklabels(segments["segment"])
    left.invert_yaxis()
    left.set_xlim(0, segments["customers"].max() * 1.35)
    right.set_xlim(0, segments["revenue"].max() * 1.2)
    left.set_xlabel("Customers (count, share)")
    right.set_xlabel(f"Revenue in the last 365 days ({currency})" if currency
                     else "Revenue in the last 365 days")
    plotting.money_axis(right, "x")
    right.tick_params(axis="y", labelleft=False)
    left.set_ylabel("RFM segment")
    left.set_title("Customers per segment")
    right.set_title("Revenue per segment")
    return blocks.chart(fig, "RFM segments",
                        "Customers with a purchase in the 365 days before the period end, "
                        "by recency (R) and frequency + monetary (FM) scores; see Definitions.")


def rfm_table(segments: pd.DataFrame, currency: str = "") -> HTML:
    """The RFM segments as a table (nothing when no customer purchased:
    :func:`rfm_segments` says so)."""
    if segments["customers"].sum() == 0:
        return HTML("")
    return blocks.table(
        segments,
        units={"customers": "count", "share": "rate", "revenue": "money",
               "revenue_share": "rate", "recency_days_median": "days",
               "frequency_mean": "score", "monetary_mean": "money"},
        labels={"share": "share of customers", "recency_days_median": "median days since purchase",
                "frequency_mean": "mean purchases", "monetary_mean": "mean spend"},
        currency=currency, caption="RFM segments (revenue: last 365 days)")


def cohort_heatmap(cohorts: pd.DataFrame) -> HTML:
    """Share of each first-purchase cohort buying again in each later month."""
    if cohorts.empty:
        return blocks.text("No customer made a first purchase in the cohort months.")
    grid = cohorts.pivot(index="cohort", columns="month_offset", values="share")
    sizes = cohorts.groupby("cohort")["customers"].first()
    grid.index = [f"{c} (n={sizes[c]:,})" for c in grid.index]
    fig, ax = plotting.figure(width=10, height=0.38 * len(grid) + 1.6)
    cmap = sns.light_palette(PALETTE["primary"], as_cmap=True)
    later = grid.drop(columns=[0], errors="ignore")
    vmax = float(later.max().max()) if later.notna().any().any() else 1.0
    sns.heatmap(grid, annot=True, fmt=".0%", cmap=cmap, vmin=0, vmax=max(vmax, 0.05),
                linewidths=0.5, linecolor="white", cbar_kws={"label": "Share of the cohort buying",
                                                            "format": "{x:.0%}"},
                annot_kws={"fontsize": 8}, ax=ax)
    ax.grid(False)
    ax.set_xlabel("Months since the first purchase")
    ax.set_ylabel("First-purchase month (customers)")
    ax.tick_params(axis="y", rotation=0)
    ax.set_title("Cohort retention: share of each cohort with a purchase in the month")
    return blocks.chart(fig, "Cohort retention",
                        "Month 0 is 100% by construction; the colour scale is set by the later "
                        "months so their differences show.")


def status_table(status: pd.DataFrame) -> HTML:
    """The customer-status breakdown as a table, its p-values in words (nothing when no
    customer is in scope at either end: :func:`customer_status` says so)."""
    if status["customers"].sum() == 0 and not status["comparison"].fillna(0).sum() > 0:
        return HTML("")
    shown = pd.DataFrame({
        "status": status["status"],
        "customers": status["customers"],
        "share": status["share"],
        "comparison": status["comparison"],
        "comparison_share": status["comparison_share"],
        "change": [fmt_change(c) for c in status["change"]],
        "share changed?": [
            Test(None, None if pd.isna(p) else float(p)).words() for p in status["p_value"]
        ],
    })
    caption = ("Customers per status at the period end; the test asks whether the share of "
               "customers in the status changed (two-proportion z-test)")
    if status["comparison"].isna().all():
        shown = shown.drop(columns=["comparison", "comparison_share", "change", "share changed?"])
        caption = "Customers per status at the period end"
    return blocks.table(
        shown, units={"customers": "count", "share": "rate", "comparison": "count",
                      "comparison_share": "rate"},
        labels={"share": "share of customers", "comparison": "at comparison end",
                "comparison_share": "share then"},
        caption=caption)


def went_quiet_table(quiet: pd.DataFrame, comparison: str | None, currency: str = "",
                     max_rows: int = 25, in_touch: int | None = None) -> HTML:
    """The customers that went quiet (a call list), largest buyers first. ``in_touch`` is
    the number of customers in touch during the comparison period (its active customers),
    when known: with none, nobody could go quiet and the page says so."""
    if comparison is None:
        return blocks.text("No comparison period (compare_to = none): nothing to compare "
                           "contacts with.")
    if quiet.empty and in_touch == 0:
        return blocks.text(f"No customer was in touch during {comparison}, so none can have "
                           "gone quiet since.")
    if quiet.empty:
        return blocks.text(f"Every customer in touch during {comparison} was in touch again "
                           "in this period.")
    return blocks.table(
        quiet.drop(columns=["customer_id"]),
        units={"days_since_contact": "count", "revenue_365d": "money"},
        labels={"name": "customer", "last_contact": "last contact",
                "days_since_contact": "days since", "revenue_365d": "revenue, last 365 days"},
        currency=currency, max_rows=max_rows,
        caption=f"{len(quiet):,} customers in touch during {comparison} and not since, by "
                "revenue in the 365 days to the period end")
