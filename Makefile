# The only commands a contributor needs. Everything installs itself into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SYNAPSE_VENV := .venv-synapse
SYNAPSE_STAMP := $(SYNAPSE_VENV)/.installed

.PHONY: run test lint bench install install-synapse clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@# The browser tests drive Debian's Chromium; Playwright never downloads a browser.
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	touch $(STAMP)

install: $(STAMP)

## make install-synapse: a Matrix homeserver (Synapse) in its own venv, for the Matrix tests
$(SYNAPSE_STAMP):
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	@echo "*" > $(SYNAPSE_VENV)/.gitignore  # the venv is never committed
	$(SYNAPSE_VENV)/bin/pip install --quiet --upgrade pip
	$(SYNAPSE_VENV)/bin/pip install --quiet 'matrix-synapse>=1.163,<1.164'
	touch $(SYNAPSE_STAMP)

install-synapse: $(SYNAPSE_STAMP)

## make run: the server on SQLite with the demo merchant at http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/tribekit serve --demo

## make test: the whole suite, every database test on SQLite and on PostgreSQL, with Redis;
## the Matrix tests against a real Synapse on loopback
test: $(STAMP) $(SYNAPSE_STAMP)
	$(BIN)/pytest -n 2

## make lint: ruff (lint + format check) and mypy strict
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## make bench: every benchmark under bench/, figures printed and appended to bench/results.jsonl
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) .pytest_cache .mypy_cache .ruff_cache
