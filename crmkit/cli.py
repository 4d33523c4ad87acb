"""The ``crmkit`` command line: build the demo, run and publish reports.

Each sub-command is a parser built next to the small handler that carries it out
(``set_defaults(handler=...)``). Errors in what the user typed (a bad period, an unknown
team, a missing database) print one line and exit with status 2; a report that fails while
running exits with 1: both are :class:`crmkit.errors.CrmkitError`, the only errors
:func:`main` catches.

The handlers import what they run when they run: every command reaches pandas, DuckDB or
Jupyter (1 to 2 s), which ``crmkit --help`` and a mistyped option must not wait for.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from crmkit._docstrings import PARAMS
from crmkit._version import __version__
from crmkit.backends.location import is_spark_source, looks_like_url
from crmkit.errors import CrmkitError, ParameterError, PeriodError, ReportError, plural

if TYPE_CHECKING:
    from crmkit.publish.channel import Served

_Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_RUN_DEFAULTS = {"period": "last-month", "team": "all", "compare_to": "previous"}
NOTEBOOKS_HELP = "notebooks folder (default: ./notebooks)"
OUTPUT_HELP = "output folder (default: %(default)s)"
BRANDING_HELP = ("branding file: company name, logo and accent colour of every page and "
                 "index (default: params/branding.yaml if it exists)")
LOCALE_HELP = ("language and formats of the pages: en, ru (default: the preset's locale, else "
               "the dataset's locale setting, else en)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _no_url(getattr(args, "database", None))  # demo's and import's: where to write
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt:
        say("crmkit: interrupted")
        return 130
    except BrokenPipeError:  # whoever read the standard output is gone
        say(f"crmkit: error: {NOT_WRITTEN}")
        _stdout_to_devnull()
        return 120
    except CrmkitError as exc:  # every expected failure is a one-line message, no traceback
        say(f"crmkit: error: {exc}")
        return 1 if isinstance(exc, ReportError) else 2


NOT_WRITTEN = "the result could not be written to standard output (closed, or its disk full)"

#: Commands after which the process ends without tearing the interpreter down (its
#: modules and objects: 0.2 s after a report, a tenth of a run): they leave no thread,
#: child process or temporary file to an exit handler. Not after a run that started Spark
#: in this process (pyspark ends its Java process in an exit handler).
ENDS_AT_ONCE = frozenset({"run"})


def _stdout_to_devnull() -> None:
    """Standard output into the null device: Python's exit would flush what is left into
    the closed pipe and fail once more (the way Python's documentation advises)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def entry() -> None:
    """The ``crmkit`` command: :func:`main`; after a command of :data:`ENDS_AT_ONCE`, its
    output flushed, the process ends at once. Output that cannot be written (a closed
    pipe, a full disk) fails the command with status 120, as Python's own exit does."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv[:1] and argv[0] in ENDS_AT_ONCE and "pyspark" not in sys.modules:
        try:
            sys.stdout.flush()
        except OSError:  # a closed pipe, a full disk: the result is lost
            say(f"crmkit: error: {NOT_WRITTEN}")
            code = code or 120
        with contextlib.suppress(OSError):
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def print_progress(message: str) -> None:
    """A progress line on standard error (standard output carries the result)."""
    say(f"crmkit: {message}")


def say(line: str) -> None:
    """``line`` on standard error. What the command says there is a courtesy: when no one
    reads it any longer (``2>&1 | head``), the command goes on without it (a run stopped
    before its notebook ran, and published nothing); later lines go to the null device."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmkit", description="CRM reports: run, publish, explore.")
    parser.add_argument("--version", action="version", version=f"crmkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _no_url(database: str | None) -> None:
    """A PostgreSQL URL on the command line would show in process lists and shell history
    (and a URL, well formed or not, is never echoed: it may hold a password)."""
    if database and looks_like_url(database) and not is_spark_source(database):
        raise ParameterError(
            "--database takes a DuckDB file; give a PostgreSQL database through the "
            "CRMKIT_DATABASE_URL environment variable, so its password stays out of "
            "process lists and shell history"
        )


# -- demo ------------------------------------------------------------------------------------


def _add_demo(sub: _Sub) -> None:
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
    demo.add_argument("--currency", default=None, help="currency code (default: EUR; RUB for ru)")
    demo.add_argument("--locale", default="en", choices=("en", "ru"),
                      help="the company's language: ru makes a Russian company (Cyrillic "
                      "names, RUB, Europe/Moscow, pages in Russian; default: %(default)s)")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    try:
        end = date.fromisoformat(args.end) if args.end else None
    except ValueError:
        raise PeriodError(f"--end {args.end!r} is not a date: use YYYY-MM-DD") from None
    if args.scale < 1:
        raise ParameterError(f"--scale {args.scale} must be 1 or more")
    # lazy: the demo generator loads pandas and numpy
    from crmkit.sources.demo import build_demo

    path = build_demo(
        args.database, seed=args.seed, end=end, scale=args.scale, timezone=args.timezone,
        currency=args.currency, progress=print_progress, locale=args.locale,
    )
    print(path)
    return 0


# -- import ----------------------------------------------------------------------------------


def _add_import(sub: _Sub) -> None:
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
    imp.set_defaults(handler=_import)


def _import(args: argparse.Namespace) -> int:
    from crmkit.sources.imports import import_exports  # lazy: the importer loads pandas

    result = import_exports(args.source_dir, mapping=args.mapping, database=args.database)
    say(result.summary())
    print(result.database)
    return 0


# -- run -------------------------------------------------------------------------------------


def _add_run(sub: _Sub) -> None:
    run = sub.add_parser("run", help="execute one report notebook and publish HTML + JSON")
    run.add_argument("report", help="report id: sales, ... (a notebook in notebooks/)")
    for name in ("period", "team", "compare_to", "as_of", "database", "timezone"):
        run.add_argument("--" + name.replace("_", "-"), default=_RUN_DEFAULTS.get(name), help=PARAMS[name])
    run.add_argument("--output", default="output", help=OUTPUT_HELP)
    run.add_argument("--notebooks", default=None, help=NOTEBOOKS_HELP)
    run.add_argument(
        "--timeout", type=int, default=600, help="seconds per cell (default: %(default)s)"
    )
    run.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a report's own parameter, e.g. --param active_days=60 (repeatable)",
    )
    run.add_argument("--branding", default=None, help=BRANDING_HELP)
    run.add_argument("--locale", default=None, help=LOCALE_HELP)
    run.add_argument("--no-server", action="store_true",
                     help="run here even when a report server (crmkit serve) is up")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    extra = _pairs(args.param)
    served = None if args.no_server else _served(args, extra)
    if served is not None:  # a report server ran it (crmkit serve)
        if served.code:
            say(f"crmkit: error: {served.error}")
        else:
            print(served.html)
        return served.code
    # lazy: these three load no data library, so the report's kernel starts booting (and
    # importing the report modules) before this process loads the runner's
    from crmkit.backends.location import find_database
    from crmkit.publish.kernel import Kernel
    from crmkit.publish.notebooks import find_notebooks, report_notebook

    folder = find_notebooks(args.notebooks)
    report_notebook(args.report, folder)
    kernel = Kernel(find_database(args.database), folder, reports=(args.report,))
    try:
        # lazy: pydantic, Jupyter (while the kernel boots)
        from crmkit.publish.presets import find_branding
        from crmkit.publish.runner import run_report

        branding = find_branding(args.branding)
        result = run_report(
            args.report, period=args.period, team=args.team, compare_to=args.compare_to,
            as_of=args.as_of, database=args.database, timezone=args.timezone,
            output=args.output, notebooks=folder, timeout=args.timeout,
            progress=print_progress, extra=extra, kernel=kernel, close_kernel=True,
            branding=branding, locale=args.locale,
        )
    finally:
        kernel.close()
    print(result.html)
    return 0


