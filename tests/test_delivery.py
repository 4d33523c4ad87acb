"""E-mail delivery of a preset's pages and alerts, against a real SMTP server (aiosmtpd on
127.0.0.1): the expected messages to the expected recipients, valid MIME with the charts as
CID images and the page attached, no password anywhere, nothing sent twice; a server that
refuses or hangs gives retries and a clear entry while every report stays published."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from published import first_team
from smtp_server import USER, Handler, silent_server, smtp_server

from crmkit.publish import deliver
from crmkit.publish.alerts import evaluate
from crmkit.publish.batch import delivery_table, run_all
from crmkit.publish.presets import load_preset

PASSWORD = "s3cret-Planted-pw-7781"
BOSS, LEAD, OPS = "boss@example.com", "lead@example.com", "ops@example.com"


def _preset(folder: Path, team: str, retries: int = 2) -> Path:
    path = folder / "delivered.yaml"
    path.write_text(f"""
reports: [sales, marketing]
periods: ['2025-06']
teams: [all, {team}]
deliver:
  from: reports@example.com
  retries: {retries}
  backoff: 0.01
  smtp: {{timeout: 5}}
  to:
    - {{to: [{BOSS}], teams: all}}
    - {{to: [{LEAD}], teams: [{team}], reports: [sales]}}
alerts:
  - {{metric: win_rate, below: 0.99, teams: each, to: [{OPS}]}}
  - {{metric: revenue, above: 1.0e12}}
  - {{breakdown: campaign, where: {{roi: {{below: 0}}, cost: {{above: 1000}}}}, to: [{OPS}]}}
