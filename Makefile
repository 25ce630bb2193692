# One entry point for people and CI. The README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
SAM_VENV := .venv-sam
TOOLS_VENV := .venv-tools
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 40
# Every environment installs a lock file (every package pinned, with its hashes; `make lock` writes them from
# the *.in files): nothing floats, and a package whose bytes changed is refused.
PIP_LOCKED := pip install --quiet --disable-pip-version-check --require-hashes --no-deps

# The browser tests' Chromium: Debian's package (never a browser downloaded at run time).
CHROMIUM ?= $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))
export CHROMIUM

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (Lambda runtime python3.11); found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_LOCKED) -r requirements-dev.txt
	$(BIN)/pip check --disable-pip-version-check
	@touch $@

# aws-sam-cli pins boto3 and pydantic exactly and would downgrade the project's own: it gets its own venv.
$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/$(PIP_LOCKED) -r requirements-sam.txt
	@touch $@

# checkov pins its own boto3 and networkx: the policy scanner and the audit get a third venv.
$(TOOLS_VENV)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/$(PIP_LOCKED) -r requirements-tools.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv with the locked dependencies
sam-venv: $(SAM_VENV)/.installed ## create .venv-sam with aws-sam-cli
tools-venv: $(TOOLS_VENV)/.installed ## create .venv-tools with checkov and pip-audit

browser: ## install Debian's Chromium for the browser tests where it can (as root, with apt-get)
	@if [ -n "$(CHROMIUM)" ]; then \
		echo "Chromium for the browser tests: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium >/dev/null && echo "Chromium installed: /usr/bin/chromium"; \
	else \
		echo "No Chromium, and no root apt-get to install it: the browser tests will skip. Install Debian's" \
			"'chromium' package (sudo apt-get install chromium), or set CHROMIUM=/path/to/chromium."; \
	fi

# The tests run in parallel (pytest-xdist, one worker per core; TEST_WORKERS=1 for one), each test file in one
# worker, so that a module's stack starts once, the files with long tests first (tests/conftest.py). Each worker
# records the AWS calls its functions made; the IAM check then judges them all in a run of its own (tests/iam,
# tests/support/iam_usage.py).
TEST_WORKERS ?= auto
PARALLEL = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
IAM_RECORDS := .local/iam-calls

test: venv sam-venv browser ## run every test: the tiers below in parallel, then the IAM check of all their AWS calls
	@rm -rf $(IAM_RECORDS)
	$(BIN)/pytest $(PARALLEL) tests/unit tests/integration tests/e2e tests/browser $(PYTEST_ARGS)
	$(BIN)/pytest tests/iam $(PYTEST_ARGS)

test-unit: venv sam-venv ## the unit tests: pure logic, no network, no stack (seconds)
	$(BIN)/pytest $(PARALLEL) tests/unit $(PYTEST_ARGS)

test-integration: venv sam-venv ## handlers, workers, the runner and the emulators on moto and the emulators
	$(BIN)/pytest $(PARALLEL) tests/integration $(PYTEST_ARGS)

test-e2e: venv sam-venv ## the whole local stack driven as a user drives it
	$(BIN)/pytest $(PARALLEL) tests/e2e $(PYTEST_ARGS)

test-browser: venv sam-venv browser ## the web console in Chromium
	$(BIN)/pytest $(PARALLEL) tests/browser $(PYTEST_ARGS)

test-iam: venv sam-venv ## every granted action used: judges what the four tiers above recorded (run each whole first)
	$(BIN)/pytest tests/iam $(PYTEST_ARGS)

fuzz: venv ## fuzz the HTTP API against docs/openapi.json on the local stack (schemathesis; FUZZ_EXAMPLES=40)
	$(BIN)/python -m local fuzz --max-examples $(FUZZ_EXAMPLES)

demo: venv ## run the product end to end on the local stack and tell its story
	$(BIN)/python -m local demo

soak: venv ## the chaos soak, audited: SEED=1 RATE=0.2, SHORT=1 for 6 businesses over 3 days (exit 1: lost, doubled or stuck)
	$(BIN)/python -m local.soak --seed $(or $(SEED),1) --rate $(or $(RATE),0.2) $(if $(SHORT),--short) $(SOAK_ARGS)

soak-ci: venv ## the soak .ci/run runs: 3 businesses on 2 organisations over 2 days, faults at 20%, seed 7 (its world has every kind of event)
	$(BIN)/python -m local.soak --ci --seed $(or $(SEED),7) --rate $(or $(RATE),0.2) $(SOAK_ARGS)

up: venv ## bring the local stack up, seeded with the demo business, and keep it up: make up ARGS="--api-port 3100"
	$(BIN)/python -m local up $(ARGS)

console: venv ## the stack with seeded businesses and Xero organisations, and the web console's address
	$(BIN)/python -m local console $(ARGS)

screenshots: venv browser ## run the browser tests and refresh the README's screenshots in docs/screenshots
	UPDATE_README_SCREENSHOTS=1 $(BIN)/pytest tests/browser $(PYTEST_ARGS)

# USER counts only when given on make's command line: in the environment it is the login name.
TOKEN_USER = $(if $(filter command line,$(origin USER)),$(USER),$(or $(USER_ID),u_1))
token: venv ## mint a local user token: make token BUSINESS=biz_demo USER=u_1 ROLE=Finance
	@$(BIN)/python -m local token --business $(or $(BUSINESS),biz_demo) --user $(TOKEN_USER) --role $(or $(ROLE),Finance)

openapi: venv ## regenerate docs/openapi.json from the handlers
	$(BIN)/python -m local openapi

lint: venv sam-venv tools-venv ## ruff, mypy, cfn-lint, sam validate --lint and checkov
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1
	$(TOOLS_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml

audit: tools-venv ## vulnerability audit of every lock file (needs the package index; says so when out of reach)
	@$(TOOLS_VENV)/bin/python tools/audit.py layers/common/requirements.txt requirements-dev.txt \
		requirements-sam.txt requirements-tools.txt

# uv resolves each *.in file for Python 3.11 on every platform, with the hashes of every file of each release.
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command 'make lock'
lock: venv ## re-resolve the *.in files into the lock files (needs the package index)
	$(LOCK) layers/common/requirements.in -o layers/common/requirements.txt
	$(LOCK) requirements-dev.in -o requirements-dev.txt
	$(LOCK) requirements-sam.in -o requirements-sam.txt
	$(LOCK) requirements-tools.in -o requirements-tools.txt

build: sam-venv ## sam build (no container: needs this machine's Python 3.11)
	SAM_CLI_TELEMETRY=0 $(SAM) build --region us-east-1

bench: venv ## print the benchmarks' figures
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

deploy: build ## sam deploy with samconfig.toml (pass PARAMS="Key=Value ...")
	SAM_CLI_TELEMETRY=0 $(SAM) deploy $(if $(PARAMS),--parameter-overrides $(PARAMS))

clean: ## remove build output and caches (keeps the virtual environments)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .local

.PHONY: help venv sam-venv tools-venv browser test test-unit test-integration test-e2e test-browser test-iam fuzz demo soak soak-ci up console screenshots token openapi lint audit lock build bench deploy clean