def _served(args: argparse.Namespace, extra: dict[str, str]) -> Served | None:
    """The run carried out by the report server (:func:`_handed_over`); None: run here."""
    names = ("report", "period", "team", "compare_to", "as_of", "database", "timezone",
             "output", "notebooks", "timeout", "branding", "locale")
    return _handed_over(args.database, {**{n: getattr(args, n) for n in names}, "extra": extra}, "run")


def _handed_over(database: str | None, request: dict[str, Any], kind: str) -> Served | None:
    """What the report server answered to ``request`` (``kind`` ``run`` or ``batch``), if
    one is up and takes it (a DuckDB file only: no password is handed over); None: the
    command runs it itself."""
    from crmkit.backends.location import find_database  # lazy: standard library only
    from crmkit.publish.channel import request_run  # lazy: standard library only

    try:
        if not isinstance(find_database(database), Path):
            return None
    except CrmkitError:
        return None  # the run here says what is wrong
    line = _RedrawnLine()
    try:
        served = request_run(request, line.progress, kind=kind, bar=line.redraw)
        line.clear()  # the answer is printed on a line of its own
        return served
    except KeyboardInterrupt:
        line.progress("the report server finishes the pages in progress and starts no other"
                      if kind == "batch" else "the report server finishes the run in progress")
        raise


