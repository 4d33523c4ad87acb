"""Reports run directly on PostgreSQL, with the same JSON as on DuckDB (issue 6, part 4).

The pinned demo database is loaded into a fresh schema of the server named by
``$CRMKIT_TEST_POSTGRES_URL`` (``.ci/run`` starts one), every report in ``notebooks/`` is
run on both engines, and the JSON twins are compared. Without that variable the tests that
need a server are skipped, except under ``CI=true``, where they fail: CI must not pass
without having compared the engines. The URL handling and the fingerprint of pandas frames
are tested without a server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crmkit.backends import postgres as pg
from crmkit.backends.base import SNAPSHOT_COLUMNS, SNAPSHOTS
from crmkit.backends.engines import describe
from crmkit.backends.fingerprint import of_duckdb
from crmkit.backends.location import Location, find_database
from crmkit.errors import StoreError
from crmkit.metrics import sales
from crmkit.model import TABLES
from crmkit.periods import parse_period
from crmkit.publish import cache
from crmkit.publish.kernel import Kernel
from crmkit.publish.notebooks import available_reports
from crmkit.publish.runner import run_report
from crmkit.store import Store
from tests.engines import json_differences

ROOT = Path(__file__).parent.parent
NOTEBOOKS = ROOT / "notebooks"
AS_OF = "2025-07-01"
#: (period, team): a month company-wide and a quarter for one team (None: the first team id)
RUNS = [("2025-06", "all"), ("2025-Q2", None)]


# -- the server ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server(postgres_server) -> Location:
    return postgres_server


@pytest.fixture(scope="session")
def pg_db(server, demo_db):
    """The pinned demo database copied into a fresh schema (dropped afterwards)."""
    location = server.with_schema(f"crmkit_test_{os.getpid()}_{secrets.token_hex(3)}")
    rows = pg.load(demo_db, location)
    assert rows["deals"] > 1000
    yield location
    con = pg.connect(server)
    con.execute(f'drop schema "{location.schema}" cascade')
    con.close()


@pytest.fixture(scope="session")
def team(demo_db) -> str:
    return sorted(describe(Path(demo_db))[1])[0]


@pytest.fixture(scope="session")
def kernels(demo_db, pg_db):
    """One warm kernel per engine, shared by every comparison run."""
    duck = Kernel(find_database(demo_db), NOTEBOOKS)
    post = Kernel(pg_db, NOTEBOOKS)
    yield {"duckdb": duck, "postgres": post}
    duck.close()
    post.close()


# -- the same JSON on both engines ---------------------------------------------------------------


def _differences(a: Any, b: Any) -> list[str]:
    """Where the JSON on DuckDB and on PostgreSQL differ (:func:`tests.engines.json_differences`)."""
    return json_differences(a, b, "PostgreSQL")


@pytest.mark.parametrize("period,team_id", RUNS, ids=[p for p, _ in RUNS])
@pytest.mark.parametrize("report", available_reports(NOTEBOOKS))
def test_same_json_on_postgres_and_duckdb(report, period, team_id, team, kernels, demo_db, pg_db, tmp_path):
    team_id = team_id or team
    payloads = {}
    for engine, database in (("duckdb", demo_db), ("postgres", pg_db)):
        result = run_report(
            report,
            period=period,
            team=team_id,
            as_of=AS_OF,
            database=database,
            output=tmp_path / engine,
            notebooks=NOTEBOOKS,
            kernel=kernels[engine],
            update_index=False,
        )
        payloads[engine] = json.loads(result.json.read_text())
    duck, post = payloads["duckdb"], payloads["postgres"]
    assert duck["report"] == report and duck["metrics"], "the report published no metrics"
    assert post["data_fingerprint"] == duck["data_fingerprint"]
    differences = _differences(duck, post)
    assert not differences, f"{report} {period} {team_id}: " + "; ".join(differences[:20])


def test_fingerprint_is_the_same_on_every_engine(demo_db, pg_db):
    duck = Store.open(demo_db)
    post = Store.open(pg_db)
    frames = Store.from_frames({name: duck.tables[name].collect().to_pandas() for name in duck.tables})
    try:
        assert post.fingerprint() == duck.fingerprint() == frames.fingerprint()
        assert len(duck.fingerprint()) == 16
        assert post.settings == duck.settings and post.notes == duck.notes
    finally:
        duck.close()
        post.close()


# -- pushdown: the period and team filters run in PostgreSQL -----------------------------------


def test_period_and_team_filters_are_pushed_down(pg_db, team):
    import ibis
    import narwhals as nw

    store = Store.open(pg_db)
    period = parse_period("2025-06")
    queries: list[str] = []
    verbose, log = ibis.options.verbose, ibis.options.verbose_log
    ibis.options.verbose, ibis.options.verbose_log = True, queries.append
    try:
        closed = sales.deals_closed(store.scoped(team)["deals"], period)
    finally:
        ibis.options.verbose, ibis.options.verbose_log = verbose, log
    assert closed["deals_won"] + closed["deals_lost"] > 0
    [sql] = [q for q in queries if '"deals"' in q]
    where = sql[sql.rindex("WHERE") :]
    assert "\"closed_at\" >= CAST('2025-06-01T00:00:00' AS TIMESTAMP)" in where
    assert "\"closed_at\" < CAST('2025-07-01T00:00:00' AS TIMESTAMP)" in where
    assert " IN ('" in where  # the team's employees
    # PostgreSQL filters the deals table itself and returns one aggregated row
    con = store._backend.connection
    [(plan,)] = con.execute(f"explain (analyze, format json) {sql}").fetchone()
    top = plan["Plan"]
    assert top["Actual Rows"] == 1

    def nodes(node: dict) -> list[dict]:
        return [node, *[n for child in node.get("Plans", []) for n in nodes(child)]]

    scans = [n for n in nodes(top) if n.get("Relation Name") == "deals"]
    conditions = " ".join(str(n.get(k, "")) for n in scans for k in ("Filter", "Index Cond", "Recheck Cond"))
    assert "closed_at" in conditions, plan
    scanned = sum(n["Actual Rows"] for n in scans)
    total = nw.to_native(store.tables["deals"].select(nw.len())).to_pyarrow().column(0)[0].as_py()
    assert scanned < total / 10, "the period filter must cut the deals read to about a month"
    store.close()


# -- secrets ---------------------------------------------------------------------------------


@pytest.fixture
def planted(server, pg_db):
    """A login role with a planted password that may read the test schema."""
    role = f"crmkit_reader_{secrets.token_hex(3)}"
    password = f"PLANTED-{secrets.token_hex(8)}"
    con = pg.connect(server)
    con.execute(f"create role {role} login password '{password}'")
    con.execute(f'grant usage on schema "{pg_db.schema}" to {role}')
    con.execute(f'grant select on all tables in schema "{pg_db.schema}" to {role}')
    parts = pg_db.redacted().split("://", 1)[1].split("@", 1)[-1]
    url = f"postgresql://{role}:{password}@{parts}"
    yield Location(url), password
    con.execute(f"drop owned by {role}")
    con.execute(f"drop role {role}")
    con.close()


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmkit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_planted_password_appears_in_no_output(planted, tmp_path):
    location, password = planted
    env = {k: v for k, v in os.environ.items() if k != "CRMKIT_DATABASE"}
    env["CRMKIT_DATABASE_URL"] = location.url
    out = tmp_path / "out"
    proc = _cli(
        "run",
        "sales",
        "--period",
        "2025-06",
        "--as-of",
        AS_OF,
        "--output",
        str(out),
        "--notebooks",
        str(NOTEBOOKS),
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".html", ".json", ".ipynb"}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert password not in text and "postgresql://" not in text, path
    assert password not in proc.stdout + proc.stderr
    nb = json.loads((out / "2025-06" / "all" / "sales.ipynb").read_text())
    assert "database" not in nb["metadata"]["papermill"]["parameters"]
    # a failed connection names the database, never the password
    wrong = Location(location.url.replace(password, password[::-1]))
    try:
        Store.open(wrong).close()
    except StoreError as exc:
        assert password[::-1] not in str(exc) and str(wrong) in str(exc)


def test_load_postgres_command(demo_db, server, tmp_path):
    schema = f"crmkit_cli_{secrets.token_hex(3)}"
    env = {k: v for k, v in os.environ.items() if k != "CRMKIT_DATABASE"}
    env["CRMKIT_DATABASE_URL"] = server.url
    try:
        proc = _cli("load-postgres", "--database", str(demo_db), "--schema", schema, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert f"schema={schema}" in proc.stdout and "rows in 12 tables" in proc.stdout
        if server.password:
            assert server.password not in proc.stdout + proc.stderr
        # loading again replaces the tables it created
        again = _cli("load-postgres", "--database", str(demo_db), "--schema", schema, env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        teams = _cli(
            "teams", env={**env, "CRMKIT_DATABASE_URL": server.with_schema(schema).url}, cwd=tmp_path
        )
        assert teams.returncode == 0 and teams.stdout.split() == sorted(describe(Path(demo_db))[1])
    finally:
        con = pg.connect(server)
        con.execute(f'drop schema if exists "{schema}" cascade')
        con.close()
    del env["CRMKIT_DATABASE_URL"]
    missing = _cli("load-postgres", "--database", str(demo_db), env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "CRMKIT_DATABASE_URL" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_load_refuses_to_replace_tables_it_did_not_create(server, demo_db):
    schema = f"crmkit_foreign_{secrets.token_hex(3)}"
    con = pg.connect(server)
    try:
        con.execute(f'create schema "{schema}"')
        con.execute(f'create table "{schema}".deals (id int)')
        with pytest.raises(StoreError, match="did not load"):
            pg.load(demo_db, server.with_schema(schema))
        [(n,)] = con.execute(
            "select count(*) from information_schema.tables where table_schema = %s", (schema,)
        ).fetchall()
        assert n == 1, "a refused load leaves the schema as it was"
    finally:
        con.execute(f'drop schema "{schema}" cascade')
        con.close()


# -- without a server: locations and where the database is ------------------------------------


def test_location_never_shows_the_password():
    loc = Location("postgresql://ana:s3cr%40t@db.example:5433/crm?sslmode=require&schema=sales")
    assert loc.schema == "sales"
    # the password reaches libpq apart from the URL, so no libpq message can quote it
    assert loc.conninfo == "postgresql://ana@db.example:5433/crm?sslmode=require"
    assert loc.password == "s3cr@t"
    shown = f"{loc} {loc!r} {loc.redacted()}"
    assert "s3cr" not in shown
    assert str(loc) == "postgresql://ana@db.example:5433/crm?sslmode=require&schema=sales"
    assert loc.scrub("auth failed for s3cr@t and s3cr%40t") == "auth failed for *** and ***"
    assert Location("postgresql:///crm").schema == "public"
    assert "password" not in str(Location("postgresql://h/crm?password=x1&user=u"))
    with pytest.raises(StoreError):
        Location("mysql://h/crm")


def test_find_database_precedence(monkeypatch, tmp_path):
    url = "postgresql://ana:pw@127.0.0.1:5432/crm"
    monkeypatch.setenv("CRMKIT_DATABASE_URL", url)
    monkeypatch.setenv("CRMKIT_DATABASE", str(tmp_path / "a.duckdb"))
    assert find_database() == tmp_path / "a.duckdb"  # an explicit DuckDB file wins
    assert find_database(tmp_path / "b.duckdb") == tmp_path / "b.duckdb"
    monkeypatch.delenv("CRMKIT_DATABASE")
    assert find_database() == Location(url)
    # a redacted URL handed on (by a batch worker, say) gets the password back
    assert find_database("postgresql://ana@127.0.0.1:5432/crm?schema=x").url == url + "?schema=x"
    assert find_database("postgresql://bob@127.0.0.1:5432/crm").password is None
    monkeypatch.setenv("CRMKIT_DATABASE_URL", "crm.duckdb")
    with pytest.raises(StoreError, match="postgresql://"):
        find_database()


def test_kernel_gets_the_url_through_its_environment_only(monkeypatch, tmp_path):
    seen: dict[str, Any] = {}

    class FakeManager:
        def __init__(self, **kw: Any) -> None:
            pass

        async def start_kernel(self, **kw: Any) -> None:
            seen.update(kw)

    import crmkit.publish.kernel as kernel_module

    started: list[dict[str, str]] = []  # the process started ahead of the manager's

    def start_early(name: str, connection_file: Path, cwd: Path, env: dict[str, str], extra: Any) -> None:
        started.append(dict(env))

    monkeypatch.setattr(kernel_module, "_manager", lambda: FakeManager)
    monkeypatch.setattr(kernel_module, "start_early", start_early)
    monkeypatch.setattr(Kernel, "_send", lambda self, code, wait: None)
    monkeypatch.setenv("CRMKIT_DATABASE", "/somewhere/demo.duckdb")
    loc = Location("postgresql://ana:pw@127.0.0.1:5432/crm?schema=x")
    Kernel(loc, tmp_path).close()
    assert seen["env"]["CRMKIT_DATABASE_URL"] == loc.url
    assert "CRMKIT_DATABASE" not in seen["env"]
    monkeypatch.setenv("CRMKIT_DATABASE_URL", loc.url)
    Kernel(Path("/data/crm.duckdb"), tmp_path).close()
    assert seen["env"]["CRMKIT_DATABASE"] == "/data/crm.duckdb"
    assert "CRMKIT_DATABASE_URL" not in seen["env"]
    assert started[0]["CRMKIT_DATABASE_URL"] == loc.url and "CRMKIT_DATABASE" not in started[0]
    assert started[1]["CRMKIT_DATABASE"] == "/data/crm.duckdb" and "CRMKIT_DATABASE_URL" not in started[1]


def test_fingerprint_of_frames_matches_the_database(demo_db):
    import duckdb

    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        frames = {name: con.table(name).df() for name in TABLES}
        expected = of_duckdb(con)
    finally:
        con.close()
    before = {name: df.copy() for name, df in frames.items()}
    assert Store.from_frames(frames).fingerprint() == expected
    changed = dict(frames, deals=frames["deals"].assign(amount=frames["deals"]["amount"] + 1))
    assert Store.from_frames(changed).fingerprint() != expected
    for name, df in frames.items():
        assert df.equals(before[name]), f"{name} was mutated"


def test_the_refresh_cache_sees_one_teams_change(pg_db, demo_db, tmp_path):
    """PostgreSQL's stamp (storage ids and write counters) moves with a commit, and the
    hashes per team say whose inputs changed: the company's and that team's deals only."""
    teams = sorted(describe(Path(demo_db))[1])
    mine, other = teams[0], teams[-1]
    scopes = {"all", mine, other}
    before = cache.data_state(pg_db, tmp_path, scopes, {"UTC"})
    assert cache.data_state(pg_db, tmp_path, scopes, {"UTC"}) == before  # unchanged: reused
    con = pg.connect(pg_db)
    try:
        con.execute(f'set search_path to "{pg_db.schema}"')
        con.execute(
            "insert into deals (deal_id, owner_id, created_at, status, amount, closed_at) "
            "select 'cache-test', employee_id, TIMESTAMP '2025-06-02 09:00', 'won', 1000.0, "
            f"TIMESTAMP '2025-06-20 15:00' from employees where team_id = '{mine}' limit 1")
        con.execute("select pg_stat_force_next_flush()")
        after = cache.data_state(pg_db, tmp_path, scopes, {"UTC"})
    finally:
        con.execute("delete from deals where deal_id = 'cache-test'")
        con.close()
    assert after.stamp != before.stamp
    moved = {(team, table) for team in scopes for table in after.hashes[team]
             if after.hashes[team][table] != before.hashes[team][table]}
    assert moved == {("all", "deals"), (mine, "deals")}


def test_a_schema_without_snapshots_reads_as_no_snapshots(pg_db):
    """A schema loaded by another tool has no ``crmkit_snapshots`` table: it opens (on the
    read-only connection every dataset gets) with an empty snapshots frame of the right
    columns, and the pipeline movement reads as not yet recorded."""
    con = pg.connect(pg_db)
    con.execute(f'alter table "{pg_db.schema}".{pg.SNAPSHOTS_TABLE} rename to crmkit_snapshots_away')
    try:
        store = Store.of(pg.PostgresBackend(pg_db))
        try:
            frame = store.tables[SNAPSHOTS].collect().to_pandas()
        finally:
            store.close()
    finally:
        con.execute(f'alter table "{pg_db.schema}".crmkit_snapshots_away rename to {pg.SNAPSHOTS_TABLE}')
        con.close()
    assert frame.empty and list(frame.columns) == list(SNAPSHOT_COLUMNS)
