# One entry point for people and CI. The README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
PYTEST_ARGS ?=
# The browser tests' Chromium: Debian's package (never a browser downloaded at run time).
CHROMIUM ?= $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))
export CHROMIUM

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (Lambda runtime python3.11); found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# aws-sam-cli pins boto3 and pydantic exactly and would downgrade the project's own: it gets its own venv.
$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

venv: $(VENV)/.installed ## create .venv with the pinned dependencies
sam-venv: $(SAM_VENV)/.installed ## create .venv-sam with aws-sam-cli

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

test: venv browser ## run every test (unit, integration, e2e, browser)
	$(BIN)/pytest $(PYTEST_ARGS)

demo: venv ## run the product end to end on the local stack and tell its story
	$(BIN)/python -m local demo

up: venv ## bring the local stack up on fixed ports and keep it up
	$(BIN)/python -m local up

console: venv ## the stack with seeded businesses and Xero organisations, and the web console's address
	$(BIN)/python -m local console

screenshots: venv browser ## run the browser tests and refresh the README's screenshots in docs/screenshots
	UPDATE_README_SCREENSHOTS=1 $(BIN)/pytest tests/browser $(PYTEST_ARGS)

token: venv ## mint a local user token: make token BUSINESS=biz_demo USER=u_1 ROLE=Finance
	@$(BIN)/python -m local token --business $(or $(BUSINESS),biz_demo) --user $(or $(USER_ID),u_1) --role $(or $(ROLE),Finance)

openapi: venv ## regenerate docs/openapi.json from the handlers
	$(BIN)/python -m local openapi

lint: venv sam-venv ## ruff, mypy, cfn-lint and sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1

build: sam-venv ## sam build (no container: needs this machine's Python 3.11)
	SAM_CLI_TELEMETRY=0 $(SAM) build --region us-east-1

bench: venv ## print the benchmarks' figures
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

deploy: build ## sam deploy with samconfig.toml (pass PARAMS="Key=Value ...")
	SAM_CLI_TELEMETRY=0 $(SAM) deploy $(if $(PARAMS),--parameter-overrides $(PARAMS))

clean: ## remove build output and caches (keeps the virtual environments)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .local

.PHONY: help venv sam-venv browser test demo up console screenshots token openapi lint build bench deploy clean
