"""The ``crmkit`` command line: build the demo, run and publish reports.

Errors in what the user typed (a bad period, an unknown team, a missing database) print
one line and exit with status 2; a report that fails while running exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crmkit import __version__
from crmkit._docstrings import PARAMS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crmkit", description="CRM reports: run, publish, explore."
    )
    parser.add_argument("--version", action="version", version=f"crmkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="build the deterministic demo CRM database")
    demo.add_argument(
        "--database", default="data/demo.duckdb", help="where to write (default: %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    demo.add_argument(
        "--end", help="last day of data, YYYY-MM-DD (default: end of the last full month)"
    )
    demo.add_argument(
        "--scale", type=int, default=1, help="volume multiplier for benchmarks (default: 1)"
    )
    demo.add_argument("--timezone", default="UTC", help="company time zone (default: %(default)s)")
    demo.add_argument("--currency", default="EUR", help="currency code (default: %(default)s)")

    imp = sub.add_parser(
        "import",
        help="import CRM export files (CSV, Parquet, Excel) into a crmkit database",
        description="Read the export files in SOURCE_DIR, map them onto the canonical tables "
        "(with a YAML mapping, or by name for canonical-shape files such as deals.csv), "
        "validate them and write a DuckDB database plus a data-quality report beside it. "
        "A failed import changes nothing.",
    )
    imp.add_argument("source_dir", metavar="SOURCE_DIR", help="folder holding the export files")
    imp.add_argument(
        "--mapping", default=None, help="YAML mapping file (default: none, files named after tables)"
    )
    imp.add_argument(
        "--database",
        default=None,
        help="where to write (default: $CRMKIT_DATABASE, else data/crm.duckdb)",
    )

    run = sub.add_parser("run", help="execute one report notebook and publish HTML + JSON")
    run.add_argument("report", help="report id: sales, ... (a notebook in notebooks/)")
    run.add_argument("--period", default="last-month", help=PARAMS["period"])
    run.add_argument("--team", default="all", help=PARAMS["team"])
    run.add_argument("--compare-to", default="previous", help=PARAMS["compare_to"])
    run.add_argument("--as-of", default=None, help=PARAMS["as_of"])
    run.add_argument("--database", default=None, help=PARAMS["database"])
    run.add_argument("--timezone", default=None, help=PARAMS["timezone"])
    run.add_argument("--output", default="output", help="output folder (default: %(default)s)")
    run.add_argument("--notebooks", default=None, help="notebooks folder (default: ./notebooks)")
    run.add_argument(
        "--timeout", type=int, default=600, help="seconds per cell (default: %(default)s)"
    )
    run.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a report's own parameter, e.g. --param active_days=60 (repeatable)",
    )

    run_all = sub.add_parser("run-all", help="run every report of a preset (params/*.yaml) in parallel")
    run_all.add_argument("preset", help="preset file, e.g. params/monthly.yaml")
    run_all.add_argument("--database", default=None, help=PARAMS["database"])
    run_all.add_argument("--output", default="output", help="output folder (default: %(default)s)")
    run_all.add_argument("--notebooks", default=None, help="notebooks folder (default: ./notebooks)")
    run_all.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    run_all.add_argument("--as-of", default=None, help=PARAMS["as_of"])
    run_all.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")

    new = sub.add_parser("new-report", help="create notebooks/NAME.ipynb from the custom-report template")
    new.add_argument("name", help="report id: lower-case letters, digits and _")
    new.add_argument("--notebooks", default=None, help="notebooks folder (default: ./notebooks)")

    sub.add_parser(
        "install-kernel", help="install the fixed 'crmkit' Jupyter kernel into this environment"
    )

    index = sub.add_parser("index", help="rebuild output/index.html from the reports present")
    index.add_argument("--output", default="output")

    load_pg = sub.add_parser(
        "load-postgres",
        help="copy a crmkit DuckDB database into PostgreSQL ($CRMKIT_DATABASE_URL)",
        description="Copy the canonical tables, settings and data notes of a crmkit DuckDB "
        "database into the PostgreSQL database named by $CRMKIT_DATABASE_URL (read from the "
        "environment only, so the URL stays out of shell history and process lists), "
        "replacing the crmkit tables of the target schema in one transaction.",
    )
    load_pg.add_argument(
        "--database", default="data/demo.duckdb", help="DuckDB file to copy (default: %(default)s)"
    )
    load_pg.add_argument(
        "--schema", default=None, help="target schema (default: the URL's ?schema=, else public)"
    )

    teams = sub.add_parser("teams", help="list the team ids of a database, one per line")
    teams.add_argument("--database", default=None, help=PARAMS["database"])

    reports = sub.add_parser("reports", help="list the available reports")
    reports.add_argument("--notebooks", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("crmkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every expected failure is a one-line message, no traceback
        from crmkit.errors import ParameterError, PeriodError, PresetError, ReportError, StoreError, TeamError
        from crmkit.model import DataValidationError

        bad_input = (PeriodError, TeamError, StoreError, DataValidationError, PresetError, ParameterError)
        if isinstance(exc, bad_input):
            print(f"crmkit: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, ReportError):
            print(f"crmkit: error: {exc}", file=sys.stderr)
            return 1
        raise


def _pairs(items: Sequence[str]) -> dict[str, str]:
    from crmkit.errors import ParameterError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param {item!r}: write NAME=VALUE, e.g. active_days=60")
        out[name.strip()] = value.strip()
    return out


def _no_url(database: str | None) -> None:
    """A PostgreSQL URL on the command line would show in process lists and shell history."""
    from crmkit.errors import ParameterError

    if database and "://" in database:
        raise ParameterError(
            "--database takes a DuckDB file; give a PostgreSQL database through the "
            "CRMKIT_DATABASE_URL environment variable, so its password stays out of "
            "process lists and shell history"
        )


def _dispatch(args: argparse.Namespace) -> int:
    _no_url(getattr(args, "database", None) if args.command != "demo" else None)
    from crmkit.errors import PresetError
    from crmkit.publish.runner import print_progress

    if args.command == "demo":
        from datetime import date

        from crmkit.errors import PeriodError
        from crmkit.sources.demo import build_demo

        try:
            end = date.fromisoformat(args.end) if args.end else None
        except ValueError:
            raise PeriodError(f"--end {args.end!r} is not a date: use YYYY-MM-DD") from None
        if args.scale < 1:
            raise PeriodError(f"--scale {args.scale} must be 1 or more")
        path = build_demo(
            args.database,
            seed=args.seed,
            end=end,
            scale=args.scale,
            timezone=args.timezone,
            currency=args.currency,
            progress=print_progress,
        )
        print(path)
        return 0
    if args.command == "import":
        from crmkit.sources.imports import import_exports

        result = import_exports(args.source_dir, mapping=args.mapping, database=args.database)
        print(result.summary(), file=sys.stderr)
        print(result.database)
        return 0
    if args.command == "run":
        from crmkit.publish.runner import run_report

        result = run_report(
            args.report,
            period=args.period,
            team=args.team,
            compare_to=args.compare_to,
            as_of=args.as_of,
            database=args.database,
            timezone=args.timezone,
            output=args.output,
            notebooks=args.notebooks,
            timeout=args.timeout,
            progress=print_progress,
            extra=_pairs(args.param),
        )
        print(result.html)
        return 0
    if args.command == "run-all":
        from crmkit.publish.batch import run_all, summary_table

        if args.workers is not None and args.workers < 1:
            raise PresetError(f"--workers {args.workers} must be 1 or more")
        outcomes = run_all(
            args.preset, database=args.database, output=args.output, notebooks=args.notebooks,
            workers=args.workers, as_of=args.as_of, progress=not args.no_progress,
        )
        print(summary_table(outcomes))
        return 0 if all(o.ok for o in outcomes) else 1
    if args.command == "new-report":
        from crmkit.publish.scaffold import new_report

        print(new_report(args.name, args.notebooks))
        return 0
    if args.command == "install-kernel":
        from crmkit.publish.runner import install_kernel

        print(install_kernel())
        return 0
    if args.command == "index":
        from crmkit.publish.site import write_index

        print(write_index(args.output))
        return 0
    if args.command == "load-postgres":
        from crmkit.backends.postgres import load_from_environment

        target, rows = load_from_environment(args.database, args.schema, progress=print_progress)
        print(f"loaded {sum(rows.values()):,} rows in {len(rows)} tables into {target}")
        return 0
    if args.command == "teams":
        from crmkit.store import Store

        store = Store.open(args.database)
        print("\n".join(store.teams()))
        store.close()
        return 0
    if args.command == "reports":
        from crmkit.publish.runner import available_reports

        print("\n".join(available_reports(args.notebooks)))
        return 0
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
