"""The micro study (Supplement Table 1's 2D and TPS rows, two seeds) through the real tools: `dvc repro` runs the
Snakemake targets; the tables are mean ± std over seeds with the published numbers and paired differences beside; each
run's small files are copied where git versions them; a fresh clone writes the same bytes; changing only execution
settings reruns nothing, changing one variant replans exactly its jobs; a table with missing runs refuses; tables are
metrics that `dvc metrics diff` reads, and a checkpoint goes to a local-directory remote and back. The FLOPs table
(`pst flops` jobs, then their table, then nothing to do) is built here too, with the paper's numbers beside ours."""
import copy
import json
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_workflow, micro_study
from pst.layout import Layout
from pst.study import Study


def _run(cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, f"{' '.join(cmd)}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def _snakemake(work, env, *extra):
    return subprocess.run(["snakemake", "--cores", "2", "--profile", "workflow/profiles/default", *extra], cwd=work,
                          env=env, capture_output=True, text=True, timeout=600)


def _job_stats(plan: str) -> dict[str, int]:
    """{rule: jobs} of a dry run's "Job stats" table (empty when there is nothing to be done)."""
    if "Job stats:" not in plan:
        return {}
    stats = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", plan.split("Job stats:")[1], re.M)}
    stats.pop("total", None)
    return stats


def _check_tables_and_records(repo):
    """The finished micro study: its table, the paired differences, the records git keeps, figures and the page."""
    table = json.loads((repo / "results/synthetic/tables/table1_deit.json").read_text())
    rows = {r["model"]: r for r in table["rows"]}
    assert set(rows) == {"deit_2d", "deit_tps"} and all(r["seeds"] == 2 for r in rows.values())
    for r in rows.values():
        assert 0 <= r["top-1"] <= 100 and r["top-1 std"] >= 0 and 0 <= r["twin top-1"] <= 100
        assert r["GFLOPs @paper input"] == pytest.approx(73.58, abs=0.01) and r["params M @paper input"] == 21.82
        assert r["input"] == "8x32²" and r["GFLOPs"] < 0.1
    assert rows["deit_2d"]["top-1 paper"] == 73.0 and rows["deit_tps"]["top-1 paper"] == 75.3
    assert rows["deit_2d"]["Δ top-1"] is None                     # a 4-class synthetic task is not Kinetics
    # the paired difference to the 2D row, over the same seeds, from the evaluations themselves
    runs = repo / "results/synthetic/runs/synthetic/tiny_deit"
    top1 = {(v, s): json.loads((runs / v / f"seed{s}/eval_1x1/eval.json").read_text())["top1"]
            for v in ("deit_2d", "deit_tps") for s in (0, 1)}
    paired = [top1["deit_tps", s] - top1["deit_2d", s] for s in (0, 1)]
    assert rows["deit_tps"]["vs deit_2d"] == pytest.approx(sum(paired) / 2)
    half = 12.706 * abs(paired[0] - paired[1]) / 2 ** 0.5 / 2 ** 0.5           # t(0.975, 1) * sd / sqrt(2)
    assert rows["deit_tps"]["vs deit_2d ci95 low"] == pytest.approx(sum(paired) / 2 - half, abs=1e-3)
    assert rows["deit_tps"]["top-1 seed1"] == pytest.approx(top1["deit_tps", 1])
    area = {(v, s): [e["val_top1"] for e in json.loads((runs / v / f"seed{s}/metrics.json").read_text())]
            for v in ("deit_2d", "deit_tps") for s in (0, 1)}          # the area under each validation curve
    assert all(len(a) == 2 for a in area.values())
    area = {k: sum(a) / 2 for k, a in area.items()}
    assert rows["deit_2d"]["val auc"] == pytest.approx((area["deit_2d", 0] + area["deit_2d", 1]) / 2)
    assert rows["deit_tps"]["vs deit_2d val auc"] == pytest.approx(
        sum(area["deit_tps", s] - area["deit_2d", s] for s in (0, 1)) / 2)
    md = (repo / "results/synthetic/tables/table1_deit.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert "±" in md and "seeds 0, 1: mean ± std" in md and "paper top-1 (K400, reference)" in header
    assert "Δ" not in header and "top-5" not in header and header.count("|") - 1 <= 14     # 2 classes: no top-5
    assert "(baseline)" in md and "vs deit_2d" in header and "val curve area" in header and "area vs deit_2d" in header
    # the paper's claim tested: the same paired difference as the table's, and the page leads with it
    claim = table["finding"]
    assert [(p["better"], p["than"]) for p in claim["pairs"]] == [("deit_tps", "deit_2d")]   # TSM not in this table
    t = claim["pairs"][0]["top1"]
    assert t["diff"] == pytest.approx(rows["deit_tps"]["vs deit_2d"]) and t["low"] == pytest.approx(
        rows["deit_tps"]["vs deit_2d ci95 low"])
    assert claim["verdict"] == ("agrees" if t["low"] > 0 else "disagrees" if t["high"] < 0 else "unresolved")
    assert md.splitlines()[2].startswith("**Paper:** TPS lifts DeiT-S") and f"**Verdict:** {claim['verdict']}" in md
    # the curves as data (DVC plots): each row's validation top-1, mean over its seeds, per epoch
    curve = (repo / "results/synthetic/curves/table1_deit/deit_tps.csv").read_text().splitlines()
    assert curve[0].startswith("epoch,loss,loss_min,loss_max,val_top1,") and len(curve) == 3
    per_epoch = [[e["val_top1"] for e in json.loads((runs / f"deit_tps/seed{s}/metrics.json").read_text())]
                 for s in (0, 1)]
    assert float(curve[2].split(",")[4]) == pytest.approx((per_epoch[0][1] + per_epoch[1][1]) / 2, abs=1e-4)
    # per class: on balanced classes the mean of the per-class top-1 is the top-1; twins named left/right paired
    per = json.loads((repo / "results/synthetic/per_class/table1_deit.json").read_text())["rows"]
    assert len(per) == 2 and sum(r["deit_tps top-1"] for r in per) / 2 == pytest.approx(rows["deit_tps"]["top-1"])
    page_md = (repo / "results/synthetic/per_class/table1_deit.md").read_text()
    assert "move_left_to_right / move_right_to_left" in page_md and "Most confused pairs" in page_md
    assert "| 75.3 " in md and "75.30" not in md                 # the paper's figures as printed, not reformatted
    assert table["metrics"]["deit_tps"]["top1"] == pytest.approx(rows["deit_tps"]["top-1"], abs=1e-4)
    for seed in (0, 1):
        run_dir = repo / f"results/synthetic/runs/synthetic/tiny_deit/deit_tps/seed{seed}"
        assert (run_dir / "eval_1x1/predictions.csv").exists() and (run_dir / "metrics.csv").exists()
        assert (repo / f"results/synthetic/logs/train/synthetic/tiny_deit/deit_tps/seed{seed}.log").exists()
        assert (repo / f"results/synthetic/benchmarks/train/synthetic/tiny_deit/deit_tps/seed{seed}.tsv").exists()
    assert not list(repo.glob("results/**/*.part"))
    # each run's small files, copied where git versions them (the run folder lives in the DVC cache)
    for v in ("deit_2d", "deit_tps"):
        for seed in (0, 1):
            run_dir = repo / f"results/synthetic/runs/synthetic/tiny_deit/{v}/seed{seed}"
            rec = repo / f"results/synthetic/records/synthetic/tiny_deit/{v}/seed{seed}"
            files = sorted(str(f.relative_to(rec)) for f in rec.rglob("*") if f.is_file())
            assert files == ["config.yaml", "env.json", "eval_1x1/eval.json", "eval_1x1/predictions.csv",
                             "metrics.csv", "metrics.json", "record.json", "train.json"], files
            assert all((rec / f).read_bytes() == (run_dir / f).read_bytes() for f in files if f != "record.json")
    for name in ("table1_deit_curves.png", "table1_deit_accuracy_vs_gflops.png", "table1_deit_cam.png",
                 "table1_deit_confusion.png"):
        png = (repo / "results/synthetic/figures" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, name
    assert (repo / "results/synthetic/figures/table1_deit_curves.svg").read_text().lstrip().startswith("<?xml")
    page = (repo / "results/synthetic/README.md").read_text()
    assert "## Supplement Table 1" in page and "![table1_deit_cam](figures/table1_deit_cam.png)" in page
    assert page.index("## The paper's claims and what we find") < page.index("## Supplement Table 1")
    assert "## Supplement Table 1: DeiT-S 2D / TSM / TPS: per class" in page
    assert "| profile | synthetic |" in page and "| torch |" in page and "FLOPs and params per view" in page


def _check_plans(repo, env, params):
    """What Snakemake plans after edits of a copy of params.yaml (``params`` written back afterwards)."""
    original, params = params, copy.deepcopy(params)
    nothing = _snakemake(repo, env, "-n")
    assert "Nothing to be done" in nothing.stdout + nothing.stderr
    # how a run is executed is not what it is: changing only execution settings reruns nothing but the results page,
    # which names the code's revision, now "+ uncommitted changes" (params.yaml is code to pst.provenance)
    params["recipes"]["tiny_deit"]["data"]["workers"] = 1
    params["recipes"]["tiny_deit"]["train"].update(keep_checkpoints=4, checkpoint_minutes=30, progress=True)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    plan = _snakemake(repo, env, "-n").stdout
    assert _job_stats(plan) == {"results_readme": 1, "all": 1}, plan[-2000:]
    assert "now: '" in plan and "+ uncommitted changes'" in plan

    # one variant's option changes: only its runs, their tests and the table are planned again
    params["variants"]["deit_tps"]["kwargs"]["pattern"] = "A"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    plan = _snakemake(repo, env, "-n")
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", plan.stdout, re.M)
    assert sorted(jobs) == sorted([("evaluate", f"dataset=synthetic, recipe=tiny_deit, variant=deit_tps, seed={s}, "
                                                f"views=1x1") for s in (0, 1)] +
                                  [(rule, f"dataset=synthetic, recipe=tiny_deit, variant=deit_tps, seed={s}")
                                   for rule in ("train", "record") for s in (0, 1)] +
                                  [(rule, "table=table1_deit") for rule in ("table", "per_class", "plots", "cam")]),\
        plan.stdout[-3000:]
    # the reason names what changed: the model section of the recipe, not the whole recipe as one JSON string
    reasons = [line for line in plan.stdout.splitlines() if "Params have changed" in line
               and "uncommitted changes" not in line]                        # the results page's revision
    assert reasons and all('{"model": {' in r and '"optim"' not in r and len(r) < 900 for r in reasons), reasons[:1]
    assert all('"pattern": "A"' in r and '"pattern": "C"' in r for r in reasons)
    (repo / "params.yaml").write_text(yaml.safe_dump(original, sort_keys=False))


def _check_missing_runs_refused(repo, env, params):
    """A table whose runs are missing refuses, naming them, and writes nothing."""
    spec = Study(params).table_spec(Study(params).table("table1_deit"))
    (repo / "results/synthetic/runs/synthetic/tiny_deit/deit_2d/seed1/eval_1x1/eval.json").unlink()
    (repo / "results/synthetic/runs/synthetic/tiny_deit/deit_tps/seed0/eval_1x1/eval.json").write_text("{trunc")
    out = repo / "results/synthetic/tables/again"
    run = subprocess.run(["pst", "table", "study", "results/flops/deit_s_2d_16x224.json", "--spec", json.dumps(spec),
                          "--out", str(out)], cwd=repo, env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "2 of 4 evaluations missing or unreadable" in run.stderr
    assert "deit_2d/seed1/eval_1x1/eval.json (missing)" in run.stderr and "deit_tps/seed0" in run.stderr
    assert not list(out.parent.glob("again*"))


@pytest.mark.slow                  # started first; a hang guard, not a time limit: ~300 s alone on the Xeon,
@pytest.mark.timeout(1800)         # ~360 s beside the suite, x1.7 on the EPYC
def test_micro_study_through_dvc_reproduces_reruns_what_changed_and_keeps_weights_remote(tmp_path, env_with_venv):
    env = {**env_with_venv, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    repo = tmp_path / "repo"
    repo.mkdir()
    params = copy_workflow(repo, edit=micro_study)
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
    assert (repo / "dvc.lock").exists()
    flops = {r["model"]: r for r in json.loads((repo / "results/flops.json").read_text())["rows"]}
    assert flops["deit_s_tps"]["GFLOPs paper"] == 74 and flops["deit_s_tps"]["Δ GFLOPs"] == 0     # at 16x224²
    assert "n/a" not in (repo / "results/flops.md").read_text().split("| deit_s_tps")[1].splitlines()[0]
    _check_tables_and_records(repo)
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
    _check_plans(repo, env, params)
    params["flops"]["views"]["pst_t"] = [8, 32]
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    assert "changed" in _run(["dvc", "status", "flops"], repo, env)
    _run(["dvc", "repro", "flops"], repo, env)
    diff = _run(["dvc", "metrics", "diff", "--md"], repo, env)
    assert "metrics.pst_t.GFLOPs" in diff and "metrics.deit_s_tps.GFLOPs" not in diff   # only what changed
    pst_t = next(r for r in json.loads((repo / "results/flops.json").read_text())["rows"] if r["model"] == "pst_t")
    assert pst_t["frames"] == 8 and pst_t["size"] == 32 and pst_t["GFLOPs"] < 10
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
    _check_missing_runs_refused(repo, env, params)
