"""The study DAG through a real single-node SLURM (Debian's slurm-wlm + munge, started by
workflow/slurm/local-cluster.sh), then one variant's option changes and only its runs and their table are submitted
again."""
import os
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_workflow, micro_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("starting slurmd needs root (CI runs as root)")
    folder = tmp_path_factory.mktemp("slurm")
    script = ROOT / "workflow" / "slurm" / "local-cluster.sh"
    up = subprocess.run(["bash", str(script), "start", str(folder)], capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr + up.stdout
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))
    yield env
    subprocess.run(["bash", str(script), "stop", str(folder)], capture_output=True, timeout=60)


def _jobs(env) -> dict[str, str]:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%k|%T"], capture_output=True, text=True, env=env,
                         check=True).stdout
    return {line.split("|")[0]: line.split("|")[1] for line in out.splitlines() if line.strip()}


def test_study_runs_on_slurm_and_reruns_only_what_changed(cluster, tmp_path, env_with_venv):
    params = copy_workflow(tmp_path, edit=micro_study)
    env = {**env_with_venv, "SLURM_CONF": cluster["SLURM_CONF"]}
    cmd = ["snakemake", "--profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
           "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5"]
    before = _jobs(env)
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    submitted = sorted(c for j, c in _jobs(env).items() if j not in before)
    runs = [f"synthetic_tiny_deit_{v}_{s}" for v in ("deit_2d", "deit_tps") for s in (0, 1)]
    assert submitted == sorted(["rule_synth_wildcards_synthetic", "rule_flops_table",
                                "rule_flops_wildcards_deit_s_tps_4_32", "rule_flops_wildcards_deit_s_2d_16_224",
                                "rule_flops_wildcards_deit_s_tps_16_224", "rule_table_wildcards_table1_deit",
                                "rule_plots_wildcards_table1_deit", "rule_cam_wildcards_table1_deit",
                                "rule_metrics", "rule_results_readme"] +
                               [f"rule_train_wildcards_{r}" for r in runs] +
                               [f"rule_evaluate_wildcards_{r}_1x1" for r in runs]), submitted
    assert (tmp_path / "results" / "synthetic" / "tables" / "table1_deit.json").exists()
    params["variants"]["deit_tps"]["kwargs"]["pattern"] = "A"       # one variant's option changes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = _jobs(env)
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    again = sorted(c for j, c in _jobs(env).items() if j not in before)
    runs = [f"synthetic_tiny_deit_deit_tps_{s}" for s in (0, 1)]
    assert again == sorted(["rule_table_wildcards_table1_deit", "rule_plots_wildcards_table1_deit",
                            "rule_cam_wildcards_table1_deit", "rule_metrics", "rule_results_readme"] +
                           [f"rule_train_wildcards_{r}" for r in runs] +
                           [f"rule_evaluate_wildcards_{r}_1x1" for r in runs]), again
