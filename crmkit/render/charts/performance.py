"""Employee performance blocks: leaderboards, workload and response-time charts.

Each function takes the breakdowns computed by :func:`crmkit.metrics.performance.report` and
returns an HTML block (a table or an embedded PNG chart), a short message when there is
nothing to show, or nothing at all on a page without data (``empty``, see
:mod:`crmkit.render.charts`). Charts use the theme of :mod:`crmkit.render.plotting`; times
are shown in the unit of their metric (first response in minutes, as on its cards), roles in
words, changes by the one rule of :mod:`crmkit.verdict` (rates in points).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib.ticker import FuncFormatter

from crmkit.i18n import N_, ngettext
from crmkit.i18n import gettext as _
from crmkit.metrics.definitions import METRICS, Metric
from crmkit.metrics.performance import SALES_METRICS, SUPPORT_METRICS, WORK_METRICS
from crmkit.render import blocks, plotting, ranking
from crmkit.render.charts._page import NOTHING
from crmkit.render.figures import count_tick
from crmkit.render.formatting import PALETTE, SERIES, fmt, number
from crmkit.render.labels import label
from crmkit.render.plotting import ChartFigure
from crmkit.render.tables import Cell, Table
from crmkit.verdict import movement, small_sample

__all__ = ["LEADERBOARDS", "activities_by_type", "leaderboard", "response_times", "workload"]

#: Leaderboards: who is listed, which metrics, ranked by which one.
LEADERBOARDS: dict[str, dict[str, Any]] = {
    "sales": {"who": "is_seller", "metrics": SALES_METRICS, "order": "revenue"},
    "work": {"who": None, "metrics": WORK_METRICS, "order": "tasks_completed"},
    "support": {"who": "is_agent", "metrics": SUPPORT_METRICS, "order": "tickets_resolved"},
}

_ROLE_ORDER = ("sales", "support", "manager", "marketing", "other", "(no role)")


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)  # NaN


#: The sample of each per-person rate: the columns whose sum is its denominator.
SAMPLES = {
    "win_rate": ("deals_closed",),
    "tasks_on_time_rate": ("tasks_on_time", "tasks_overdue"),
    "sla_compliance": ("sla_met", "sla_missed"),
    "csat": ("csat_responses",),
}


def _sample(row: Any, metric: str) -> int | None:
    """The number of observations behind a person's rate (None for other metrics)."""
    columns = SAMPLES.get(metric)
    if columns is None or any(_missing(row.get(c)) for c in columns):
        return None
    return int(sum(row[c] for c in columns))


def _cell(value: Any, m: Metric, rank: Any, previous: Any, change: Any, currency: str,
          n: int | None = None) -> str:
    """``value (#rank, change)``: the change as every page states it (rates in points); a
    rate from fewer than 30 observations says so: ``62.5% (#1, +6.0 pp) · small sample, n=8``.
    A line may break only before the parenthesis and before the dot (each part's spaces
    are no-break spaces; the column's cells wrap there, class ``w``), so a wide leaderboard
    fits a desktop window."""
    value = None if _missing(value) else value
    text = _whole(fmt(value, m.unit, currency))
    extra = []
    if not _missing(rank):
        extra.append(f"#{int(rank)}")
    shown, _moved = movement(m.unit, m.change_in_points, value, previous, change)
    if shown:
        extra.append(shown)
    text = f"{text} {_whole('(' + ', '.join(extra) + ')')}" if extra else text
    if value is not None and small_sample(n):
        return f"{text} " + _whole("· " + _("small sample, n={n}").format(n=n))
    return text


def _whole(text: str) -> str:
    """``text`` kept on one line (its spaces made no-break spaces)."""
    return text.replace(" ", "\u00a0")


def _parts(value: Any) -> Cell:
    """A leaderboard cell (:func:`_cell`), which wraps between its parts (class ``w``)."""
    return Cell("" if _missing(value) else str(value), css_class="w")


#: The words of the notes on people who joined or left (crmkit.metrics.performance), as
#: messages: the note's dates and period stay as they are.
_NOTE_WORDS = (N_("joined"), N_("left"), N_("partial period"), N_("before the period"),
               N_("after the period"), N_("no change vs"), N_("(partial there)"),
               N_("not in the employee list"))
_NOTE = re.compile("|".join(re.escape(w) for w in sorted(_NOTE_WORDS, key=len, reverse=True)))


