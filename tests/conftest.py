import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def env_with_venv():
    """Environment whose PATH finds this interpreter's console scripts (pst, snakemake, dvc)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def copy_workflow(dest: Path, flops_views: dict) -> dict:
    """Snakefile + workflow/ into ``dest`` with a params.yaml whose FLOPs views are ``flops_views``."""
    for name in ("Snakefile", "workflow"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["flops"]["views"] = flops_views
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    return params
