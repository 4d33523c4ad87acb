# crmkit — the targets a newcomer guesses. Everything runs in ./.venv, built on first use
# from the lock files in requirements/ (exact versions with hashes; `make lock` refreshes them).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= data/demo.duckdb
DB_RU  ?= data/demo-ru.duckdb
PRESET ?= params/monthly.yaml
BRANDING ?= examples/demo/branding.yaml  # the demo company's name, logo and colour (BRANDING= for none)

# One stamp per lock, so `make reports` (runtime only) then `make test` adds the dev lock.
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
LAB_STAMP := $(VENV)/.stamp-lab
PG_STAMP  := $(VENV)/.stamp-postgres
SPARK_STAMP := $(VENV)/.stamp-spark
KERNEL_STAMP := $(VENV)/.stamp-kernel
# pip checks every file against the lock's hashes; crmkit itself comes without dependencies.
PIP_LOCKED := $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes
# `make test`'s workers: the cores this process may use (nproc), at most 4
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))

# `make lock` refreshes the locks with uv, keeping every pin the dependencies still allow;
# `make lock UPGRADE=1` moves every package to its newest allowed version. The locks are
# universal (environment markers, hashes of every published file), for Python >= 3.11.
UV_VERSION := 0.13.9
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
  --generate-hashes --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

.PHONY: env env-dev env-lab env-postgres env-spark demo reports reports-ru test lint bench lab docs messages lock clean help
.DEFAULT_GOAL := help

help:
	@echo "make reports  build the environment and the demo data, render the reports into output/"
	@echo "make test     build the development environment and run the whole test suite"
	@echo "make lab      JupyterLab on work/ (your copies, explore.ipynb) with the project's kernel"
	@echo "make lint     ruff, mypy on the whole package, notebooks stored without outputs"
	@echo "make bench    wall time and peak memory of a report, the demo build, a refresh and Spark"
	@echo "make reports-ru  the same with the Russian demo company, pages in Russian, into output-ru/"
	@echo "make docs     regenerate docs/METRICS.md from the metric definitions in code"
	@echo "make messages collect the page texts into crmkit/locale/crmkit.pot, update the catalogues"
	@echo "make lock     refresh requirements/*.txt from pyproject.toml (UPGRADE=1: newest versions)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crmkit needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

# What running reports needs: the runtime lock, crmkit (editable); the `crmkit` Jupyter kernel below.
$(RUN_STAMP): requirements/run.txt pyproject.toml | $(BIN)/python
	$(PIP_LOCKED) -r requirements/run.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The `crmkit` kernelspec, installed again when the command it names changes.
$(KERNEL_STAMP): crmkit/publish/kernel.py crmkit/publish/launcher.py $(RUN_STAMP)
	$(BIN)/crmkit install-kernel >/dev/null
	@touch $@

# Tests, linters and the PostgreSQL and Spark back-ends, on top of the runtime (same versions: the dev
# lock is compiled under the runtime lock's constraints).
$(DEV_STAMP): requirements/dev.txt $(RUN_STAMP)
	$(PIP_LOCKED) -r requirements/dev.txt
	@touch $@

$(LAB_STAMP): requirements/lab.txt $(RUN_STAMP)
	$(PIP_LOCKED) -r requirements/lab.txt
	@touch $@

# Scheduled runs that read PostgreSQL: the runtime plus the `postgres` extra, no dev tools.
$(PG_STAMP): requirements/postgres.txt $(RUN_STAMP)
	$(PIP_LOCKED) -r requirements/postgres.txt
	@touch $@

env: $(RUN_STAMP) $(KERNEL_STAMP)

env-dev: $(DEV_STAMP) $(KERNEL_STAMP)

env-lab: $(LAB_STAMP) $(KERNEL_STAMP)

env-postgres: $(PG_STAMP) $(KERNEL_STAMP)

