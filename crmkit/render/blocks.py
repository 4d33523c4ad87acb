"""Report building blocks: header, KPI cards, tables, charts, definitions, data notes.

Each block returns an :class:`IPython.display.HTML` object that renders the same in
JupyterLab and in the published page. Charts are PNG images embedded in the page (no
scripts, no remote assets), so a page opens offline. Every piece of user data that
reaches HTML goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from IPython.display import HTML

from crmkit.metrics.definitions import METRICS
from crmkit.render.formatting import CSS, PALETTE, SERIES, compact, fmt, fmt_change  # noqa: F401
from crmkit.render.plotting import plt, sns
from crmkit.stats import SMALL_SAMPLE


def style() -> HTML:
    """The page's stylesheet (emitted once, by :func:`header`)."""
    return HTML(f"<style>{CSS}</style>")


# -- blocks -------------------------------------------------------------------------------


def header(meta: Mapping[str, Any]) -> HTML:
    """The standard report header: what, when, for whom, from which data, by which version."""
    e = html.escape
    rows = [
        ("Period", f"{e(meta['period_label'])} ({e(meta['period_dates'])})"),
        ("Team", e(meta["team_name"])),
        ("Compared with", e(meta.get("comparison") or "none")),
        ("Time zone", e(meta["timezone"])),
        ("As of", e(meta["as_of"])),
        ("Generated", e(meta["generated_at"])),
        ("Data fingerprint", f"<code>{e(meta['fingerprint'])}</code>"),
        ("crmkit version", e(meta["version"])),
    ]
    cells = "".join(f"<div><b>{k}:</b> {v}</div>" for k, v in rows)
    return HTML(
        f"<style>{CSS}</style><div class='ck ck-header'><h1>{e(meta['title'])}</h1>"
        f"<div class='ck-meta'>{cells}</div></div>"
    )


def kpi_cards(cards: Sequence[Mapping[str, Any]], currency: str = "") -> HTML:
    """KPI cards. Each card: ``name`` (a METRICS name), ``value``, optional ``previous``,
    ``change``, ``test`` (a :class:`~crmkit.stats.Test`), ``interval`` and ``n``."""
    out = []
    for card in cards:
        m = METRICS[card["name"]]
        value = fmt(card.get("value"), m.unit, currency)
        sub = []
        interval = card.get("interval")
        if interval is not None and interval.low is not None:
            sub.append(
                f"95% CI {fmt(interval.low, m.unit, currency)} to {fmt(interval.high, m.unit, currency)}"
            )
        n = card.get("n")
        if n is not None:
            flag = " <span class='ck-flag'>small sample</span>" if n < SMALL_SAMPLE else ""
            sub.append(f"n = {n:,}{flag}")
        if "previous" in card:
            ch = card.get("change")
            cls = "ck-flat"
            if ch is not None and ch != 0:
                better = (ch > 0) == m.higher_is_better
                cls = "ck-up" if better else "ck-down"
            arrow = "▲" if (ch or 0) > 0 else ("▼" if (ch or 0) < 0 else "")
            test = card.get("test")
            sig = ""
            if test is not None and test.p_value is not None:
                sig = " · significant" if test.significant else " · not significant"
                sig += f" (p={test.p_value:.3f})" if test.p_value >= 0.001 else " (p<0.001)"
            shown = fmt_change(ch)
            if m.change_in_points:
                now, before = card.get("value"), card.get("previous")
                shown = f"{now - before:+.1f} pts" if now is not None and before is not None else "—"
            sub.append(
                f"<span class='{cls}'>{arrow} {shown}</span> vs "
                f"{fmt(card.get('previous'), m.unit, currency)}{sig}"
            )
        out.append(
            f"<div class='ck-card' data-metric='{html.escape(m.name)}'>"
            f"<div class='l'>{html.escape(m.label)}</div><div class='v'>{value}</div>"
            + "".join(f"<div class='s'>{s}</div>" for s in sub)
            + "</div>"
        )
    return HTML(f"<div class='ck ck-cards'>{''.join(out)}</div>")


