"""Database back-ends other than the embedded DuckDB file.

Each back-end hands :class:`crmkit.store.Store` one narwhals ``LazyFrame`` per canonical
table, backed by the database itself, so the same metric code compiles to the database's
SQL and only aggregated rows travel. :mod:`crmkit.backends.fingerprint` computes the data
fingerprint the same way on every engine.
"""
