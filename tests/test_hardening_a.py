"""Hardening of imports (issue 13, engineer A): everything a mapping, an export file or a
setting holds is untrusted.

- item 6: mapping SQL runs sandboxed (no files, no network, no extensions, one SELECT, no
  reach into the previous database); source files resolve inside the export folder;
- item 12: rows with more fields than the header, and a header naming a column twice, are
  errors naming the line and the field counts;
- item 10: amounts are validated to a sane range (finite, at most ``MAX_AMOUNT``);
- item 1: settings are validated on import (currency: ISO 4217 code or a short symbol,
  timezone: IANA zone, fiscal_year_start_month: 1..12);
- item 17: Cyrillic single-byte files (CP1251, KOI8-R) are read as such, and a guessed
  encoding leaves a data note.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from exports import PIPE, edit, q

from crmkit.errors import CrmkitError
from crmkit.model import TABLES, DataValidationError, validate
from crmkit.model.tables import MAX_AMOUNT
from crmkit.model.validate import SettingError, check_setting
from crmkit.sources.imports import ImportFailed, import_exports
from crmkit.sources.imports.mapping import load_mapping
from crmkit.sources.imports.staging import _connect
from crmkit.sources.imports.values import Cells, parse_numbers


def fails(export: Path, db: Path, *parts: str) -> str:
    """The import fails with one line holding ``parts`` and leaves ``db`` byte-identical."""
    before = db.read_bytes() if db.exists() else None
    with pytest.raises(ImportFailed) as info:
        import_exports(export, export / "pipeline.yaml", db)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    for part in parts:
        assert part in msg, (part, msg)
    if before is not None:
        assert db.read_bytes() == before
    return msg


TEAMS_SQL = "SELECT DISTINCT manager AS team_id, manager || '''s team' AS name\n      FROM sales_teams"


def teams_sql(export: Path, sql: str) -> None:
    """Replace the SQL of the teams table in the export's mapping."""
    edit(export / "pipeline.yaml", TEAMS_SQL, sql.replace("\n", "\n      "))


# --------------------------------------------------------------------------------------
# item 6: the mapping SQL is sandboxed
# --------------------------------------------------------------------------------------


def test_sql_cannot_read_system_files(export: Path, db: Path) -> None:
    teams_sql(export, "SELECT content AS team_id, 'x' AS name FROM read_text('/etc/passwd')")
    fails(export, db, "tables.teams.sql", "file")
    assert not any("root:" in str(r) for r in q(db, "SELECT * FROM teams"))


def test_sql_cannot_read_files_outside_the_export(export: Path, db: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("team_id,name\nSECRET,token-123\n")
    teams_sql(export, f"SELECT * FROM read_csv('{secret}')")
    fails(export, db, "tables.teams.sql")
    edit(export / "pipeline.yaml", f"read_csv('{secret}')", f"'{secret}'")
    fails(export, db, "tables.teams.sql")


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 42 AS x) TO '{out}'",
        "ATTACH '{db}' AS prev; DROP TABLE prev.deals",
        "INSTALL httpfs",
        "SET enable_external_access = true",
    ],
)
def test_sql_runs_one_select_only(export: Path, db: Path, tmp_path: Path, statement: str) -> None:
    out = tmp_path / "pwned.csv"
    sql = statement.format(out=out, db=db)
    teams_sql(export, f"{sql};\n{TEAMS_SQL.replace(chr(10) + '      ', ' ')}")
    fails(export, db, "tables.teams.sql")
    assert not out.exists()
    assert q(db, "SELECT count(*) FROM deals") == [(5,)]


def test_sql_in_a_column_expression_is_sandboxed_too(export: Path, db: Path) -> None:
    edit(
        export / "pipeline.yaml",
        "region: office_location",
        "region: {sql: \"(SELECT content FROM read_text('/etc/hostname'))\"}",
    )
    fails(export, db, "file")


def test_sandbox_sees_no_python_variables_and_stays_locked() -> None:
    # DuckDB's replacement scans read a pandas frame of the calling scope by its name
    con = _connect({})
    secret = pd.DataFrame({"token": ["s3cr3t"]})
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM secret")
    with pytest.raises(duckdb.Error, match="locked"):
        con.execute("SET enable_external_access = true")
    assert len(secret) == 1


def test_sandboxed_sql_still_builds_the_tables(export: Path, tmp_path: Path) -> None:
    path = tmp_path / "ok.duckdb"
    import_exports(export, export / "pipeline.yaml", path)
    assert q(path, "SELECT count(*) FROM teams") == [(2,)]


