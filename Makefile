# Two commands on a fresh machine: `make reproduce` and `make test`. Both create .venv and install when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup reproduce reproduce-full test bench bench-gpu clean ffmpeg-libs

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The synthetic study end to end through DVC (which runs the Snakemake targets and records dvc.lock), then the
# verdict against the committed results: identical, reproduced within tolerance, or not reproduced (exit 1).
reproduce: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro synth
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro study@synthetic
	$(BIN)/pst verify HEAD --profile synthetic

# The embedded set's whole Table 2 (2(b)-(e), 51 runs of 50 epochs, 6-11 s an epoch on one core) and the authors'
# DeiT variant of Table 1 (15 runs of 50 epochs, ~7 s an epoch): ~3.7 h on 2 cores.
reproduce-full: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro synth
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro study@synthetic-full
	$(BIN)/pst verify HEAD --profile synthetic-full

# FFmpeg's shared libraries, which torchcodec (a loader decoder) links against: installed from Debian when missing and
# root; elsewhere its tests are skipped (conda users get them from environment.yml's ffmpeg).
ffmpeg-libs:
	@if ! ldconfig -p | grep -q 'libavcodec\.so\.'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg) \
	      >/dev/null || echo "could not install Debian's ffmpeg: torchcodec's tests will be skipped"; \
	  else echo "FFmpeg's shared libraries are missing (not root): torchcodec's tests will be skipped"; fi; fi

# Every test in one pytest-xdist session of TEST_WORKERS processes, slow ones first: with --dist loadgroup (and no
# groups) each test is a work unit handed to the next free worker in that order, so the rehearsal and the SLURM test
# each start at once on a worker of their own and the short ones fill the cores around them (the SLURM test mostly
# waits on the scheduler's status checks). `-m "not slow"`: the quick ones alone.
TEST_WORKERS ?= 3
test: setup ffmpeg-libs
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run.py

# The GPU probe (benchmarks/gpu.py): every model's training step at its paper input on this node's GPU(s), under
# 5 minutes; writes benchmarks/results/gpu.json, which `pst cost` and `pst bench loader` then use. LOADER_LIST: a
# prepared K400 training list, to measure the loader on this node's CPUs too.
bench-gpu: setup
	$(BIN)/python benchmarks/gpu.py $(if $(LOADER_LIST),--loader-list $(LOADER_LIST))

clean:
	rm -rf .snakemake
