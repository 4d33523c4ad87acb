"""Imports of CRM exports (crmkit.sources.imports): mappings, broken files, the Olist data set
(``examples/olist``).

The base fixture ``tests/fixtures/exports/pipeline`` is a small export in the shape of
Maven Analytics' "CRM Sales Opportunities" (three CSV files and ``pipeline.yaml``).  Its
right answers, worked out by hand:

- teams: one per manager: "Dustin Brinkmann", "Melvin Marxen" (2); employees: 3.
- deals P-1..P-5: Won, Lost, Engaging, Won, Prospecting -> won, lost, open, won, open.
- dates are day-first (20/01/2025 has a first part > 12) and local to Europe/Berlin (CET,
  UTC+1 in January-March): engage 03/01/2025 -> 2025-01-02 23:00 UTC.
- amount: P-1 1200, P-2 0, P-3 none, P-4 "1,550.50" = 1550.5, P-5 none; revenue of the won
  deals = 1200 + 1550.5 = 2750.5.
- soft notes: 2 open deals without probability (P-3, P-5), 2 deals without amount (P-3,
  P-5).

Every broken variant must fail with one line that names file, line, column and value (or
be imported with a data note), and leave the previous database byte-identical.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from exports import PIPE, PIPELINE, edit, q

from crmkit.backends.duckdb import read_notes
from crmkit.cli import main as cli_main
from crmkit.publish.kernel import Kernel
from crmkit.publish.runner import run_report
from crmkit.sources.imports import ImportFailed, import_exports
from crmkit.sources.imports.mapping import _value_keys, load_mapping
from crmkit.sources.imports.staging import _map_values
from crmkit.sources.imports.values import Cells, parse_numbers, parse_timestamps

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
CANONICAL = FIXTURES / "canonical"
ROOT = Path(__file__).resolve().parents[1]


#: The Olist marketing funnel export, kept in the repository with its licence and source.
OLIST = ROOT / "examples" / "olist"


def run(export: Path, db: Path, mapping: str | None = "pipeline.yaml"):
    return import_exports(export, export / mapping if mapping else None, db)


# --------------------------------------------------------------------------------------
# A mapping, hand-checked
# --------------------------------------------------------------------------------------


def test_mapping_import_hand_checked(db: Path) -> None:
    assert q(db, "SELECT team_id, name FROM teams ORDER BY 1") == [
        ("Dustin Brinkmann", "Dustin Brinkmann's team"),
        ("Melvin Marxen", "Melvin Marxen's team"),
    ]
    assert q(db, "SELECT employee_id, team_id, role FROM employees ORDER BY 1") == [
        ("Anna Berg", "Dustin Brinkmann", "sales"),
        ("Boris Kern", "Dustin Brinkmann", "sales"),
        ("Carla Diaz", "Melvin Marxen", "sales"),
    ]
    deals = q(db, "SELECT deal_id, status, created_at, closed_at, amount, customer_id FROM deals ORDER BY 1")
    assert [(d[0], d[1]) for d in deals] == [
        ("P-1", "won"),
        ("P-2", "lost"),
        ("P-3", "open"),
        ("P-4", "won"),
        ("P-5", "open"),
    ]
    # 03/01/2025 00:00 in Berlin (UTC+1) is 2025-01-02 23:00 UTC; 20/01/2025 -> 01-19 23:00
    assert deals[0][2:4] == (datetime(2025, 1, 2, 23), datetime(2025, 1, 19, 23))
    assert [d[4] for d in deals] == [1200.0, 0.0, None, 1550.5, None]
    assert deals[3][5] is None  # blank account -> no customer
    assert q(db, "SELECT sum(amount) FROM deals WHERE status = 'won'") == [(2750.5,)]
    assert q(db, "SELECT count(*), min(created_at) FROM customers") == [(2, datetime(2023, 12, 31, 23))]
    settings = dict(q(db, "SELECT key, value FROM crmkit.settings"))
    assert settings["timezone"] == "Europe/Berlin" and settings["currency"] == "USD"
    with duckdb.connect(str(db), read_only=True) as con:
        notes = {(n.table, n.column): n for n in read_notes(con)}
    assert notes[("deals", "probability")].count == 2
    assert notes[("deals", "amount")].count == 2
    # example rows carry the file and line they came from
    assert notes[("deals", "amount")].examples[0] == {
        "deal_id": "P-3",
        "status": "open",
        "at": "sales_pipeline.csv, line 4",
    }


def test_quality_report_next_to_database(db: Path) -> None:
    report = json.loads(db.with_name("crm.quality.json").read_text())
    assert report["status"] == "ok"
    rows = {t["table"]: t["rows"] for t in report["tables"]}
    assert rows["deals"] == 5 and rows["teams"] == 2 and rows["leads"] == 0
    by_rule = {(f["table"], f["column"]): f for f in report["findings"] if f["severity"] == "warning"}
    assert by_rule[("deals", "amount")]["count"] == 2
    html = db.with_name("crm.quality.html").read_text()
    assert "<script" not in html and "deal without amount" in html
    assert "sales_pipeline.csv, line 4" in html


def test_quality_report_escapes_values(export: Path, tmp_path: Path) -> None:
    edit(export / PIPE, "P-3,Boris Kern", "<b>P-3</b>,Boris Kern")
    result = run(export, tmp_path / "crm.duckdb")
    html = result.quality_html.read_text()
    assert "&lt;b&gt;P-3&lt;/b&gt;" in html and "<b>P-3" not in html


# --------------------------------------------------------------------------------------
# Canonical-shape folders: no mapping
# --------------------------------------------------------------------------------------


def test_canonical_folder_imports_without_mapping(tmp_path: Path) -> None:
    path = tmp_path / "crm.duckdb"
    result = import_exports(CANONICAL, None, path)
    assert (result.rows["teams"], result.rows["employees"], result.rows["deals"], result.rows["leads"]) == (
        2,
        2,
        4,
        3,
    )
    # no time zone given: timestamps are taken as UTC as written
    assert q(path, "SELECT created_at FROM deals WHERE deal_id = 'd-1'") == [(datetime(2025, 5, 2, 9),)]
    notes = {(n.table, n.column): n for n in result.notes}
    # d-4 closed (06-09 17:00) before it was created (06-10 10:00): imported, noted
    assert notes[("deals", "closed_at")].rule == "closed_at before created_at"
    assert notes[("deals", "closed_at")].examples[0]["at"] == "deals.csv, line 5"
    assert q(path, "SELECT count(*) FROM deals WHERE deal_id = 'd-4'") == [(1,)]
    # l-2 has no channel and no campaign
    assert notes[("leads", "channel")].count == 1
    # the extra column 'desk' is not imported, and the report says so
    report = json.loads(result.quality_json.read_text())
    assert any("desk" in f["rule"] and f["severity"] == "info" for f in report["findings"])


def test_canonical_folder_missing_required_column(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(CANONICAL, folder)
    _drop_column(folder / "deals.csv", 1)  # owner_id
    with pytest.raises(ImportFailed) as info:
        import_exports(folder, None, tmp_path / "crm.duckdb")
    msg = str(info.value)
    assert msg.startswith("deals.csv: required column owner_id of deals is missing")
    assert info.value.column == "owner_id" and info.value.file == "deals.csv"
    assert not (tmp_path / "crm.duckdb").exists()


def test_canonical_folder_parquet_and_excel(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(CANONICAL, folder)
    deals = pd.read_csv(folder / "deals.csv", parse_dates=["created_at", "closed_at"])
    (folder / "deals.csv").unlink()
    deals.to_parquet(folder / "deals.parquet")
    teams = pd.read_csv(folder / "teams.csv")
    (folder / "teams.csv").unlink()
    teams.to_excel(folder / "teams.xlsx", index=False)
    path = tmp_path / "crm.duckdb"
    result = import_exports(folder, None, path)
    assert result.rows["deals"] == 4 and result.rows["teams"] == 2
    assert q(path, "SELECT closed_at, amount FROM deals WHERE deal_id = 'd-1'") == [
        (datetime(2025, 5, 20, 16, 30), 1000.0)
    ]
    assert q(path, "SELECT name FROM teams ORDER BY 1") == [("Enterprise",), ("Small business",)]


def test_canonical_folder_empty_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(CANONICAL, folder)
    (folder / "tickets.csv").write_bytes(b"")
    with pytest.raises(ImportFailed, match=r"^tickets\.csv is empty \(no header row, no data\)"):
        import_exports(folder, None, tmp_path / "crm.duckdb")


# --------------------------------------------------------------------------------------
# Broken exports: a precise one-line error, the previous database intact
# --------------------------------------------------------------------------------------


def _drop_column(path: Path, index: int) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(",".join(p for i, p in enumerate(ln.split(",")) if i != index) for ln in lines) + "\n")


BROKEN: dict[str, tuple[Callable[[Path], object], list[str]]] = {
    "missing required column": (
        lambda d: _drop_column(d / PIPE, 1),  # sales_agent, mapped to deals.owner_id
        [
            "sales_pipeline.csv, line 1: the header has no column 'sales_agent'",
            "pipeline.yaml, line 38",
            "required column deals.owner_id",
        ],
    ),
    "31/02/2025": (
        lambda d: edit(d / PIPE, "25/01/2025", "31/02/2025"),  # P-2's close date, line 3
        [
            "sales_pipeline.csv, line 3: column 'close_date' (deals.closed_at): '31/02/2025' is not a "
            "valid date (read as DD/MM/YYYY: month 02 has no day 31)",
            "date_format: monthfirst",
        ],
    ),
    "duplicate ids": (
        lambda d: edit(d / PIPE, "P-3,", "P-1,"),
        ["sales_pipeline.csv, lines 2 and 4: column 'opportunity_id' (deals.deal_id): duplicate key 'P-1'"],
    ),
    "empty file": (
        lambda d: (d / PIPE).write_bytes(b""),
        ["tables.deals.from: sales_pipeline.csv is empty (no header row, no data)"],
    ),
    "unmapped status value": (
        lambda d: edit(d / PIPE, "Engaging", "Pending"),
        [
            "sales_pipeline.csv, line 4 (column 'deal_stage'): deals.status",
            "Pending",
            "values: {status: {Pending: open}}",
        ],
    ),
    "not a number": (
        lambda d: edit(d / PIPE, ",1200", ",lots"),
        ["sales_pipeline.csv, line 2: column 'close_value' (deals.amount): 'lots' is not a number"],
    ),
    "a row with an extra field": (
        lambda d: edit(d / PIPE, "P-3,Boris Kern", "P-3,Boris, Kern"),
        ["sales_pipeline.csv, line 4: 9 fields where the header has 8"],
    ),
    "required value missing": (
        lambda d: edit(d / PIPE, "P-3,Boris Kern", "P-3,"),
        ["sales_pipeline.csv, line 4 (column 'sales_agent'): deals.owner_id", "owner_id is required"],
    ),
    "file not found": (
        lambda d: (d / PIPE).rename(d / "pipeline_2025.csv"),
        ["source pipeline: no file matches 'sales_pipeline.csv'", "pipeline_2025.csv"],
    ),
    "unknown table in the mapping": (
        lambda d: edit(d / "pipeline.yaml", "  deals:", "  dealz:"),
        ["pipeline.yaml, line 34: tables.dealz: 'dealz' is not a canonical table", "Did you mean 'deals'?"],
    ),
    "bad SQL in the mapping": (
        lambda d: edit(d / "pipeline.yaml", "DISTINCT manager AS", "DISTINCT managr AS"),
        ["pipeline.yaml, line 13: tables.teams.sql: DuckDB cannot run the SQL", "managr"],
    ),
    "invalid YAML": (
        lambda d: edit(d / "pipeline.yaml", "  currency: USD", " currency: USD: x"),
        ["pipeline.yaml, line 4: the mapping is not valid YAML"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_export_fails_with_one_line_and_keeps_database(case: str, export: Path, db: Path) -> None:
    breaker, expected = BROKEN[case]
    before = db.read_bytes()
    breaker(export)
    with pytest.raises(ImportFailed) as info:
        run(export, db)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    for part in expected:
        assert part in msg, (part, msg)
    assert db.read_bytes() == before
    leftovers = {p.name for p in db.parent.iterdir()} - {
        "crm.duckdb",
        "crm.quality.html",
        "crm.quality.json",
        "crm.import-failed.html",
        "crm.import-failed.json",
    }
    assert leftovers == set()


def test_failed_import_writes_a_failure_report_and_keeps_the_quality_report(export: Path, db: Path) -> None:
    quality = db.with_name("crm.quality.json").read_bytes()
    edit(export / PIPE, "25/01/2025", "31/02/2025")
    edit(export / "sales_teams.csv", "Carla Diaz,Melvin Marxen", "Anna Berg,Melvin Marxen")
    with pytest.raises(ImportFailed) as info:
        run(export, db)
    # two tables broke: both are listed, the message shows the first and points at the rest
    assert str(info.value).endswith("(1 more problem: see " + str(db.with_name("crm.import-failed.html")) + ")")
    report = json.loads(db.with_name("crm.import-failed.json").read_text())
    assert report["status"] == "failed"
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [(f["table"], f["line"]) for f in errors] == [("employees", 2), ("deals", 3)]
    assert db.with_name("crm.quality.json").read_bytes() == quality
    # a later good import removes the stale failure report
    shutil.copytree(PIPELINE, export, dirs_exist_ok=True)
    run(export, db)
    assert not db.with_name("crm.import-failed.json").exists()


# --------------------------------------------------------------------------------------
# Exports that differ from the base but read the same
# --------------------------------------------------------------------------------------


def _write_excel(d: Path) -> None:
    """The pipeline as an Excel sheet, with real date cells and numbers."""
    df = pd.read_csv(d / PIPE, dtype=str, keep_default_na=False)
    for col in ("engage_date", "close_date"):
        df[col] = pd.to_datetime(df[col].replace("", None), format="%d/%m/%Y")
    df["close_value"] = pd.to_numeric(df["close_value"].str.replace(",", ""), errors="coerce")
    (d / PIPE).unlink()
    with pd.ExcelWriter(d / "sales_pipeline.xlsx") as xl:
        pd.DataFrame({"note": ["exported 2025-03-31"]}).to_excel(xl, sheet_name="About", index=False)
        df.to_excel(xl, sheet_name="Pipeline", index=False)
    edit(d / "pipeline.yaml", "pipeline: sales_pipeline.csv", "pipeline: {file: sales_pipeline.xlsx, sheet: Pipeline}")


TOLERATED: dict[str, Callable[[Path], object]] = {
    "UTF-8 BOM": lambda d: (d / PIPE).write_bytes(b"\xef\xbb\xbf" + (d / PIPE).read_bytes()),
    "semicolons and decimal commas": lambda d: (d / PIPE).write_text(
        (d / PIPE).read_text().replace(",", ";").replace('"1;550.50"', "1.550,50")
    ),
    "Windows line ends, tabs": lambda d: (d / PIPE).write_bytes(
        (d / PIPE).read_text().replace('"1,550.50"', "1550.5").replace(",", "\t").encode().replace(b"\n", b"\r\n")
    ),
    "Excel": _write_excel,
}


@pytest.mark.parametrize("case", list(TOLERATED))
def test_tolerated_variants_import_the_same_deals(case: str, export: Path, db: Path, tmp_path: Path) -> None:
    expected = q(db, "SELECT * FROM deals ORDER BY deal_id")
    TOLERATED[case](export)
    other = tmp_path / "variant.duckdb"
    run(export, other)
    assert q(other, "SELECT * FROM deals ORDER BY deal_id") == expected


def test_latin1_export_keeps_accents(export: Path, tmp_path: Path) -> None:
    for name in ("accounts.csv", PIPE):
        text = (export / name).read_text().replace("Globex", "Müller Söhne & Cie")
        (export / name).write_bytes(text.encode("latin-1"))
    path = tmp_path / "crm.duckdb"
    result = run(export, path)
    assert q(path, "SELECT name FROM customers ORDER BY 1") == [("Acme",), ("Müller Söhne & Cie",)]
    assert q(path, "SELECT count(*) FROM deals WHERE customer_id = 'Müller Söhne & Cie'") == [(2,)]
    assert not [n for n in result.notes if n.column == "customer_id"]  # every account resolves


def test_header_only_file_imports_an_empty_table(export: Path, tmp_path: Path) -> None:
    (export / PIPE).write_text((export / PIPE).read_text().splitlines()[0] + "\n")
    path = tmp_path / "crm.duckdb"
    result = run(export, path)
    assert result.rows["deals"] == 0 and result.rows["employees"] == 3


def test_month_first_dates_are_detected(export: Path, tmp_path: Path) -> None:
    # the same dates written month-first: 01/20/2025 tells the order
    text = re.sub(r"(\d{2})/(\d{2})/2025", r"\2/\1/2025", (export / PIPE).read_text())
    assert "01/20/2025" in text
    (export / PIPE).write_text(text)
    path = tmp_path / "crm.duckdb"
    run(export, path)
    assert q(path, "SELECT created_at, closed_at FROM deals WHERE deal_id = 'P-1'") == [
        (datetime(2025, 1, 2, 23), datetime(2025, 1, 19, 23))
    ]


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def test_cli_import_success_and_failure(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crm.duckdb"
    assert cli_main(["import", str(export), "--mapping", str(export / "pipeline.yaml"), "--database", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(path)
    assert "imported 2 teams, 3 employees, 2 customers, 5 deals from 3 files" in err
    assert "deals.amount: 2 rows: deal without amount" in err
    before = path.read_bytes()
    edit(export / PIPE, "25/01/2025", "31/02/2025")
    assert cli_main(["import", str(export), "--mapping", str(export / "pipeline.yaml"), "--database", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("crmkit: error: sales_pipeline.csv, line 3:")
    assert path.read_bytes() == before


# --------------------------------------------------------------------------------------
# Value readers
# --------------------------------------------------------------------------------------


def _cells(values: list[object]) -> Cells:
    s = pd.Series(values, dtype=object)
    return Cells(s, "deals", "closed_at", "column close", lambda i: ("d.csv", i + 2, f"d.csv, line {i + 2}"))


def test_timestamps_iso_offsets_and_local_time() -> None:
    out, notes = parse_timestamps(
        _cells(["2025-07-01 12:00", "2025-07-01T12:00:00Z", "2025-07-01T12:00:00+02:00", None, " "]),
        timezone="Europe/Berlin",
    )
    # Berlin is UTC+2 in July: local noon is 10:00 UTC; an explicit offset wins
    assert list(out[:3]) == [pd.Timestamp("2025-07-01 10:00"), pd.Timestamp("2025-07-01 12:00")] + [
        pd.Timestamp("2025-07-01 10:00")
    ]
    assert out[3:].isna().all() and notes == []


def test_timestamps_ambiguous_day_month_read_day_first_with_a_note() -> None:
    out, notes = parse_timestamps(_cells(["03/04/2025", "05/06/2025 2:30 PM"]), timezone="UTC")
    assert list(out) == [pd.Timestamp("2025-04-03"), pd.Timestamp("2025-06-05 14:30")]
    assert len(notes) == 1 and notes[0].count == 2 and "monthfirst" in notes[0].rule
    out, notes = parse_timestamps(_cells(["03/04/2025"]), timezone="UTC", date_format="monthfirst")
    assert list(out) == [pd.Timestamp("2025-03-04")] and notes == []


def test_timestamps_mixed_orders_fail() -> None:
    with pytest.raises(ImportFailed, match=r"d\.csv, line 3: column close: '01/13/2025' is month-first but '13/01/2025'"):
        parse_timestamps(_cells(["13/01/2025", "01/13/2025"]), timezone="UTC")


def test_numbers() -> None:
    out, _ = parse_numbers(_cells(["$1,200", "1200 EUR", "25%", None]))
    assert out.tolist()[:3] == [1200.0, 1200.0, 0.25] and np.isnan(out.iloc[3])
    out, _ = parse_numbers(_cells(["1.234,5", "1 234,5"]), decimal=",")
    assert out.tolist() == [1234.5, 1234.5]


# --------------------------------------------------------------------------------------
# The Olist marketing funnel (a real public export)
# --------------------------------------------------------------------------------------


@pytest.fixture
def olist_kernel(olist_db: Path) -> Iterator[Kernel]:
    """One warm kernel for the reports of a test on the Olist import (``olist_db`` is the
    session's, tests/conftest.py)."""
    with Kernel(olist_db, ROOT / "notebooks") as kernel:
        yield kernel


def _olist_truth(start: str, end: str) -> pd.DataFrame:
    """Leads and converted leads per origin from the raw CSVs, with pandas only."""
    mql = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    won = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    in_period = mql[(mql["first_contact_date"] >= start) & (mql["first_contact_date"] < end)].copy()
    in_period["converted"] = in_period["mql_id"].isin(won["mql_id"])
    return in_period.groupby("origin").agg(leads=("mql_id", "size"), converted=("converted", "sum"))


def test_olist_counts_and_quirks(olist_db: Path) -> None:
    assert q(olist_db, "SELECT count(*) FROM leads") == [(8000,)]
    assert q(olist_db, "SELECT count(*) FROM deals WHERE status = 'won'") == [(842,)]
    assert q(olist_db, "SELECT count(*) FROM leads WHERE converted_at IS NOT NULL") == [(842,)]
    with duckdb.connect(str(olist_db), read_only=True) as con:
        notes = {(n.table, n.column, n.rule): n.count for n in read_notes(con)}
    # the README's quirks: blank origins, a deal won before its first contact, few revenues
    assert notes[("leads", "channel", "lead has neither campaign_id nor channel (shown as an unknown channel)")] == 60
    assert notes[("deals", "closed_at", "closed_at before created_at")] == 1
    assert notes[("deals", "amount", "deal without amount (counts as no money)")] == 842 - 45


def test_olist_lead_conversion_by_origin_matches_raw_csvs(olist_db: Path) -> None:
    truth = _olist_truth("2018-01-01", "2018-04-01")
    got = pd.DataFrame(
        q(
            olist_db,
            # created_at is UTC; Sao Paulo was UTC-2 (summer time) / UTC-3 in 2018-Q1
            "SELECT channel, count(*), count(converted_at) FROM leads "
            "WHERE timezone('America/Sao_Paulo', created_at::TIMESTAMPTZ AT TIME ZONE 'UTC') "
            "  >= TIMESTAMP '2018-01-01' AND "
            "timezone('America/Sao_Paulo', created_at::TIMESTAMPTZ AT TIME ZONE 'UTC') < TIMESTAMP '2018-04-01' "
            "AND channel IS NOT NULL GROUP BY 1",
        ),
        columns=["origin", "leads", "converted"],
    ).set_index("origin")
    pd.testing.assert_frame_equal(got.sort_index(), truth.sort_index(), check_dtype=False)


def test_olist_reports_run(olist_db: Path, olist_kernel: Kernel, tmp_path: Path) -> None:
    out = tmp_path / "output"
    sales = run_report("sales", period="2018-Q1", database=olist_db, output=out, as_of="2018-12-01",
                       kernel=olist_kernel)
    data = json.loads(Path(sales.json).read_text())
    won = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    q1 = won[(won["won_date"] >= "2018-01-01") & (won["won_date"] < "2018-04-01")]
    assert data["metrics"]["deals_won"] == len(q1)
    truth = _olist_truth("2018-01-01", "2018-04-01")
    assert data["metrics"]["lead_conversion"] == pytest.approx(
        (truth["converted"].sum() + _blank_origin_converted()) / (truth["leads"].sum() + _blank_origin_leads())
    )
    if not (ROOT / "notebooks" / "marketing.ipynb").exists():
        return
    marketing = run_report("marketing", period="2018-Q1", database=olist_db, output=out, as_of="2018-12-01",
                           kernel=olist_kernel)
    mdata = json.loads(Path(marketing.json).read_text())
    by_channel = {r["channel"]: r for r in mdata["breakdowns"]["channel"]}
    for origin, row in truth.iterrows():
        assert by_channel[origin]["leads"] == row["leads"], origin
        assert by_channel[origin]["converted"] == row["converted"], origin
        assert by_channel[origin]["lead_conversion"] == pytest.approx(row["converted"] / row["leads"]), origin


def _blank_origin_rows() -> pd.DataFrame:
    mql = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    won = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    m = mql[(mql["first_contact_date"] >= "2018-01-01") & (mql["first_contact_date"] < "2018-04-01")]
    m = m[m["origin"].isna()]
    return m.assign(converted=m["mql_id"].isin(won["mql_id"]))


def _blank_origin_leads() -> int:
    return len(_blank_origin_rows())


def _blank_origin_converted() -> int:
    return int(_blank_origin_rows()["converted"].sum())


def test_mapping_features_join_where_const_sql_default_values(export: Path, tmp_path: Path) -> None:
    (export / "pipeline.yaml").write_text(
        """
sources:
  pipeline: sales_pipeline.csv
  accounts: {file: accounts.csv}
  agents: sales_teams.csv
tables:
  teams:
    from: agents
    distinct: true
    columns: {team_id: regional_office, name: {sql: "'Office ' || regional_office"}}
  employees:
    from: agents
    columns: {employee_id: sales_agent, name: sales_agent, team_id: regional_office}
  deals:
    from: pipeline
    join:
      - source: accounts
        on: {account: account}
    where: "deal_stage <> 'Prospecting'"
    columns:
      deal_id: opportunity_id
      owner_id: sales_agent
      created_at: engage_date
      status: deal_stage
      closed_at: close_date
      product: {sql: "lower(product)"}
      stage: deal_stage
      lost_reason: accounts.sector
      probability: {const: 0.5}
    values:
      status: {won: won, LOST: lost, "*": open}
      stage: {~: (none), Engaging: engaging}
"""
    )
    path = tmp_path / "crm.duckdb"
    result = run(export, path)
    # teams: 2 distinct offices; P-5 (Prospecting) is filtered out by where:
    assert q(path, "SELECT team_id, name FROM teams ORDER BY 1") == [("Central", "Office Central"), ("West", "Office West")]
    rows = q(path, "SELECT deal_id, status, product, stage, lost_reason, probability FROM deals ORDER BY 1")
    assert rows == [
        ("P-1", "won", "gtx basic", "Won", "technology", 0.5),
        ("P-2", "lost", "gtx pro", "Lost", "retail", 0.5),
        ("P-3", "open", "mg special", "engaging", "technology", 0.5),
        ("P-4", "won", "gtx basic", "Won", None, 0.5),
    ]
    # the joined sector lands in lost_reason of won deals: a soft note, not an error
    assert any(n.column == "lost_reason" for n in result.notes)


MAPPING_ERRORS: dict[str, tuple[str, str, str]] = {
    "unknown key": (
        "    columns:\n      employee_id",
        "    colums:\n      employee_id",
        "pipeline.yaml, line 19: tables.employees.colums: unknown key 'colums' (allowed: from, join, "
        "columns, values, distinct, where, sql, date_format, decimal, timezone). Did you mean 'columns'?",
    ),
    "not a column of the table": (
        "owner_id: sales_agent",
        "ownr_id: sales_agent",
        "pipeline.yaml, line 38: tables.deals.columns.ownr_id: 'ownr_id' is not a column of deals",
    ),
    "undeclared source": (
        "from: pipeline",
        "from: pipelin",
        "pipeline.yaml, line 35: tables.deals.from: unknown source 'pipelin': declare it under sources:",
    ),
    "not a time zone": (
        "Europe/Berlin",
        "Europe/Berlinn",
        "pipeline.yaml, line 3: settings.timezone: 'Europe/Berlinn' is not an IANA time zone",
    ),
    "not a value of the enumeration": (
        "Won: won",
        "Won: wonn",
        "pipeline.yaml, line 46: tables.deals.values.status.Won: 'wonn' is not a value of deals.status "
        "(open, won, lost). Did you mean 'won'?",
    ),
    "a plain type": (
        "    from: pipeline",
        "    from: pipeline\n    distinct: maybe",
        "pipeline.yaml, line 36: tables.deals.distinct: input should be a valid boolean",
    ),
}


@pytest.mark.parametrize("case", list(MAPPING_ERRORS))
def test_mapping_errors_name_file_line_and_fix(case: str, export: Path) -> None:
    old, new, expected = MAPPING_ERRORS[case]
    edit(export / "pipeline.yaml", old, new)
    with pytest.raises(ImportFailed) as info:
        load_mapping(export / "pipeline.yaml", export)
    msg = str(info.value)
    assert msg.startswith(expected) and "\n" not in msg, msg
    assert info.value.file == "pipeline.yaml" and info.value.line == int(
        expected.split("line ")[1].split(":")[0]
    )


def test_mapping_join_with_bare_on_key(export: Path) -> None:
    """YAML 1.1 reads ``on:`` as the boolean true: the mapping reads it as the join's key."""
    edit(
        export / "pipeline.yaml",
        "    from: pipeline\n",
        "    from: pipeline\n    join:\n      - source: accounts\n        on: account\n",
    )
    mapping = load_mapping(export / "pipeline.yaml", export)
    (join,) = mapping.tables["deals"].joins
    assert (join.source, join.left, join.right, join.how) == ("accounts", ("account",), ("account",), "left")
    edit(export / "pipeline.yaml", "on: account", "on: account\n        how: outer")
    with pytest.raises(
        ImportFailed, match=r"^pipeline\.yaml, line 39: tables\.deals\.join\.0\.how: input should be"
    ):
        load_mapping(export / "pipeline.yaml", export)


def test_values_map_blank_default_yaml_booleans_and_canonical_spelling() -> None:
    table_map: dict[str, object] = {}
    # as YAML hands them over: `~: new`, `On: working` (a boolean), `"*": disqualified`
    for key, value in {None: "new", True: "working", "*": "disqualified"}.items():
        for k in _value_keys(key):
            table_map[k] = value
    values = pd.Series([None, " on ", "Yes", "Bounced", "CONVERTED"], dtype=object)
    out = _map_values(values, table_map, ("new", "working", "converted", "disqualified"))
    # blank -> new; on/yes -> working; anything else -> disqualified, except a value that is
    # already canonical in another case
    assert out.tolist() == ["new", "working", "working", "disqualified", "converted"]
