# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv first if needed.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
SAMPLES ?= 10

.PHONY: venv lint test demo ui clean

venv:
	@bash scripts/bootstrap.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

demo: venv
	@bash scripts/demo.sh $(SAMPLES)

ui: venv
	DAGSTER_HOME=$(CURDIR)/.llmeval/dagster $(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf .llmeval datasets_cache/*/
