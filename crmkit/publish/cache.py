"""The refresh cache: a page is re-rendered only when something it is computed from changed.

A page's **key** is a hash of its inputs: the data it reads (per table, narrowed to its team:
:func:`crmkit.backends.changes.frame_hashes`), the company-wide span of the data (the
page's coverage sentences depend on it), the dataset's settings, data notes and team names,
its parameters with relative periods resolved (and the as-of instant while the period is not
over), its notebook, crmkit's own code and the site around it (branding, alert rules, the
pages it links). The key is published with the page, as ``<report>.key`` beside
``<report>.html`` and ``<report>.json`` (one unit: :func:`crmkit._files.publish_together`),
so a page and its key always describe the same run; a failed run keeps both.

Reading the data's hashes costs one scan per team; a quiet database costs none: the hashes
are kept in ``output/.refresh.json`` with the database's :func:`~crmkit.backends.changes.stamp`
and reused while the stamp stays the same.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmkit._files import write_atomic
from crmkit.backends.base import SNAPSHOTS
from crmkit.backends.changes import frame_hashes, stamp
from crmkit.backends.engines import open_backend
from crmkit.backends.location import Database, SparkLocation
from crmkit.errors import CrmkitError
from crmkit.metrics.coverage import spans
from crmkit.reports import REPORTS
from crmkit.store import Store

__all__ = ["KEY_SUFFIX", "STATE_FILE", "DataState", "data_state", "is_fresh", "known_fingerprint",
           "page_key", "sealed", "snapshot_due", "snapshot_taken", "stale_inputs"]

#: The suffix of a page's cache key, published beside its ``.html`` and ``.json``.
KEY_SUFFIX = ".key"
#: The data's hashes for the last stamp seen, in the output folder.
STATE_FILE = ".refresh.json"
_PACKAGE = Path(__file__).resolve().parent.parent
_CODE_SUFFIXES = (".py", ".j2", ".css", ".ipynb", ".tpl", ".json", ".svg")


#: Settings no page shows: when the database was built (the demo is built again on every
#: ``make reports``, its rows the same) is not a change of the pages' data.
UNSHOWN_SETTINGS = frozenset({"built_at"})


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class DataState:
    """What the data looks like now: ``hashes[team][table]`` (None: the engine cannot say,
    every page counts as changed), the company-wide span of every kind of record per time
    zone, and a digest of the settings, data notes and team names."""

    database: str
    stamp: str
    hashes: dict[str, dict[str, str]] | None
    spans: dict[str, str]
    meta: str
    #: The days of the pipeline snapshots, company-wide (a team's Sales page picks its
    #: snapshots among them).
    snapshot_days: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "stamp": self.stamp, "hashes": self.hashes,
                "spans": self.spans, "meta": self.meta, "snapshot_days": self.snapshot_days}


def _where(database: Database) -> str:
    """Which database, as a hash: its path or address may hold what no output may show."""
    place = str(database.resolve()) if isinstance(database, Path) else str(database)
    return _digest(place)[:24]


def _read_state(out_root: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((out_root / STATE_FILE).read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def _reusable(old: Mapping[str, Any], where: str, now: str, scopes: set[str],
              timezones: set[str]) -> bool:
    hashes, found = old.get("hashes"), old.get("spans")
    return (old.get("database") == where and old.get("stamp") == now
            and isinstance(hashes, dict) and scopes <= set(hashes)
            and isinstance(found, dict) and timezones <= set(found))


def data_state(database: Database, out_root: Path, scopes: Iterable[str],
               timezones: Iterable[str]) -> DataState:
    """The data's state for the teams in ``scopes`` (``all``: company-wide), read from
    ``output/.refresh.json`` while the database's stamp is unchanged, else from the data
    (and kept there for the next run)."""
    where, now = _where(database), stamp(database)
    scopes, timezones = set(scopes), set(timezones)
    if isinstance(database, SparkLocation):  # hashing on a cluster costs a job per table
        return DataState(where, now, None, {}, "")
    old = _read_state(out_root)
    if _reusable(old, where, now, scopes, timezones):
        return DataState(where, now, old["hashes"], old["spans"], str(old.get("meta", "")),
                         str(old.get("snapshot_days", "")))
    state = _compute(database, where, now, scopes, timezones)
    kept = {k: old[k] for k in ("snapshot",) if _same(old.get(k), where, now)}
    with contextlib.suppress(CrmkitError, OSError):  # without it, the next run reads again
        write_atomic(out_root / STATE_FILE, json.dumps({**state.to_json(), **kept}, indent=1) + "\n")
    return state


def _same(record: Any, where: str, now: str) -> bool:
    return isinstance(record, dict) and record.get("database") == where and record.get("stamp") == now


def snapshot_due(database: Database, out_root: Path, day: str) -> bool:
    """Whether a run should take the pipeline snapshot of ``day`` (a local date): not when
    it took that day's snapshot already and the database has not changed since (a quiet
    CRM costs no read of the deals)."""
    record = _read_state(out_root).get("snapshot")
    return not (isinstance(record, dict) and record.get("day") == day
                and _same(record, _where(database), stamp(database)))


def snapshot_taken(database: Database, out_root: Path, day: str) -> None:
    """Remember that the snapshot of ``day`` matches the database as it is now."""
    state = _read_state(out_root)
    state["snapshot"] = {"database": _where(database), "stamp": stamp(database), "day": day}
    with contextlib.suppress(CrmkitError, OSError):
        write_atomic(out_root / STATE_FILE, json.dumps(state, indent=1) + "\n")


def _compute(database: Database, where: str, now: str, scopes: set[str],
             timezones: set[str]) -> DataState:
    backend = open_backend(database)
    store = Store.of(backend)
    try:
        scoped = {team: frame_hashes(backend, dict(store.scoped(team))) for team in sorted(scopes)}
        hashes = {t: h for t, h in scoped.items() if h is not None}
        found_spans = {tz: _digest(sorted((k, str(s)) for k, s in spans(store.tables, tz).items()))
                       for tz in sorted(timezones)}
        shown = {k: v for k, v in store.settings.items() if k not in UNSHOWN_SETTINGS}
        meta = _digest([shown, [n.as_row() for n in store.notes], store.teams()])
        days = _digest(sorted(str(d) for d in store.tables[SNAPSHOTS].select("snapshot_date")
                              .unique().collect().to_pandas()["snapshot_date"]))
    finally:
        store.close()
    return DataState(where, now, hashes if len(hashes) == len(scoped) else None, found_spans, meta,
                     days)


def known_fingerprint(database: Database, out_root: Path) -> str | None:
    """``<stamp>:<fingerprint>`` of the database for the notebooks a run starts
    (:data:`crmkit.store.FINGERPRINT_ENV`): kept in ``.refresh.json`` with the stamp, so
    the whole data is hashed once per change of the data, not once per report."""
    if isinstance(database, SparkLocation):  # each notebook's session computes it
        return None
    try:
        where, now = _where(database), stamp(database)
        old = _read_state(out_root)
        same = old.get("database") == where and old.get("stamp") == now
        if same and isinstance(old.get("fingerprint"), str):
            return f"{now}:{old['fingerprint']}"
        backend = open_backend(database)
        try:
            found = backend.fingerprint()
        finally:
            backend.close()
        if same:
            write_atomic(out_root / STATE_FILE, json.dumps({**old, "fingerprint": found}, indent=1) + "\n")
        return f"{now}:{found}"
    except Exception:  # noqa: BLE001 - an optimisation: each notebook computes it instead
        return None


@functools.cache
def code_digest() -> str:
    """A hash of crmkit's own code, templates and styles (any change re-renders)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in _CODE_SUFFIXES and "__pycache__" not in path.parts:
            digest.update(path.relative_to(_PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def page_key(*, report: str, team: str, timezone: str, parameters: Mapping[str, Any],
             notebook: Path, site: Any, state: DataState) -> dict[str, Any] | None:
    """What a page is computed from (JSON-ready; its ``key`` is the hash of the rest), or
    None when the data's hashes are unknown (the page is always rendered)."""
    if state.hashes is None or team not in state.hashes:
        return None
    spec = REPORTS.get(report)
    tables = state.hashes[team]
    reads = sorted(spec.reads) if spec is not None and spec.reads else sorted(tables)
    parts = {
        "data": {name: tables.get(name) for name in reads},
        "coverage": state.spans.get(timezone),
        "dataset": state.meta,
        "parameters": dict(parameters),
        "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
        "code": code_digest(),
        "site": _digest(site),
    }
    if SNAPSHOTS in reads:
        parts["snapshot_days"] = state.snapshot_days
    return {"key": _digest(parts), "parts": parts}


#: The published files a key vouches for, by content.
_SEALED = (".html", ".json")


def _content(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def sealed(key_text: str, files: Mapping[str, str | bytes]) -> str:
    """The key file published with a page: its key, and the hashes of the page and twin
    (a page changed or damaged since is rendered again)."""
    key = json.loads(key_text)
    key["files"] = {suffix: _content(files[suffix]) for suffix in _SEALED}
    return json.dumps(key, indent=1, sort_keys=True) + "\n"


def _published_key(page: Path) -> dict[str, Any] | None:
    """The key a page was published with, if its page and twin are there, unchanged."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(page.with_suffix(KEY_SUFFIX).read_text(encoding="utf-8"))
        files = data.get("files") if isinstance(data, dict) else None
        if isinstance(files, dict) and all(
                files.get(suffix) == _content(page.with_suffix(suffix).read_bytes())
                for suffix in _SEALED):
            return data
    return None


def is_fresh(page: Path, key: Mapping[str, Any] | None) -> bool:
    """Whether the published ``page`` (``.../<report>.html``) was computed from ``key``."""
    if key is None:
        return False
    old = _published_key(page)
    return old is not None and old.get("key") == key["key"]


def stale_inputs(page: Path, key: Mapping[str, Any] | None) -> str:
    """Why ``page`` is re-rendered, in a few words: ``new``, ``data: deals, leads``,
    ``notebook``, ``code``..."""
    if key is None:
        return "data not comparable"
    old = _published_key(page)
    if old is None or not isinstance(old.get("parts"), dict):
        return "new"
    before, now = old["parts"], key["parts"]
    changed = [name for name in now if name != "data" and before.get(name) != now[name]]
    tables = [t for t, h in now["data"].items() if (before.get("data") or {}).get(t) != h]
    if tables:
        changed.insert(0, "data: " + ", ".join(tables))
    return "; ".join(changed) or "inputs"
