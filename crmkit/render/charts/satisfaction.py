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
from matplotlib.patches import Patch

from crmkit.i18n import N_
from crmkit.i18n import gettext as _
from crmkit.metrics.definitions import METRICS
from crmkit.render import blocks, plotting
from crmkit.render.charts._page import NOTHING, words
from crmkit.render.formatting import PALETTE, fmt
from crmkit.render.labels import label
from crmkit.render.plotting import ChartFigure
from crmkit.render.tables import Table
from crmkit.reports.data import ReportData
from crmkit.stats import SMALL_SAMPLE
from crmkit.verdict import p_words, signed

__all__ = ["cards", "nps_by_group", "nps_change", "nps_table", "score_distribution", "trend",
           "verbatims", "words"]

BAND_COLOURS = {
    "detractor": PALETTE["bad"], "passive": PALETTE["neutral"], "promoter": PALETTE["good"],
    "not satisfied": PALETTE["bad"], "satisfied": PALETTE["good"],
    "effort score": PALETTE["primary"],
}
SMALL_FLAG = N_("small sample (n < 30)")
#: The titles and captions the satisfaction notebook gives its NPS charts and tables (the
#: functions translate what they are given: these are its messages).
_NOTEBOOK_TEXTS = (N_("NPS by team"), N_("NPS responses in the period by team"),
                   N_("NPS by customer segment"),
                   N_("NPS responses in the period by customer segment"))


def cards(data: ReportData[Any, Any], *names: str) -> HTML:
    """The KPI cards of :func:`crmkit.render.blocks.cards`: NPS changes there in points,
    with its arrow and colour, by the one rule of :mod:`crmkit.verdict`."""
    return blocks.cards(data, *names)


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float)


def trend(month: pd.DataFrame, current: list[str], *, empty: bool = False) -> ChartFigure | HTML:
    """NPS, CSAT and CES by month with their 95% interval bands and the number of responses."""
    if empty:
        return NOTHING
    total = sum(int(month[f"{k}_responses"].sum()) for k in ("nps", "csat", "ces"))
    if month.empty or total == 0:
        window = (" (" + _("{first} to {last}").format(first=month["month"].iloc[0],
                                                       last=month["month"].iloc[-1]) + ")"
                  if len(month) else "")
        return blocks.text(_("No survey responses in the trend window{window}: nothing to "
                             "chart.").format(window=window))
    fig, axes = plotting.figure(height=8.4)
    fig.clf()
    axes = fig.subplots(3, 1, sharex=True)
    x = list(range(len(month)))
    lines = []
    panels = [
        ("nps", "NPS (−100..100)", PALETTE["primary"], (-100, 100)),
        ("csat", _("CSAT: share scoring 4–5 (%)"), PALETTE["accent"], (0, 1)),
        ("ces", _("CES: mean score (1–7, higher = easier)"), PALETTE["good"], (1, 7)),
    ]
    for ax, (kind, axis_label, colour, limits) in zip(axes, panels, strict=True):
        value, low, high = (_num(month[c]) for c in (kind, f"{kind}_low", f"{kind}_high"))
        low, high = low.clip(lower=limits[0]), high.clip(upper=limits[1])  # the scale's ends
        ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
        # clip_on: a month at the scale's end (NPS 100, CSAT 100%) is drawn whole
        lines += ax.plot(x, value, color=colour, marker="o", label=kind.upper(), clip_on=False)
        for i, m in enumerate(month["month"]):
            if m in current:
                ax.axvspan(i - 0.5, i + 0.5, color=PALETTE["grid"], zorder=0)
        ax.set_ylim(*limits)
        ax.set_ylabel(axis_label, fontsize="small")
        if kind == "nps":
            ax.axhline(0, color=PALETTE["neutral"], linewidth=0.8)
        if kind == "csat":
            plotting.percent_axis(ax)
        if not month[f"{kind}_responses"].sum():  # an empty panel says so
            _no_responses(ax, _("No {kind} responses in these months.").format(kind=kind.upper()))
            continue
        _counts(ax, month[f"{kind}_responses"])
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(month["month"], rotation=45, rotation_mode="xtick")  # ends at its tick
    axes[-1].set_xlabel(_("Month of the response"))
    band = Patch(facecolor=PALETTE["primary"], alpha=0.18, linewidth=0, label=_("95% interval"))
    plotting.foot_legend(axes[-1], [*lines, band])
    axes[0].set_title(_("NPS, CSAT and CES by month"))
    return blocks.chart(fig, _("Satisfaction trend"),
                        _("Lines: the month's score; bands: its 95% interval (cut at the scale's "
                        "ends); n: responses in the month (red when under 30). Shaded: this "
                        "report's period."))


