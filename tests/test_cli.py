"""The command line without running a report: every command wired to a handler, one-line
errors with their exit status, a fast start, and the registry behind ``reports`` and
``new-report``."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from crmkit import cli
from crmkit.errors import ParameterError, ReportError
from crmkit.publish import runner
from crmkit.publish.kernel import report_modules, warm_up_modules
from crmkit.reports import REPORTS

COMMANDS = ["demo", "import", "run", "serve", "run-all", "watch", "new-report", "prepare-lab", "install-kernel", "index",
            "load-postgres", "export-parquet", "teams", "reports", "snapshot"]


def _one_error_line(capsys: pytest.CaptureFixture[str], needle: str) -> None:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crmkit: error:") and needle in lines[0], lines


def test_every_command_has_a_handler():
    parser = cli._parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert list(actions[0].choices) == COMMANDS
    for name, sub in actions[0].choices.items():
        assert callable(sub.get_default("handler")), name


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["demo", "--scale", "0"], "--scale 0"),
        (["demo", "--end", "2025-02-30"], "--end"),
        (["run", "sales", "--param", "novalue"], "NAME=VALUE"),
        (["run", "sales", "--database", "postgresql://u:p@h/db"], "CRMKIT_DATABASE_URL"),
        (["run-all", "params/monthly.yaml", "--workers", "0"], "--workers 0"),
        (["watch", "params/monthly.yaml", "--every", "5x"], "--every"),
        (["watch", "params/monthly.yaml", "--runs", "0"], "--runs 0"),
        (["watch", "params/missing.yaml", "--runs", "1"], "missing.yaml"),
        (["new-report", "../evil"], "lower-case"),
        (["new-report", "sales"], "standard report"),
    ],
)
def test_bad_input_is_one_line_and_status_2(capsys, argv, needle):
    assert cli.main(argv) == 2
    _one_error_line(capsys, needle)


def test_scale_is_a_parameter_error():
    with pytest.raises(ParameterError):
        cli._demo(cli._parser().parse_args(["demo", "--scale", "0"]))


def test_failed_report_is_status_1_and_a_bug_keeps_its_traceback(capsys, monkeypatch):
    def failing(*_args, **_kwargs):
        raise ReportError("sales", {"period": "2025-06"}, "ValueError: planted")

    monkeypatch.setattr(runner, "run_report", failing)
    assert cli.main(["run", "sales"]) == 1
    _one_error_line(capsys, "planted")

    def buggy(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "run_report", buggy)
    with pytest.raises(RuntimeError):
        cli.main(["run", "sales"])


def test_command_line_starts_without_heavy_libraries():
    probe = ("import sys, crmkit.cli; heavy = ('pandas', 'duckdb', 'nbformat', 'jupyter_client', "
             "'papermill', 'crmkit.reports'); print([m for m in heavy if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_reports_lists_the_registry_in_page_order_then_custom_notebooks(tmp_path, capsys):
    for name in ["zeta", "alpha", *reversed(list(REPORTS)), "Not-a-report"]:
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert cli.main(["reports", "--notebooks", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [*REPORTS, "alpha", "zeta"]


def test_new_report_refuses_a_registry_id_even_without_its_notebook(tmp_path, capsys):
    report = next(iter(REPORTS))
    assert cli.main(["new-report", report, "--notebooks", str(tmp_path)]) == 2
    _one_error_line(capsys, report)
    assert not list(tmp_path.iterdir())


def test_kernel_warms_up_every_reports_modules():
    modules = warm_up_modules()
    for report in REPORTS:
        assert set(report_modules(report)) <= set(modules), report
        for name in report_modules(report):  # each names a module that exists
            importlib.import_module(name)
    assert len(modules) == len(set(modules))
    assert warm_up_modules(("sales",)) == list(report_modules("sales"))


def test_a_missing_kernel_is_a_setup_error_naming_the_fix(monkeypatch, tmp_path, runtime_dir):
    from crmkit.errors import ReportError, SetupError
    from crmkit.publish import kernel

    monkeypatch.setattr(kernel, "KERNEL_NAME", "crmkit-not-installed")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime_dir))
    with pytest.raises(SetupError, match="crmkit install-kernel") as raised:
        kernel.Kernel(tmp_path / "crm.duckdb", tmp_path)
    assert not isinstance(raised.value, ReportError)
    assert list(runtime_dir.iterdir()) == []  # no kernel folder left behind


def test_a_batchs_bad_as_of_is_told_as_the_commands_not_the_presets(capsys, tmp_path):
    """``run-all params/weekly.yaml --as-of 2025-06-31`` said "params/weekly.yaml: invalid
    as_of": the value came from the command line, and the day does not exist."""
    preset = tmp_path / "weekly.yaml"
    preset.write_text("reports: [sales]\nperiods: [last-7d]\n")
    assert cli.main(["run-all", str(preset), "--as-of", "2025-06-31", "--no-server"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crmkit: error: --as-of: invalid as_of '2025-06-31': 2025-06-31 is not "
                          "a day of the calendar") and "\n" not in err
    assert "weekly.yaml" not in err


def test_demo_says_its_tables_and_nothing_else(tmp_path):
    """With the spark extra installed, pandera imports ``pyspark.pandas`` as it loads and as
    it first validates, which printed three FutureWarnings about pandas 3 on every demo."""
    pytest.importorskip("pyspark")
    done = subprocess.run([sys.executable, "-m", "crmkit.cli", "demo", "--database",
                           str(tmp_path / "demo.duckdb")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and all(line.startswith("crmkit: ") for line in lines), lines
