"""The DAG through a real single-node SLURM (Debian's slurm-wlm + munge, started by workflow/slurm/local-cluster.sh),
then one view changes and only its job and the table that depends on it are submitted again."""
import os
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_workflow

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


def test_dag_runs_on_slurm_and_reruns_only_what_changed(cluster, tmp_path, env_with_venv):
    params = copy_workflow(tmp_path, {"deit_s_tps": [4, 32], "pst_t": [4, 32]})
    env = {**env_with_venv, "SLURM_CONF": cluster["SLURM_CONF"]}
    cmd = ["snakemake", "--profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
           "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5"]
    before = _jobs(env)
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    submitted = {j: c for j, c in _jobs(env).items() if j not in before}
    assert sorted(submitted.values()) == ["rule_flops_table", "rule_flops_wildcards_deit_s_tps_4_32",
                                          "rule_flops_wildcards_pst_t_4_32"]
    assert (tmp_path / "results" / "tables" / "flops.json").exists()
    params["flops"]["views"]["pst_t"] = [8, 32]                     # one variant's parameter changes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    before = _jobs(env)
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    again = {j: c for j, c in _jobs(env).items() if j not in before}
    assert sorted(again.values()) == ["rule_flops_table", "rule_flops_wildcards_pst_t_8_32"]
