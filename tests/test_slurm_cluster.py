"""The study DAG through a real SLURM of two nodes on this host (Debian's slurm-wlm + munge, started by
workflow/slurm/local-cluster.sh; two slurmd, node1 and node2): one training is signalled as SLURM does before a
time limit and the profile's retry resumes it (what a changed option plans again is Snakemake's plan, the same on
any executor: tests/test_dvc.py and the rehearsal check it); a training spanning both nodes (one torchrun per node, c10d rendezvous) loses a node mid-epoch,
stops at once naming it, and the retry resumes to the weights one node with two processes trains."""
import calendar
import json
import os
import re
import subprocess
import time

import pytest
import yaml

from conftest import ROOT, copy_workflow, micro_study

# a hang guard, not a time limit: ~330 s alone on the Xeon, ~400 s beside the suite, x1.7 on the EPYC
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture
def cluster(tmp_path_factory):
    """A two-node cluster for one test: one per host (its daemons' ports, the /etc/slurm link), so both scenarios
    run in that one test (pytest-xdist would give two tests two workers, and two clusters would collide)."""
    if os.geteuid() != 0:
        pytest.skip("starting slurmd needs root (CI runs as root)")
    folder = tmp_path_factory.mktemp("slurm")          # a short path: slurmd's sockets live under it (<= 108 chars)
    script = ROOT / "workflow" / "slurm" / "local-cluster.sh"
    up = subprocess.run(["bash", str(script), "start", str(folder), "2"], capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        yield dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))
    finally:
        subprocess.run(["bash", str(script), "stop", str(folder)], capture_output=True, timeout=60)


def test_a_study_on_slurm_survives_preemption_and_a_lost_node(cluster, tmp_path, env_with_venv):
    _study_survives_a_preemption(cluster, tmp_path / "study", env_with_venv)
    _training_across_two_nodes_loses_one_and_resumes(cluster, tmp_path / "nodes", env_with_venv)


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


def _study_survives_a_preemption(cluster, tmp_path, env_with_venv):
    tmp_path.mkdir()
    copy_workflow(tmp_path, edit=_micro_study_longer)
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



def _two_node_study(params: dict) -> None:
    """The micro study with its DeiT runs on 2 nodes x 1 process (gloo on CPU): a global batch of 4, 2 per process."""
    micro_study(params)
    params["resources"]["tiny_deit"] = {"threads": 1, "mem_mb": 2000, "runtime": 30, "gpu": 0, "nodes": 2}
    params["recipes"]["tiny_deit"]["schedule"]["epochs"] = 80          # ~20 s: long enough to lose a node mid-run
    params["recipes"]["tiny_deit"]["train"].update(global_batch=4, batch_per_device=2, checkpoint_every_steps=2,
                                                   deterministic=True)


def _node_processes(node: str) -> list[int]:
    """The training processes (torchrun agent, workers) a node runs: what dies with it."""
    out = []
    for pid in subprocess.run(["pgrep", "-f", "pst.cli|torchrun"], capture_output=True, text=True).stdout.split():
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"SLURMD_NODENAME={node}".encode() in env:
            out.append(int(pid))
    return out


def _epochs_saved(run) -> int:
    """The newest checkpoint's epoch (0 before the first): only the last two are kept, so a poll under load can miss
    any one epoch's files and must not wait for a particular name."""
    from pst.layout import RunDir
    found = RunDir.list_checkpoints(run / "checkpoints")
    return int(RunDir.CHECKPOINT.search(found[-1].name).group(1)) if found else 0


def _training_across_two_nodes_loses_one_and_resumes(cluster, tmp_path, env_with_venv):
    import torch

    from pst.engine.checkpoint import load_weights
    from pst.study import Run, Study

    tmp_path.mkdir()
    params = copy_workflow(tmp_path, edit=_two_node_study)
    env = {**env_with_venv, "SLURM_CONF": cluster["SLURM_CONF"], "OMP_NUM_THREADS": "1"}
    run = tmp_path / "results/synthetic/runs/synthetic/tiny_deit/deit_tps/seed0"
    cmd = ["snakemake", "--profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
           "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5",
           str((run / "final.safetensors").relative_to(tmp_path))]
    study = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while _epochs_saved(run) < 2 and time.monotonic() < deadline:   # past the second epoch: mid-run
            assert study.poll() is None, study.stdout.read()[-3000:]
            time.sleep(0.2)
        victims = _node_processes("node2")
        assert victims, "no training process on node2"
        killed = time.monotonic()
        for pid in victims:
            os.kill(pid, 9)                                    # node2 dies: its agent and worker, no goodbye
        out, _ = study.communicate(timeout=600)
    finally:
        study.kill()
    assert study.returncode == 0, out[-4000:]
    log = (run / "train.log").read_text()                     # every attempt, time-stamped
    lost = re.search(r"rank \d on node1 lost another training process at epoch \d+, step \d+ \(.*\); checkpoints "
                     r"are kept: rerun the same command to resume", log)
    assert lost, log[-2000:]
    assert log.index("starting afresh") < lost.start() < log.index("resuming at epoch") < log.index("finished 80")
    assert "Error in rule train_nodes" in out and "train_nodes" in out           # failed, then the retry
    line = next(ln for ln in log.splitlines() if "lost another training process" in ln)
    noticed = calendar.timegm(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))     # the log's stamps are UTC
    assert noticed - (time.time() - (time.monotonic() - killed)) < 30             # at once, not after a timeout
    job_log = (tmp_path / "results/synthetic/logs/train/synthetic/tiny_deit/deit_tps/seed0.log").read_text()
    assert "pst launch: node node1 (0 of 2)" in job_log and "pst launch: node node2 (1 of 2)" in job_log
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    # the same run on one node with two processes: the same weights (the layout is not part of the run)
    recipe = Study(params).recipe(Run("synthetic", "tiny_deit", "deit_tps", 0))
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    one = subprocess.run(["pst", "launch", "--nodes", "1", "--procs", "2", "--", "train", "--config", "recipe.yaml",
                          "--out", "one_node"], cwd=tmp_path, env={**env_with_venv, "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = load_weights(run / "final.safetensors"), load_weights(tmp_path / "one_node" / "final.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
