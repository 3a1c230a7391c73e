# The two commands: `make demo` (the whole job on an embedded SQLite database) and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-quick constraints clean help

help:
	@echo "make demo   - install, load the UCI data, retrain and score through Airflow, print the worklist"
	@echo "make test   - run the whole test suite (PostgreSQL tests need the local server)"
	@echo "make clean  - remove var/ (database, models, Airflow home)"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	bash scripts/demo.sh

test: venv
	$(BIN)/python -m pytest

constraints: venv
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf var
