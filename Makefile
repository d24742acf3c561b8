# Set-up and entry points. Everything lands in .venv; no root needed.
PYTHON ?= python3
VENV ?= .venv
# Test processes: most of the suite's real processes (Redis, workers, browsers) wait more than
# they compute, so three share two cores well. One file's tests stay in one process.
TEST_WORKERS ?= 3
BIN := $(VENV)/bin

# Real Nova 34 for the conformance checks, in its own environment (its pins clash with ours).
NOVA_VENV ?= .venv-nova
export NOVA_VENV
NOVA_PACKAGES := nova==34.0.0 openstack-placement==16.0.0 ddt fixtures python-barbicanclient requests-mock \
	oslotest stestr osprofiler testresources testscenarios testtools wsgi-intercept PyMySQL

# The real OpenStack clients (openstack CLI, osc-placement, openstacksdk) the wire-API tests drive,
# in their own environment too.
OSC_VENV ?= .venv-osc
export OSC_VENV
OSC_PACKAGES := python-openstackclient==10.5.0 osc-placement==4.9.1 openstacksdk==4.22.0

.PHONY: install run test nova-env osc-env conformance

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

$(NOVA_VENV)/.installed: conformance/constraints-nova-34.txt
	$(PYTHON) -m venv $(NOVA_VENV)
	$(NOVA_VENV)/bin/python -m pip install --disable-pip-version-check --quiet \
		-c conformance/constraints-nova-34.txt $(NOVA_PACKAGES)
	touch $@

nova-env: $(NOVA_VENV)/.installed

$(OSC_VENV)/.installed: clients/constraints-osc.txt
	$(PYTHON) -m venv $(OSC_VENV)
	$(OSC_VENV)/bin/python -m pip install --disable-pip-version-check --quiet \
		-c clients/constraints-osc.txt $(OSC_PACKAGES)
	touch $@

osc-env: $(OSC_VENV)/.installed

# Every preset replayed in Nova 34 and compared with the simulator; JSON and JUnit under var/.
conformance: install nova-env
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py conformance --json var/conformance.json --junit var/conformance.xml
