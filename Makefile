# Two commands set up a fresh machine: `make book` and `make test`.
# Both create the virtual environment from the pinned requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
STAMP := $(VENV)/.goaldrift-installed

.PHONY: book test bench clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)  ## execute every chapter at PROFILE (default), then build _build/html
	$(BIN)/goaldrift book --profile $(PROFILE)

test: $(STAMP)  ## the test suite (runs every chapter at the smoke profile)
	$(BIN)/python -m pytest

bench: $(STAMP)  ## engine benchmark: prints seconds per step and speed-up ratios
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf _build