def _counts(ax: Any, responses: pd.Series) -> None:
    """Each month's number of responses, upright at the foot of its panel (red when small)."""
    under = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for i, n in enumerate(responses):
        small = 0 < n < SMALL_SAMPLE
        # upright: twelve months of "n=106" side by side would run into each other
        ax.text(i, 0.03, f"n={int(n)}", transform=under, ha="center", va="bottom",
                rotation=90, fontsize="small",
                color=PALETTE["bad"] if small else PALETTE["neutral"],
                # on the month's gridline: a backing keeps it readable, under the line and
                # its dots (a month low on the scale stays in sight)
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
                zorder=1.5)


def _no_responses(ax: Any, message: str) -> None:
    """``message`` across the middle of an empty panel, its value axis without ticks."""
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center",
            color=PALETTE["neutral"])
    ax.set_yticks([])


def _group(value: Any, by: str) -> str:
    """A group as shown: a team by its name as it is, a segment in words."""
    if by == "team":  # a team by its name as it is; crmkit's "(no team)" in words
        return label(value) if str(value).startswith("(") else str(value)
    return label(value)


def _group_labels(frame: pd.DataFrame, by: str) -> list[str]:
    out = []
    for name, n in zip(frame[by], frame["responses"], strict=True):
        flag = ", " + _("small sample") if n < SMALL_SAMPLE else ""
        out.append(f"{_group(name, by)} (n={int(n)}{flag})")
    return out


def nps_by_group(frame: pd.DataFrame, by: str, title: str, *, empty: bool = False) -> ChartFigure | HTML:
    """NPS per group (``by``: ``team``, by name, or ``segment``) with its adjusted-Wald 95%
    interval."""
    if empty:
        return NOTHING
    df = frame[frame["responses"] > 0]
    if df.empty:
        return blocks.text(_("No NPS responses in this period."))
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
    ax.set_xlabel(_("NPS (−100..100), with adjusted-Wald 95% interval"))
    ax.set_ylabel(_(by.capitalize()))
    title = _(title)
    ax.set_title(title)
    return blocks.chart(fig, title, _("Grey points: fewer than 30 responses, read with care. "
                        "Overlapping bars: the difference could well be chance."))


def nps_table(frame: pd.DataFrame, by: str, caption: str, highlight: str | None = None, *,
              empty: bool = False) -> Table | HTML:
    """NPS per group as a table: counts, NPS, its interval and the small-sample flag.

    ``highlight`` is a ``team_id`` to mark as the report's team (``all`` marks none).
    """
    if empty or frame.empty or frame["responses"].sum() == 0:
        return NOTHING  # nps_by_group, just above, says there were no responses
    notes = []
    for _index, row in frame.iterrows():
        flags = []
        if highlight is not None and row.get("team_id") == highlight:
            flags.append(_("this report's team"))
        if row["responses"] == 0:
            flags.append(_("no responses"))
        elif row["responses"] < SMALL_SAMPLE:
            flags.append(_(SMALL_FLAG))
        notes.append("; ".join(flags))
    ci = [
        "—" if pd.isna(lo) else _("{first} to {last}").format(first=fmt(lo, "score"),
                                                              last=fmt(hi, "score"))
        for lo, hi in zip(frame["nps_low"], frame["nps_high"], strict=True)
    ]
    shown = pd.DataFrame({
        by: [_group(v, by) for v in frame[by]], "responses": frame["responses"],
        "promoters": frame["promoters"], "passives": frame["passives"],
        "detractors": frame["detractors"], "NPS": frame["nps"], _("95% interval"): ci,
        "note": notes,
    })
    counts = {"responses": "nps_responses", "promoters": "nps_promoters",
              "passives": "nps_passives", "detractors": "nps_detractors"}
    return blocks.table(
        shown, units={**dict.fromkeys(counts, "count"), "NPS": "score"},
        labels={by: _(by.capitalize()), "note": _("Note"),
                **{c: _(METRICS[m].label) for c, m in counts.items()}},
        verbatim=(by, "note", _("95% interval")), caption=_(caption), filename=f"nps-by-{by}")


