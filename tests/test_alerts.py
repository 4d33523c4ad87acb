"""Alert rules: typed, with one-line errors, and firing exactly when the numbers say so
(hand-made twins whose answer is plain to see)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmkit.errors import PresetError
from crmkit.publish.alerts import evaluate
from crmkit.publish.presets import AlertRule, load_preset


def _twin(team: str = "north", **metrics) -> dict:
    return {
        "report": "sales", "title": f"Sales — {team} — 2025-06", "period": {"label": "2025-06"},
        "team": team, "team_name": team.title(), "currency": "EUR",
        "metrics": metrics, "comparison": {k: 0.5 for k in metrics}, "changes": {},
        "definitions": {"win_rate": {"label": "Win rate", "unit": "rate", "higher_is_better": True},
                        "nps": {"label": "NPS", "unit": "score", "higher_is_better": True,
                                "change_in_points": True}},
        "breakdowns": {}, "_href": f"2025-06/{team}/sales.html",
    }


def _rule(**kw) -> AlertRule:
    return AlertRule.model_validate(kw)


@pytest.mark.parametrize(("value", "fires"), [(0.2499, True), (0.25, False), (0.3, False), (None, False)])
def test_below_is_strict_and_na_never_fires(value, fires):
    fired = evaluate([_rule(metric="win_rate", below=0.25)], [_twin(win_rate=value)])
    assert bool(fired) is fires
    if fires:
        assert fired[0].text == "Win rate is 25.0%, below 25.0% — Sales — north — 2025-06"


def test_teams_each_all_and_ids():
    twins = [_twin("all", win_rate=0.1), _twin("north", win_rate=0.1), _twin("south", win_rate=0.1)]
    teams = lambda sel: sorted(a.team for a in evaluate([_rule(metric="win_rate", below=0.2, teams=sel)], twins))  # noqa: E731
    assert teams("each") == ["north", "south"]
    assert teams("all") == ["all"]
    assert teams(["south"]) == ["south"]
    assert sorted(a.team for a in evaluate([_rule(metric="win_rate", below=0.2)], twins)) == ["all", "north", "south"]


@pytest.mark.parametrize(("now", "before", "significant", "fires"), [
    (20.0, 35.0, True, True),     # fell, significant
    (20.0, 35.0, False, False),   # fell, not significant
    (45.0, 35.0, True, False),    # rose significantly: better, no alert
])
def test_drops_significantly(now, before, significant, fires):
    twin = _twin(nps=now)
    twin["comparison"]["nps"] = before
    twin["changes"]["nps"] = {"change": None, "change_points": now - before, "p_value": 0.01 if significant else 0.4,
                              "significant": significant}
    fired = evaluate([_rule(metric="nps", drops="significantly")], [twin])
    assert bool(fired) is fires
    if fires:
        assert "NPS dropped significantly to 20.0" in fired[0].text and "\u221215.0 pts" in fired[0].text


def test_breakdown_rows_meeting_every_condition():
    twin = _twin()
    twin["report"] = "marketing"
    twin["breakdowns"]["campaign"] = [
        {"name": "Spring", "roi": -0.4, "cost": 5000.0},   # fires
        {"name": "Cheap", "roi": -0.4, "cost": 900.0},     # cost too low
        {"name": "Good", "roi": 0.8, "cost": 9000.0},      # roi positive
        {"name": "Unknown", "roi": None, "cost": 9000.0},  # N/A never fires
    ]
    rule = _rule(breakdown="campaign", where={"roi": {"below": 0}, "cost": {"above": 1000}})
    fired = evaluate([rule], [twin])
    assert [a.subject for a in fired] == ["campaign:Spring"]
    assert evaluate([_rule(breakdown="campaign", where={"roi": {"below": 0}}, report="sales")], [twin]) == []


@pytest.mark.parametrize(("rule", "needle"), [
    ("{metric: win_rat, below: 0.25}", "alerts.0: unknown metric 'win_rat'"),
    ("{metric: win_rate}", "give one condition"),
    ("{metric: win_rate, below: low}", "alerts.0.below"),
    ("{breakdown: campaign}", "a breakdown rule needs where:"),
    ("{metric: win_rate, below: 1, teams: each, bellow: 2}", "alerts.0.bellow: unknown key"),
    ("{metric: nps, drops: a_bit}", "alerts.0.drops"),
    ('{metric: win_rate, below: 1, to: "a@b.com\\nBcc: x@y.com"}', "is not an e-mail address"),
])
def test_bad_rules_are_one_line_with_file_and_line(tmp_path, rule, needle):
    path = tmp_path / "p.yaml"
    path.write_text(f"reports: [sales]\nalerts:\n  - {rule}\n")
    with pytest.raises(PresetError) as err:
        load_preset(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}, line 3: ") and needle in message


def test_example_preset_loads():
    preset = load_preset(Path(__file__).parent.parent / "params" / "monthly-delivered.yaml")
    assert preset.deliver is not None and preset.alerts
    assert all(a.endswith("@example.com") for r in preset.deliver.to for a in r.to)
