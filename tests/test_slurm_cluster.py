"""The study DAG through a real single-node SLURM (Debian's slurm-wlm + munge, started by
workflow/slurm/local-cluster.sh): one training is signalled as SLURM does before a time limit and the profile's
retry resumes it; then one variant's option changes and only its runs and their table are submitted again."""
import json
import os
import re
import subprocess
import time

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


LONG_EPOCHS = 20          # ~5 s of tiny training per run: long enough to be signalled after its first epoch


def _micro_study_longer(params: dict) -> None:
    micro_study(params)
    params["recipes"]["tiny_deit"]["schedule"]["epochs"] = LONG_EPOCHS


def _signal_when_training(run, env, before, study) -> str:
    """`scancel --signal=USR1` the run's training job once an epoch is done (what SLURM does at
    `--signal=USR1@300`: every process of the job's steps gets it)."""
    deadline = time.monotonic() + 300
    while not (run / "metrics.json").exists() and time.monotonic() < deadline and study.poll() is None:
        time.sleep(0.2)
    name = "rule_train_wildcards_synthetic_tiny_deit_deit_tps_0"
    job = [j for j, c in _jobs(env).items() if j not in before and c == name]
    assert len(job) == 1, _jobs(env)
    subprocess.run(["scancel", "--signal=USR1", job[0]], env=env, check=True)
    return job[0]


def test_study_runs_on_slurm_survives_a_preemption_and_reruns_only_what_changed(cluster, tmp_path, env_with_venv):
    params = copy_workflow(tmp_path, edit=_micro_study_longer)
    env = {**env_with_venv, "SLURM_CONF": cluster["SLURM_CONF"]}
    cmd = ["snakemake", "--profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
           "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5",
           "--verbose"]
    run = tmp_path / "results/synthetic/runs/synthetic/tiny_deit/deit_tps/seed0"
    before = _jobs(env)
    study = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _signal_when_training(run, env, before, study)
        out, _ = study.communicate(timeout=600)
    finally:
        study.kill()
    assert study.returncode == 0, out[-3000:]
    submitted = sorted(c for j, c in _jobs(env).items() if j not in before)
    runs = [f"synthetic_tiny_deit_{v}_{s}" for v in ("deit_2d", "deit_tps") for s in (0, 1)]
    # the compute goes to SLURM; FLOPs counts, tables, plots, metrics and the results page run here (localrules)
    assert submitted == sorted(["rule_synth_wildcards_synthetic", "rule_cam_wildcards_table1_deit"] +
                               [f"rule_train_wildcards_{r}" for r in runs] +
                               ["rule_train_wildcards_synthetic_tiny_deit_deit_tps_0"] +     # the retry
                               [f"rule_evaluate_wildcards_{r}_1x1" for r in runs]), submitted
    # the signal: a checkpoint at the step boundary, exit 75, the profile's retry, a resume there
    assert "--signal=USR1@300" in out                                 # the profile asks SLURM for the warning
    assert re.search(r"stopped by SIGUSR1 at epoch \d+, step \d+ \(checkpoint saved\)", out)
    log = (run / "train.log").read_text()                             # the run's own log keeps both attempts
    assert log.index("starting afresh") < log.index("stopped by SIGUSR1") < log.index("resuming at epoch")
    assert len(json.loads((run / "metrics.json").read_text())) == LONG_EPOCHS
    assert (tmp_path / "results" / "synthetic" / "tables" / "table1_deit.json").exists()
    assert "localrule table:" in out and "localrule flops:" in out
    params["variants"]["deit_tps"]["kwargs"]["pattern"] = "A"       # one variant's option changes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = _jobs(env)
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    again = sorted(c for j, c in _jobs(env).items() if j not in before)
    runs = [f"synthetic_tiny_deit_deit_tps_{s}" for s in (0, 1)]
    assert again == sorted(["rule_cam_wildcards_table1_deit"] +
                           [f"rule_train_wildcards_{r}" for r in runs] +
                           [f"rule_evaluate_wildcards_{r}_1x1" for r in runs]), again

