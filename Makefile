# Set-up and entry points. Everything lands in .venv; no root needed.
PYTHON ?= python3
VENV ?= .venv
# Test processes: most of the suite's real processes (Redis, workers, browsers) wait more than
# they compute, so three share two cores well. One file's tests stay in one process.
TEST_WORKERS ?= 3
BIN := $(VENV)/bin

.PHONY: install run test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python -m dashboard.run

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile
