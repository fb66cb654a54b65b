# The two commands: `make run` starts the engine locally, `make test` runs the tests.
# Both build their own virtual environment first; nothing else needs to be installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint install load bench

# `make run` installs only what running needs (the runtime and the `local` servers); `make test`
# adds the test, lint, load and plotting tools (`dev`) to the same environment.
RUNTIME := $(BIN)/.installed-runtime
DEV := $(BIN)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[local]"
	touch $@

$(DEV): pyproject.toml $(RUNTIME)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(DEV)

run: $(RUNTIME)
	$(BIN)/mastery-run

lint: install
	$(BIN)/ruff check shared functions tests
	$(BIN)/ruff format --check shared functions tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint
	$(BIN)/pytest --cov --cov-report=term -q

# The load test (~1000 users, 60 s; bench/load.py --help) and the benchmarks against bare
# baselines (bench/query.py, bench/startup.py): see docs/BENCHMARKS.md.
load: install
	$(BIN)/python -m bench.load

bench: install
	$(BIN)/python -m bench.query
	$(BIN)/python -m bench.startup