# --------------------------------------------------------------------------------------
# item 6: source files resolve inside the export folder
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", ["../outside/sales_pipeline.csv", "../**/sales_pipeline.csv", "sub/../../outside/*.csv"]
)
def test_source_file_outside_the_export_is_refused(export: Path, db: Path, pattern: str) -> None:
    outside = export.parent / "outside"
    outside.mkdir()
    shutil.copy(export / PIPE, outside / PIPE)
    edit(export / "pipeline.yaml", "pipeline: sales_pipeline.csv", f"pipeline: '{pattern}'")
    fails(export, db, "pipeline.yaml, line 9: sources.pipeline.file", "inside the export folder")


def test_absolute_source_file_is_refused_with_one_line(export: Path, db: Path) -> None:
    edit(export / "pipeline.yaml", "pipeline: sales_pipeline.csv", f"pipeline: '{export / PIPE}'")
    fails(export, db, "pipeline.yaml, line 9: sources.pipeline.file", "relative to the export folder")


def test_symlink_out_of_the_export_is_refused(export: Path, db: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    shutil.copy(export / PIPE, outside)
    (export / PIPE).unlink()
    (export / PIPE).symlink_to(outside)
    fails(export, db, "sales_pipeline.csv", "outside the export folder")


def test_canonical_folder_symlink_out_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "canon"
    folder.mkdir()
    outside = tmp_path / "teams.csv"
    outside.write_text("team_id,name\nt1,One\n")
    (folder / "teams.csv").symlink_to(outside)
    with pytest.raises(ImportFailed, match="outside the export folder"):
        import_exports(folder, None, tmp_path / "c.duckdb")


def test_glob_inside_the_export_still_works(export: Path, tmp_path: Path) -> None:
    sub = export / "2025"
    sub.mkdir()
    (export / PIPE).rename(sub / PIPE)
    edit(export / "pipeline.yaml", "pipeline: sales_pipeline.csv", "pipeline: '**/sales_pipeline.csv'")
    path = tmp_path / "glob.duckdb"
    import_exports(export, export / "pipeline.yaml", path)
    assert q(path, "SELECT count(*) FROM deals") == [(5,)]


# --------------------------------------------------------------------------------------
# item 3, import half: team ids from an export are checked like typed ones
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("team_id", ["../../PWNED", "/abs/path", "ALL", "O'Brien", "each"])
def test_unusable_team_id_is_refused_at_import_naming_the_row(export: Path, db: Path, team_id: str) -> None:
    edit(export / "sales_teams.csv", "Anna Berg,Dustin Brinkmann", f'Anna Berg,"{team_id}"')
    fails(export, db, "teams row with team_id", repr(team_id), "not a usable team id")  # SQL: no line
    teams_sql(export, "SELECT * FROM sales_teams")  # declarative: the file and line are known
    edit(
        export / "pipeline.yaml",
        "    sql: |\n      SELECT * FROM sales_teams",
        "    from: sales_teams\n    distinct: true\n    columns: {team_id: manager, name: manager}",
    )
    fails(export, db, "sales_teams.csv, line 2 (column 'manager'): teams.team_id", repr(team_id))


# --------------------------------------------------------------------------------------
# item 12: rows with extra fields, a column named twice
# --------------------------------------------------------------------------------------


def test_extra_leading_field_on_every_row_is_an_error(export: Path, db: Path) -> None:
    lines = (export / PIPE).read_text().splitlines()
    (export / PIPE).write_text(
        "\n".join([lines[0]] + [f"x{i},{ln}" for i, ln in enumerate(lines[1:])]) + "\n"
    )
    fails(export, db, "sales_pipeline.csv, line 2: 9 fields where the header has 8")


def test_extra_field_on_the_first_row_is_an_error(export: Path, db: Path) -> None:
    edit(export / PIPE, "P-1,Anna Berg", "P-1,Anna, Berg")
    fails(export, db, "sales_pipeline.csv, line 2: 9 fields where the header has 8")


def test_extra_field_on_a_later_row_is_an_error(export: Path, db: Path) -> None:
    edit(export / PIPE, "P-4,", "P-4,extra,")
    fails(export, db, "sales_pipeline.csv, line 5: 9 fields where the header has 8")


def test_extra_field_after_a_quoted_line_break_names_the_physical_line(export: Path, db: Path) -> None:
    edit(export / PIPE, "P-2,Anna Berg,GTX Pro", 'P-2,Anna Berg,"GTX\nPro"')  # line 3 spans 3..4
    edit(export / PIPE, "P-4,", "P-4,extra,")  # the row of P-4 starts on line 6
    fails(export, db, "sales_pipeline.csv, line 6: 9 fields where the header has 8")


