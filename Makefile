# crmkit — the targets a newcomer guesses. Everything runs in ./.venv, built on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.crmkit-installed
DB     ?= data/demo.duckdb
PRESET ?= params/monthly.yaml

.PHONY: env demo reports test lint bench lab clean help
.DEFAULT_GOAL := help

help:
	@echo "make reports  build the environment and the demo data, render the reports into output/"
	@echo "make test     build the environment and run the whole test suite"
	@echo "make lab      JupyterLab on notebooks/ with the project's kernel"
	@echo "make lint     ruff, mypy on the metric modules, notebooks stored without outputs"
	@echo "make bench    wall time and peak memory of a report and of the demo build"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crmkit needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	$(BIN)/crmkit install-kernel >/dev/null
	@touch $(STAMP)

env: $(STAMP)

demo: env
	$(BIN)/crmkit demo --database $(DB)

reports: demo
	$(BIN)/crmkit run-all $(PRESET) --database $(DB)
	@echo "Open output/index.html"

test: env
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-kernel-name crmkit -p no:cacheprovider

lint: env
	$(BIN)/ruff check crmkit tests
	$(BIN)/mypy
	$(BIN)/nbstripout --verify --keep-id notebooks/*.ipynb crmkit/publish/templates/custom_report.ipynb

bench: env
	@# bytecode for crmkit's own modules, as a user's installation has after its first run
	@$(BIN)/python -m compileall -q crmkit
	$(BIN)/python bench/bench.py

lab: env
	@$(BIN)/python -c 'import jupyterlab' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[lab]'
	@test -f $(DB) || $(BIN)/crmkit demo --database $(DB)
	CRMKIT_DATABASE=$(abspath $(DB)) $(BIN)/jupyter lab --notebook-dir=notebooks \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

clean:
	rm -rf output/*/ output/index.html data/ .pytest_cache
