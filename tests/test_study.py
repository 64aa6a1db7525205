"""The study DAG for real: params.yaml -> synth -> train -> evaluate -> tables (mean ± std over seeds, published numbers
beside), incremental reruns, a killed run completed by a rerun, and a table that refuses when runs are missing."""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow, micro_study
from pst.io import locked
from pst.study import Run, Study, check_params, load
from pst.layout import Layout, eval_path

SNAKEMAKE = ["snakemake", "--cores", "2", "--profile", "workflow/profiles/default"]


def _params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_plan_synthetic_and_paper_profiles():
    syn, paper = load(ROOT / "params.yaml"), load(ROOT / "params.yaml", "paper")
    assert syn.profile == "synthetic" and len(syn.seeds) == 3
    assert [t.name for t in syn.tables] == ["table1_deit", "table2b_patterns"]       # the rest: synthetic-full
    assert syn.table("table1_deit").baseline == "deit_2d" and not syn.table("table1_deit").comparable
    assert list(syn.table("table2b_patterns").rows) == ["pst_A", "pst_B", "pst_C", "pst_D"]
    assert syn.table("table2b_patterns").baseline == "pst_A"               # its 2D row left out: paired with A
    assert load(ROOT / "params.yaml", "synthetic-full").table("table2b_patterns").baseline == "swin_2d"
    assert paper.table("table1_deit").comparable and paper.table("main_sthv1").baseline is None
    assert not load(ROOT / "params.yaml", "rehearsal").table("table1_deit").comparable   # overridden recipes
    t1 = syn.table("table1_deit")
    assert (t1.dataset, t1.recipe, t1.views, t1.paper_dataset) == ("synthetic", "tiny_deit", ("1x1",), "kinetics400")
    assert len(syn.runs) == 3 * 3 + 4 * 3                      # Table 1's three rows, Table 2(b)'s four patterns
    r = syn.recipe(Run("synthetic", "tiny_pst", "pst_A", 2))
    assert r["model"] == {"name": "pst_t", "kwargs": {**_params()["recipes"]["tiny_pst"]["model"]["kwargs"],
                                                       "pattern": "A", "channel_shift": False}}
    assert r["train"]["seed"] == 2 and r["data"]["root"] == "data/synthetic" and "checkpoint_2d" not in r["model"]
    # the paper profile: real datasets, ImageNet inits, official views, every main table
    assert {t.dataset for t in paper.tables} == {"kinetics400", "sthv1", "sthv2", "diving48"}
    assert paper.table("table1_deit").views == ("3x4",) and paper.table("main_sthv1").views == ("1x1", "3x1")
    k = paper.recipe(Run("kinetics400", "deit_k400", "deit_tps", 0))
    assert k["model"]["checkpoint_2d"] == "data/pretrained/deit_small_patch16_224.fb_in1k.pt" and k["model"]["kwargs"]["pattern"] == "C"
    assert "data/kinetics400/bad_videos.tsv" in paper.run_inputs(Run("kinetics400", "deit_k400", "deit_tps", 0))
    spec = paper.table_spec(paper.table("main_sthv1"))
    assert {(r["variant"], r["views"], r["published_row"]) for r in spec["rows"]} == {
        ("pst_t", "1x1", "pst_t_in1k_1x1"), ("pst_t", "3x1", "pst_t_in1k_3x1"),
        ("pst_b", "1x1", "pst_b_in21k_1x1"), ("pst_b", "3x1", "pst_b_in21k_3x1")}


