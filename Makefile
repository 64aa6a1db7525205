# Two commands on a fresh machine: `make reproduce` and `make test`. Both create .venv and install when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup reproduce reproduce-full test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The synthetic study end to end through DVC (which runs the Snakemake targets and records dvc.lock).
reproduce: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro synth
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro study@synthetic

# The embedded set's whole Table 2 (2(b)-(e), 51 runs of 50 epochs, 6-11 s an epoch on one core): ~3 h on 2 cores.
reproduce-full: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro synth
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro study@synthetic-full

test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run.py

clean:
	rm -rf .snakemake
