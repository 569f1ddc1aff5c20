# vrex-sim: `make simulate` runs the default configs, `make test` runs the tests.
# Both set up .venv on first use (Python 3.11, torch 2.13.0 CPU wheel, the package in editable mode).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup simulate test bench lint trace sweep explore codesign sensitivity plots calibrate validate-scalesim paper clean

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

# Fit the Orin baseline's memory-bound efficiency on published decode rates (prints the table).
calibrate: $(STAMP)
	$(BIN)/python -m analysis.calibrate_orin --write

# PE-array cycle model vs SCALE-Sim on GEMMs of the traced models (installs the optional scalesim).
validate-scalesim: $(STAMP)
	$(BIN)/pip install --quiet scalesim==3.0.0
	$(BIN)/python -m analysis.validate_scalesim
	$(BIN)/python -m pytest tests/engine/test_scalesim.py

# The paper's headline table, ablation and figures (results/paper/paper.md); see analysis/PAPER.md.
# Finished runs are kept under results/paper/runs and reused if the target is run again.
paper: $(STAMP)
	$(BIN)/vrex paper --out results/paper

# Example design-space sweep (72 points; resumes where an interrupted run stopped).
sweep: $(STAMP)
	$(BIN)/vrex sweep analysis/specs/example-sweep.yaml --out results/example-sweep --resume

# Co-design at V-Rex8's area and power (NSGA-II; analysis/specs/codesign-edge.yaml): results/codesign/ with the
# Pareto set, its plots and codesign.md. Resumes where an interrupted run stopped.
codesign: $(STAMP)
	$(BIN)/vrex explore analysis/specs/codesign-edge.yaml --out results/codesign --resume

# Which of the paper's open choices move V-Rex8's speedup over the Orin + FlexGen (Morris, then Sobol):
# results/sensitivity/ with the tornado plot, indices.csv and sensitivity.md. Resumes too.
sensitivity: $(STAMP)
	$(BIN)/vrex sensitivity analysis/specs/open-choices.yaml --out results/sensitivity --resume

# Figures (PNG + PDF) of the default run and the example sweep, and a Markdown report embedding them.
plots: $(STAMP) results/example-sweep/pareto.parquet
	$(BIN)/vrex simulate --save results/default-run --no-progress > /dev/null
	$(BIN)/vrex plot results/default-run results/example-sweep --out results/plots
	$(BIN)/vrex report results/default-run results/example-sweep --out results/report.md

results/example-sweep/pareto.parquet:
	$(MAKE) sweep

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
