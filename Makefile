# vrex-sim: `make simulate` runs the default configs, `make test` runs the tests.
# Both set up .venv on first use (Python 3.11, torch 2.13.0 CPU wheel, the package in editable mode).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch's CPU build, pinned: PyPI's Linux torch is the CUDA build with ~20 nvidia packages (several GB), so the
# +cpu build is asked for, with PyTorch's CPU wheel index added to the default index (which serves torch's own
# dependencies); where that index cannot be reached, the configured indexes or a local wheel cache serve it.
TORCH_VERSION := 2.13.0
TORCH_INDEX   := https://download.pytorch.org/whl/cpu
TORCH_INSTALL := install --quiet --timeout 30 --retries 1 --extra-index-url $(TORCH_INDEX) torch==$(TORCH_VERSION)+cpu
TORCH_FALLBACK := install --quiet torch==$(TORCH_VERSION)+cpu

.PHONY: setup simulate test bench lint trace paper-fit sweep explore codesign sensitivity plots calibrate validate-scalesim validate-area paper docs help clean

## setup: create .venv (Python 3.11, torch 2.13.0 CPU wheel, the package in editable mode with dev tools)
setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip $(TORCH_INSTALL) || $(BIN)/pip $(TORCH_FALLBACK)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## simulate: V-Rex8 + ReSV vs Jetson AGX Orin 32 GB + FlexGen on the average COIN case (10K-token cache)
simulate: $(STAMP)
	$(BIN)/vrex simulate

## test: the test suite (what CI runs after make lint)
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: tracing and replay speed and peak memory on a one-hour and a 10-minute VideoLLM-online-8B stream (V-Rex8 + ReSV, Orin 32 GB + FlexGen), chunk by chunk
bench: $(STAMP)
	$(BIN)/python -m analysis.devtools.bench

## lint: ruff, then vulture for dead code (tests/vulture_whitelist.py: names used only by people or frameworks)
lint: $(STAMP)
	$(BIN)/ruff check simulator analysis tests
	$(BIN)/vulture simulator analysis tests --min-confidence 60

## trace: write the default workload's trace to traces/
trace: $(STAMP)
	$(BIN)/vrex trace

## calibrate: fit the A100's GPU power (busy power; idle power measured), the GPUs' efficiencies per software stack (Orin, A100), the PCIe link, the NVMe SSD and the GPU's irregular kernels on published measurements; print fit and held-out tables and a per-component held-out summary, write the configs and docs/validation.md
calibrate: $(STAMP)
	$(BIN)/python -m analysis.calibrate.power --write
	$(BIN)/python -m analysis.calibrate.gpu_stacks --write
	$(BIN)/python -m analysis.calibrate.links --write
	$(BIN)/python -m analysis.calibrate.summary

## validate-scalesim: the PE-array cycle model vs SCALE-Sim on GEMMs of the traced models (installs the optional scalesim)
validate-scalesim: $(STAMP)
	$(BIN)/pip install --quiet scalesim==3.0.0
	$(BIN)/python -m analysis.validate.scalesim
	$(BIN)/python -m pytest tests/engine/units/test_scalesim.py

## validate-area: the area and power model vs published chips (prints the table, writes it into docs/validation.md)
validate-area: $(STAMP)
	$(BIN)/python -m analysis.validate.area --write

## paper: the paper's evaluation figure by figure into results/paper (resumable; points keyed by configs and code version; see analysis/PAPER.md)
paper: $(STAMP)
	$(BIN)/vrex paper --out results/paper

## paper-fit: infer the paper's open choices from the declared fit set ../shared/reference/vrex-fit.csv (five V-Rex8 latencies; analysis/specs/paper-fit.yaml declares the ranges) into results/paper-fit; writes hwconfigs/overlays/paper-fitted.yaml (resumable)
paper-fit: $(STAMP)
	$(BIN)/vrex fit analysis/specs/paper-fit.yaml --out results/paper-fit --overlay hwconfigs/overlays/paper-fitted.yaml --resume

## sweep: the example design-space sweep (analysis/specs/example-sweep.yaml) into results/example-sweep (resumable)
sweep: $(STAMP)
	$(BIN)/vrex sweep analysis/specs/example-sweep.yaml --out results/example-sweep --resume

## codesign: co-design at V-Rex8's die and power, per level (chip only, chip + system, with policy) and its one-knob neighbours on three scenarios (optuna NSGA-II, analysis/specs/codesign-edge.yaml) into results/codesign; the named designs shipped to docs/codesign (resumable)
codesign: $(STAMP)
	$(BIN)/vrex explore analysis/specs/codesign-edge.yaml --out results/codesign --resume
	$(BIN)/python -m analysis.studies.codesign results/codesign --ship docs/codesign

## sensitivity: which of the paper's open choices move V-Rex8's speedup over the Orin + FlexGen (SALib Morris, then Sobol) into results/sensitivity (resumable)
sensitivity: $(STAMP)
	$(BIN)/vrex sensitivity analysis/specs/open-choices.yaml --out results/sensitivity --resume

## plots: figures (PNG + PDF) of the default run and the example sweep into results/plots, and results/report.md
plots: $(STAMP) results/example-sweep/pareto.parquet
	$(BIN)/vrex simulate --save results/default-run --no-progress > /dev/null
	$(BIN)/vrex plot results/default-run results/example-sweep --out results/plots
	$(BIN)/vrex report results/default-run results/example-sweep --out results/report.md

results/example-sweep/pareto.parquet:
	$(MAKE) sweep

## docs: regenerate the generated blocks of README.md (status, targets), analysis/PAPER.md and docs/architecture.md (layout)
docs: $(STAMP)
	$(BIN)/python -m analysis.devtools.docs README.md analysis/PAPER.md docs/architecture.md

## help: list the targets
help:
	@awk '/^## [a-z-]+: /{t=$$2; sub(/:$$/, "", t); h=$$0; sub(/^## [a-z-]+: /, "", h); printf "  make %-18s %s\n", t, h}' Makefile

## clean: remove the venv and caches
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