def test_plan_names_a_bad_reference():
    p = _params()
    p["tables"]["table1_deit"]["rows"]["deit_tpz"] = "deit_s_tps"
    with pytest.raises(ValueError, match=r"tables.table1_deit.rows: variant 'deit_tpz'"):
        Study(p)
    with pytest.raises(ValueError, match="profile: 'papr'"):
        Study(_params(), "papr")
    p = _params()                                      # a table's seeds are a subset of its profile's
    p["profiles"]["synthetic-full"]["table_seeds"]["table2c_stages"] = [0, 7]
    with pytest.raises(ValueError, match=r"table_seeds.table2c_stages: seeds \[7\] are not among the profile's"):
        Study(p, "synthetic-full")
    p = _params()                                      # a synthetic set smaller than one global batch
    p["datasets"]["synthetic"]["synth"]["train_per_class"] = 2
    with pytest.raises(ValueError, match=r"train.global_batch \d+ is more than the 8 training videos of "
                                         r"datasets.synthetic.synth"):
        Study(p).check_recipes()
    p = _params()
    p["profiles"]["synthetic"]["tables"] *= 2
    with pytest.raises(ValueError, match=r"profiles.synthetic.tables: .*non-unique"):
        check_params(p, ROOT / "workflow" / "schemas" / "params.schema.yaml")
    full = "synthetic-full"                            # names that find no published number, and data among
    for edit, profile, says in (                       # the study's results
            (lambda p: p["tables"]["table1_deit"].update(published="nosuch"), "synthetic",
             r"tables.table1_deit.published: published table 'nosuch' is no table"),
            (lambda p: p["tables"]["table2b_patterns"]["rows"].update(pst_A="Q"), full,
             r"tables.table2b_patterns.rows.pst_A: 'Q' is no row of published table table2b_patterns"),
            (lambda p: p["tables"]["table2b_patterns"]["rows"].update(swin_2d="nosuch/avgpool"), full,
             r"rows.swin_2d: published table 'nosuch' is no table"),
            (lambda p: p["profiles"]["synthetic"]["baseline"].update(table2b_patterns="swin_2d"), "synthetic",
             r"profiles.synthetic.baseline.table2b_patterns: 'swin_2d' is not one of the rows the profile runs"),
            (lambda p: p["profiles"]["synthetic"]["baseline"].update(table2z="pst_C"), "synthetic",
             r"profiles.synthetic.baseline: unknown table 'table2z'"),
            (lambda p: p["profiles"]["synthetic"].update(data="results"), "synthetic",
             r"profiles.synthetic.data: results/synthetic would be written among the study results"),
            (lambda p: p["profiles"]["synthetic"].update(data="results/synthetic/data"), "synthetic",
             r"profiles.synthetic.data: results/synthetic/data/synthetic would be written among the study"),
            (lambda p: p["datasets"].update(results=p["datasets"]["synthetic"]) or p["profiles"]["synthetic"].update(
                data=".", map={"kinetics400": "results", "sthv1": "results"}), "synthetic",
             r"profiles.synthetic.data: ./results would be written among the study results")):
        p = _params()
        edit(p)
        with pytest.raises(ValueError, match=says):
            Study(p, profile)
    for profile in (5, ["synthetic"]):                 # the draft the schema declares: $ref beside type counts
        p = _params()
        p["profile"] = profile
        with pytest.raises(ValueError, match=r"params.yaml profile: .* is not of type 'string'"):
            check_params(p, ROOT / "workflow" / "schemas" / "params.schema.yaml")
    p = _params()
    p["profile"] = None                                 # what `snakemake --config profile=` gives: named as empty
    with pytest.raises(ValueError, match=r"params.yaml profile: an empty name \(Snakemake's --config profile=NAME.*"
                                         r"name one of \['paper', "):
        check_params(p, ROOT / "workflow" / "schemas" / "params.schema.yaml")


def test_paper_profile_plans_every_run_without_running(tmp_path, env_with_venv):
    copy_workflow(tmp_path)
    run = subprocess.run(["snakemake", "-n", "--cores", "1", "--config", "profile=paper"], cwd=tmp_path,
                         env=env_with_venv, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, re.M))
    paper = load(ROOT / "params.yaml", "paper")
    assert int(counts["train"]) == len(paper.runs) == 25
    assert int(counts["evaluate"]) == len(set(paper.evaluations())) == 29      # runs shared by tables run once
    assert int(counts["table"]) == 9 and int(counts["fetch"]) == 4 and int(counts["pretrained"]) == 3
    assert int(counts["memory"]) == 4                     # Table 2(e)'s memory: 2D, joint, local, PST at 32x224², 8
    dry = subprocess.run(["snakemake", "results/paper/runs/kinetics400/pst_k400/pst_b/seed0/final.safetensors", "-n", "-p",
                          "--cores", "1", "--config", "profile=paper"], cwd=tmp_path,
                         env=env_with_venv, capture_output=True, text=True, timeout=120)
    assert "torchrun --standalone --nproc_per_node 8 -m pst.cli train" in dry.stdout   # 8 GPUs: torchrun in the job


def _study_run(work, env, *extra, **kw):
    return subprocess.run(SNAKEMAKE + list(extra), cwd=work, env=env, capture_output=True, text=True, timeout=600,
                          **kw)


