# make setup: idempotent; installs everything (Python venv in .venv) from the registries.
# make demo:  setup, then plan the bundled example.   make test: setup, then the test suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# checkov lives in its own venv: current checkov pins packaging<24 and boto3 1.35, which the
# project's own pins (pytest 9, boto3 1.44) cannot share. tests/test_checkov.py finds it here.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
export AIINFRA_CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
SPEC ?= examples/reference.yaml
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,21
export CHECKPOINT_DISABLE := 1

.PHONY: setup cloud-init graphviz demo test bench clean

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION) cloud-init graphviz

# tests/test_boot.py validates the AWS user data with `cloud-init schema` (Debian's package).
cloud-init:
	@command -v cloud-init >/dev/null 2>&1 || { \
	  apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cloud-init; }

# `aiinfra graph --format svg` (and tests/test_graph.py) render the architecture diagram with `dot` (Debian's graphviz).
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends graphviz; }

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[synth,preflight,dev]'
	@touch $@

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The plan (also as Markdown) and the architecture diagram go to demo/, the stacks to cdktf.out/.
demo: setup
	$(VENV)/bin/aiinfra validate $(SPEC)
	$(VENV)/bin/aiinfra plan $(SPEC)
	@mkdir -p demo
	$(VENV)/bin/aiinfra plan $(SPEC) --format markdown --out demo/plan.md
	$(VENV)/bin/aiinfra graph $(SPEC) --format svg --out demo/architecture.svg
	$(VENV)/bin/aiinfra synth $(SPEC) --out cdktf.out

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/plan_bench.py
	$(PY) bench/synth_bench.py
	$(PY) bench/review_bench.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) cdktf.out demo .pytest_cache .hypothesis
