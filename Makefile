# Two commands set up a fresh machine: `make book` and `make test` (`make test-fast`: unit tests only).
# Both create the virtual environment from the pinned requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= default
STAMP := $(VENV)/.goaldrift-installed
RAY_STAMP := $(VENV)/.goaldrift-ray-installed
LAB_STAMP := $(VENV)/.goaldrift-lab-installed
MATHJAX := node_modules/mathjax/es5/tex-mml-chtml.js

.PHONY: book test test-fast bench browser lab clean gpu-wheels

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Ray is an optional extra (goaldrift sweep --backend ray); the tests exercise it.
$(RAY_STAMP): $(STAMP) requirements-ray.txt
	$(BIN)/python -m pip install --quiet -r requirements-ray.txt
	touch $(RAY_STAMP)

# JupyterLab is an optional extra too (make lab); the chapters run in the project's .venv kernel.
# The chapters are MyST Markdown: jupytext (pinned in requirements.txt) opens them as
# notebooks, on a double click by the settings override written here.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_STAMP): $(STAMP) requirements-lab.txt
	$(BIN)/python -m pip install --quiet -r requirements-lab.txt
	mkdir -p $(dir $(LAB_SETTINGS))
	printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' > $(LAB_SETTINGS)
	touch $(LAB_STAMP)

# MathJax from the npm registry, pinned by package-lock.json: the site serves it itself.
$(MATHJAX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(MATHJAX)

# Debian's headless Chromium for the browser test of the built site.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

book: $(STAMP) $(MATHJAX)  ## execute every chapter at PROFILE (default), then build _build/html
	$(BIN)/goaldrift book --profile $(PROFILE)

test: $(STAMP) $(RAY_STAMP) $(MATHJAX) browser  ## the test suite (every chapter at smoke, the site in a browser)
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## the unit tests only: no smoke book, no Ray, no browser (tests marked slow are skipped)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)  ## engine benchmarks: seconds per step and speed-up ratios; runs in worker processes
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_workers.py
	$(BIN)/python benchmarks/bench_numerics.py

# The kernels JupyterLab starts inherit the pinned CPU kernels (goaldrift.numerics) from its environment.
lab: $(LAB_STAMP)  ## JupyterLab on book/chapters/: a chapter run top to bottom uses PROFILE, writes to _build/interactive/
	env $$($(BIN)/python -c 'import goaldrift.numerics as n; raise SystemExit(n.main())') \
	  GOALDRIFT_PROFILE=$(PROFILE) $(BIN)/jupyter lab --notebook-dir=book/chapters $(LAB_ARGS) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)  # the project's machines run as root

gpu-wheels:  ## the notebook toolchain as cp312 wheels for a lent GPU machine (benchmarks/gpu_session.sh)
	bash benchmarks/gpu_wheels.sh

clean:
	rm -rf _build
