"""The refresh cache: a page is re-rendered only when something it is computed from changed.

The keys are checked without rendering (every kind of input, one at a time); one run
renders a small pack three times: all new, all fresh (no kernel started), then exactly the
pages a new won deal of one team touches, which show the deal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import nbformat
import pytest

from crmkit.backends import changes
from crmkit.backends.engines import describe
from crmkit.backends.location import find_database
from crmkit.backends.snapshots import snapshot_instant
from crmkit.publish import batch, cache
from crmkit.publish.notebooks import find_notebooks
from crmkit.publish.presets import Branding, load_preset
from crmkit.store import FINGERPRINT_ENV, Store
from tests.databases import demo_copy

TEAM = "enterprise"  # the team whose data changes
OTHER = "smb"
#: A won deal of a member of TEAM, closed in June 2025, with an amount no deal has.
WON_DEAL = """
insert into deals (deal_id, owner_id, created_at, status, customer_id, stage, amount,
                   probability, expected_close_at, closed_at, product)
select 'cache-test-deal', e.employee_id, TIMESTAMP '2025-06-02 09:00', 'won', c.customer_id,
       w.stage, 123456.78, 1.0, TIMESTAMP '2025-06-20 15:00', TIMESTAMP '2025-06-20 15:00',
       w.product
from employees e
join customers c on c.owner_id = e.employee_id,
     (select stage, product from deals where status = 'won' limit 1) w