def note_words(note: Any) -> str:
    """A note on a person ("joined 2025-06-10: partial period") in the active locale."""
    return "" if _missing(note) else _NOTE.sub(lambda m: _(m.group(0)), str(note))


def leaderboard(
    employee: pd.DataFrame,
    team_median: pd.DataFrame,
    board: str,
    currency: str = "",
    comparison: Any = None,
    *,
    empty: bool = False,
) -> Table | HTML:
    """One leaderboard (``sales``, ``work`` or ``support``) with the team median first.

    Each cell reads ``value (#rank, change)``: the rank among the colleagues employed all
    period (1 = best) and the change against the comparison period (``comparison``: that
    :class:`~crmkit.periods.Period`, its label, or None), in percentage points for rates
    and relative for counts, money and times. People who joined or left during the period
    carry a note and have no rank. A long list shows its two ends by rank
    (:mod:`crmkit.render.ranking`), and the people without a rank only in its CSV download.
    """
    if empty:
        return NOTHING
    spec = LEADERBOARDS[board]
    who = spec["who"]
    df = employee if who is None else employee[employee[who]]
    if df.empty:
        return blocks.text(_("Nobody in this team does this work in the period."))
    df = df.assign(_partial=~df["full_period"]).sort_values(
        ["_partial", f"{spec['order']}_rank", spec["order"], "name"],
        ascending=[True, True, False, True], na_position="last",
    )
    med = team_median.set_index("metric")
    raw = _leaderboard_csv(df, med, board)
    # the team median, then the ranked people (at their two ends, when there are many)
    top, bottom = ranking.ends(int((~df["_partial"]).sum()))
    left_out = int(df["_partial"].sum()) if bottom else 0  # unranked: at neither end
    table = _leaderboard_rows(df.iloc[:len(df) - left_out], med, spec["metrics"], currency)
    if not table[_("Note")].astype(bool).any():
        table = table.drop(columns=_("Note"))
    if not raw["note"].astype(bool).any():
        raw = raw.drop(columns="note")
    against = getattr(comparison, "label", comparison)
    since = "; " + _("change vs {period}").format(period=against) if against else ""
    shown = blocks.table(
        table,
        caption=_("Value (rank among colleagues employed all period who do this work, 1 = best"
                  "{since}). The team median is taken over the same colleagues.").format(
            since=since), max_rows=top + 1 if bottom else len(table), bottom=bottom,
        verbatim=(_("Employee"), _("Note")),
        cells=dict.fromkeys((_(METRICS[m].label) for m in spec["metrics"]), _parts),
        filename=f"leaderboard-{board}",  # the people left out last, as they are sorted
        csv=lambda rows: pd.concat([raw.loc[rows.index], raw.iloc[len(table):]]))
    return shown.set_note(ngettext(
        "{n} person who joined or left during the period (no rank) is in the CSV download, "
        "not listed here.", "{n} people who joined or left during the period (no rank) are "
        "in the CSV download, not listed here.", left_out).format(n=number(left_out))
        if left_out else None)


def _leaderboard_rows(df: pd.DataFrame, med: pd.DataFrame, metrics: tuple[str, ...],
                      currency: str) -> pd.DataFrame:
    """A leaderboard as shown: the team median, then a row per person, each cell
    ``value (#rank, change)``."""
    head: dict[str, str] = {_("Employee"): _("Team median"), _("Role"): "", _("Note"): ""}
    for m in metrics:
        head[_(METRICS[m].label)] = _cell(med.loc[m, "team_median"], METRICS[m], None,
                                       med.loc[m].get("team_median_previous"),
                                       med.loc[m, "change"], currency)
    rows = [head]
    needed = ["name", "role", "note"]
    for m in metrics:
        needed += [m, f"{m}_rank", f"{m}_previous", f"{m}_change", _stated(m),
                   *SAMPLES.get(m, ())]
    roles: dict[str, str] = {}  # a role's words, looked up once for thousands of people
    # plain values of the columns shown: a row of thousands, fast to read
    for r in df[[c for c in dict.fromkeys(needed) if c in df.columns]].to_dict(orient="records"):
        role = r["role"]
        if isinstance(role, str) and role not in roles:
            roles[role] = label(role)
        row = {_("Employee"): r["name"],
               _("Role"): roles[role] if isinstance(role, str) else "",
               _("Note"): note_words(r["note"])}
        for m in metrics:
            stated = not _missing(r.get(_stated(m)))
            row[_(METRICS[m].label)] = _cell(r[m], METRICS[m], r[f"{m}_rank"],
                                          r.get(f"{m}_previous") if stated else None,
                                          r.get(f"{m}_change"), currency, _sample(r, m))
        rows.append(row)
    return pd.DataFrame(rows)