def test_duplicated_header_column_is_an_error(export: Path, db: Path) -> None:
    edit(export / PIPE, "close_date,close_value", "close_date,close_value,close_value")
    text = (export / PIPE).read_text().splitlines()
    (export / PIPE).write_text("\n".join([text[0]] + [ln + ",1" for ln in text[1:]]) + "\n")
    fails(
        export, db, "sales_pipeline.csv, line 1: column 'close_value' appears twice in the header", "8 and 9"
    )


def test_duplicated_header_column_in_excel_is_an_error(export: Path, db: Path) -> None:
    df = pd.read_csv(export / PIPE, dtype=str)
    df.insert(1, "product ", df["product"])  # the same name once trimmed
    (export / PIPE).unlink()
    df.to_excel(export / "sales_pipeline.xlsx", index=False)
    edit(export / "pipeline.yaml", "pipeline: sales_pipeline.csv", "pipeline: sales_pipeline.xlsx")
    fails(export, db, "sales_pipeline.xlsx, row 1: column 'product' appears twice in the header")


def test_excel_row_with_cells_beyond_the_header_is_an_error(export: Path, db: Path) -> None:
    df = pd.read_csv(export / PIPE, dtype=str, keep_default_na=False)
    rows = [[*df.columns, None]] + [[*r, None] for r in df.itertuples(index=False)]
    rows[2][-1] = "stray"  # line 3 of the sheet: a value in a column without a header
    pd.DataFrame(rows).to_excel(export / "sales_pipeline.xlsx", index=False, header=False)
    (export / PIPE).unlink()
    edit(export / "pipeline.yaml", "pipeline: sales_pipeline.csv", "pipeline: sales_pipeline.xlsx")
    fails(export, db, "sales_pipeline.xlsx, row 3: 9 fields where the header has 8")


# --------------------------------------------------------------------------------------
# item 10: amounts in a sane range
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e34", "99999999999999999999999999999999999999", "1e400", "inf"])
def test_huge_amount_is_an_error_naming_the_row(export: Path, db: Path, value: str) -> None:
    edit(export / PIPE, ",1200", f",{value}")
    fails(export, db, "sales_pipeline.csv, line 2", "close_value", "deals.amount")


@pytest.mark.parametrize(
    ("value", "why"), [("1e34", "too large"), ("inf", "not a finite number"), ("12.5", "not a whole number")]
)
def test_huge_whole_number_is_an_error_naming_the_cell(value: str, why: str) -> None:
    def where(i: int) -> tuple[str, int, str]:
        return "activities.csv", i + 2, f"activities.csv, line {i + 2}"

    cells = Cells(pd.Series(["60", value]), "activities", "duration_s", "activities.duration_s", where)
    with pytest.raises(ImportFailed, match=f"activities.csv, line 3: activities.duration_s: '{value}' is {why}"):
        parse_numbers(cells, integer=True)


def test_large_but_sane_amount_imports(export: Path, tmp_path: Path) -> None:
    edit(export / PIPE, ",1200", ",250000000000")
    path = tmp_path / "big.duckdb"
    import_exports(export, export / "pipeline.yaml", path)
    assert q(path, "SELECT max(amount) FROM deals") == [(250000000000.0,)]


@pytest.mark.parametrize(
    ("table", "column"),
    [("deals", "amount"), ("campaigns", "budget"), ("campaign_costs", "cost"), ("quotas", "target_amount")],
)
def test_model_bounds_every_amount(table: str, column: str) -> None:
    assert TABLES[table].column(column).max == MAX_AMOUNT


def test_model_refuses_a_huge_amount() -> None:
    frames = {
        n: pd.DataFrame({c.name: pd.Series([], dtype=object) for c in t.columns}) for n, t in TABLES.items()
    }
    frames["teams"] = pd.DataFrame({"team_id": ["t"], "name": ["T"]})
    frames["employees"] = pd.DataFrame({"employee_id": ["e"], "name": ["E"], "team_id": ["t"]})
    frames["deals"] = pd.DataFrame(
        {
            "deal_id": ["d1", "d2"],
            "owner_id": ["e", "e"],
            "created_at": ["2025-01-01", "2025-01-02"],
            "status": ["open", "open"],
            "amount": [10.0, 1e34],
        }
    )
    with pytest.raises(DataValidationError, match=r"deals\.amount.*d2"):
        validate(frames)
    frames["deals"]["amount"] = [10.0, float("inf")]
    with pytest.raises(DataValidationError, match=r"deals\.amount.*d2"):
        validate(frames)


