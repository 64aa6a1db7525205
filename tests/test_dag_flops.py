"""The first DAG rules run for real: snakemake builds the FLOPs table from `pst flops` jobs, then does nothing."""
import json
import subprocess

from conftest import copy_workflow


def test_snakemake_builds_flops_table_then_nothing_to_do(tmp_path, env_with_venv):
    work = tmp_path
    copy_workflow(work, {"deit_s_tps": [16, 224], "pst_t": [8, 112]})
    cmd = ["snakemake", "--cores", "2", "--profile", "workflow/profiles/default", "flops_table"]
    run = subprocess.run(cmd, cwd=work, env=env_with_venv, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    table = json.loads((work / "results/flops.json").read_text())
    rows = {r["model"]: r for r in table["rows"]}
    assert rows["deit_s_tps"]["GFLOPs paper"] == 74 and rows["deit_s_tps"]["Δ GFLOPs"] == 0
    assert rows["pst_t"]["frames"] == 8 and rows["pst_t"]["GFLOPs"] < 10
    md = (work / "results/flops.md").read_text()
    assert "| deit_s_tps" in md and "n/a" not in md.split("deit_s_tps")[1].splitlines()[0]
    assert not list(work.glob("results/**/*.part"))
    again = subprocess.run(cmd + ["--dry-run"], cwd=work, env=env_with_venv, capture_output=True, text=True)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_invalid_params_fail_before_any_job_naming_the_key(tmp_path, env_with_venv):
    copy_workflow(tmp_path, {"deit_s_tps": [16], "pst_t": [8, 112]})         # a view needs [frames, size]
    run = subprocess.run(["snakemake", "--cores", "1", "flops_table"], cwd=tmp_path, env=env_with_venv, capture_output=True,
                         text=True)
    assert run.returncode != 0
    assert "deit_s_tps" in run.stderr + run.stdout and "views" in run.stderr + run.stdout
    assert not (tmp_path / "results").exists()
    (tmp_path / "typo").mkdir()
    copy_workflow(tmp_path / "typo", {"deit_s_tpz": [16, 224]})                 # a model name that does not exist
    run = subprocess.run(["snakemake", "--cores", "1"], cwd=tmp_path / "typo", env=env_with_venv,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "deit_s_tpz" in run.stderr + run.stdout
