# make setup: idempotent; installs everything (Python venv in .venv) from the registries.
# make demo:  setup, then plan the bundled example.   make test: setup, then the test suite.
# CDK=cdktf|cdktn|both: which CDK setup prepares (default cdktf) and test runs on (default both,
# as CI does): cdktn is CDK Terrain, cdktf's maintained fork, in its own venv (.venv-cdktn, its
# constructs range differs) with its CLI and the Node.js 22 that CLI needs (tools/cdktn).
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
CDK_ASKED := $(filter command line environment,$(origin CDK))
CDK ?= cdktf
TEST_CDK := $(if $(CDK_ASKED),$(CDK),both)
# What setup prepares: CDK, or for `make test` what the test runs on (target-specific: reaches setup).
SETUP_CDK = $(CDK)
test: SETUP_CDK = $(TEST_CDK)
CDKTN_VENV := .venv-cdktn
CDKTN_PY := $(CDKTN_VENV)/bin/python
# The cdktn pass: the construct, stack and policy tests (marker `cdk`, tests/conftest.py), with
# tools/cdktn's Node.js 22 first on PATH (jsii runs cdktn on it; cdktn's runtime calls Node 20 end-of-life).
CDKTN_PYTEST := PATH=$(CURDIR)/tools/cdktn/node_modules/.bin:$$PATH AIINFRA_CDK=cdktn $(CDKTN_PY) -m pytest -q -m cdk -p no:cacheprovider
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,21
export CHECKPOINT_DISABLE := 1

.PHONY: setup setup-cdktn check-cdk cloud-init graphviz torchrun promtool demo test bench clean

setup: check-cdk $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION) cloud-init graphviz torchrun promtool
	@case "$(SETUP_CDK)" in cdktn|both) $(MAKE) --no-print-directory setup-cdktn;; esac

check-cdk:
	@case "$(CDK)" in cdktf|cdktn|both) ;; *) echo "make: CDK=$(CDK): expected cdktf, cdktn or both" >&2; exit 2;; esac

# cdktn's side: its venv (the [synth-cdktn] extra; the google bindings' files only, for the schema
# oracle in tests/gcp_schema.py and the kubernetes / helm ones, which reads their jsii assembly and never imports them) and its CLI.
setup-cdktn: $(CDKTN_VENV)/.installed tools/cdktn/node_modules/.installed

$(CDKTN_VENV)/.installed: pyproject.toml
	@test -x $(CDKTN_PY) || $(PYTHON) -m venv $(CDKTN_VENV)
	$(CDKTN_PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CDKTN_PY) -m pip install --quiet --disable-pip-version-check -e '.[synth-cdktn,preflight,dev]'
	$(CDKTN_PY) -m pip install --quiet --disable-pip-version-check --no-deps 'cdktf-cdktf-provider-google==16.12.1' \
	  'cdktf-cdktf-provider-kubernetes==12.1.1' 'cdktf-cdktf-provider-helm==12.1.2'
	@touch $@

# cdktn-cli 0.24 needs Node.js >= 22.19: the `node` package brings that binary into the same
# node_modules/.bin (put it first on PATH: README).
tools/cdktn/node_modules/.installed: tools/cdktn/package.json tools/cdktn/package-lock.json
	cd tools/cdktn && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

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

# tests/test_boot.py runs real multi-node rendezvous: the boot's containers run Debian's torchrun
# (python3-torch, CPU, gloo) as local processes, for /usr/bin/python3.
torchrun:
	@test -x /usr/bin/torchrun || { \
	  apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch; }

# tests/test_k8s_monitoring.py evaluates the alerting rules (PromQL) with Prometheus's own rule engine:
# `promtool test rules` (Debian's prometheus package; nothing of it is started).
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

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

# The cdktf pass's test modules spread over TEST_WORKERS processes (pytest-xdist; whole modules, so
# a module's fixtures are built once; the longest modules first: tests/conftest.py LONGEST_FIRST).
# TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= 2
CDKTF_PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup
ifeq ($(TEST_CDK),cdktf)
	$(CDKTF_PYTEST)
else ifeq ($(TEST_CDK),cdktn)
	$(CDKTN_PYTEST)
else
	@# Both passes side by side (each starts its own local AWS API on a free port); the cdktn pass's
	@# output follows the cdktf pass's.
	@log=$$(mktemp); $(CDKTN_PYTEST) --basetemp=$$(mktemp -d) > $$log 2>&1 & pid=$$!; \
	echo "$(CDKTF_PYTEST)   (and, alongside: $(CDKTN_PYTEST))"; \
	$(CDKTF_PYTEST); rc=$$?; wait $$pid; rc_cdktn=$$?; \
	echo "---- cdktn pass: $(CDKTN_PYTEST) ----"; cat $$log; rm -f $$log; \
	echo "cdktf pass exit $$rc, cdktn pass exit $$rc_cdktn"; test $$rc -eq 0 -a $$rc_cdktn -eq 0
endif

bench: setup
	$(PY) bench/plan_bench.py
	$(PY) bench/synth_bench.py
	$(PY) bench/review_bench.py

clean:
	rm -rf $(VENV) $(CDKTN_VENV) tools/cdktn/node_modules $(CHECKOV_VENV) cdktf.out demo .pytest_cache .hypothesis