# --------------------------------------------------------------------------------------
# item 1: settings validated on import
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("currency", "'<img src=x onerror=alert(1)>'"),
        ("currency", "'\"><script>'"),
        ("currency", "'US Dollars'"),
        ("currency", "usd&amp;"),
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "'../../etc/localtime'"),
        ("fiscal_year_start_month", "13"),
        ("fiscal_year_start_month", "0"),
    ],
)
def test_bad_setting_is_refused_naming_it(export: Path, setting: str, value: str) -> None:
    old = {"currency": "currency: USD", "timezone": "timezone: Europe/Berlin"}.get(setting, "currency: USD")
    new = f"{setting}: {value}" if setting in ("currency", "timezone") else f"{old}\n  {setting}: {value}"
    edit(export / "pipeline.yaml", old, new)
    with pytest.raises(ImportFailed) as info:
        load_mapping(export / "pipeline.yaml", export)
    msg = str(info.value)
    assert f"settings.{setting}: " in msg and "\n" not in msg, msg
    assert "pipeline.yaml, line " in msg


@pytest.mark.parametrize("currency", ["EUR", "USD", "€", "$", "R$", "US$", "kr", "zł", "₽", "CHF"])
def test_good_currency_is_accepted(export: Path, currency: str) -> None:
    edit(export / "pipeline.yaml", "currency: USD", f"currency: '{currency}'")
    assert load_mapping(export / "pipeline.yaml", export).settings["currency"] == currency


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("currency", "<b>EUR</b>"),
        ("currency", "E&"),
        ("currency", "EURO DOLLARS"),
        ("timezone", "Not/AZone"),
        ("timezone", "<script>"),
        ("fiscal_year_start_month", "4.5"),
        ("fiscal_year_start_month", "-1"),
    ],
)
def test_check_setting_refuses_with_one_line(name: str, value: str) -> None:
    with pytest.raises(SettingError) as info:
        check_setting(name, value)
    assert isinstance(info.value, CrmkitError)
    msg = str(info.value)
    assert msg.startswith(f"setting {name}=") and "\n" not in msg


def test_check_setting_accepts_good_values() -> None:
    assert check_setting("currency", "EUR") == "EUR"
    assert check_setting("timezone", "America/Sao_Paulo") == "America/Sao_Paulo"
    assert check_setting("fiscal_year_start_month", "4") == "4"
    assert check_setting("source", "import") == "import"  # other settings pass as they are


# --------------------------------------------------------------------------------------
# item 17: Cyrillic single-byte encodings
# --------------------------------------------------------------------------------------


def _recode(export: Path, encoding: str, names: dict[str, str]) -> None:
    for file in ("sales_teams.csv", PIPE):
        text = (export / file).read_text(encoding="utf-8")
        for old, new in names.items():
            text = text.replace(old, new)
        (export / file).write_bytes(text.encode(encoding))


RUSSIAN = {"Anna Berg": "Иван Петров", "Dustin Brinkmann": "Дмитрий Смирнов", "Central": "Центральный"}


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r"])
def test_cyrillic_single_byte_export_is_read_right(export: Path, tmp_path: Path, encoding: str) -> None:
    _recode(export, encoding, RUSSIAN)
    path = tmp_path / "ru.duckdb"
    result = import_exports(export, export / "pipeline.yaml", path)
    names = {r[0] for r in q(path, "SELECT name FROM employees")}
    assert "Иван Петров" in names, names
    assert ("Дмитрий Смирнов",) in q(path, "SELECT team_id FROM teams")
    assert q(path, "SELECT count(*) FROM deals WHERE owner_id = 'Иван Петров'") == [(2,)]
    guessed = [n for n in result.notes if "encoding" in n.rule]
    assert guessed and encoding.replace("_", "-") in guessed[0].rule.replace("_", "-"), result.notes


def test_western_single_byte_export_still_reads_as_cp1252(export: Path, tmp_path: Path) -> None:
    _recode(export, "cp1252", {"Anna Berg": "José Müller", "Dustin Brinkmann": "François Crème"})
    path = tmp_path / "w.duckdb"
    result = import_exports(export, export / "pipeline.yaml", path)
    assert ("José Müller",) in q(path, "SELECT name FROM employees")
    assert any("cp1252" in n.rule for n in result.notes)


def test_utf8_export_leaves_no_encoding_note(export: Path, tmp_path: Path) -> None:
    _recode(export, "utf-8", RUSSIAN)
    result = import_exports(export, export / "pipeline.yaml", tmp_path / "u.duckdb")
    assert not [n for n in result.notes if "encoding" in n.rule]
