# wapipe — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration test-e2e lint fmt migrate bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install wapipe with the embedded and dev extras

run: install  ## the whole pipeline: migrate, ingress on :8000, worker (embedded engines when no URL is set)
	$(BIN)/wapipe run

test: install  ## the whole suite (unit, integration on the machine's Postgres/Redis, e2e)
	$(BIN)/python -m pytest

test-unit: install  ## unit tests only (no sockets)
	$(BIN)/python -m pytest tests/unit

test-integration: install  ## integration tests on real Postgres/Redis
	$(BIN)/python -m pytest tests/integration

test-e2e: install  ## end-to-end tests with real processes
	$(BIN)/python -m pytest tests/e2e

lint: install  ## ruff + mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install  ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install  ## apply SQL migrations to WAPIPE_DATABASE_URL
	$(BIN)/wapipe migrate

bench: install  ## performance figures against their baselines (SPEC §14)
	$(BIN)/python -m bench

clean:  ## remove the virtualenv and local engine data
	rm -rf $(VENV) .wapipe
