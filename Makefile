# Herald: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: prereqs install run demo test test-fast lint typecheck contracts-generate clean bench chaos compose-test

prereqs:  ## uv + the locked workspace, RabbitMQ's management/prometheus plugins, promtool/prometheus, Node test oracles
	@PYTHON="$(PYTHON)" bash deploy/prereqs.sh

install: prereqs  ## everything the other targets need (deploy/prereqs.sh says what it checked and did)

run: install  ## start every Herald process against the local PostgreSQL and RabbitMQ (Ctrl-C stops)
	$(UV) run --frozen python deploy/local/run.py

demo: install  ## in a second terminal while `make run` is going: the whole user journey over the public APIs
	$(UV) run --frozen python deploy/local/demo.py

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: install
	$(UV) run --frozen mypy libs/*/src services/*/src sandboxes/src tests deploy bench

test: lint typecheck  ## ruff, mypy and the whole pytest suite (real PostgreSQL and RabbitMQ)
	$(UV) run --frozen pytest --ignore=tests/chaos

test-fast: install  ## only the tests that need no broker, database or process, with coverage of the decision code
	$(UV) run --frozen pytest -m fast --cov=herald.publishing --cov=herald.scheduler --cov-branch --cov-report=term

chaos: install  ## fault scenarios on the whole stack as processes; briefly restarts the local RabbitMQ and PostgreSQL
	$(UV) run --frozen pytest tests/chaos -m chaos

bench: install  ## the benchmark on real processes: table on stdout, JSON in bench/results/ (BENCH_ARGS=--quick)
	$(UV) run --frozen python -m bench $(BENCH_ARGS)

contracts-generate: install  ## regenerate the committed AsyncAPI document and JSON Schemas
	$(UV) run --frozen python -m herald.contracts.generate

compose-test: install  ## docker compose for real: offline base image, every image, the stack, the journey, a publisher killed
	UV="$(UV)" bash deploy/compose-test/run.sh $(COMPOSE_TEST_ARGS)

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
