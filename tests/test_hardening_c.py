"""Issue 13, engineer C: parameters, back-ends, store and command line under attack.

Item 2 (the PostgreSQL password, however the URL is written), 3 (team ids from the data),
13 (bad input that used to pass the up-front check), 9 (JSON half: non-finite and
non-numeric metrics), 10 (fingerprint half: huge and non-finite floats), 16 (CLI half:
a truncated database, a binary or folder preset).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmkit.backends import postgres as pg
from crmkit.backends.duckdb import describe, write_database
from crmkit.backends.fingerprint import of_frames
from crmkit.backends.location import Location, find_database
from crmkit.errors import ParameterError, PeriodError, StoreError, TeamError
from crmkit.metrics import _frames as F
from crmkit.model import TABLES, empty_frame
from crmkit.parameters import check_own_parameter, resolve, resolve_team, usable_teams
from crmkit.periods import check_reportable, parse_as_of, parse_period
from crmkit.reports import open_report
from crmkit.store import Store

ROOT = Path(__file__).parent.parent
NOTEBOOKS = ROOT / "notebooks"

# -- helpers ----------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CRMKIT_DATABASE", "CRMKIT_DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "crmkit.cli", *args], cwd=cwd, capture_output=True, text=True,
        timeout=300, env={**base, **(env or {})},
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], status: int = 2) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == status, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("crmkit: error:"), lines
    return lines[0]


# -- item 2: the password never shows, however the URL is written ------------------------------

#: A password with every character that breaks URL parsing, in pieces long enough to spot.
PIECES = ("Zq9xK", "Kk7wQ", "Wv3qP", "Ty8pL", "Rm4zJ")
PASSWORD = f"{PIECES[0]}#{PIECES[1]}/{PIECES[2]}?{PIECES[3]}@{PIECES[4]}"

BAD_URLS = [
    f"postgresql://ana:{PASSWORD}@127.0.0.1:1/crm",  # unencoded # / ? @
    f"postgresql://ana:{PIECES[0]}#{PIECES[1]}/{PIECES[2]}?{PIECES[3]}@127.0.0.1:1/crm?schema=x",
    f"postgresql://ana:{PIECES[0]}%ZZ{PIECES[1]}@127.0.0.1:1/crm",  # a bad percent escape
    f"postgresql://ana:{PIECES[0]}{PIECES[1]}/crm",  # no host: the password reads as a port
    f"postgresql://ana@127.0.0.1:1/crm?password={PIECES[0]}%23{PIECES[1]}",
    f"postgres://ana:{PIECES[0]}:{PIECES[1]}@127.0.0.1:1/crm",
]


def _leaks(text: str) -> list[str]:
    return [piece for piece in PIECES if piece in text]


@pytest.mark.parametrize("url", BAD_URLS)
def test_password_never_shows_for_any_url(url):
    try:
        loc = Location(url)
    except StoreError as exc:  # refused: the message must not quote the URL
        assert not _leaks(str(exc)), str(exc)
        return
    shown = f"{loc} {loc!r} {loc.redacted()} {loc.conninfo} {loc.with_schema('s')!s}"
    assert not _leaks(shown), shown
    with pytest.raises(StoreError) as failed:
        pg.connect(loc)
    assert not _leaks(str(failed.value)), str(failed.value)
    assert not _leaks(loc.scrub(f"echo {url} {loc.password}"))


def test_unencoded_password_is_read_as_written():
    loc = Location(f"postgresql://ana:{PASSWORD}@db.example:5433/crm?sslmode=require&schema=s")
    assert loc.password == PASSWORD and loc.schema == "s"
    assert str(loc) == "postgresql://ana@db.example:5433/crm?sslmode=require&schema=s"
    assert loc.conninfo == "postgresql://ana@db.example:5433/crm?sslmode=require"
    # a redacted URL handed on (a batch worker) borrows the password back
    assert Location(str(loc)).borrow_password(loc).password == PASSWORD


@pytest.mark.parametrize(
    "args, env",
    [
        (["teams"], {"CRMKIT_DATABASE_URL": BAD_URLS[0]}),
        (["teams"], {"CRMKIT_DATABASE_URL": BAD_URLS[3]}),
        (["teams", "--database", f"postgresql:/ana:{PASSWORD}@h/crm"], {}),
        (["teams"], {"CRMKIT_DATABASE": f"postgresql://ana:{PASSWORD}@h/crm"}),
        (["teams"], {"CRMKIT_DATABASE": f"postgres:ana:{PIECES[0]}{PIECES[1]}@h/crm"}),
        (["demo", "--database", f"postgresql://ana:{PASSWORD}@h/crm"], {}),
    ],
)
def test_command_line_never_echoes_the_password(tmp_path, args, env):
    proc = _cli(*args, cwd=tmp_path, env=env)
    _one_line_error(proc)
    assert not _leaks(proc.stdout + proc.stderr), proc.stderr


@pytest.fixture
def pg_server(postgres_server) -> Location:
    return postgres_server


def test_unencoded_password_connects_and_a_wrong_one_never_shows(pg_server):
    role = f"crmkit_c_{secrets.token_hex(3)}"
    admin = pg.connect(pg_server)
    admin.execute(f"create role {role} login password '{PASSWORD}'")
    try:
        host = pg_server.redacted().split("://", 1)[1].split("@")[-1].split("?")[0]
        con = pg.connect(Location(f"postgresql://{role}:{PASSWORD}@{host}"))
        assert con.execute("select current_user").fetchone() == (role,)
        con.close()
        wrong = PASSWORD.replace(PIECES[4], PIECES[4][::-1])
        with pytest.raises(StoreError) as failed:
            pg.connect(Location(f"postgresql://{role}:{wrong}@{host}"))
        assert not _leaks(str(failed.value)) and PIECES[4][::-1] not in str(failed.value)
    finally:
        admin.execute(f"drop role {role}")
        admin.close()


# -- item 3: team ids from the data ----------------------------------------------------------

BAD_TEAMS = {"../../PWNED": "Evil", "/abs/path": "Absolute", "ALL": "Everyone", "o'neil": "Quote"}


@pytest.fixture(scope="module")
def bad_teams_db(tmp_path_factory) -> Path:
    """A database whose teams table holds ids that name paths or the reserved word (written
    without validation, as a CRM's own PostgreSQL views could hold them)."""
    path = tmp_path_factory.mktemp("teams") / "crm.duckdb"
    teams = pd.DataFrame({"team_id": [*BAD_TEAMS, "ok"], "name": [*BAD_TEAMS.values(), "Fine"]})
    frames = {name: empty_frame(name) for name in TABLES} | {"teams": teams}
    write_database(path, frames, settings={"timezone": "UTC"}, validate_first=False)
    return path


@pytest.mark.parametrize("selector", ["Evil", "absolute", "Everyone", "QUOTE", "../../PWNED"])
def test_team_ids_from_the_data_are_checked_like_typed_ones(bad_teams_db, selector):
    _, teams = describe(bad_teams_db)
    with pytest.raises(TeamError) as refused:
        resolve(period="2025-06", team=selector, compare_to="previous", as_of="2025-07-01",
                timezone=None, settings={}, teams=teams)
    message = str(refused.value)
    assert "\n" not in message
    if selector != "../../PWNED":  # typed, it is refused before any lookup
        assert "teams table, row team_id=" in message and "import it again" in message


def test_the_reserved_word_and_path_like_ids_split_from_usable_ones(bad_teams_db):
    _, teams = describe(bad_teams_db)
    good, refused = usable_teams(teams)
    assert good == {"ok": "Fine"} and set(refused) == set(BAD_TEAMS)
    assert resolve_team("ok", teams) == "ok" and resolve_team("all", teams) == "all"
    assert "reserved" in refused["ALL"]


def test_no_output_folder_outside_the_output_root(tmp_path, bad_teams_db):
    from crmkit import parameters

    period = parse_period("2025-06")
    for team in [*BAD_TEAMS, ".", ".tmp-1-x", " padded"]:
        with pytest.raises(TeamError):
            parameters.output_dir(tmp_path, period, team)
    assert parameters.output_dir(tmp_path, period, "ok") == tmp_path / "2025-06" / "ok"
    assert parameters.output_dir(tmp_path, period, "all") == tmp_path / "2025-06" / "all"


def test_teams_command_lists_usable_ids_and_warns_about_the_others(tmp_path, bad_teams_db):
    proc = _cli("teams", "--database", str(bad_teams_db), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.split() == ["ok"], proc.stderr
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == len(BAD_TEAMS) and all("crmkit: warning:" in w for w in warnings)


def test_run_with_a_bad_team_id_writes_nothing(tmp_path, bad_teams_db):
    out = tmp_path / "out"
    proc = _cli("run", "sales", "--period", "2025-06", "--as-of", "2025-07-01", "--team", "Evil",
                "--database", str(bad_teams_db), "--output", str(out), "--notebooks", str(NOTEBOOKS),
                cwd=tmp_path)
    assert "team_id='../../PWNED'" in _one_line_error(proc)
    assert not out.exists() and not (tmp_path / "PWNED").exists()


# -- item 13: bad input refused up front ---------------------------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--as-of", "0001-01-01"], "as_of 0001-01-01"),
        (["--as-of", "9999-12-31"], "as_of 9999-12-31"),
        (["--period", "last-month", "--as-of", "1900-01-15"], "1899-12"),
        (["--period", "2999-12", "--as-of", "2025-07-01"], "2999-12"),
        (["--period", "2025-08", "--as-of", "2025-07-01"], "starts after the as-of day"),
        (["--period", "2026-11", "--as-of", "2026-12-01"], "starts after the data's last day 2025-06-30"),
    ],
)
def test_bad_dates_stop_before_the_notebook(tmp_path, demo_db, args, needle):
    out = tmp_path / "out"
    proc = _cli("run", "sales", *args, "--database", str(demo_db), "--output", str(out),
                "--notebooks", str(NOTEBOOKS), cwd=tmp_path)
    assert needle in _one_line_error(proc)
    assert not out.exists() or not any(out.rglob("*.ipynb"))