class _RedrawnLine:
    """Standard error as a served batch's client writes it: the progress bar redrawn in
    place on one line (as the batch's own bar is, run here), which the next progress line
    replaces."""

    def __init__(self) -> None:
        self.width = 0

    def redraw(self, state: str) -> None:
        sys.stderr.write("\r" + state + " " * max(self.width - len(state), 0))
        sys.stderr.flush()
        self.width = max(self.width, len(state))  # what the line shows, padding included

    def clear(self) -> None:
        if self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            self.width = 0

    def progress(self, message: str) -> None:
        self.clear()
        print_progress(message)


def _pairs(items: Sequence[str]) -> dict[str, str]:
    """``--param NAME=VALUE`` options as a mapping."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param {item!r}: write NAME=VALUE, e.g. active_days=60")
        out[name.strip()] = value.strip()
    return out


def _add_serve(sub: _Sub) -> None:
    serve = sub.add_parser(
        "serve", help="keep warm kernels ready: crmkit run and run-all hand their runs to it while it is up",
        description="A local report server: it keeps a booted, warm kernel and nbconvert's "
        "compiled templates ready, and `crmkit run` in this user's sessions hands its run to it "
        "(each report on a fresh kernel) instead of starting its own; `crmkit run-all` hands it "
        "its batch, which runs on batch workers the server keeps warm from one batch to the "
        "next (not a preset that sends e-mail). It listens on a Unix "
        "socket only this user can reach ($CRMKIT_SERVE_SOCKET, else $XDG_RUNTIME_DIR/crmkit/, "
        "else a private folder in the temporary directory). SIGTERM or Ctrl-C stops it.")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from crmkit.publish.serve import serve  # lazy: loads Jupyter, pandas

    try:
        serve(print_progress)
    except KeyboardInterrupt:
        print_progress("report server stopped")
    return 0


# -- run-all ---------------------------------------------------------------------------------


def _batch_arguments(parser: argparse.ArgumentParser, force: str) -> None:
    """The arguments run-all and watch share (``force``: what --force does)."""
    parser.add_argument("preset", help="preset file, e.g. params/monthly.yaml")
    parser.add_argument("--database", default=None, help=PARAMS["database"])
    parser.add_argument("--output", default="output", help=OUTPUT_HELP)
    parser.add_argument("--notebooks", default=None, help=NOTEBOOKS_HELP)
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--branding", default=None, help=BRANDING_HELP)
    parser.add_argument("--locale", default=None, help=LOCALE_HELP)
    parser.add_argument("--dry-run", action="store_true",
                        help="write the preset's e-mails into OUTPUT/outbox/*.eml instead of sending them")
    parser.add_argument("--force", action="store_true", help=force)


def _check_workers(args: argparse.Namespace) -> None:
    """``--workers`` and ``--as-of`` of a batch, checked before the preset is read (a bad
    ``--as-of`` was told as the preset's)."""
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers {args.workers} must be 1 or more")
    if getattr(args, "as_of", None) is not None:
        from crmkit.periods import parse_as_of  # lazy: as the commands that run

        try:
            parse_as_of(args.as_of, instant=True)
        except PeriodError as exc:
            raise PeriodError(f"--as-of: {exc}") from None


def _add_run_all(sub: _Sub) -> None:
    run_all = sub.add_parser("run-all", help="run every report of a preset (params/*.yaml) in parallel")
    _batch_arguments(run_all, "render every report, also those whose inputs have not changed")
    run_all.add_argument("--as-of", default=None, help=PARAMS["as_of"])
    run_all.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    run_all.add_argument("--no-server", action="store_true",
                         help="run here even when a report server (crmkit serve) is up")
    run_all.set_defaults(handler=_run_all)


def _run_all(args: argparse.Namespace) -> int:
    _check_workers(args)
    served = None if args.no_server else _served_batch(args)
    if served is not None:  # a report server ran it on its warm workers (crmkit serve)
        if served.error:
            say(f"crmkit: error: {served.error}")
        else:
            print(served.html)
        return served.code
    from crmkit.publish.batch import (  # lazy: loads Jupyter, pandas
        NOT_RUN,
        delivery_table,
        run_all,
        summary_table,
    )
    from crmkit.publish.presets import find_branding  # lazy: loads pydantic
    from crmkit.publish.watch import BatchStop  # lazy: with the batch

    deliveries: list = []
    # until the command is done: a second signal while it sums up also stops it now (130),
    # rather than ending it by the signal's default
    with BatchStop() as stopped:
        outcomes = run_all(
            args.preset, database=args.database, output=args.output, notebooks=args.notebooks,
            workers=args.workers, as_of=args.as_of, progress=not args.no_progress,
            branding=find_branding(args.branding), dry_run=args.dry_run, deliveries=deliveries,
            force=args.force, locale=args.locale, stop=stopped.event.is_set,
        )
        print(summary_table(outcomes))
        if deliveries:  # a failed e-mail is listed here and in status.json; it fails no report
            print()
            print(delivery_table(deliveries))
        if stopped.received is not None:
            not_started = sum(o.error == NOT_RUN for o in outcomes)
            say(f"crmkit: stopped by {stopped.received.name}: "
                f"{not_started} {plural(not_started, 'page')} not started")
            return 128 + stopped.received.value
        return 0 if all(o.ok for o in outcomes) else 1


def _served_batch(args: argparse.Namespace) -> Served | None:
    """The batch carried out by the report server (:func:`_handed_over`); None: run here."""
    names = ("preset", "database", "output", "notebooks", "workers", "as_of", "branding",
             "dry_run", "force", "locale")
    request = {**{n: getattr(args, n) for n in names}, "progress": not args.no_progress}
    return _handed_over(args.database, request, "batch")


# -- watch -----------------------------------------------------------------------------------


def _add_watch(sub: _Sub) -> None:
    watch = sub.add_parser("watch", help="run a preset again and again (a live site): only "
                           "what changed is rendered; SIGTERM stops it cleanly")
    _batch_arguments(watch, "render every report in the first run")
    watch.add_argument("--every", default="15m",
                       help="time between runs: 30s, 15m, 1h (default: %(default)s)")
    watch.add_argument("--runs", type=int, default=None, help="stop after this many runs (default: never)")
    watch.set_defaults(handler=_watch)


def _watch(args: argparse.Namespace) -> int:
    if args.runs is not None and args.runs < 1:
        raise ParameterError(f"--runs {args.runs} must be 1 or more")
    _check_workers(args)
    from crmkit.publish.presets import find_branding, load_preset  # lazy: loads pydantic
    from crmkit.publish.watch import parse_every, watch  # lazy: loads Jupyter, pandas

    every = parse_every(args.every)
    load_preset(args.preset)  # a bad preset is refused before the loop starts
    return watch(args.preset, every=every, output=args.output, runs=args.runs,
                 database=args.database, notebooks=args.notebooks, workers=args.workers,
                 branding=find_branding(args.branding), force=args.force, dry_run=args.dry_run,
                 progress=False, locale=args.locale)


# -- new-report, install-kernel, index, reports ---------------------------------------------


def _add_new_report(sub: _Sub) -> None:
    new = sub.add_parser("new-report", help="create notebooks/NAME.ipynb from the custom-report template")
    new.add_argument("name", help="report id: lower-case letters, digits and _")
    new.add_argument("--notebooks", default=None, help=NOTEBOOKS_HELP)
    new.add_argument("--from", dest="source", default=None, metavar="NOTEBOOK",
                     help="promote this notebook (e.g. work/explore.ipynb) instead of the template")
    new.set_defaults(handler=_new_report)
    lab = sub.add_parser("prepare-lab", help="lay out work/ (copies of the report notebooks, "
                         "explore.ipynb) and the nbstripout git filter for make lab")
    lab.add_argument("--root", default=".", help="the project folder (default: here)")
    lab.set_defaults(handler=_prepare_lab)


def _new_report(args: argparse.Namespace) -> int:
    from crmkit.publish.scaffold import new_report  # lazy: the registry loads pandas

    print(new_report(args.name, args.notebooks, args.source))
    return 0


def _prepare_lab(args: argparse.Namespace) -> int:
    from crmkit.publish.scaffold import prepare_lab  # lazy: the registry loads pandas

    print(prepare_lab(args.root))
    return 0


def _add_install_kernel(sub: _Sub) -> None:
    kernel = sub.add_parser(
        "install-kernel", help="install the fixed 'crmkit' Jupyter kernel into this environment"
    )
    kernel.set_defaults(handler=_install_kernel)


def _install_kernel(args: argparse.Namespace) -> int:
    from crmkit.publish.kernel import install_kernel  # lazy: a command's own part

    print(install_kernel())
    return 0


def _add_index(sub: _Sub) -> None:
    index = sub.add_parser("index", help="rebuild output/index.html from the reports present")
    index.add_argument("--output", default="output")
    index.add_argument("--branding", default=None, help=BRANDING_HELP)
    index.set_defaults(handler=_index)


def _index(args: argparse.Namespace) -> int:
    # lazy: the branding loads pydantic, the index Jinja2
    from crmkit.publish.presets import find_branding
    from crmkit.publish.site import write_index

    print(write_index(args.output, branding=find_branding(args.branding)))
    return 0


def _add_reports(sub: _Sub) -> None:
    reports = sub.add_parser("reports", help="list the available reports")
    reports.add_argument("--notebooks", default=None)
    reports.set_defaults(handler=_reports)


def _reports(args: argparse.Namespace) -> int:
    from crmkit.publish.notebooks import available_reports  # lazy: a command's own part

    print("\n".join(available_reports(args.notebooks)))
    return 0


# -- the database: load-postgres, teams ------------------------------------------------------


def _add_load_postgres(sub: _Sub) -> None:
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
    load_pg.set_defaults(handler=_load_postgres)


def _load_postgres(args: argparse.Namespace) -> int:
    # lazy: the loader loads DuckDB and pandas
    from crmkit.backends.postgres import load_from_environment

    target, rows = load_from_environment(args.database, args.schema, progress=print_progress)
    print(f"loaded {sum(rows.values()):,} rows in {len(rows)} tables into {target}")
    return 0


def _add_export_parquet(sub: _Sub) -> None:
    export = sub.add_parser(
        "export-parquet",
        help="write a database's canonical tables as Parquet, for Spark",
        description="Write the canonical tables, settings, data notes and pipeline snapshots of "
        "a crmkit database (a DuckDB file, or PostgreSQL through $CRMKIT_DATABASE_URL) as "
        "Parquet into a folder Spark reads (CRMKIT_SPARK_SOURCE=parquet:FOLDER, see "
        "docs/spark.md); the large fact tables one folder per month. The folder appears "
        "complete or not at all.",
    )
    export.add_argument("--database", default=None, help=PARAMS["database"])
    export.add_argument("--to", required=True, help="the folder to write (new, empty or a previous export)")
    export.add_argument("--replace", action="store_true",
                        help="replace the folder even when it is not a previous export")
    export.set_defaults(handler=_export_parquet)


def _export_parquet(args: argparse.Namespace) -> int:
    from crmkit.backends.parquet import export_parquet  # lazy: loads pyarrow and DuckDB

    rows = export_parquet(args.database, args.to, replace=args.replace, progress=print_progress)
    print(f"wrote {sum(rows.values()):,} rows in {len(rows)} tables to {args.to}")
    return 0


def _add_teams(sub: _Sub) -> None:
    teams = sub.add_parser("teams", help="list the team ids of a database, one per line")
    teams.add_argument("--database", default=None, help=PARAMS["database"])
    teams.set_defaults(handler=_teams)


def _teams(args: argparse.Namespace) -> int:
    from crmkit.parameters import usable_teams  # lazy: loads babel, which a served run skips
    from crmkit.store import Store  # lazy: the store loads pandas and DuckDB

    store = Store.open(args.database)
    try:
        good, refused = usable_teams(store.teams())
    finally:
        store.close()
    print("\n".join(good))
    for reason in refused.values():
        say(f"crmkit: warning: {reason}")
    return 0


# -- snapshot --------------------------------------------------------------------------------


def _add_snapshot(sub: _Sub) -> None:
    snap = sub.add_parser(
        "snapshot", help="record today's open deals in the database's pipeline history",
        description="Record the deals open now (or at the end of --day) with their stage, amount, "
        "probability and expected close, once per day: the Sales report's pipeline movement "
        "and forecast accuracy read them. Run it daily (cron, a systemd timer) or let "
        "`crmkit watch` take one on each run.")
    snap.add_argument("--database", default=None, help=PARAMS["database"])
    snap.add_argument("--day", default=None,
                      help="the day, YYYY-MM-DD, in the company time zone (default: today; a "
                      "past day is recorded from the deals as they are now)")
    snap.set_defaults(handler=_snapshot)


def _snapshot(args: argparse.Namespace) -> int:
    from crmkit.backends.snapshots import take_snapshot  # lazy: loads DuckDB

    result = take_snapshot(args.database, args.day)
    amount = f"{result.amount:,.0f}{f' {result.currency}' if result.currency else ''}"
    what = {
        "new": "the first snapshot of that day",
        "replaced": "replaced the earlier snapshot of that day",
        "unchanged": f"the same deals as the snapshot of that day taken at "
                     f"{result.taken_at:%H:%M} UTC, kept as it was",
    }[result.outcome]
    over = ""
    if result.day_over and result.outcome != "unchanged":
        over = " (the day is over: its deals as recorded now)"
    print(f"snapshot {result.day}: {result.open_deals:,} open deals, {amount}; {what}{over}")
    return 0


#: The sub-commands, in the order ``crmkit --help`` lists them.
COMMANDS: tuple[Callable[[_Sub], None], ...] = (
    _add_demo,
    _add_import,
    _add_run,
    _add_serve,
    _add_run_all,
    _add_watch,
    _add_new_report,
    _add_install_kernel,
    _add_index,
    _add_load_postgres,
    _add_export_parquet,
    _add_teams,
    _add_reports,
    _add_snapshot,
)


if __name__ == "__main__":  # pragma: no cover
    entry()
