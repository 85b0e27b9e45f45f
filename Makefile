# The workflow, as executable documentation. Everything runs from a local .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint format bench prior clean

## demo: set up .venv and run the offline demo (SQLite, a simulated 72-hour news cycle)
demo: $(VENV)/.run
	$(BIN)/noisecast demo

## test: set up .venv with the test extras and run the whole test suite, then the linters
test: $(VENV)/.dev
	$(BIN)/pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p .mypy_src/noisecast
	@ln -sfn ../../engine .mypy_src/noisecast/engine
	@ln -sfn ../../feeds .mypy_src/noisecast/feeds
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the benchmarks (they need ../shared/data)
bench: $(VENV)/.dev
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/match_bench.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/score.py

## prior: rebuild the forecast prior shipped in engine/data (fixed seeds, one thread)
prior: $(VENV)/.run
	$(BIN)/python bench/build_prior.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.run

clean:
	rm -rf $(VENV) var/demo.db* .pytest_cache .ruff_cache .mypy_cache .mypy_src
