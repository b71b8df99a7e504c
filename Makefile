# The README's commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: setup run test test-fast bench lint check-template build clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## make run: the hub on 127.0.0.1 (moto AWS, simulators, API, workers, schedules) with a demo.
run: $(STAMP)
	$(BIN)/python -m local.runtime --demo --param LogLevel=WARNING

## make test: the whole suite (unit, handler, infrastructure, end-to-end, contract, browser).
test: $(STAMP)
	bash scripts/install_browser.sh
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not e2e and not browser" -q

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check-template: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/check_template.sh

clean:
	rm -rf .aws-sam .pytest_cache
