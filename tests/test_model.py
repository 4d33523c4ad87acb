"""Tests for crmkit.model (the canonical contracts, validation) and the DuckDB database writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from crmkit import model
from crmkit.backends import duckdb as duckdb_backend
from crmkit.backends.duckdb import DatabaseWriter, read_notes, read_settings, write_database
from crmkit.model import (
    TABLES,
    DataNote,
    DataValidationError,
    validate,
)

SETTINGS = {"timezone": "Europe/Berlin", "currency": "EUR", "source": "test"}


def tiny() -> dict[str, pd.DataFrame]:
    """A small, valid canonical data set (strings as a CSV export would give them)."""
    return {
        "teams": pd.DataFrame({"team_id": ["smb", "ent"], "name": ["SMB", "Enterprise"]}),
        "employees": pd.DataFrame(
            {
                "employee_id": ["e-1", "e-2", "e-3"],
                "name": ["Ann Lee", "Bo Kim", "Cy Fox"],
                "team_id": ["smb", "smb", "ent"],
                "role": ["sales", "support", "manager"],
                "hired_at": ["2023-01-02", "2023-02-01", None],
            }
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": ["c-1", "c-2"],
                "name": ["Acme", "Globex"],
                "created_at": ["2024-01-05 10:00", "2024-02-01T09:30:00+01:00"],
                "segment": ["smb", "enterprise"],
                "owner_id": ["e-1", "e-1"],
            }
        ),
        "campaigns": pd.DataFrame(
            {
                "campaign_id": ["m-1"],
                "name": ["Spring mail"],
                "channel": ["email"],
                "team_id": ["smb"],
                "budget": [1000.0],
            }
        ),
        "campaign_costs": pd.DataFrame(
            {
                "campaign_id": ["m-1", "m-1"],
                "date": ["2024-03-01", "2024-03-02"],
                "cost": [10.0, 12.5],
            }
        ),
        "leads": pd.DataFrame(
            {
                "lead_id": ["l-1", "l-2"],
                "created_at": ["2024-03-01 11:00", "2024-03-02 12:00"],
                "campaign_id": ["m-1", None],
                "channel": [None, "web"],
                "status": ["converted", "new"],
                "converted_at": ["2024-03-05 10:00", None],
                "customer_id": ["c-1", None],
            }
        ),
        "deals": pd.DataFrame(
            {
                "deal_id": ["d-1", "d-2", "d-3"],
                "owner_id": ["e-1", "e-1", "e-1"],
                "created_at": ["2024-03-05 10:00", "2024-03-06 10:00", "2024-04-01 10:00"],
                "status": ["won", "lost", "open"],
                "customer_id": ["c-1", "c-2", "c-2"],
                "amount": [1200.0, 300.0, 5000.0],
                "probability": [0.9, 0.5, 0.25],
                "closed_at": ["2024-03-20 15:00", "2024-03-30 10:00", None],
                "lost_reason": [None, "price", None],
            }
        ),
        "activities": pd.DataFrame(
            {
                "activity_id": ["a-1", "a-2"],
                "occurred_at": ["2024-03-05 10:00", "2024-03-06 11:00"],
                "type": ["call", "site_visit"],
                "customer_id": ["c-1", "c-2"],
                "employee_id": ["e-1", None],
                "direction": ["outbound", "inbound"],
                "duration_s": [120, None],
            }
        ),
        "tickets": pd.DataFrame(
            {
                "ticket_id": ["t-1", "t-2"],
                "opened_at": ["2024-03-05 10:00", "2024-03-06 10:00"],
                "customer_id": ["c-1", "c-2"],
                "employee_id": ["e-2", "e-2"],
                "first_response_at": ["2024-03-05 11:00", None],
                "resolved_at": ["2024-03-06 11:00", None],
                "status": ["resolved", "open"],
            }
        ),
        "tasks": pd.DataFrame(
            {
                "task_id": ["k-1"],
                "employee_id": ["e-1"],
                "created_at": ["2024-03-05 10:00"],
                "due_at": ["2024-03-08 17:00"],
            }
        ),
        "survey_responses": pd.DataFrame(
            {
                "response_id": ["r-1", "r-2", "r-3"],
                "kind": ["nps", "csat", "ces"],
                "score": [9, 5, 2],
                "responded_at": ["2024-03-07 10:00"] * 3,
                "customer_id": ["c-1", "c-1", "c-2"],
                "ticket_id": [None, "t-1", "t-1"],
                "comment": [None, "Tom & Jerry <b>rock</b>", None],
            }
        ),
        "quotas": pd.DataFrame(
            {
                "employee_id": ["e-1", "e-1"],
                "period_start": ["2024-01-01", "2024-04-01"],
                "period_end": ["2024-04-01", "2024-07-01"],
                "target_amount": [10000.0, 12000.0],
            }
        ),
    }


def change(table: str, **values: object) -> Callable[[dict[str, pd.DataFrame]], None]:
    """A mutation that sets column values of the first row of ``table``."""

    def apply(frames: dict[str, pd.DataFrame]) -> None:
        df = frames[table].copy()
        for col, value in values.items():
            df[col] = df[col].astype(object)
            df.loc[0, col] = value
        frames[table] = df

    return apply


def test_tables_are_the_canonical_twelve_in_dependency_order() -> None:
    assert list(TABLES) == [
        "teams",
        "employees",
        "customers",
        "campaigns",
        "campaign_costs",
        "leads",
        "deals",
        "activities",
        "tickets",
        "tasks",
        "survey_responses",
        "quotas",
    ]
    seen: set[str] = set()
    for name, spec in TABLES.items():
        assert set(spec.foreign_keys.values()) <= seen | {name}, name
        assert set(spec.key) <= set(spec.required)
        seen.add(name)


def test_valid_set_passes_with_coerced_types() -> None:
    frames, notes = validate(tiny())
    assert notes == []
    assert list(frames) == list(TABLES)
    deals = frames["deals"]
    assert list(deals.columns) == TABLES["deals"].column_names
    assert str(deals["created_at"].dtype) == "datetime64[us]"
    assert deals["amount"].dtype == "float64"
    # an offset is converted to naive UTC
    assert frames["customers"]["created_at"][1] == pd.Timestamp("2024-02-01 08:30")
    assert str(frames["activities"]["duration_s"].dtype) == "Int64"
    # optional columns that were missing are added as nulls
    assert frames["tasks"]["completed_at"].isna().all()


def test_validate_does_not_mutate_inputs() -> None:
    frames = tiny()
    before = {k: v.copy(deep=True) for k, v in frames.items()}
    validate(frames)
    for name, df in frames.items():
        pd.testing.assert_frame_equal(df, before[name])


@pytest.mark.parametrize(
    ("mutate", "table", "column", "count", "in_message"),
    [
        (change("survey_responses", score=11), "survey_responses", "score", 1, "r-1"),
        (change("survey_responses", score=9.5), "survey_responses", "score", 1, "r-1"),
        (
            lambda f: f.__setitem__(
                "survey_responses", f["survey_responses"].assign(score=[9, 0, 0])
            ),
            "survey_responses",
            "score",
            1,
            "r-2",
        ),
        (
            lambda f: f.__setitem__("deals", f["deals"].assign(deal_id=["d-1", "d-1", "d-3"])),
            "deals",
            "deal_id",
            2,
            "d-1",
        ),
        (
            lambda f: f.__setitem__(
                "quotas", f["quotas"].assign(period_start=["2024-01-01", "2024-01-01"])
            ),
            "quotas",
            "employee_id, period_start",
            2,
            "e-1",
        ),
        (
            lambda f: f.__setitem__("deals", f["deals"].drop(columns=["owner_id"])),
            "deals",
            "owner_id",
            3,
            "owner_id",
        ),
        (change("deals", closed_at=None), "deals", "closed_at", 1, "d-1"),
        (change("deals", status="open"), "deals", "closed_at", 1, "d-1"),
        (change("deals", amount=-5.0), "deals", "amount", 1, "d-1"),
        (change("deals", probability=1.5), "deals", "probability", 1, "d-1"),
        (change("deals", status="Won"), "deals", "status", 1, "Won"),
        (change("deals", owner_id=None), "deals", "owner_id", 1, "d-1"),
        (change("deals", created_at="not a date"), "deals", "created_at", 1, "not a date"),
        (change("deals", amount="lots"), "deals", "amount", 1, "d-1"),
        (
            change("tickets", first_response_at="2024-03-05 09:00"),
            "tickets",
            "first_response_at",
            1,
            "t-1",
        ),
        (change("tickets", resolved_at="2024-03-05 10:30"), "tickets", "resolved_at", 1, "t-1"),
        (change("campaign_costs", cost=-1.0), "campaign_costs", "cost", 1, "m-1"),
        (change("activities", duration_s=-3), "activities", "duration_s", 1, "a-1"),
        (change("activities", type="visit"), "activities", "type", 1, "visit"),
        (change("quotas", period_end="2024-01-01"), "quotas", "period_end", 1, "e-1"),
    ],
)
def test_hard_rules_raise_with_table_column_count_examples(
    mutate: Callable[[dict[str, pd.DataFrame]], None],
    table: str,
    column: str,
    count: int,
    in_message: str,
) -> None:
    frames = tiny()
    mutate(frames)
    with pytest.raises(DataValidationError) as info:
        validate(frames)
    err = info.value
    assert (err.table, err.column, err.count) == (table, column, count)
    msg = str(err)
    assert msg.startswith(f"{table}.{column.split(',')[0]}")
    assert str(count) in msg
    assert in_message in msg
    if err.rule != "required column is present":
        assert err.examples


def test_error_message_shape() -> None:
    frames = tiny()
    frames["deals"] = frames["deals"].assign(closed_at=[None, None, None])
    with pytest.raises(DataValidationError) as info:
        validate(frames)
    assert str(info.value) == (
        'deals.closed_at: 2 rows break "won/lost deal has closed_at" (e.g. deal_id d-1 '
        "(status won), d-2 (status lost)). Fix the source rows or the mapping."
    )
    assert info.value.examples[0]["deal_id"] == "d-1"
    assert info.value.rule == "won/lost deal has closed_at"


def test_deal_closed_before_created_is_a_note_not_an_error() -> None:
    # issue 6: "a deal won before it was created" loads and is listed as a data note
    frames = tiny()
    frames["deals"] = frames["deals"].assign(closed_at=["2024-03-01", "2024-03-30 10:00", None])
    out, notes = validate(frames)
    assert len(out["deals"]) == 3
    (note,) = [n for n in notes if (n.table, n.column) == ("deals", "closed_at")]
    assert note.rule == "closed_at before created_at" and note.count == 1
    assert note.examples == [
        {"deal_id": "d-1", "created_at": "2024-03-05 10:00:00", "closed_at": "2024-03-01"}
    ]


def test_blank_channels_are_notes() -> None:
    # a campaign without channel loads (the column stays required: it must be present)
    frames = tiny()
    change("campaigns", channel=None)(frames)
    # a lead with neither campaign nor channel: l-2 (l-1 has campaign m-1)
    frames["leads"] = frames["leads"].assign(channel=[None, "  "])
    out, notes = validate(frames)
    by_key = {(n.table, n.column): n for n in notes}
    assert by_key[("campaigns", "channel")].count == 1
    lead_note = by_key[("leads", "channel")]
    assert lead_note.count == 1 and lead_note.examples == [{"lead_id": "l-2"}]
    assert out["campaigns"]["channel"].isna().all()
    with pytest.raises(DataValidationError, match="campaigns.channel: required column is missing"):
        validate({**tiny(), "campaigns": tiny()["campaigns"].drop(columns=["channel"])})


def test_validate_all_collects_the_first_error_of_each_table() -> None:
    frames = tiny()
    change("deals", amount=-1.0)(frames)
    change("customers", name=None)(frames)
    out, notes, errors = model.validate_all(frames)
    assert [(e.table, e.column) for e in errors] == [("customers", "name"), ("deals", "amount")]
    assert "deals" not in out and "teams" in out


def test_nps_and_csat_ranges_named_in_message() -> None:
    frames = tiny()
    frames["survey_responses"] = frames["survey_responses"].assign(score=[11, 0, 3])
    with pytest.raises(DataValidationError, match=r"survey_responses\.score: 1 row .*nps") as e:
        validate(frames)
    assert e.value.examples == [{"response_id": "r-1", "kind": "nps", "score": 11}]
    frames["survey_responses"] = frames["survey_responses"].assign(score=[10, 0, 3])
    with pytest.raises(DataValidationError, match=r"csat score is 1\.\.5.*r-2"):
        validate(frames)


def test_missing_table_is_hard() -> None:
    frames = tiny()
    del frames["quotas"]
    with pytest.raises(DataValidationError, match="quotas: table is missing") as info:
        validate(frames)
    assert info.value.table == "quotas" and info.value.column is None


def test_first_error_in_table_order() -> None:
    frames = tiny()
    change("deals", amount=-1.0)(frames)
    change("customers", name=None)(frames)
    with pytest.raises(DataValidationError) as info:
        validate(frames)
    assert (info.value.table, info.value.column) == ("customers", "name")


def test_soft_rules_yield_notes() -> None:
    frames = tiny()
    change("deals", customer_id="c-404")(frames)
    change("tickets", employee_id="e-404")(frames)
    frames["tasks"] = frames["tasks"].assign(completed_at="2024-03-01 10:00")
    change("leads", status="working")(frames)
    change("campaigns", channel="  ")(frames)
    frames["deals"] = frames["deals"].assign(probability=[0.9, 0.5, None])
    out, notes = validate(frames)
    by_key = {(n.table, n.column): n for n in notes}
    fk = by_key[("deals", "customer_id")]
    assert fk.count == 1 and fk.severity == "warning"
    assert fk.examples == [{"deal_id": "d-1", "customer_id": "c-404"}]
    assert "customers" in fk.rule
    assert ("tickets", "employee_id") in by_key
    assert by_key[("tasks", "completed_at")].count == 1
    assert ("leads", "status") in by_key
    assert ("campaigns", "channel") in by_key
    assert by_key[("deals", "probability")].examples == [{"deal_id": "d-3"}]
    # dangling rows are kept, not dropped
    assert len(out["deals"]) == 3
    assert isinstance(notes[0], DataNote)


@pytest.mark.parametrize(
    "table, later, earlier",
    [
        ("campaigns", "ended_at", "started_at"),
        ("employees", "left_at", "hired_at"),
        ("leads", "converted_at", "created_at"),
        ("deals", "closed_at", "created_at"),
        ("tickets", "sla_due_at", "opened_at"),
        ("tickets", "resolved_at", "opened_at"),
        ("tasks", "completed_at", "created_at"),
        ("tasks", "due_at", "created_at"),
    ],
)
def test_timestamps_in_the_wrong_order_are_notes(table: str, later: str, earlier: str) -> None:
    frames = tiny()
    df = frames[table]
    if table == "campaigns":
        df["started_at"], df["ended_at"] = "2024-03-01", "2024-03-31"
    if (table, later) == ("tickets", "resolved_at"):
        df["first_response_at"] = None  # a response after the resolution is a hard error
    # the rows whose `later` is set (all rows for an optional column the frame lacks)
    wrong = df[earlier].notna() & (df[later].notna() if later in df else True)
    day_before = pd.to_datetime(df[earlier]) - pd.Timedelta(days=1)
    df[later] = df.get(later, pd.Series(None, index=df.index)).astype(object)
    df.loc[wrong, later] = day_before[wrong].dt.strftime("%Y-%m-%d %H:%M:%S")
    out, notes = validate(frames)
    assert len(out[table]) == len(df), "rows in the wrong order are kept"
    (note,) = [n for n in notes if (n.table, n.column) == (table, later)]
    assert note.rule == f"{later} before {earlier}"
    assert note.count == int(wrong.sum()) > 0
    assert set(note.examples[0]) >= {earlier, later}


def _table_names(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY table_name"
            ).fetchall()
        ]


def test_write_database_round_trip(tmp_path: Path) -> None:
    frames = tiny()
    change("deals", customer_id="c-404")(frames)
    path = write_database(
        tmp_path / "crm.duckdb",
        frames,
        settings=SETTINGS,
        notes=[DataNote("deals", None, "from the mapping", 2)],
    )
    assert _table_names(path) == sorted(TABLES)
    with duckdb.connect(str(path), read_only=True) as con:
        for name, spec in TABLES.items():
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema='main' "
                    "AND table_name = ? ORDER BY ordinal_position",
                    [name],
                ).fetchall()
            ]
            assert cols == spec.column_names
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'quotas'"
            ).fetchall()
        )
        assert types["period_start"] == "DATE" and types["target_amount"] == "DOUBLE"
        assert con.execute("SELECT count(*) FROM deals").fetchone() == (3,)
        assert con.execute(
            "SELECT comment FROM survey_responses WHERE response_id='r-2'"
        ).fetchone() == ("Tom & Jerry <b>rock</b>",)
        settings = read_settings(con)
        notes = read_notes(con)
        schemas = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT table_schema FROM information_schema.tables"
            ).fetchall()
        }
    assert schemas == {"main", "crmkit"}
    assert settings["timezone"] == "Europe/Berlin" and settings["currency"] == "EUR"
    assert settings["fiscal_year_start_month"] == "1" and "built_at" in settings
    assert {(n.table, n.column) for n in notes} == {("deals", None), ("deals", "customer_id")}
    fk = next(n for n in notes if n.column == "customer_id")
    assert fk.examples == [{"deal_id": "d-1", "customer_id": "c-404"}]


def test_write_database_is_atomic(tmp_path: Path) -> None:
    path = write_database(tmp_path / "crm.duckdb", tiny(), settings=SETTINGS)
    before = path.read_bytes()
    bad = tiny()
    change("survey_responses", score=11)(bad)
    with pytest.raises(DataValidationError):
        write_database(path, bad, settings=SETTINGS)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.duckdb"]


def test_write_database_failure_after_validation_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_database(tmp_path / "crm.duckdb", tiny(), settings=SETTINGS)
    before = path.read_bytes()

    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(duckdb_backend, "_write_meta", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_database(path, tiny(), settings=SETTINGS)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.duckdb"]


def test_bad_settings_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        write_database(tmp_path / "x.duckdb", tiny(), settings={"timezone": "Mars/Base"})
    assert list(tmp_path.iterdir()) == []


def test_database_writer_chunks_keys_and_foreign_keys(tmp_path: Path) -> None:
    frames = tiny()
    path = tmp_path / "crm.duckdb"
    with DatabaseWriter(path, SETTINGS) as w:
        for name, df in frames.items():
            if name == "deals":
                w.append(name, df.iloc[:2])
                w.append(name, df.iloc[2:].assign(customer_id="c-999"))
            else:
                w.append(name, df)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM deals").fetchone() == (3,)
        notes = read_notes(con)
        assert read_settings(con)["source"] == "test"
    fk = [n for n in notes if (n.table, n.column) == ("deals", "customer_id")]
    assert (
        fk and fk[0].count == 1 and fk[0].examples == [{"deal_id": "d-3", "customer_id": "c-999"}]
    )
    assert _table_names(path) == sorted(TABLES)


def test_database_writer_duplicate_key_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "crm.duckdb"
    path.write_bytes(b"old")
    with (
        pytest.raises(DataValidationError, match=r"deals\.deal_id: 2 rows .*d-1") as info,
        DatabaseWriter(path, SETTINGS) as w,
    ):
        w.append("teams", tiny()["teams"])
        w.append("deals", tiny()["deals"])
        w.append("deals", tiny()["deals"].iloc[:1])
    assert info.value.count == 2
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["crm.duckdb"]


def test_database_writer_chunk_validation_and_exception_cleanup(tmp_path: Path) -> None:
    path = tmp_path / "crm.duckdb"
    bad = tiny()["deals"].assign(probability=[2.0, 0.1, 0.1])
    with (
        pytest.raises(DataValidationError, match="probability"),
        DatabaseWriter(path, SETTINGS) as w,
    ):
        w.append("deals", bad)
    with pytest.raises(KeyError), DatabaseWriter(path, SETTINGS) as w:
        w.append("orders", bad)
    assert list(tmp_path.iterdir()) == []


def test_empty_frame_has_canonical_columns() -> None:
    frames = {name: model.empty_frame(name) for name in TABLES}
    out, notes = validate(frames)
    assert notes == []
    assert all(len(df) == 0 for df in out.values())


HOSTILE_CURRENCY = "<img src=x onerror=alert(1)>"


def test_settings_are_checked_when_written(tmp_path: Path) -> None:
    with pytest.raises(model.SettingError, match="setting currency="):
        write_database(tmp_path / "crm.duckdb", tiny(), settings={**SETTINGS, "currency": HOSTILE_CURRENCY})
    assert not (tmp_path / "crm.duckdb").exists()


def test_settings_are_checked_when_read(tmp_path: Path) -> None:
    """A settings table edited by hand (or on PostgreSQL) is as untrusted as a mapping."""
    from crmkit.store import Store

    path = write_database(tmp_path / "crm.duckdb", tiny(), settings=SETTINGS)
    con = duckdb.connect(str(path))
    con.execute("UPDATE crmkit.settings SET value = ? WHERE key = 'currency'", [HOSTILE_CURRENCY])
    con.close()
    with pytest.raises(model.SettingError, match="not an ISO 4217 code"):
        Store.open(path)
