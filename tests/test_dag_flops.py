"""The first DAG rules run for real: snakemake builds the FLOPs table from `pst flops` jobs, then does nothing."""
import json
import shutil
import subprocess

import yaml

from conftest import ROOT


def _workdir(tmp_path):
    for name in ("Snakefile", "workflow"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["flops"]["views"] = {"deit_s_tps": [16, 224], "pst_t": [8, 112]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_snakemake_builds_flops_table_then_nothing_to_do(tmp_path, env_with_venv):
    work = _workdir(tmp_path)
    cmd = ["snakemake", "--cores", "2", "--profile", "workflow/profiles/default"]
    run = subprocess.run(cmd, cwd=work, env=env_with_venv, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    table = json.loads((work / "results/tables/flops.json").read_text())
    rows = {r["model"]: r for r in table["rows"]}
    assert rows["deit_s_tps"]["GFLOPs paper"] == 74 and rows["deit_s_tps"]["Δ GFLOPs"] == 0
    assert rows["pst_t"]["frames"] == 8 and rows["pst_t"]["GFLOPs"] < 10
    md = (work / "results/tables/flops.md").read_text()
    assert "| deit_s_tps" in md and "n/a" not in md.split("deit_s_tps")[1].splitlines()[0]
    assert not list(work.glob("results/**/*.part"))
    again = subprocess.run(cmd + ["--dry-run"], cwd=work, env=env_with_venv, capture_output=True, text=True)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
