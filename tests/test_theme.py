"""The charts' theme and bars, drawn without seaborn: the very rcParams and images seaborn
gave them, and a report that draws no heatmap loads neither seaborn nor pyplot.

The images are compared with those of the seaborn installed (0.13), which drew the
reports' bars until then: a seaborn that draws its bars otherwise fails these tests
without crmkit's bars having changed."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from crmkit.render import plotting
from crmkit.render.formatting import PALETTE, SERIES

sns = plotting.seaborn()


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _rc() -> dict[str, object]:
    return {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}


def test_the_theme_is_what_seaborn_s_set_theme_sets():
    ours = {"figure.dpi": plotting.DPI, "savefig.dpi": plotting.DPI, **plotting._TEXT,
            **plotting._TITLE, **plotting.PLAIN_TEXT}
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        sns.set_theme(style="whitegrid", palette=SERIES, rc=ours)
        seaborns = _rc()
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        plotting._theme()
        crmkits = _rc()
    assert crmkits == seaborns
    assert seaborns["image.cmap"] == "rocket"  # seaborn is loaded here, so its colormap is set


def _both(draw_seaborn, draw_ours, after=lambda ax: None) -> tuple[bytes, bytes]:
    images = []
    for draw in (draw_seaborn, draw_ours):
        fig, ax = plotting.figure()
        draw(ax)
        ax.set_xlabel("Across")  # the reports name both axes (seaborn names them by column)
        ax.set_ylabel("Up")
        after(ax)
        if ax.get_legend() is not None or any(not h.get_label().startswith("_")
                                              for h in ax.get_legend_handles_labels()[0]):
            plotting.foot_legend(ax)
        images.append(_png(fig))
    return images[0], images[1]


MONTHS = pd.DataFrame({"month": [f"2025-{m:02d}" for m in range(1, 7)],
                       "revenue": [1200.0, 0.0, math.nan, 5400.5, 300.0, 2100.0]})


def test_bars_of_a_colour_each_are_seaborn_s_barplot_with_its_hue_on_the_categories():
    colours = [PALETTE["primary"] if m == "2025-06" else PALETTE["secondary"] for m in MONTHS["month"]]
    a, b = _both(
        lambda ax: sns.barplot(data=MONTHS, x="month", y="revenue", hue="month", palette=colours,
                               legend=False, ax=ax, errorbar=None),
        lambda ax: plotting.bars(ax, MONTHS["month"].tolist(), [MONTHS["revenue"].tolist()], colours),
        lambda ax: ax.tick_params(axis="x", rotation=45),
    )
    assert a == b


def test_horizontal_bars_of_one_colour_are_seaborn_s():
    stages = pd.DataFrame({"stage": ["Qualification", "Proposal", "Won"], "reached": [50, 20, 7]})
    a, b = _both(
        lambda ax: sns.barplot(data=stages, y="stage", x="reached", color=PALETTE["primary"], ax=ax,
                               errorbar=None),
        lambda ax: plotting.bars(ax, stages["stage"].tolist(), [stages["reached"].tolist()],
                                 [PALETTE["primary"]], horizontal=True),
        lambda ax: ax.text(20, 1, "  20 (40%)", va="center"),
    )
    assert a == b


@pytest.mark.parametrize("horizontal", [False, True])
def test_series_side_by_side_with_their_legend_and_a_missing_value_are_seaborn_s(horizontal):
    wide = pd.DataFrame({"channel": ["Email", "Paid search", "Events"],
                         "leads": [40.0, 25.0, 9.0], "converted": [12.0, math.nan, 3.0],
                         "won": [4.0, 2.0, 0.0]})
    names = {"leads": "Leads", "converted": "Converted", "won": "With a won deal"}
    long = wide.melt(id_vars="channel", value_vars=list(names), var_name="stage", value_name="count")
    long["stage"] = long["stage"].map(names)
    colours = [PALETTE["secondary"], PALETTE["primary"], PALETTE["good"]]
    axes = {"y": "channel", "x": "count"} if horizontal else {"x": "channel", "y": "count"}

    def labelled(ax):
        for container in ax.containers:
            ax.bar_label(container, labels=[f"{v:.0f}" for v in container.datavalues])

    a, b = _both(
        lambda ax: sns.barplot(data=long, **axes, hue="stage", palette=colours, ax=ax, errorbar=None),
        lambda ax: plotting.bars(ax, wide["channel"].tolist(), [wide[c].tolist() for c in names],
                                 colours, labels=list(names.values()), horizontal=horizontal),
        labelled,
    )
    assert a == b


def test_a_missing_value_among_bars_of_a_colour_each_is_no_bar_as_in_seaborn():
    colours = [PALETTE["primary"], PALETTE["secondary"], PALETTE["accent"]]
    months = MONTHS.iloc[1:4]  # 0.0, NaN, 5400.5
    a, b = _both(
        lambda ax: sns.barplot(data=months, x="month", y="revenue", hue="month", palette=colours,
                               legend=False, ax=ax, errorbar=None),
        lambda ax: plotting.bars(ax, months["month"].tolist(), [months["revenue"].tolist()], colours),
    )
    assert a == b


def test_the_categories_are_the_axis_units_as_seaborn_made_them():
    """An analyst's line at a category goes through its bar."""
    fig, ax = plotting.figure()
    plotting.bars(ax, ["2025-01", "2025-02", "2025-03"], [[1.0, 2.0, 3.0]], [PALETTE["primary"]])
    ax.axvline("2025-03")
    assert ax.xaxis.convert_units("2025-03") == 2 and ax.get_xlim() == (-0.5, 2.5)