def test_killed_study_completes_on_rerun(tmp_path, env_with_venv):
    def slower(p):
        micro_study(p)
        p["profiles"]["synthetic"]["seeds"] = [0]
        p["recipes"]["tiny_deit"]["schedule"]["epochs"] = 10        # 40 steps: killed after its first
        p["recipes"]["tiny_deit"]["train"]["checkpoint_every_steps"] = 1

    copy_workflow(tmp_path, edit=slower)
    run = tmp_path / "results/synthetic/runs/synthetic/tiny_deit/deit_tps/seed0"
    target = str(eval_path(run.relative_to(tmp_path), "1x1"))    # one run and its evaluation (the table and the
    proc = subprocess.Popen(SNAKEMAKE + [target], cwd=tmp_path, env=env_with_venv,   # figures after them: the DVC
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,    # and SLURM tests')
                            start_new_session=True)
    ckpts = run / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and not list(ckpts.glob("*.pt")):
        time.sleep(0.2)
    assert list(ckpts.glob("*.pt")), "training never wrote a checkpoint"
    os.killpg(proc.pid, signal.SIGKILL)                      # snakemake and all its jobs, mid-training
    proc.wait()
    assert not (run / "final.safetensors").exists()          # nothing half-written is taken as done
    # a hard kill leaves Snakemake's lock (as a power loss would): unlock, then the same command again
    assert _study_run(tmp_path, env_with_venv, "--unlock").returncode == 0
    again = _study_run(tmp_path, env_with_venv, target)
    assert again.returncode == 0, again.stderr[-4000:]
    log = (run / "train.log").read_text()                    # the run's own log keeps every attempt
    assert "starting afresh" in log and re.search(r"resuming at epoch \d+, step [1-9]\d*", log), log
    assert len(json.loads((run / "metrics.json").read_text())) == 10
    assert json.loads((tmp_path / target).read_text())["videos_evaluated"] == 8        # 2 classes x 4 videos
    assert not list(tmp_path.glob("results/**/*.part")) and not list(tmp_path.glob("results/**/.*.tmp*"))
    # the recipe changes: Snakemake removes the run's final weights before it reruns its training, so the finished
    # run is moved aside whole before any job (the workflow's onstart), never deleted (trial 10: it was)
    weights, evaluation = (run / "final.safetensors").read_bytes(), (tmp_path / target).read_bytes()
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["recipes"]["tiny_deit"]["schedule"]["epochs"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with locked(run, "an evaluation", shared=True):          # a reader holds the run: stopped before any job
        held = _study_run(tmp_path, env_with_venv, target)
    assert held.returncode == 2 and (run / "final.safetensors").read_bytes() == weights, held.stderr[-2000:]
    assert re.search(r"^pst workflow: error: \S+seed0 is in use by a reader", held.stderr, re.M)
    assert "Traceback" not in held.stderr and "Error in" not in held.stderr
    changed = _study_run(tmp_path, env_with_venv, target)
    assert changed.returncode == 0, changed.stderr[-4000:]
    assert "recipe or data changed; the finished run was moved to" in changed.stderr
    [aside] = (run.parent / "seed0.archived").iterdir()
    assert (aside / "final.safetensors").read_bytes() == weights and (aside / "eval_1x1/eval.json").read_bytes() \
        == evaluation and "schedule.epochs: 10 -> 2" in (aside / "ARCHIVED.txt").read_text()
    assert len(json.loads((run / "metrics.json").read_text())) == 2 and (tmp_path / target).is_file()


def test_published_rows_other_tables_and_per_dataset_values():
    from pst.report.study_table import published_row

    assert published_row("supp_table1_k400_deit", "deit_s_tps")["top1"] == 75.3
    assert published_row("table2b_patterns", "table2e_attention/pst")["top1"] == 52.2      # another table's row
    sth = published_row("table3_sthv1_sthv2", "pst_t_in1k_3x1", "sthv2")
    assert (sth["top1"], sth["top5"], sth["flops_g"]) == (66.4, 90.2, 72)
    assert published_row("diving48", "pst_t") == {"top1": None, "top5": None, "flops_g": None, "params_m": None,
                                                   "memory_g": None}
    assert published_row("table2e_attention", "joint")["memory_g"] == 20.2            # training memory, Table 2(e)


def test_cost_of_the_paper_profile_counts_each_run_once():
    from pst.report.cost import study_cost
    from pst.report.flops import count

    df = study_cost(load(ROOT / "params.yaml", "paper"), tflops=25).set_index("table")
    gmacs = count("pst_t", 32, 224)["gflops"] + count("pst_b", 32, 224)["gflops"]
    k400 = df.loc["main_kinetics400"]
    assert k400["train PMAC"] == round(gmacs * (3 * 240_436 + 19_796) * 30 / 1e6, 1)     # 30 epochs + validation
    assert k400["test PMAC"] == round(gmacs * 12 * 19_796 / 1e6, 2)                     # 3 crops x 4 clips
    assert k400["GPU-hours"] == round(2 * (k400["train PMAC"] + k400["test PMAC"]) * 1e3 / 25 / 3600)
    assert df.loc["main_sthv1", "runs"] == 1          # PST-T on SSv1 is Table 2(b)'s run: counted there
    assert df.loc["table2b_patterns", "runs"] == 6
    # the GPU probe's measured rate of each model replaces the assumed one (PST-T at 100: a quarter of the hours)
    probe = {"device": "a GPU", "file": "gpu.json", "models": {"pst_t": {"tflops": 100.0}}}
    twice = study_cost(load(ROOT / "params.yaml", "paper"), probe=probe).set_index("table")
    assert twice.loc["table2c_stages", "GPU-hours"] == round(df.loc["table2c_stages", "GPU-hours"] / 4)     # PST-T only
    assert twice.loc["table2b_patterns", "GPU-hours"] > round(df.loc["table2b_patterns", "GPU-hours"] / 4)   # + Swin 2D


def test_layout_owns_every_path_and_profiles_sit_side_by_side():
    syn, reh = load(ROOT / "params.yaml"), load(ROOT / "params.yaml", "rehearsal")
    run = Run("sthv1", "pst_sthv1", "pst_t", 0)
    assert reh.run_dir(run) == "results/rehearsal/runs/sthv1/pst_sthv1/pst_t/seed0"
    assert load(ROOT / "params.yaml", "paper").run_dir(run) == "results/paper/runs/sthv1/pst_sthv1/pst_t/seed0"
    assert reh.recipe(run)["data"]["root"] == "data/rehearsal/sthv1/processed"      # where `pst data prepare` writes
    assert reh.run_inputs(run)[-2:] == ["data/rehearsal/sthv1/bad_videos.tsv",
                                        "data/rehearsal/pretrained/swin_tiny_patch4_window7_224.ms_in1k.pt"]
    assert syn.layout.table("table1_deit") == "results/synthetic/tables/table1_deit"
    r = reh.recipe(run)                                    # a paper-input run keeps 224 px; the others are reduced
    assert (r["data"]["train"]["size"], r["schedule"]["epochs"], r["train"]["global_batch"]) == (224, 1, 2)
    small = reh.recipe(Run("sthv1", "pst_sthv1", "pst_A", 0))
    assert small["data"]["train"]["size"] == 32 and small["data"]["sampling"] == {"mode": "uniform", "clip_len": 32}
    assert reh.resources("pst_k400")["gpu"] == 0 and load(ROOT / "params.yaml", "paper").resources("pst_k400")["gpu"] == 8


def test_dvc_stages_use_the_layouts_paths():
    """dvc.yaml cannot import pst.layout, so this holds its templated paths to the layout's, for every profile."""
    from pst.layout import FLOPS_TABLE

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    study = stages["study"]
    assert study["foreach"] == "${profiles}"
    names = lambda entries: [next(iter(e)) if isinstance(e, dict) else e for e in entries]    # noqa: E731
    for profile in _params()["profiles"]:
        lay = Layout(profile)
        outs = [o.replace("${key}", profile) for o in names(study["do"]["outs"])]
        assert outs == [f"{lay.results}/runs", str(Path(lay.table("x")).parent), str(Path(lay.per_class("x")).parent),
                        lay.records, lay.figures, lay.readme]
        assert [m.replace("${key}", profile) for m in names(study["do"]["metrics"])] == [lay.metrics]
        assert [p.replace("${key}", profile) for p in names(study["do"]["plots"])] == [str(Path(lay.curves("x")).parent)]
        assert f"profile={profile}" in study["do"]["cmd"].replace("${key}", profile)
    assert names(stages["flops"]["metrics"]) == [f"{FLOPS_TABLE}.json"]
    assert names(stages["synth"]["outs"]) == [Layout("synthetic").dataset_dir("synthetic")]


def test_a_data_folder_with_a_space_is_refused_at_planning():
    """The rules pass paths unquoted: a profile's data folder with a space would fail in its first job (trial 9)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profiles"]["synthetic"]["data"] = "my data"
    with pytest.raises(ValueError, match=r"profiles.synthetic.data: 'my data' holds a space"):
        Study(params, "synthetic")
