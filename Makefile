# make setup: idempotent; installs everything (Python venv in .venv) from the registries.
# make demo:  setup, then plan the bundled example.   make test: setup, then the test suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SPEC ?= examples/reference.yaml
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[synth,dev]'
	@touch $@

demo: setup
	$(VENV)/bin/aiinfra validate $(SPEC)
	$(VENV)/bin/aiinfra plan $(SPEC)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/plan_bench.py

clean:
	rm -rf $(VENV) cdktf.out .pytest_cache .hypothesis