@pytest.mark.parametrize(("categories", "values", "colours", "labels", "says"), [
    (["a", "b"], [], ["red"], None, "no series"),
    (["a", "b"], [[1.0]], ["red"], None, "a value per category"),
    (["a", "b", "c"], [[1.0, 2.0, 3.0]], ["red", "blue"], None, "2 colours for 1 series"),
    (["a", "b"], [[1.0, 2.0], [3.0, 4.0]], ["red"], None, "1 colours for 2 series"),
    (["a", "b"], [[1.0, 2.0]], ["red", "blue"], ["Revenue"], "a legend names each series"),
    (["a", "b"], [[1.0, 2.0], [3.0, 4.0]], ["red", "blue"], ["One"], "a legend names each series"),
])
def test_bars_that_do_not_fit_their_categories_colours_or_labels_say_so(
        categories, values, colours, labels, says):
    fig, ax = plotting.figure()
    with pytest.raises(ValueError, match=says):
        plotting.bars(ax, categories, values, colours, labels=labels)


def test_a_report_that_draws_no_heatmap_loads_neither_seaborn_nor_pyplot():
    """A kernel's start imports its report's modules: seaborn (0.05-0.07 s) and pyplot
    (0.03 s) only for the activity report's cohort heatmap."""
    code = ("import json, sys\n"
            "from crmkit.publish.kernel import warm_up\n"
            "loaded = {}\n"
            "for report in ('sales', 'marketing', 'performance', 'satisfaction', 'activity'):\n"
            "    warm_up((report,))\n"
            "    loaded[report] = [m for m in ('seaborn', 'matplotlib.pyplot') if m in sys.modules]\n"
            "print(json.dumps(loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert loaded == {"sales": [], "marketing": [], "performance": [], "satisfaction": [],
                      "activity": ["seaborn", "matplotlib.pyplot"]}


def test_seaborn_and_pyplot_are_there_when_asked_for():
    code = ("import sys\nfrom crmkit.render import plotting\n"
            "loaded = [m in sys.modules for m in ('seaborn', 'matplotlib.pyplot')]\n"
            "plotting.sns.barplot, plotting.plt.subplots\n"
            "print(loaded, [m in sys.modules for m in ('seaborn', 'matplotlib.pyplot')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "[False, False] [True, True]"
    with pytest.raises(AttributeError):
        plotting.nothing  # noqa: B018