def test_as_of_and_periods_stay_in_the_reportable_range():
    for bad in ("0001-01-01", "9999-12-31", date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(PeriodError):
            parse_as_of(bad)
    with pytest.raises(PeriodError, match="1899-12"):
        parse_period("last-month", as_of=date(1900, 1, 15))
    with pytest.raises(PeriodError, match="out of range"):
        check_reportable(parse_period("2999-12"), date(2999, 12, 31))
    with pytest.raises(PeriodError, match="starts after"):
        check_reportable(parse_period("2025-08"), date(2025, 7, 31))
    check_reportable(parse_period("2025-07"), date(2025, 7, 1))  # the current month is fine
    check_reportable(parse_period("2000-01-01..2030-12-31"), date(2025, 7, 1))
    with pytest.raises(PeriodError, match="data's last day"):
        check_reportable(parse_period("2025-08"), date(2025, 9, 1), date(2025, 6, 30))
    check_reportable(parse_period("2025-07"), date(2025, 9, 1), date(2025, 6, 30))  # a day of slack


def test_describe_gives_the_data_last_day(demo_db, tmp_path):
    settings, _ = describe(demo_db)
    assert settings["data_last_day"] == "2025-06-30"
    with pytest.raises(PeriodError, match="data's last day"):
        resolve(period="2025-09", team="all", compare_to="previous", as_of="2025-10-01",
                timezone=None, settings=settings, teams={})
    empty = tmp_path / "empty.duckdb"
    frames = {name: empty_frame(name) for name in TABLES}
    write_database(empty, frames, settings={"data_last_day": "1999-01-01"}, validate_first=False)
    assert "data_last_day" not in describe(empty)[0]


def test_describe_is_read_again_when_the_file_changes(demo_db, tmp_path, monkeypatch):
    """A worker checks page after page against one database: its settings and teams are
    read once per state of the file, and again after any write (a renamed team shows)."""
    import shutil

    import duckdb

    from crmkit.backends import duckdb_file, remembered

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    monkeypatch.setattr(remembered, "SETTLED_SECONDS", 0.0)  # the copy is new
    monkeypatch.setattr(duckdb_file, "_DESCRIBED", {})
    reads = []
    real = duckdb_file._describe
    monkeypatch.setattr(duckdb_file, "_describe", lambda path: reads.append(path) or real(path))
    settings, teams = describe(db)
    teams["smb"] = "changed by the caller"
    assert describe(db) == (settings, {**teams, "smb": "SMB"}) and len(reads) == 1
    con = duckdb.connect(str(db))
    con.execute("UPDATE teams SET name = 'Small business' WHERE team_id = 'smb'")
    con.close()
    assert describe(db)[1]["smb"] == "Small business" and len(reads) == 2


@pytest.mark.parametrize("value", [-5, 1e308, 10**40, float("nan"), float("inf"), 60.5, "many", True])
def test_own_numeric_parameters_are_checked_against_their_default(value):
    with pytest.raises(ParameterError) as refused:
        check_own_parameter("activity", "active_days", value, "90")
    assert "activity: parameter active_days=" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_good_own_parameters_pass():
    assert check_own_parameter("activity", "active_days", 60, "90") == 60
    assert check_own_parameter("activity", "active_days", 60.0, "90") == 60
    assert check_own_parameter("x", "threshold", -0.5, "-1.0") == -0.5
    assert check_own_parameter("x", "label", "text", '"a"') == "text"


# -- item 9 (JSON half): non-finite and non-numeric metrics --------------------------------------


def test_custom_report_metrics_publish_valid_json(demo_db):
    store = Store.open(demo_db)
    try:
        ctx = open_report("custom", period="2025-06", as_of="2025-07-01", store=store)
        data = ctx.compute(lambda p: {
            "inf": float("inf"), "nan": float("nan"), "text": "12", "list": [1, 2],
            "np_inf": np.float64("-inf"), "whole": np.int64(3), "none": None,
        })
        data.breakdowns = {"t": pd.DataFrame({"x": [1.0, float("inf"), float("-inf"), np.nan]})}
        payload = json.loads(json.dumps(data.to_json(), allow_nan=False))
    finally:
        store.close()
    assert payload["metrics"] == {"inf": None, "nan": None, "text": None, "list": None,
                                  "np_inf": None, "whole": 3, "none": None}
    assert payload["breakdowns"]["t"] == [{"x": 1.0}, {"x": None}, {"x": None}, {"x": None}]
    notes = " ".join(payload["notes"])
    for name in ("inf", "text", "list", "np_inf"):
        assert f"Metric {name} is" in notes
    assert "Metric nan" not in notes and "Metric none" not in notes  # missing is not a problem
    assert payload["changes"]["text"]["change"] is None


def test_clean_turns_infinities_into_none():
    assert F.clean(float("inf")) is None and F.clean(np.float64("-inf")) is None
    assert F.clean(np.float64(1.5)) == 1.5 and F.clean(np.array([1, 2])) is not None


# -- item 10 (fingerprint half): any float the model accepts -------------------------------------

HUGE = [1e34, -2.5e300, 1.7976931348623157e308, float("inf"), float("-inf"), float("nan")]


def _deals(amounts: list[float]) -> pd.DataFrame:
    deals = empty_frame("deals").reindex(range(len(amounts)))
    return deals.assign(deal_id=[f"d{i}" for i in range(len(amounts))], owner_id="e1",
                        created_at=pd.Timestamp("2025-06-02"), status="open", amount=amounts)


def test_fingerprint_is_total_for_any_float(tmp_path):
    prints = set()
    for amount in HUGE:
        fp = of_frames({"deals": _deals([12.5, amount])})
        assert len(fp) == 16
        prints.add(fp)
    assert len(prints) == len(HUGE)  # and still tells the values apart
    path = tmp_path / "huge.duckdb"
    frames = {name: empty_frame(name) for name in TABLES} | {"deals": _deals([12.5, *HUGE])}
    write_database(path, frames, settings={}, validate_first=False)
    store = Store.open(path)
    try:
        assert store.fingerprint() == of_frames({"deals": _deals([12.5, *HUGE])})
    finally:
        store.close()


def test_fingerprint_of_huge_floats_is_the_same_on_postgres(pg_server, tmp_path):
    path = tmp_path / "huge.duckdb"
    frames = {name: empty_frame(name) for name in TABLES} | {"deals": _deals([12.5, *HUGE])}
    write_database(path, frames, settings={}, validate_first=False)
    location = pg_server.with_schema(f"crmkit_c_{secrets.token_hex(3)}")
    pg.load(path, location)
    try:
        con = pg.connect(location)
        try:
            assert pg.of_postgres(con, location.schema) == of_frames({"deals": frames["deals"]})
        finally:
            con.close()
    finally:
        admin = pg.connect(pg_server)
        admin.execute(f'drop schema "{location.schema}" cascade')
        admin.close()


# -- item 16 (CLI half): damaged databases and presets that are no text ---------------------------


@pytest.fixture(scope="module")
def truncated_db(demo_db, tmp_path_factory) -> Path:
    """The demo database cut short where its catalogue still opens but the data does not."""
    path = tmp_path_factory.mktemp("truncated") / "cut.duckdb"
    shutil.copy(demo_db, path)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 5)
    return path


