"""DVC over the real tools: `dvc repro` runs the Snakemake target, tables are metrics that `dvc metrics diff`
reads, and a checkpoint goes to a local-directory remote and back."""
import shutil
import subprocess

import torch
import yaml

from conftest import ROOT, copy_workflow



def _run(cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def test_dvc_repro_metrics_diff_and_remote(tmp_path, env_with_venv):
    env = {**env_with_venv, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    repo = tmp_path / "repo"
    repo.mkdir()
    params = copy_workflow(repo, {"deit_s_tps": [4, 32], "pst_t": [4, 32]})
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / "pst", repo / "pst", ignore=shutil.ignore_patterns("__pycache__"))
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    _run(["dvc", "repro"], repo, env)
    assert (repo / "dvc.lock").exists() and (repo / "results/tables/flops.json").exists()
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "first"], repo, env)
    assert "up to date" in _run(["dvc", "status"], repo, env)
    params["flops"]["views"]["pst_t"] = [8, 32]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    assert "changed" in _run(["dvc", "status"], repo, env)
    _run(["dvc", "repro"], repo, env)
    diff = _run(["dvc", "metrics", "diff", "--md"], repo, env)
    assert "metrics.pst_t.GFLOPs" in diff and "metrics.deit_s_tps.GFLOPs" not in diff   # only what changed
    # a checkpoint in the DVC cache, pushed to a local remote, removed, pulled back
    ckpt = repo / "results" / "runs" / "demo" / "final.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"w": torch.arange(10.0)}, ckpt)
    original = ckpt.read_bytes()
    _run(["dvc", "add", str(ckpt.relative_to(repo))], repo, env)
    _run(["dvc", "remote", "add", "-d", "local", str(tmp_path / "remote")], repo, env)
    _run(["dvc", "push"], repo, env)
    ckpt.unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    _run(["dvc", "pull"], repo, env)
    assert ckpt.read_bytes() == original
