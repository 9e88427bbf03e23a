# bandlimit — two-command quick start: `make demo` (main job) and `make test` (whole suite).
# Both create a local virtual environment in .venv on first use and install the project
# with its dev extra; later calls reuse it. Override the interpreter with PYTHON=...

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/bandlimit demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/bandlimit bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
