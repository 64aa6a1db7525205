"""DVC over the real tools: `dvc repro` runs the Snakemake target, tables are metrics that `dvc metrics diff`
reads, and a checkpoint goes to a local-directory remote and back."""
import shutil
import subprocess

import yaml

from conftest import ROOT, copy_workflow, micro_study
from pst.layout import Layout



def _run(cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def test_dvc_repro_metrics_diff_and_remote(tmp_path, env_with_venv):
    env = {**env_with_venv, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    repo = tmp_path / "repo"
    repo.mkdir()
    params = copy_workflow(repo, {"deit_s_tps": [4, 32], "pst_t": [4, 32]}, edit=micro_study)
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")       # one study@<profile> stage per profile, unedited
    shutil.copytree(ROOT / "pst", repo / "pst", ignore=shutil.ignore_patterns("__pycache__"))
    for name in (".gitignore", ".dvcignore"):                # what git and DVC leave out, as in the project
        shutil.copy(ROOT / name, repo / name)
    _run(["git", "init", "-q"], repo, env)
    _run(["dvc", "init", "-q"], repo, env)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")      # the project's cache settings (hardlink)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "code"], repo, env)       # results name the code's commit (pst.provenance)
    for stage in ("synth", "study@synthetic"):                 # what `make reproduce` runs
        _run(["dvc", "repro", stage], repo, env)
    assert (repo / "dvc.lock").exists() and (repo / "results/flops.json").exists()
    assert (repo / "results/synthetic/tables/table1_deit.json").exists()
    shown = _run(["dvc", "metrics", "show", "--md"], repo, env)
    assert "results/synthetic/metrics.json" in shown and "table1_deit.deit_tps.top1" in shown
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "results"], repo, env)
    assert "up to date" in _run(["dvc", "status", "synth", "study@synthetic"], repo, env)
    # reproduce yourself: a fresh clone (no data, no runs, no DVC cache) running the same stages writes the same
    # bytes: data, weights, metrics, evaluations (their hashes in dvc.lock), tables, figures and the results page
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    for stage in ("synth", "study@synthetic"):
        _run(["dvc", "repro", stage], clone, env)
    assert _run(["git", "status", "--porcelain"], clone, env) == "", _run(["git", "diff"], clone, env)[-3000:]
    params["flops"]["views"]["pst_t"] = [8, 32]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    assert "changed" in _run(["dvc", "status", "flops"], repo, env)
    _run(["dvc", "repro", "flops"], repo, env)
    diff = _run(["dvc", "metrics", "diff", "--md"], repo, env)
    assert "metrics.pst_t.GFLOPs" in diff and "metrics.deit_s_tps.GFLOPs" not in diff   # only what changed
    params["variants"]["deit_tps"]["kwargs"]["pattern"] = "A"           # a study parameter: the study stage changed
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    status = _run(["dvc", "status", "study@synthetic"], repo, env)
    assert "study@synthetic:" in status and "variants" in status
    params["variants"]["deit_tps"]["kwargs"]["pattern"] = "C"
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    # a run's checkpoint lives in the DVC cache: pushed to a local remote, removed with the cache, pulled back
    ckpt = repo / Layout("synthetic").run_dir("synthetic", "tiny_deit", "deit_tps", 1) / "final.safetensors"
    original = ckpt.read_bytes()
    assert len(original) > 1000
    _run(["git", "check-ignore", "-q", str(ckpt.relative_to(repo))], repo, env)      # weights: DVC's, not git's
    _run(["dvc", "remote", "add", "-d", "local", str(tmp_path / "remote")], repo, env)
    _run(["dvc", "push", "study@synthetic"], repo, env)      # a profile's runs (the others have none here)
    ckpt.unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    _run(["dvc", "pull", "study@synthetic"], repo, env)
    assert ckpt.read_bytes() == original
