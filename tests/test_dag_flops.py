"""The first DAG rules run for real: snakemake builds the FLOPs table from `pst flops` jobs, then does nothing."""
import json
import subprocess

from conftest import copy_workflow


def test_snakemake_builds_flops_table_then_nothing_to_do(tmp_path, env_with_venv):
    work = tmp_path
    copy_workflow(work, {"deit_s_tps": [16, 224], "pst_t": [8, 112]})
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
