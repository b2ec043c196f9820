# Investment AI Agent. `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS ?= --disable-pip-version-check --progress-bar off
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --quiet -c constraints.txt -e '.[local,aws,dev]'
	@touch $(STAMP)

run: install  ## install, prepare the data directory, serve on http://$(HOST):$(PORT)
	$(BIN)/investai serve --host $(HOST) --port $(PORT)

test: install lint  ## lint, type-check, then every test suite
	$(BIN)/python -m pytest -q

test-fast: install  ## unit, contract and architecture tests only
	$(BIN)/python -m pytest -q -m "not slow" tests/unit tests/contract tests/architecture

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

bench: install  ## measured figures; see benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