def _stated(m: str) -> str:
    """The column of a person's change of ``m`` as the JSON states it (``_change``, or
    ``_change_pp`` for a rate): a cell shows a change only where it holds one (none for a
    person not employed all of both periods, none on a page that compares nothing)."""
    key = METRICS[m].points_key
    return f"{m}_{key}" if key else f"{m}_change"


#: What a leaderboard's CSV adds to its metrics: the parts of the workload chart (tasks and
#: activities), the times of the response-time chart (support).
_CSV_EXTRA = {"sales": ("deals_closed",),
              "work": ("tasks_due", "tickets_assigned", "workload", "workload_role_median",
                       "workload_flag"),
              "support": ("tickets_answered",)}


def _leaderboard_csv(people: pd.DataFrame, med: pd.DataFrame, board: str) -> pd.DataFrame:
    """A leaderboard's CSV, row for row (the team median first): values and ranks under
    headings in words, rates as fractions, so a spreadsheet sorts and sums them (whole
    numbers without decimals, others to 4 decimals: the CSV of thousands of people stays
    small)."""
    metrics = LEADERBOARDS[board]["metrics"]
    columns: dict[str, list[Any]] = {
        "name": [_("Team median"), *people["name"]],
        "role": ["", *(label(r) if isinstance(r, str) else "" for r in people["role"])],
        "note": ["", *(note_words(n) for n in people["note"])],
    }
    for m in metrics:
        heading = _(METRICS[m].label)
        heading = f"{heading} ({_('fraction')})" if METRICS[m].unit == "rate" else heading
        columns[heading] = [med.loc[m, "team_median"], *people[m]]
        columns[f"{m}_rank"] = [None, *people[f"{m}_rank"]]
    for extra in _CSV_EXTRA[board]:
        columns[extra] = [None, *people[extra]]
    frame = pd.DataFrame(columns)
    return frame.apply(lambda c: c if c.name in ("name", "role", "note", "workload_flag")
                       else _short(c))


def _short(values: pd.Series) -> pd.Series:
    """A number column as short as its values allow: whole numbers without decimals (missing
    ones left empty), others rounded to 4 decimals."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    known = numbers.dropna()
    whole = bool(np.isfinite(known).all() and (known == known.round()).all())
    return numbers.astype("Int64") if whole else numbers.round(4)


def activities_by_type(employee: pd.DataFrame, *, empty: bool = False) -> Table | HTML:
    """Activities logged in the period per employee and type (types nobody logged are left out)."""
    if empty:
        return NOTHING
    types = [c for c in employee.columns if c.startswith("activities_")
             and not c.endswith(("_rank", "_previous", "_change"))]
    df = employee[employee["activities"] > 0]
    if df.empty:
        return blocks.text(_("No activities were logged in this period."))
    used = [c for c in types if df[c].sum() > 0]
    table = df.sort_values(["activities", "name"], ascending=[False, True])[
        ["name", *used, "activities"]
    ]
    labels = {c: label(c.removeprefix("activities_")) for c in used}
    labels.update(name="Employee", activities="Total")
    top, bottom = ranking.ends(len(table))
    return blocks.table(table, units={c: "count" for c in [*used, "activities"]}, labels=labels,
                        caption=_("Activities logged in the period, by type"), max_rows=top,
                        bottom=bottom, verbatim=("name",), filename="activities-by-type")


def _role_groups(df: pd.DataFrame) -> pd.DataFrame:
    role = df["role"].fillna("(no role)")
    order = {r: i for i, r in enumerate(_ROLE_ORDER)}
    return df.assign(
        _role=role, _ro=role.map(lambda r: order.get(r, len(order))),
    ).sort_values(["_ro", "_role", "workload", "name"], ascending=[False, False, True, False])


#: Colour of a workload flag: far above the role's median, or far below it.
_FLAG_COLOURS = {"high": PALETTE["bad"], "low": PALETTE["accent"]}


def _role_positions(roles: pd.Series) -> tuple[np.ndarray, float]:
    """One bar position per person, bottom to top, with a gap between roles that holds the
    role's median label; and the position above the last bar."""
    y, pos, previous = [], 0.0, None
    for role in roles:
        if previous is not None and role != previous:
            pos += 1.2
        y.append(pos)
        pos += 1.0
        previous = role
    return np.array(y), pos


