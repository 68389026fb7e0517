# Two commands matter: `make run` (set up everything, then run the system) and
# `make test` (the whole suite against real RabbitMQ and PostgreSQL).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KEYRING ?= var/keys/keyring.json

.PHONY: run setup broker keys migrate test test-unit lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: set up (venv, broker, dev keys, migrations) and run all services in the foreground
run: setup
	$(BIN)/bridgeline up

setup: $(STAMP) broker keys migrate

## demo: the whole story against the services, printing what each party sees. Same set-up
## as `make run`; uses the services if a `make run` is up in another terminal, otherwise
## starts them in the background for the story and stops them afterwards (log in
## var/demo-up.log).
.PHONY: demo
demo: setup
	$(BIN)/python deploy/scripts/demo.py

broker:
	@deploy/scripts/ensure-rabbitmq.sh

keys: $(STAMP)
	@test -f $(KEYRING) || $(BIN)/bridgeline keys init
	@$(BIN)/bridgeline signing-keys init --if-missing

migrate: $(STAMP)
	$(BIN)/bridgeline db upgrade

## test: the whole suite (unit, integration on real PostgreSQL + RabbitMQ, e2e processes)
test: $(STAMP)
	@deploy/scripts/ensure-rabbitmq.sh
	@deploy/scripts/ensure-postgres.sh
	@deploy/scripts/ensure-browser.sh
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e and not browser"

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: the benchmark scripts (ratios against baselines measured in the same run)
bench: $(STAMP)
	@deploy/scripts/ensure-rabbitmq.sh
	@deploy/scripts/ensure-postgres.sh
	@deploy/scripts/ensure-wrk.sh
	$(BIN)/python bench/crypto_bench.py
	$(BIN)/python bench/messaging_bench.py
	$(BIN)/python bench/attendance_bench.py
	$(BIN)/python bench/events_bench.py
	$(BIN)/python bench/scaleout_bench.py
	$(BIN)/python bench/http_bench.py
	$(BIN)/python bench/memory_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
