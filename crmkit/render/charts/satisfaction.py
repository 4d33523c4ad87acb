"""Customer satisfaction charts and tables, in the crmkit theme (see :mod:`crmkit.render.plotting`).

Each function takes a breakdown frame computed by :mod:`crmkit.metrics.satisfaction` (or the
report's data) and returns an HTML block: the chart or table, a short message when there is
nothing to show, or nothing at all on a page without data (``empty``, see
:mod:`crmkit.render.charts`). Segments are shown in words, teams by name, counts under the
labels of their metrics.
"""

from __future__ import annotations

from typing import Any

import matplotlib.transforms as mtransforms
import pandas as pd
from IPython.display import HTML

from crmkit.metrics.definitions import METRICS
from crmkit.render import blocks, plotting
from crmkit.render.charts._page import NOTHING, words
from crmkit.render.formatting import PALETTE, fmt
from crmkit.render.labels import label
from crmkit.reports.data import ReportData
from crmkit.stats import SMALL_SAMPLE
from crmkit.verdict import signed

__all__ = ["cards", "nps_by_group", "nps_change", "nps_table", "score_distribution", "trend",
           "verbatims", "words"]

BAND_COLOURS = {
    "detractor": PALETTE["bad"], "passive": PALETTE["neutral"], "promoter": PALETTE["good"],
    "not satisfied": PALETTE["bad"], "satisfied": PALETTE["good"],
    "effort score": PALETTE["primary"],
}
SMALL_FLAG = f"small sample (n < {SMALL_SAMPLE})"


def cards(data: ReportData[Any, Any], *names: str) -> HTML:
    """The KPI cards of :func:`crmkit.render.blocks.cards`: NPS changes there in points,
    with its arrow and colour, by the one rule of :mod:`crmkit.verdict`."""
    return blocks.cards(data, *names)


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def trend(month: pd.DataFrame, current: list[str], *, empty: bool = False) -> HTML:
    """NPS, CSAT and CES by month with their 95% interval bands and the number of responses."""
    if empty:
        return NOTHING
    total = sum(int(month[f"{k}_responses"].sum()) for k in ("nps", "csat", "ces"))
    if month.empty or total == 0:
        window = f" ({month['month'].iloc[0]} to {month['month'].iloc[-1]})" if len(month) else ""
        return blocks.text(f"No survey responses in the trend window{window}: nothing to chart.")
    fig, axes = plotting.figure(height=8.4)
    fig.clf()
    axes = fig.subplots(3, 1, sharex=True)
    x = list(range(len(month)))
    panels = [
        ("nps", "NPS (−100..100)", PALETTE["primary"], (-100, 100)),
        ("csat", "CSAT: share scoring 4–5 (%)", PALETTE["accent"], (0, 1)),
        ("ces", "CES: mean score (1–7, higher = easier)", PALETTE["good"], (1, 7)),
    ]
    for ax, (kind, axis_label, colour, limits) in zip(axes, panels, strict=True):
        value, low, high = (_num(month[c]) for c in (kind, f"{kind}_low", f"{kind}_high"))
        low, high = low.clip(lower=limits[0]), high.clip(upper=limits[1])  # the scale's ends
        ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0, label="95% interval")
        ax.plot(x, value, color=colour, marker="o", label=kind.upper())
        for i, m in enumerate(month["month"]):
            if m in current:
                ax.axvspan(i - 0.5, i + 0.5, color=PALETTE["grid"], zorder=0)
        ax.set_ylim(*limits)
        ax.set_ylabel(axis_label, fontsize="small")
        if kind == "nps":
            ax.axhline(0, color=PALETTE["neutral"], linewidth=0.8)
        if kind == "csat":
            plotting.percent_axis(ax)
        under = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
        for i, n in enumerate(month[f"{kind}_responses"]):
            small = 0 < n < SMALL_SAMPLE
            # upright: twelve months of "n=106" side by side would run into each other
            ax.text(i, 0.03, f"n={int(n)}", transform=under, ha="center", va="bottom",
                    rotation=90, fontsize="small",
                    color=PALETTE["bad"] if small else PALETTE["neutral"])
        ax.legend(loc="upper left", fontsize="small", ncol=2)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(month["month"], rotation=45)
    axes[-1].set_xlabel("Month of the response")
    axes[0].set_title("NPS, CSAT and CES by month")
    return blocks.chart(fig, "Satisfaction trend",
                        "Lines: the month's score; bands: its 95% interval (cut at the scale's "
                        "ends); n: responses in the month (red when under 30). Shaded: this "
                        "report's period.")