def _stacked_bars(ax: Any, df: pd.DataFrame, y: np.ndarray) -> float:
    """Activities, tasks due and tickets assigned stacked per person (faded for joiners and
    leavers); returns the longest bar."""
    parts = (("activities", _("Activities logged"), PALETTE["primary"]),
             ("tasks_due", _("Tasks due"), PALETTE["secondary"]),
             ("tickets_assigned", _("Tickets assigned"), SERIES[5]))
    left = np.zeros(len(df))
    faded = ~df["full_period"].to_numpy(dtype=bool)
    for col, name, colour in parts:
        values = df[col].to_numpy(dtype=float)
        bars = ax.barh(y, values, left=left, color=colour, label=name, height=0.72)
        for bar, fade in zip(bars, faded, strict=True):
            if fade:
                bar.set_alpha(0.35)
        left += values
    return float(left.max()) or 1.0


def _role_medians(ax: Any, df: pd.DataFrame, y: np.ndarray, top: float) -> None:
    """A dashed line at each role's median, labelled above the role's bars: centred on
    the line, or starting at it when the line is near the axis (``top``: the longest bar),
    where a centred label ran across the axis into the names."""
    for role, grp in df.groupby("_role", sort=False):
        med = grp["workload_role_median"].iloc[0]
        lo, hi = y[grp.index].min(), y[grp.index].max()
        if pd.notna(med):
            ax.vlines(med, lo - 0.45, hi + 0.45, colors="#1f2933", linestyles="--", linewidth=1.3)
            ax.text(med, hi + 0.55, _("{role} median: {value}").format(role=label(role),
                                                                        value=number(med)),
                    fontsize="small", ha="center" if med > 0.25 * top else "left",
                    va="bottom", color="#1f2933")


def _bar_notes(ax: Any, df: pd.DataFrame, y: np.ndarray, top: float) -> float:
    """The flag (or the joiner/leaver note) after each bar; returns the x limit that keeps
    every flag inside the axes."""
    right = top * 1.5
    for i, r in df.iterrows():
        flag = r["workload_flag"]
        if flag:
            words = _("possible overload") if flag == "high" else _("possibly idle")
            ratio = number(r["workload_ratio"], ".1f")
            text = " " + _("{ratio}× median:").format(ratio=ratio) + f"\n {words}"
            ax.text(r["workload"], y[i], text, va="center", fontsize="small", fontweight="bold",
                    color=_FLAG_COLOURS[flag], linespacing=0.95)
            # keep the label inside the axes (a small bold character is about 2% of its width)
            longest = max(len(line) for line in text.splitlines())
            right = max(right, r["workload"] / max(1 - 0.02 * (longest + 2), 0.3))
        elif not r["full_period"]:
            ax.text(r["workload"], y[i], f"  {note_words(r['note'])}", va="center", fontsize="small",
                    color=PALETTE["neutral"])
    return right