where e.team_id = '{team}'
limit 1
"""


def _preset(tmp_path: Path, reports: str, periods: str = "[2025-06]") -> Path:
    path = tmp_path / "preset.yaml"
    path.write_text(f"reports: {reports}\nperiods: {periods}\nteams: [all, each]\n"
                    "compare_to: previous\n", encoding="utf-8")
    return path


def _keys(preset: Path, db: Path, out: Path, *, as_of: str = "2025-07-01",
          notebooks: Path | None = None, branding: Branding | None = None
          ) -> dict[tuple[str, str, str], str | None]:
    """(report, period, team) -> key, as run-all computes them."""
    loaded = load_preset(preset)
    folder = find_notebooks(notebooks)
    jobs = batch.expand(loaded, find_database(db), folder, as_of)
    out.mkdir(exist_ok=True)
    site = {"branding": branding, "batch": frozenset(j.page for j in jobs),
            "alerts": tuple(loaded.alerts)}
    keys = batch._keys(jobs, find_database(db), out, folder, site, None)
    return {(j.report, j.period, j.team): (k["key"] if k else None) for j, k in keys.items()}


def _changed(before: dict, after: dict) -> set[tuple[str, str, str]]:
    assert before.keys() == after.keys()
    return {job for job in before if before[job] != after[job]}


@pytest.fixture
def db(demo_db: Path, tmp_path: Path) -> Path:
    return demo_copy(demo_db, tmp_path / "demo.duckdb")


def _execute(db: Path, sql: str) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute(sql)
    finally:
        con.close()


def test_a_won_deal_changes_the_keys_of_its_team_and_the_company_only(db, tmp_path):
    preset = _preset(tmp_path, "all")
    before = _keys(preset, db, tmp_path / "out")
    assert all(before.values()) and len(set(before.values())) == len(before)
    assert _keys(preset, db, tmp_path / "out") == before  # nothing changed: same keys
    _execute(db, WON_DEAL.format(team=TEAM))
    after = _keys(preset, db, tmp_path / "out")
    # Every report reads deals: each of them, for the team and company-wide.
    reports = {report for report, _, _ in before}
    assert _changed(before, after) == {(r, "2025-06", t) for r in reports for t in ("all", TEAM)}


def test_a_database_built_again_with_the_same_rows_keeps_every_page_fresh(db, tmp_path):
    """``make reports`` builds the demo again each time: the same rows and settings, but
    the time it was built (``built_at``, which no page shows) is new. Its pages stay fresh
    (every one of them rendered again, 19 s, on every ``make reports``); a setting a page
    does show (the currency) still changes every key."""
    preset = _preset(tmp_path, "all")
    before = _keys(preset, db, tmp_path / "out")
    _execute(db, "update crmkit.settings set value = '2031-01-01T00:00:00Z' where key = 'built_at'")
    assert _keys(preset, db, tmp_path / "out") == before
    _execute(db, "update crmkit.settings set value = 'USD' where key = 'currency'")
    after = _keys(preset, db, tmp_path / "out")
    assert _changed(before, after) == set(before)


def test_a_table_only_some_reports_read_changes_only_theirs(db, tmp_path):
    preset = _preset(tmp_path, "all")
    before = _keys(preset, db, tmp_path / "out")
    _execute(db, f"""update campaign_costs set cost = cost + 1 where campaign_id =
                     (select min(campaign_id) from campaigns where team_id = '{OTHER}')""")
    after = _keys(preset, db, tmp_path / "out")
    assert _changed(before, after) == {("marketing", "2025-06", t) for t in ("all", OTHER)}


def test_a_quiet_database_is_not_read_again(db, tmp_path, monkeypatch):
    """While the database's stamp stays, the data's hashes come from output/.refresh.json:
    no table is read."""
    preset = _preset(tmp_path, "[sales]")
    before = _keys(preset, db, tmp_path / "out")
    assert (tmp_path / "out" / cache.STATE_FILE).is_file()

    def no_reading(*_args, **_kwargs):
        raise AssertionError("a quiet database was read again")

    monkeypatch.setattr(cache, "frame_hashes", no_reading)
    assert _keys(preset, db, tmp_path / "out") == before
    _execute(db, "insert into teams values ('tmp', 'Tmp')")  # two writes, the same content
    _execute(db, "delete from teams where team_id = 'tmp'")
    monkeypatch.undo()
    assert changes.stamp(db) != json.loads((tmp_path / "out" / cache.STATE_FILE).read_text())["stamp"]
    assert _keys(preset, db, tmp_path / "out") == before  # read again: same content, same keys


def test_parameters_notebook_and_site_are_inputs(db, tmp_path):
    preset = _preset(tmp_path, "[sales, activity]", "[2025-05]")
    before = _keys(preset, db, tmp_path / "out", as_of="2025-06-20")
    # A notebook changed: that report's pages only.
    notebooks = tmp_path / "notebooks"
    shutil.copytree(find_notebooks(None), notebooks)
    edited = notebooks / "activity.ipynb"
    nb = nbformat.read(edited, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("One more note."))
    nbformat.write(nb, edited)
    same = _keys(preset, db, tmp_path / "out", as_of="2025-06-20", notebooks=notebooks)
    assert {r for r, _, _ in _changed(before, same)} == {"activity"}
    # The branding is on every page.
    branded = _keys(preset, db, tmp_path / "out", as_of="2025-06-20",
                    branding=Branding(company="Northwind"))
    assert _changed(before, branded) == set(before)


def test_the_as_of_instant_is_an_input_only_while_the_period_is_open(db, tmp_path):
    preset = _preset(tmp_path, "[sales]", "[2025-05, this-month]")
    before = _keys(preset, db, tmp_path / "out", as_of="2025-06-20")
    later = _keys(preset, db, tmp_path / "out", as_of="2025-06-21")
    changed = _changed(before, later)
    assert changed and {period for _, period, _ in changed} == {"2025-06"}


def _run(preset: Path, db: Path, out: Path) -> list[batch.Outcome]:
    return batch.run_all(preset, database=db, output=out, as_of="2025-07-01", progress=False,
                         workers=2)


def _twin(out: Path, team: str) -> dict:
    return json.loads((out / "2025-06" / team / "sales.json").read_text(encoding="utf-8"))


def test_fresh_pages_are_kept_and_a_change_renders_exactly_its_pages(db, tmp_path):
    preset, out = _preset(tmp_path, "[sales]"), tmp_path / "out"
    preset.write_text(preset.read_text().replace("[all, each]", f"[all, {TEAM}, {OTHER}]"))
    first = _run(preset, db, out)
    assert [(o.status, o.reason) for o in first] == [("rendered", "new")] * 3
    pages = {o.job.team: Path(o.html).read_bytes() for o in first}
    before = {team: _twin(out, team) for team in pages}

    untouched = changes.stamp(db)
    second = _run(preset, db, out)  # nothing changed: no kernel, the same files
    assert changes.stamp(db) == untouched  # a run with an as-of records no snapshot
    assert [o.status for o in second] == ["fresh"] * 3
    assert {o.job.team: Path(o.html).read_bytes() for o in second} == pages
    assert "3 ok, 0 failed (3 fresh, 0 re-rendered)" in batch.summary_table(second)
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["counts"] == {"fresh": 3, "rendered": 0, "failed": 0}
    assert f"Data checked {status['checked_at']}" in (out / "index.html").read_text(encoding="utf-8")

    _execute(db, WON_DEAL.format(team=TEAM))
    third = _run(preset, db, out)
    rendered = {o.job.team: o.reason for o in third if o.status == "rendered"}
    assert rendered == {"all": "data: deals", TEAM: "data: deals"}
    for team in ("all", TEAM):
        now, then = _twin(out, team)["metrics"], before[team]["metrics"]
        assert now["deals_won"] == then["deals_won"] + 1
        assert now["revenue"] == pytest.approx(then["revenue"] + 123456.78)
    assert _twin(out, OTHER) == before[OTHER]
    changed = Store.open(db)
    try:  # the fingerprint the run handed to its notebooks is the changed data's
        assert _twin(out, "all")["data_fingerprint"] == changed.fingerprint()
        assert changed.fingerprint() != before["all"]["data_fingerprint"]
    finally:
        changed.close()

    page = out / "2025-06" / OTHER / "sales.html"  # a page damaged since: rendered again
    page.resolve().write_bytes(pages[OTHER].replace(b"</body>", b"<p>edited</p></body>"))
    fourth = _run(preset, db, out)
    assert [(o.job.team, o.reason) for o in fourth if o.status == "rendered"] == [(OTHER, "new")]
    assert b"<p>edited</p>" not in page.read_bytes()


def test_force_renders_every_page(db, tmp_path):
    preset, out = _preset(tmp_path, "[sales]"), tmp_path / "out"
    loaded = load_preset(preset)
    jobs = batch.expand(loaded, find_database(db), find_notebooks(None), "2025-07-01")
    keys = {job: {"key": "k", "parts": {}} for job in jobs}
    fresh, todo = batch._split(jobs, keys, out, force=True)
    assert fresh == [] and [reason for _, reason in todo] == ["forced"] * len(jobs)


def test_each_report_reads_only_the_tables_its_spec_declares(demo_db, monkeypatch):
    """The cache re-renders a page when a table in ``ReportSpec.reads`` changes: a report
    that read any other table (besides the coverage every page states, an input of its own)
    would show stale numbers."""
    from crmkit import store as store_module
    from crmkit.reports import REPORTS, open_report

    seen: set[str] = set()
    original = store_module.Tables.__getitem__

    def recording(self, name):
        seen.add(name)
        return original(self, name)

    store = store_module.Store.open(demo_db)
    try:
        for report, spec in REPORTS.items():
            ctx = open_report(report, period="2025-06", team=TEAM, store=store, as_of="2025-07-01")
            assert ctx.coverage is not None  # computed before the recording starts
            monkeypatch.setattr(store_module.Tables, "__getitem__", recording)
            seen.clear()
            spec.build(ctx)
            monkeypatch.undo()
            assert seen and seen <= set(spec.reads), (report, sorted(seen - set(spec.reads)))
    finally:
        store.close()


def test_notebooks_use_the_handed_fingerprint_only_while_the_data_is_unchanged(db, tmp_path,
                                                                               monkeypatch):
    real = Store.open(db)
    try:
        expected = real.fingerprint()
    finally:
        real.close()
    hint = cache.known_fingerprint(find_database(db), tmp_path)
    assert hint is not None and hint.endswith(f":{expected}")
    monkeypatch.setenv(FINGERPRINT_ENV, hint.split(":")[0] + ":planted")
    store = Store.open(db)
    assert store.fingerprint() == "planted"  # taken as handed: no table hashed
    store.close()
    _execute(db, WON_DEAL.format(team=TEAM))
    store = Store.open(db)
    try:
        assert store.fingerprint() not in ("planted", expected)  # the data moved: hashed again
    finally:
        store.close()


def test_a_run_takes_the_days_pipeline_snapshot_once_while_the_data_is_quiet(db, tmp_path,
                                                                             monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    where = find_database(db)
    batch._snapshot(where, out, None)
    today, _, _ = snapshot_instant(None, describe(where)[0].get("timezone") or "UTC")
    con = duckdb.connect(str(db), read_only=True)
    try:
        [(rows,)] = con.execute("select count(*) from crmkit.pipeline_snapshots "
                                "where snapshot_date = ?", [today]).fetchall()
    finally:
        con.close()
    assert rows > 0
    taken: list[object] = []
    monkeypatch.setattr(batch, "take_snapshot", lambda *args, **kw: taken.append(args))
    batch._snapshot(where, out, None)
    assert taken == []  # the same day, the same data: not even the deals are read
    _execute(db, WON_DEAL.format(team=TEAM))
    with pytest.raises(AttributeError):  # the data moved: due again (the stub returns None)
        batch._snapshot(where, out, None)
    assert len(taken) == 1
