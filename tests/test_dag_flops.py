"""A params.yaml the FLOPs rules cannot use stops Snakemake before any job, naming the key (the FLOPs table built for
real, then nothing to do: tests/test_dvc.py)."""
import subprocess

from conftest import copy_workflow


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
