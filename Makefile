# make setup: idempotent; installs everything (Python venv in .venv) from the registries.
# make demo:  setup, then plan the bundled example.   make test: setup, then the test suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SPEC ?= examples/reference.yaml
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,21
export CHECKPOINT_DISABLE := 1

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[synth,dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(VENV)/bin/aiinfra validate $(SPEC)
	$(VENV)/bin/aiinfra plan $(SPEC)
	$(VENV)/bin/aiinfra synth $(SPEC) --out cdktf.out

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/plan_bench.py

clean:
	rm -rf $(VENV) cdktf.out .pytest_cache .hypothesis
