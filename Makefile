# vrex-sim: `make simulate` runs the default configs, `make test` runs the tests.
# Both set up .venv on first use (Python 3.11, torch 2.13.0 CPU wheel, the package in editable mode).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup simulate test bench lint trace sweep plots calibrate validate-scalesim validate-area paper clean

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

# ruff, then vulture for dead code (tests/vulture_whitelist.py lists names used only by people or frameworks)
lint: $(STAMP)
	$(BIN)/ruff check simulator analysis tests
	$(BIN)/vulture simulator analysis tests --min-confidence 60

trace: $(STAMP)
	$(BIN)/vrex trace

# Fit the Orin baseline's efficiencies on published decode and prefill rates, and the PCIe link, the NVMe
# SSD and the GPU's irregular kernels on published measurements (prints the tables, writes configs and README).
calibrate: $(STAMP)
	$(BIN)/python -m analysis.calibrate_orin --write
	$(BIN)/python -m analysis.calibrate_links --write

# PE-array cycle model vs SCALE-Sim on GEMMs of the traced models (installs the optional scalesim).
validate-scalesim: $(STAMP)
	$(BIN)/pip install --quiet scalesim==3.0.0
	$(BIN)/python -m analysis.validate_scalesim
	$(BIN)/python -m pytest tests/engine/test_scalesim.py

# Area and power model vs published chips (prints the table and writes it into README.md).
validate-area: $(STAMP)
	$(BIN)/python -m analysis.validate_area --write

# The paper's headline table, ablation and figures (results/paper/paper.md); see analysis/PAPER.md.
# Finished runs are kept under results/paper/runs and reused if the target is run again.
paper: $(STAMP)
	$(BIN)/vrex paper --out results/paper

# Example design-space sweep (72 points; resumes where an interrupted run stopped).
sweep: $(STAMP)
	$(BIN)/vrex sweep analysis/specs/example-sweep.yaml --out results/example-sweep --resume

# Figures (PNG + PDF) of the default run and the example sweep, and a Markdown report embedding them.
plots: $(STAMP) results/example-sweep/pareto.parquet
	$(BIN)/vrex simulate --save results/default-run --no-progress > /dev/null
	$(BIN)/vrex plot results/default-run results/example-sweep --out results/plots
	$(BIN)/vrex report results/default-run results/example-sweep --out results/report.md

results/example-sweep/pareto.parquet:
	$(MAKE) sweep

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
