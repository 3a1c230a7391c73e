# `make demo` runs the whole job on an embedded SQLite database; `make test` is the full
# suite (CI's command); `make check` is the quick inner loop; `make lint` is ruff alone.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What ruff checks and formats.
LINT_PATHS := bank_scoring dags tests bench
# The inner loop leaves out what starts Airflow or runs for minutes (markers in pyproject.toml).
CHECK_MARKERS := not slow and not airflow and not service

.PHONY: venv demo desk test check lint constraints clean help

help:
	@echo "make demo   - install, load the UCI data, retrain and score through Airflow, print the worklist"
	@echo "make desk   - serve the agents' desk on the demo's data (http://127.0.0.1:8000)"
	@echo "make test   - lint, then the whole test suite (PostgreSQL tests need the local server)"
	@echo "make check  - the quick inner loop: all but Airflow runs and services, benches, the demo, the package install"
	@echo "make lint   - ruff check and ruff format --check"
	@echo "make clean  - remove var/ (database, models, Airflow home)"

# Exact versions from requirements.txt and constraints.txt; the package itself editable, with
# its dev extra (the test and lint tools).
$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	bash scripts/demo.sh

# The agents' desk on the demo's database (after `make demo`).
desk: venv
	$(BIN)/bank-scoring serve

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

# One OpenMP thread per process: the tests' trainings and scoring workers share two cores.
test: venv lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest

# With pytest-xdist installed, two worker processes, each with one OpenMP thread so that
# the two do not oversubscribe the cores; without it, one process.
check: venv
	@if $(BIN)/python -c 'import xdist' 2>/dev/null; then \
		set -x; OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -m "$(CHECK_MARKERS)"; \
	else \
		set -x; $(BIN)/python -m pytest -m "$(CHECK_MARKERS)"; \
	fi

constraints: venv
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf var