def _group(value: Any, by: str) -> str:
    """A group as shown: a team by its name as it is, a segment in words."""
    return str(value) if by == "team" else label(value)


def _group_labels(frame: pd.DataFrame, by: str) -> list[str]:
    out = []
    for name, n in zip(frame[by], frame["responses"], strict=True):
        flag = ", small sample" if n < SMALL_SAMPLE else ""
        out.append(f"{_group(name, by)} (n={int(n)}{flag})")
    return out


def nps_by_group(frame: pd.DataFrame, by: str, title: str, *, empty: bool = False) -> HTML:
    """NPS per group (``by``: ``team``, by name, or ``segment``) with its adjusted-Wald 95%
    interval."""
    if empty:
        return NOTHING
    df = frame[frame["responses"] > 0]
    if df.empty:
        return blocks.text("No NPS responses in this period.")
    df = df.iloc[::-1]
    fig, ax = plotting.figure(height=0.42 * len(df) + 1.4)
    y = list(range(len(df)))
    nps, low, high = _num(df["nps"]), _num(df["nps_low"]), _num(df["nps_high"])
    small = df["small_sample"].to_numpy(dtype=bool)
    for yi, v, lo, hi, s in zip(y, nps, low, high, small, strict=True):
        colour = PALETTE["neutral"] if s else PALETTE["primary"]
        ax.plot([lo, hi], [yi, yi], color=PALETTE["secondary"] if not s else PALETTE["grid"],
                linewidth=5, solid_capstyle="butt", zorder=1)
        ax.plot([v], [yi], "o", color=colour, zorder=2)
        ax.text(v, yi + 0.22, signed(v, 0), ha="center", fontsize="small", color=colour)
    ax.axvline(0, color=PALETTE["neutral"], linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(_group_labels(df, by))
    ax.set_ylim(-0.6, len(df) - 0.4)
    ax.set_xlim(-100, 100)
    ax.set_xlabel("NPS (−100..100), with adjusted-Wald 95% interval")
    ax.set_ylabel(by.capitalize())
    ax.set_title(title)
    return blocks.chart(fig, title, "Grey points: fewer than 30 responses, read with care. "
                        "Overlapping bars: the difference could well be chance.")


def nps_table(frame: pd.DataFrame, by: str, caption: str, highlight: str | None = None, *,
              empty: bool = False) -> HTML:
    """NPS per group as a table: counts, NPS, its interval and the small-sample flag.

    ``highlight`` is a ``team_id`` to mark as the report's team (``all`` marks none).
    """
    if empty or frame.empty or frame["responses"].sum() == 0:
        return NOTHING  # nps_by_group, just above, says there were no responses
    notes = []
    for _, row in frame.iterrows():
        flags = []
        if highlight is not None and row.get("team_id") == highlight:
            flags.append("this report's team")
        if row["responses"] == 0:
            flags.append("no responses")
        elif row["responses"] < SMALL_SAMPLE:
            flags.append(SMALL_FLAG)
        notes.append("; ".join(flags))
    ci = [
        "—" if pd.isna(lo) else f"{fmt(lo, 'score')} to {fmt(hi, 'score')}"
        for lo, hi in zip(frame["nps_low"], frame["nps_high"], strict=True)
    ]
    shown = pd.DataFrame({
        by: [_group(v, by) for v in frame[by]], "responses": frame["responses"],
        "promoters": frame["promoters"], "passives": frame["passives"],
        "detractors": frame["detractors"], "NPS": frame["nps"], "95% interval": ci,
        "note": notes,
    })
    counts = {"responses": "nps_responses", "promoters": "nps_promoters",
              "passives": "nps_passives", "detractors": "nps_detractors"}
    return blocks.table(
        shown, units={**dict.fromkeys(counts, "count"), "NPS": "score"},
        labels={by: by.capitalize(), "note": "Note",
                **{c: METRICS[m].label for c, m in counts.items()}},
        verbatim=(by, "note", "95% interval"), caption=caption, filename=f"nps-by-{by}")


def score_distribution(dist: pd.DataFrame, *, empty: bool = False) -> HTML:
    """Bars of the responses per score: NPS 0–10, CSAT 1–5, CES 1–7, coloured by band."""
    if empty:
        return NOTHING
    if dist.empty or dist["responses"].sum() == 0:
        return blocks.text("No survey responses in this period.")
    fig, _ = plotting.figure(height=8.4)
    fig.clf()  # three panels, one above the other (plotting.figure makes one)
    axes = fig.subplots(3, 1)
    titles = {"nps": "NPS (0–10)", "csat": "CSAT (1–5)", "ces": "CES (1–7)"}
    xlabels = {"nps": "Score (red: detractors, grey: passives, green: promoters)",
               "csat": "Score (red: not satisfied, green: satisfied)",
               "ces": "Score (higher = easier)"}
    for ax, kind in zip(axes, ("nps", "csat", "ces"), strict=True):
        d = dist[dist["kind"] == kind]
        n = int(d["responses"].sum())
        share = _num(d["share"]).fillna(0.0)
        ax.bar(d["score"].astype(str), share, color=[BAND_COLOURS[b] for b in d["band"]])
        for i, (s, c) in enumerate(zip(share, d["responses"], strict=True)):
            if c:
                ax.text(i, s, f"{int(c)}", ha="center", va="bottom", fontsize="small")
        flag = ", small sample" if 0 < n < SMALL_SAMPLE else ""
        ax.set_title(f"{titles[kind]}: n={n}{flag}")
        ax.set_xlabel(xlabels[kind])
        ax.set_ylabel("Share of responses (%)")
        ax.set_ylim(0, max(0.05, float(share.max()) * 1.2))
        plotting.percent_axis(ax)
    responses = ", ".join(METRICS[f"{k}_responses"].label for k in ("nps", "csat", "ces"))
    return blocks.chart(fig, "Score distribution",
                        "Bars: share of the period's responses with each score (count on top); "
                        f"n: {responses} in the period. NPS: detractors 0–6, passives 7–8, "
                        "promoters 9–10; CSAT counts 4–5 as satisfied; CES: higher means easier.")


def verbatims(frame: pd.DataFrame, limit: int = 15, *, empty: bool = False) -> HTML:
    """The latest detractor comments as an escaped table (comments are text, never HTML,
    shown exactly as written)."""
    if empty:
        return NOTHING
    if frame.empty:
        return blocks.text("No detractor left a comment in this period.")
    return blocks.table(
        frame[["date", "score", "segment", "comment"]], units={"score": "count"},
        labels={"date": "Date", "score": "NPS score", "segment": "Customer segment",
                "comment": "Comment"}, verbatim=("comment",), filename="detractor-comments",
        caption=f"Comments of detractors (NPS 0–6) in the period, newest first "
                f"({len(frame)} shown, at most {limit})", max_rows=limit)


def nps_change(change: dict[str, Any] | None) -> HTML:
    """NPS change against the comparison period in points, with its test in words."""
    if change is None:
        return blocks.text("No comparison period.")
    if change["points"] is None:
        return blocks.text(f"NPS change against {change['label']}: not available (no NPS "
                           "responses on one side).")
    return blocks.text(
        f"NPS moved {signed(change['points'], 1)} points against {change['label']} (from "
        f"{fmt(change['previous'], 'score')} to {fmt(change['current'], 'score')}); "
        f"two-sample z-test {change['test'].words()}."
    )