# Scheduled runs that read Parquet or catalog tables with Spark: the runtime plus the `spark`
# extra (pyspark; a local Spark also needs Java 17+, e.g. apt install openjdk-17-jre-headless).
$(SPARK_STAMP): requirements/spark.txt $(RUN_STAMP)
	$(PIP_LOCKED) -r requirements/spark.txt
	@touch $@

env-spark: $(SPARK_STAMP) $(KERNEL_STAMP)

demo: env
	$(BIN)/crmkit demo --database $(DB)

reports: demo
	$(BIN)/crmkit run-all $(PRESET) --database $(DB) $(if $(BRANDING),--branding $(BRANDING))
	@echo "Open output/index.html"

# The Russian demo company (Cyrillic names, RUB, Europe/Moscow, locale: ru), its monthly pack,
# in a site of its own (output-ru/): another company's pages, not the English demo's.
reports-ru: env
	$(BIN)/crmkit demo --locale ru --database $(DB_RU)
	$(BIN)/crmkit run-all params/monthly-ru.yaml --database $(DB_RU) --output output-ru
	@echo "Open output-ru/index.html"

test: env-dev
	@# bytecode for crmkit's own modules: every test kernel and subprocess imports them
	@$(BIN)/python -m compileall -q crmkit
	@# one worker per core this process may use (at most 4), each test file and notebook whole
	@# on one of them
	$(BIN)/python -m pytest tests notebooks crmkit/publish/templates/lab/explore.ipynb --nbval-lax --nbval-kernel-name crmkit -p no:cacheprovider --durations=40 \
	  -n $(TEST_WORKERS) --dist loadfile

lint: env-dev
	$(BIN)/ruff check crmkit tests
	$(BIN)/mypy
	$(BIN)/nbstripout --verify --keep-id notebooks/*.ipynb crmkit/publish/templates/custom_report.ipynb \
	  crmkit/publish/templates/lab/explore.ipynb
	$(BIN)/python -m crmkit.metrics.catalogue_doc --check docs/METRICS.md

# BENCH_ARGS=--quick skips scale 100 (minutes); BENCH_ARGS="--db100 FILE" reuses a scale-100 demo.
bench: env env-spark
	@# bytecode for crmkit's own modules, as a user's installation has after its first run
	@$(BIN)/python -m compileall -q crmkit
	$(BIN)/python bench/bench.py $(BENCH_ARGS)
	$(BIN)/python bench/refresh.py
	$(BIN)/python bench/spark.py

# work/ (ignored by git) holds copies of the report notebooks and the starter explore.ipynb;
# the nbstripout filter stores notebooks/ without outputs whatever JupyterLab saved.
lab: env-dev env-lab
	@test -f $(DB) || $(BIN)/crmkit demo --database $(DB)
	$(BIN)/crmkit prepare-lab
	CRMKIT_DATABASE=$(abspath $(DB)) $(BIN)/jupyter lab --notebook-dir=work \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

docs: env
	$(BIN)/python -m crmkit.metrics.catalogue_doc docs/METRICS.md

# Every text a reader sees, from the code, the templates, the metric catalogue and the
# notebooks, into crmkit/locale/crmkit.pot; each catalogue keeps its translations (docs/i18n.md).
messages: env
	$(BIN)/python -m crmkit.locale.extract

# The dev lock is compiled under the runtime lock and the lab lock under the dev lock, so a
# package shared by two locks has the same version in both.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	$(LOCK) -o requirements/run.txt
	$(LOCK) --extra dev --extra postgres --extra spark -c requirements/run.txt -o requirements/dev.txt
	$(LOCK) --extra postgres -c requirements/run.txt -o requirements/postgres.txt
	$(LOCK) --extra spark -c requirements/run.txt -o requirements/spark.txt
	$(LOCK) --extra lab -c requirements/dev.txt -o requirements/lab.txt

clean:
	rm -rf output/*/ output/index.html output-ru/ data/ .pytest_cache