""")
    return path


def _env(port: int, **more: str) -> dict[str, str]:
    return {"CRMKIT_SMTP_HOST": "127.0.0.1", "CRMKIT_SMTP_PORT": str(port), "CRMKIT_SMTP_TLS": "none",
            "CRMKIT_SMTP_USER": USER, "CRMKIT_SMTP_PASSWORD": PASSWORD, **more}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, demo_db):
    """One preset run delivered to a server, then the same preset run again."""
    folder = tmp_path_factory.mktemp("delivery")
    team = first_team(demo_db)
    preset = _preset(folder, team)
    out = folder / "out"
    handler = Handler()
    with smtp_server(handler, PASSWORD) as port, pytest.MonkeyPatch.context() as mp:
        for key, value in _env(port).items():
            mp.setenv(key, value)
        first: list = []
        outcomes = run_all(preset, database=demo_db, output=out, workers=2, as_of="2025-07-01",
                           progress=False, deliveries=first)
        received_first = list(handler.received)
        # the pages as the first run published (and attached) them: the second run
        # re-publishes them, and its "Generated" minute may differ
        pages = {path.relative_to(out).as_posix(): path.read_text()
                 for path in out.glob("*/*/*.html")}
        second: list = []
        again = run_all(preset, database=demo_db, output=out, workers=2, as_of="2025-07-01",
                        progress=False, deliveries=second)
    return {"team": team, "out": out, "preset": preset, "outcomes": outcomes, "again": again,
            "first": first, "second": second, "received": received_first, "handler": handler,
            "pages": pages}


def test_expected_messages_to_expected_recipients(delivered):
    assert all(o.ok for o in delivered["outcomes"] + delivered["again"])
    team = delivered["team"]
    got = sorted((r.recipients[0], _page_of(r.message))
                 for r in delivered["received"] if "alert" not in r.message["Subject"])
    assert got == sorted([(BOSS, "2025-06/all/sales.html"), (BOSS, "2025-06/all/marketing.html"),
                          (LEAD, f"2025-06/{team}/sales.html")])
    assert all(len(r.recipients) == 1 and r.sender == "reports@example.com" for r in delivered["received"])
    assert delivered["handler"].tries == len(delivered["received"])


def _page_of(message) -> str:
    """The page a message carries (period/team/report.html)."""
    return message["X-Crmkit-Page"]


def test_subject_names_report_team_period_and_headline_change(delivered):
    out = delivered["out"]
    twin = json.loads((out / "2025-06" / "all" / "sales.json").read_text())
    message = next(r.message for r in delivered["received"]
                   if r.recipients == [BOSS] and "Sales" in r.message["Subject"])
    subject = message["Subject"]
    assert subject.startswith(f"{twin['title']}: Revenue ")
    revenue = twin["changes"]["revenue"]["change"]
    sign = "+" if revenue > 0 else "\u2212"
    assert subject.endswith(f"({sign}{abs(100 * revenue):.1f}%)")


def test_each_message_is_mime_with_cid_images_and_the_page_attached(delivered):
    for r in delivered["received"]:
        message = BytesParser(policy=policy.strict).parsebytes(r.raw)
        assert message["Message-ID"] and message["Date"] and message["To"] == r.recipients[0]
        if "alert" in message["Subject"]:
            continue
        html = message.get_body(("html",))
        assert html is not None and message.get_body(("plain",)) is not None
        body = html.get_content()
        cids = re.findall(r'src="cid:([^"]+)"', body)
        related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
        assert related.get_body(("html",)) is html  # the images travel with the HTML part
        images = {p["Content-ID"].strip("<>"): p for p in related.iter_parts()
                  if p.get_content_maintype() == "image"}
        page = delivered["pages"][_page_of(message)]
        assert len(cids) == page.count("data:image/png;base64,") > 0
        assert set(cids) == set(images)
        assert all(p.get_content().startswith(b"\x89PNG") for p in images.values())
        assert "data:image" not in body and "<style" not in body and "<script" not in body
        assert "What changed" in body and "Revenue" in body or "Cost" in body
        attachment = next(message.iter_attachments())
        assert attachment.get_content_type() == "text/html"
        assert attachment.get_content().replace("\r\n", "\n") == page  # text travels with CRLF


def test_no_password_in_messages_outputs_or_summary(delivered):
    assert delivered["handler"].tries and PASSWORD not in repr(deliver.smtp_settings(
        load_preset(delivered["preset"]).deliver.smtp, _env(1)))
    for r in delivered["received"]:
        assert PASSWORD.encode() not in r.raw
    for path in delivered["out"].rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in delivery_table(delivered["first"])


def test_second_run_sends_nothing_new(delivered):
    first, second = delivered["first"], delivered["second"]
    assert [d.status for d in first] == ["sent"] * len(first) and len(first) == len(delivered["received"])
    reports = [d for d in second if d.kind == "report"]
    assert len(reports) == 3 and all(d.status == "already sent" for d in reports)
    assert not [d for d in second if d.kind == "alerts"]  # alerts are mailed once per period
    assert len(delivered["handler"].received) == len(delivered["received"])
    ledger = json.loads((delivered["out"] / deliver.LEDGER).read_text())["sent"]
    assert {v["to"] for v in ledger.values()} == {BOSS, LEAD, OPS}
    status = json.loads((delivered["out"] / "status.json").read_text())
    assert {d["status"] for d in status["deliveries"]} == {"already sent"}


def test_alerts_fire_exactly_as_the_json_says(delivered):
    """An independent reading of the twins decides which alerts must fire."""
    out, team = delivered["out"], delivered["team"]
    expected = set()
    for path in sorted(out.glob("2025-06/*/*.json")):
        twin = json.loads(path.read_text())
        win_rate = twin["metrics"].get("win_rate")
        if twin["team"] != "all" and win_rate is not None and win_rate < 0.99:
            expected.add((path.parent.name, twin["report"], "win_rate"))
        for row in twin["breakdowns"].get("campaign", []):
            if (row["roi"] is not None and row["roi"] < 0 and row["cost"] is not None
                    and row["cost"] > 1000):
                expected.add((path.parent.name, twin["report"], f"campaign:{row['name']}"))
    recorded = json.loads((out / "alerts.json").read_text())["alerts"]
    assert {(a["team"], a["report"], a["subject"]) for a in recorded} == expected
    assert (team, "sales", "win_rate") in expected  # the threshold is chosen to fire
    assert any(s.startswith("campaign:") for _, _, s in expected)
    index = (out / "index.html").read_text()
    assert index.count('<section class="ck-alerts"') == 1 and f"Alerts ({len(expected)})" in index
    mail = next(r.message for r in delivered["received"] if "alert" in r.message["Subject"])
    assert mail["To"] == OPS and f"{len(expected)} alerts" in mail["Subject"]


def test_hostile_values_cannot_inject_headers_or_html(delivered):
    twin = json.loads((delivered["out"] / "2025-06" / "all" / "sales.json").read_text())
    twin["title"] = "Sales\r\nBcc: victim@evil.example\r\n\r\n<b>x</b>"
    twin["summary"] = [{"text": "<script>alert(1)</script> fell", "refs": {}}]
    twin["_href"] = "2025-06/all/sales.html"
    raw = deliver.report_message(twin, "<p>page</p>", "reports@example.com", BOSS).as_bytes()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert message["Bcc"] is None and "\n" not in message["Subject"]
    assert message["Subject"].startswith("Sales Bcc: victim@evil.example <b>x</b>: Revenue ")
    body = message.get_body(("html",)).get_content()
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt; fell" in body


def test_dry_run_writes_eml_files_and_sends_nothing(delivered, tmp_path):
    preset = load_preset(delivered["preset"])
    out = delivered["out"]
    pages = [({**json.loads(p.with_suffix(".json").read_text()), "_href": str(p.relative_to(out))},
              p.read_text()) for p in sorted(out.glob("2025-06/*/*.html"))]
    mails = deliver.plan(preset.deliver, pages)
    done = deliver.send(mails, preset.deliver, tmp_path, dry_run=True, env={})
    assert [d.status for d in done] == ["dry run"] * 3 and not (tmp_path / deliver.LEDGER).exists()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    for f in files:
        message = BytesParser(policy=policy.default).parsebytes(f.read_bytes())
        assert message["To"] in {BOSS, LEAD} and next(message.iter_attachments()).get_filename()


def _pages(out: Path) -> list:
    return [({**json.loads(p.with_suffix(".json").read_text()), "_href": str(p.relative_to(out))},
             p.read_text()) for p in sorted(out.glob("2025-06/all/sales.html"))]


def test_hanging_server_gives_retries_with_backoff_then_a_clear_entry(delivered, tmp_path):
    preset = load_preset(delivered["preset"])
    waits: list[float] = []
    mails = deliver.plan(preset.deliver, _pages(delivered["out"]))
    with silent_server() as port:
        settings = preset.deliver.model_copy(update={"smtp": preset.deliver.smtp.model_copy(update={"timeout": 0.3})})
        done = deliver.send(mails, settings, tmp_path, env=_env(port), sleep=waits.append)
    assert [d.status for d in done] == ["failed"] and done[0].attempts == 3
    assert waits == [0.01, 0.02]  # backoff doubles
    assert "not sent after 3 attempts to 127.0.0.1:" in done[0].error and "timed out" in done[0].error
    assert PASSWORD not in done[0].error and not (tmp_path / deliver.LEDGER).exists()


def test_refusing_server_fails_the_delivery_not_the_reports(tmp_path, demo_db):
    team = first_team(demo_db)
    preset = tmp_path / "p.yaml"
    preset.write_text(_preset(tmp_path, team).read_text().replace("reports: [sales, marketing]",
                                                                  "reports: [sales]"))
    handler = Handler(refuse=True)
    with smtp_server(handler, PASSWORD) as port:
        proc = subprocess.run(
            [sys.executable, "-m", "crmkit.cli", "run-all", str(preset), "--database", str(demo_db),
             "--output", str(tmp_path / "out"), "--workers", "2", "--as-of", "2025-07-01", "--no-progress"],
            capture_output=True, text=True, timeout=300, env={**os.environ, **_env(port)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 ok, 0 failed" in proc.stdout
    failed = [line for line in proc.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 3  # boss (all), lead (team), ops (alerts)
    assert all("not sent after 3 attempts" in f and "550" in f for f in failed)
    assert handler.tries == 9 and not handler.received
    assert (tmp_path / "out" / "2025-06" / "all" / "sales.html").is_file()
    assert (tmp_path / "out" / "2025-06" / team / "sales.html").is_file()
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert all(r["ok"] for r in status["reports"])
    assert [d["status"] for d in status["deliveries"]] == ["failed"] * 3
    assert PASSWORD not in proc.stdout + proc.stderr + json.dumps(status)


def test_alert_rules_on_the_real_twins_match_the_recorded_alerts(delivered):
    preset = load_preset(delivered["preset"])
    out = delivered["out"]
    twins = [{**json.loads(p.read_text()), "_href": str(p.relative_to(out).with_suffix(".html"))}
             for p in sorted(out.glob("2025-06/*/*.json"))]
    recorded = json.loads((out / "alerts.json").read_text())["alerts"]
    assert sorted(a.key for a in evaluate(preset.alerts, twins)) == sorted(a["key"] for a in recorded)


def test_each_firing_alert_is_stated_at_the_top_of_its_page(delivered):
    out = delivered["out"]
    recorded = json.loads((out / "alerts.json").read_text())["alerts"]
    assert recorded
    flagged = {a["href"] for a in recorded}
    for a in recorded:
        page = (out / a["href"]).read_text()
        top = page[:page.index("<h1")]  # above the report's heading
        assert "ck-alerts" in top and html.escape(a["text"], quote=False) in top, a["href"]
    for path in sorted(out.glob("2025-06/*/*.html")):
        href = path.relative_to(out).as_posix()
        if href not in flagged:
            assert "ck ck-alerts" not in path.read_text(), href


def test_a_stopped_batch_holds_its_e_mails_for_the_next_run(delivered, tmp_path, demo_db):
    """Ctrl-C (or SIGTERM) stops a batch: the pages in progress finish, no other starts,
    and no e-mail goes out for a pack cut short. Each is listed as held; the next run
    sends them, once."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(delivered["out"], out, symlinks=True)
    (out / deliver.LEDGER).unlink()  # published, none sent yet
    handler = Handler()
    with smtp_server(handler, PASSWORD) as port, pytest.MonkeyPatch.context() as mp:
        for key, value in _env(port).items():
            mp.setenv(key, value)
        held: list = []
        run_all(delivered["preset"], database=demo_db, output=out, workers=2,
                as_of="2025-07-01", progress=False, deliveries=held, stop=lambda: True)
        assert handler.tries == 0 and not handler.received
        assert held and {d.status for d in held} == {"held"}
        assert all("the batch was stopped" in d.error for d in held)
        assert "held" in delivery_table(held).splitlines()[-1]
        status = json.loads((out / "status.json").read_text())
        assert {d["status"] for d in status["deliveries"]} == {"held"}
        sent: list = []
        run_all(delivered["preset"], database=demo_db, output=out, workers=2,
                as_of="2025-07-01", progress=False, deliveries=sent)
    assert [d.status for d in sent] == ["sent"] * len(held)
    assert len(handler.received) == len(held)