def score_distribution(dist: pd.DataFrame, *, empty: bool = False) -> ChartFigure | HTML:
    """Bars of the responses per score: NPS 0–10, CSAT 1–5, CES 1–7, coloured by band."""
    if empty:
        return NOTHING
    if dist.empty or dist["responses"].sum() == 0:
        return blocks.text(_("No survey responses in this period."))
    fig, _axes = plotting.figure(height=8.4)
    fig.clf()  # three panels, one above the other (plotting.figure makes one)
    axes = fig.subplots(3, 1)
    titles = {"nps": "NPS (0–10)", "csat": "CSAT (1–5)", "ces": "CES (1–7)"}
    xlabels = {"nps": _("Score (red: detractors, grey: passives, green: promoters)"),
               "csat": _("Score (red: not satisfied, green: satisfied)"),
               "ces": _("Score (higher = easier)")}
    for ax, kind in zip(axes, ("nps", "csat", "ces"), strict=True):
        d = dist[dist["kind"] == kind]
        n = int(d["responses"].sum())
        share = _num(d["share"]).fillna(0.0)
        ax.bar(d["score"].astype(str), share, color=[BAND_COLOURS[b] for b in d["band"]])
        for i, (s, c) in enumerate(zip(share, d["responses"], strict=True)):
            if c:
                ax.text(i, s, f"{int(c)}", ha="center", va="bottom", fontsize="small")
        flag = ", " + _("small sample") if 0 < n < SMALL_SAMPLE else ""
        ax.set_title(f"{titles[kind]}: n={n}{flag}")
        ax.set_xlabel(xlabels[kind])
        ax.set_ylabel(_("Share of responses (%)"))
        ax.set_ylim(0, max(0.05, float(share.max()) * 1.2))
        plotting.percent_axis(ax)
        if not n:  # an empty panel says so, without a scale of nothing
            _no_responses(ax, _("No {kind} responses in this period.").format(kind=kind.upper()))
    responses = ", ".join(_(METRICS[f"{k}_responses"].label) for k in ("nps", "csat", "ces"))
    return blocks.chart(fig, _("Score distribution"), _(
        "Bars: share of the period's responses with each score (count on top); n: {responses} "
        "in the period. NPS: detractors 0–6, passives 7–8, promoters 9–10; CSAT counts 4–5 as "
        "satisfied; CES: higher means easier.").format(responses=responses))


def verbatims(frame: pd.DataFrame, limit: int = 15, *, empty: bool = False) -> Table | HTML:
    """The latest detractor comments as an escaped table (comments are text, never HTML,
    shown exactly as written)."""
    if empty:
        return NOTHING
    if frame.empty:
        return blocks.text(_("No detractor left a comment in this period."))
    return blocks.table(
        frame[["date", "score", "segment", "comment"]], units={"score": "count"},
        labels={"date": _("Date"), "score": _("NPS score"), "segment": _("Customer segment"),
                "comment": _("Comment")}, verbatim=("comment",), filename="detractor-comments",
        caption=_("Comments of detractors (NPS 0–6) in the period, newest first ({n} shown, at "
                  "most {limit})").format(n=len(frame), limit=limit), max_rows=limit)


def nps_change(change: dict[str, Any] | None) -> HTML:
    """NPS change against the comparison period in points, with its test in words."""
    if change is None:
        return blocks.text(_("No comparison period."))
    if change.get("compared") is False:
        return blocks.text(_("NPS change against {period}: not compared (this period is not "
                             "over, or has no data).").format(period=change["label"]))
    if change["points"] is None:
        return blocks.text(_("NPS change against {period}: not available (no NPS responses on "
                             "one side).").format(period=change["label"]))
    return blocks.text(_(
        "NPS moved {points} points against {period} (from {previous} to {current}); two-sample "
        "z-test {test}.").format(points=signed(change["points"], 1), period=change["label"],
                                 previous=fmt(change["previous"], "score"),
                                 current=fmt(change["current"], "score"),
                                 test=p_words(change["test"].p_value)))
