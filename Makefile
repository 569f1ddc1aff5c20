# vrex-sim: `make simulate` runs the default configs, `make test` runs the tests.
# Both set up .venv on first use (Python 3.11, torch 2.13.0 CPU wheel, the package in editable mode).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup simulate test bench lint trace clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

simulate: $(STAMP)
	$(BIN)/vrex simulate

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m analysis.bench

lint: $(STAMP)
	$(BIN)/ruff check simulator analysis tests

trace: $(STAMP)
	$(BIN)/vrex trace

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
