#!/bin/sh
# Installs this package (editable, with the cluster profile's executor and the torchcodec decoder) into the active
# conda environment; run from the repository root, as Snakemake runs it (its working directory) after creating the
# environment of environment.yml. ".[dev]" adds the test tools.
set -e
if ! grep -qs '^name = "pst"' pyproject.toml; then
    echo "environment.post-deploy.sh: run it from the pst repository root (no pst pyproject.toml in $(pwd))" >&2
    exit 2
fi
python -m pip install --quiet -e ".[slurm,torchcodec]"
