# Two commands do all set-up on a fresh machine with Python 3.10+:
#   make demo   creates .venv, installs ffnn, trains seed 001's moons network
#   make test   creates .venv, installs the dev extras, runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Tests and CI read MNIST from the shared data folder next to the repository.
export FFNN_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test lint bench clean

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

demo: $(VENV)/.installed-all
	$(VENV)/bin/ffnn demo

test: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/mnist_race.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
