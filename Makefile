# photosync — two commands: `make serve` and `make test`. Everything else is set up by them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: serve test bench lint fmt docs migration clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/photosync serve --demo --host $(HOST) --port $(PORT)

test: $(STAMP)
	./tools/ensure-services.sh
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	@# Bytecode for every process the tests start (each `serve`, each CLI command): where
	@# PYTHONDONTWRITEBYTECODE is set, nothing writes it, and each start compiled ~100 modules
	@# (0.2 s of a 1.1 s start-up).
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=15

bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench tools
	$(BIN)/ruff format src tests bench tools

docs: $(STAMP)
	$(BIN)/python tools/gen_cli_docs.py

# Regenerate migration 0001 from the models (only until the first release ships).
migration: $(STAMP)
	$(BIN)/python tools/regen_initial_migration.py
	$(BIN)/ruff format -q src/photosync/migrations

clean:
	rm -rf $(VENV) photosync-data .pytest_cache .mypy_cache .ruff_cache