def workload(employee: pd.DataFrame, *, empty: bool = False) -> ChartFigure | HTML:
    """Workload per person (activities + tasks due + tickets assigned), stacked, grouped by
    role, with each role's median; people far above or below it are flagged in colour."""
    if empty:
        return NOTHING
    if employee.empty or employee["workload"].sum() == 0:
        return blocks.text(_("No activities, tasks or tickets in this period."))
    # the ends of a long list: furthest above and below the role's median (full period)
    shown = ranking.cut(employee.assign(_against=employee["workload_ratio"].where(
        employee["full_period"].astype(bool))), "_against", then="workload")
    df = _role_groups(shown.frame).reset_index(drop=True)
    y, pos = _role_positions(df["_role"])
    fig, ax = plotting.figure(height=0.27 * (pos + 1) + 1.5)
    top = _stacked_bars(ax, df, y)
    _role_medians(ax, df, y, top)
    right = _bar_notes(ax, df, y, top)
    ax.set_yticks(y)
    labels = ax.set_yticklabels(
        [f"{n} ({label(r)})" for n, r in zip(df["name"], df["_role"], strict=True)]
    )
    for lab, flag in zip(labels, df["workload_flag"], strict=True):
        if flag:
            lab.set_color(_FLAG_COLOURS[flag])
            lab.set_fontweight("bold")
    ax.set_xlim(0, right)
    ax.set_ylim(-0.8, pos + 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(_("Work items in the period (count): activities logged + tasks due + tickets assigned"))
    ax.set_ylabel(_("Employee (role)"))
    plotting.foot_legend(ax)
    ax.set_title(_("Workload per person against the median of their role"))
    caption = _("Dashed line: median of the role's colleagues employed all period. Red: far above "
                "it (possible overload); orange: far below it (possibly idle) — at least 1.5× or "
                "at most half the median and well outside the usual spread between colleagues. "
                "Faded bars: joined or left during the period (not flagged, not in the medians).")
    if shown.is_cut:
        caption = ngettext(
            "Of {total} person, the {top} furthest above their role's median and the {bottom} "
            "furthest below it (colleagues employed all period); every person's workload is in "
            "the CSV download of the tasks and activities table.",
            "Of {total} people, the {top} furthest above their role's median and the {bottom} "
            "furthest below it (colleagues employed all period); every person's workload is in "
            "the CSV download of the tasks and activities table.", shown.total).format(
            total=number(shown.total), top=shown.top, bottom=shown.bottom) + " " + caption
    return blocks.chart(fig, _("Workload per person"), caption)


def response_times(employee: pd.DataFrame, team_median: pd.DataFrame, *,
                   empty: bool = False) -> ChartFigure | HTML:
    """First-response time per agent: median and 90th percentile, with the team median, in
    minutes like the First response cards and the support leaderboard."""
    if empty:
        return NOTHING
    shown = ranking.cut(employee[employee["tickets_answered"] > 0],
                        "first_response_minutes_median", then="tickets_answered")
    df = (shown.ranked if shown.is_cut  # slowest first, each end as ranked
          else shown.frame.sort_values(["first_response_minutes_median", "name"], ascending=[False, True]))
    if df.empty:
        return blocks.text(_("No ticket opened in this period has a first response."))
    unit = METRICS["first_response_minutes_median"].unit  # minutes, as on the cards
    # at least 2.8 in: one agent's chart had an axes a bar high, its label taller than it
    fig, ax = plotting.figure(height=max(0.45 * (len(df) + 2 * shown.is_cut) + 1.4, 2.8))
    y = ranking.positions(len(df), shown.top if shown.is_cut else None)
    if shown.is_cut:
        ranking.mark_gap(ax, shown.top + 0.5, shown.left)
    median = df["first_response_minutes_median"].to_numpy(dtype=float)
    p90 = df["first_response_minutes_p90"].to_numpy(dtype=float)
    ax.barh(y - 0.19, median, height=0.38, color=PALETTE["primary"], label=_("Median"))
    ax.barh(y + 0.19, p90, height=0.38, color=PALETTE["secondary"], label=_("90th percentile"))
    for yy, a, b in zip(y, median, p90, strict=True):
        ax.text(a, yy - 0.19, f" {number(a)}", va="center", fontsize="small")
        ax.text(b, yy + 0.19, f" {number(b)}", va="center", fontsize="small")
    ax.set_xlim(0, float(np.nanmax(p90)) * 1.18)  # room for the longest bar's value
    ax.xaxis.set_major_formatter(FuncFormatter(count_tick))  # 1,200 not 1200
    med = team_median.set_index("metric").loc["first_response_minutes_median", "team_median"]
    if pd.notna(med):
        ax.axvline(med, color="#1f2933", linestyle="--", linewidth=1.3,
                   label=_("Team median of the medians ({value})").format(value=fmt(med, unit)))
    ax.set_yticks(y)
    ax.set_yticklabels([
        f"{n} (n={k}{', ' + _('partial period') if not full else ''})"
        for n, k, full in zip(df["name"], df["tickets_answered"], df["full_period"], strict=True)
    ])
    ax.invert_yaxis()
    ax.set_xlabel(_("First response time ({unit}): from opening to first response").format(
        unit=_(unit)))
    ax.set_ylabel(_("Agent (answered tickets)"))
    plotting.foot_legend(ax)
    ax.set_title(_("First response time per agent"))
    caption = _("Tickets opened in the period that have a first response, in minutes (as on the "
                "First response cards); unanswered tickets are counted in the table, not here. "
                "Agents with few tickets (small n) vary a lot by chance.")
    if shown.is_cut:
        caption = ngettext(
            "Of {total} agent, the {top} slowest and the {bottom} fastest by median first "
            "response; every agent is in the CSV download of the support table.",
            "Of {total} agents, the {top} slowest and the {bottom} fastest by median first "
            "response; every agent is in the CSV download of the support table.",
            shown.total).format(total=number(shown.total), top=shown.top,
                                bottom=shown.bottom) + " " + caption
    return blocks.chart(fig, _("First response time per agent"), caption)