def table(
    df: pd.DataFrame,
    units: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    currency: str = "",
    caption: str | None = None,
    max_rows: int = 50,
) -> HTML:
    """A small HTML table; every cell escaped; numbers formatted by ``units``."""
    units = dict(units or {})
    labels = dict(labels or {})
    e = html.escape
    head = "".join(f"<th>{e(labels.get(c, c.replace('_', ' ')))}</th>" for c in df.columns)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if c in units:
                cells.append(
                    f"<td class='n'>{e(fmt(None if pd.isna(v) else v, units[c], currency))}</td>"
                )
            else:
                cells.append(
                    f"<td>{e('' if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))}</td>"
                )
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(df) > max_rows:
        more = f"<caption style='caption-side:bottom'>{len(df) - max_rows} more rows in the JSON</caption>"
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    if df.empty:
        return HTML("<div class='ck'><p><i>No rows for this period and team.</i></p></div>")
    return HTML(
        f"<div class='ck'><table class='ck-table'>{cap}{more}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def definitions(names: Iterable[str]) -> HTML:
    """The definition in words of every metric named."""
    items = []
    for name in names:
        m = METRICS[name]
        items.append(
            f"<dt>{html.escape(m.label)} <code>{html.escape(m.name)}</code></dt>"
            f"<dd>{html.escape(m.definition)}</dd>"
        )
    return HTML(f"<div class='ck'><dl class='ck-defs'>{''.join(items)}</dl></div>")


def notes(lines: Sequence[str]) -> HTML:
    """Data notes: rows excluded and why, data-quality findings from the import."""
    if not lines:
        return HTML("<div class='ck'><p>No rows were excluded; no data-quality findings.</p></div>")
    items = "".join(f"<li>{html.escape(s)}</li>" for s in lines)
    return HTML(f"<div class='ck'><ul class='ck-notes'>{items}</ul></div>")


def text(message: str) -> HTML:
    """A short escaped paragraph (e.g. a chart's 'no data' message)."""
    return HTML(f"<div class='ck'><p>{html.escape(message)}</p></div>")


# -- charts -------------------------------------------------------------------------------


def _theme() -> None:
    sns.set_theme(
        style="whitegrid",
        palette=SERIES,
        rc={"figure.dpi": 96, "savefig.dpi": 96, "axes.titlesize": 12, "axes.labelsize": 10},
    )


def figure(width: float = 9, height: float = 3.6) -> tuple[Any, Any]:
    """A new figure in the crmkit theme."""
    _theme()
    return plt.subplots(figsize=(width, height))


def chart(fig: Any, title: str, caption: str = "") -> HTML:
    """Embed a matplotlib figure as a PNG image (self-contained), then close it."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return HTML(
        f"<figure class='ck ck-fig' data-chart='{html.escape(title)}'>"
        f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'/>{cap}</figure>"
    )


def trend_chart(
    df: pd.DataFrame, x: str, y: str, unit: str = "count", title: str = "", currency: str = "",
    highlight: Sequence[str] = (),
) -> HTML:
    """A bar chart of one measure over time (e.g. ``sales.monthly_trend``); bars whose ``x``
    is in ``highlight`` are drawn darker."""
    if df.empty:
        return text("Nothing to chart for this period.")
    fig, ax = figure()
    colours = [PALETTE["primary"] if v in highlight else PALETTE["secondary"] for v in df[x]]
    ax.bar(df[x].astype(str), df[y], color=colours)
    label = y.replace("_", " ").capitalize()
    ax.set_ylabel(f"{label} ({currency})" if unit == "money" and currency else label)
    ax.set_xlabel(x.replace("_", " ").capitalize())
    if unit == "money":
        money_axis(ax)
    elif unit == "rate":
        percent_axis(ax)
    ax.tick_params(axis="x", rotation=45)
    ax.set_title(title or f"{label} by {x}")
    return chart(fig, title or f"{label} by {x}")


def money_axis(ax: Any, axis: str = "y", currency: str = "") -> None:
    from matplotlib.ticker import FuncFormatter

    f = FuncFormatter(lambda v, _: compact(v))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


def percent_axis(ax: Any, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))