def test_teams_on_a_truncated_database_is_one_line(tmp_path, truncated_db):
    line = _one_line_error(_cli("teams", "--database", str(truncated_db), cwd=tmp_path))
    assert "damaged or truncated" in line


def test_run_on_a_truncated_database_does_not_say_no_teams_table(tmp_path, truncated_db):
    out = tmp_path / "out"
    proc = _cli("run", "sales", "--period", "2025-06", "--as-of", "2025-07-01", "--database",
                str(truncated_db), "--output", str(out), "--notebooks", str(NOTEBOOKS), cwd=tmp_path)
    line = _one_line_error(proc)
    assert "damaged or truncated" in line and "no teams table" not in line
    with pytest.raises(StoreError, match="damaged or truncated"):
        Store.open(truncated_db).teams()


def test_a_folder_as_the_database_is_one_line(tmp_path):
    assert "is a folder" in _one_line_error(_cli("teams", "--database", str(tmp_path), cwd=tmp_path))


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfe\x00binary", "folder"])
def test_binary_or_folder_preset_is_one_line(tmp_path, demo_db, content):
    preset = tmp_path / "preset.yaml"
    if content == "folder":
        preset.mkdir()
    else:
        preset.write_bytes(content)
    proc = _cli("run-all", str(preset), "--database", str(demo_db), "--output", str(tmp_path / "o"),
                "--no-progress", cwd=tmp_path)
    assert "preset.yaml" in _one_line_error(proc)


def test_find_database_refuses_url_like_files_without_echo(monkeypatch):
    monkeypatch.setenv("CRMKIT_DATABASE", f"postgresql://ana:{PASSWORD}@h/crm")
    with pytest.raises(StoreError) as refused:
        find_database()
    assert not _leaks(str(refused.value)) and "CRMKIT_DATABASE_URL" in str(refused.value)
