# Two commands do all set-up on a fresh machine with Python 3.10+:
#   make demo   creates .venv, installs ffnn, trains seed 001's moons network
#   make test   creates .venv, installs the dev extras, runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Tests and CI read MNIST from the shared data folder next to the repository.
export FFNN_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test lint bench docs clean

$(VENV)/.installed-all: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-all

$(VENV)/.installed-docs: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

demo: $(VENV)/.installed-all
	$(VENV)/bin/ffnn demo

test: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/mnist_race.py

# The documentation site in site/ (open site/index.html). The notebooks are executed during the
# build: in fast mode (FFNN_FAST=1, shortened trainings) unless FULL=1, the release build.
# --strict: a broken link, a missing page or a failing notebook cell fails the build.
docs: $(VENV)/.installed-docs
	$(if $(FULL),env -u FFNN_FAST,env FFNN_FAST=1) MPLBACKEND=Agg NO_MKDOCS_2_WARNING=1 \
		$(VENV)/bin/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache site
