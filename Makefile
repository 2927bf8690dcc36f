# Kogi Ledger — the two commands a newcomer needs are `make run` and `make test`.
# Each works on a fresh machine by itself: it creates .venv, installs the Python and
# npm dependencies when their manifests changed, builds the contracts, then runs.
# `make run PORT=9000 HOST=0.0.0.0` serves the API elsewhere (KOGI_CHAIN_PORT moves the chain).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KOGI := $(VENV)/bin/kogi
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint deps contracts bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

contracts: deps
	$(KOGI) contracts build

run: deps contracts
	$(KOGI) db upgrade
	$(KOGI) serve --host $(HOST) --port $(PORT)

# lint: ruff (rules and format), mypy (strict for ledger/), import-linter (the layers of
# docs/ARCHITECTURE.md); tests/test_architecture.py adds "no import cycle" to the test run.
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: deps contracts lint
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules artifacts cache .kogi
