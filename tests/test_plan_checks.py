"""Planning refuses what a job would refuse, through the trainer's own checks: every run's recipe (keys, values,
the model built on the meta device), its batch on the job's devices and its test views, naming the run and the
params.yaml keys it comes from; `snakemake -n` fails before any job."""
import copy
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_workflow
from pst.study import Study

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _refused(edit, profile="paper") -> str:
    params = copy.deepcopy(PARAMS)
    edit(params)
    with pytest.raises(ValueError) as err:
        Study(params, profile).check_recipes()
    return str(err.value)


@pytest.mark.parametrize("profile", ["synthetic", "paper", "rehearsal"])
def test_every_profile_plans_clean(profile):
    Study(copy.deepcopy(PARAMS), profile).check_recipes()


def test_pattern_not_in_figure_1():
    msg = _refused(lambda p: p["variants"]["deit_tps"]["kwargs"].update(pattern="E"))
    assert "run kinetics400/deit_k400/deit_tps (recipes.deit_k400 + variants.deit_tps" in msg
    assert "unknown pattern 'E'" in msg


def test_misspelled_recipe_key():
    msg = _refused(lambda p: p["recipes"]["pst_k400"]["train"].update(batch_per_devce=8))
    assert "recipes.pst_k400" in msg and "unknown key 'train.batch_per_devce'" in msg


def test_model_option_typo_and_grid_that_is_not_square():
    msg = _refused(lambda p: p["variants"]["pst_t"]["kwargs"].update(chanel_shift=False))
    assert "variants.pst_t" in msg and "chanel_shift" in msg
    msg = _refused(lambda p: p["variants"]["pst_A"]["kwargs"].update(pattern=[[0, 1], [1]]))
    assert "grid must be square" in msg


def test_views_the_evaluator_refuses():
    msg = _refused(lambda p: p["tables"]["main_sthv1"].update(views=["2x2"]))
    assert "tables.main_sthv1.views" in msg and "crops must be 1 or 3" in msg
    msg = _refused(lambda p: p["tables"]["main_diving48"].update(views=["3x4"]))      # uniform sampling, 4 clips
    assert "tables.main_diving48.views" in msg and "4 identical copies; use 3x1" in msg


def test_batch_that_the_devices_cannot_keep():
    msg = _refused(lambda p: p["recipes"]["pst_k400"]["train"].update(global_batch=60))     # 8 GPUs x 8
    assert "recipes.pst_k400" in msg and "global_batch 60 is not a multiple of train.batch_per_device 8 x 8" in msg


def test_official_bias_frame_limit_and_unknown_model():
    def official_64(p):
        p["variants"]["pst_t"]["kwargs"]["bias"] = "official"
        p["recipes"]["pst_k400"]["data"]["sampling"]["clip_len"] = 64
    assert "32 temporal tokens exceed the table's 16 frames" in _refused(official_64)
    assert "'pst_x' is not a registered model" in _refused(lambda p: p["variants"]["pst_b"].update(model="pst_x"))


def test_snakemake_dry_run_stops_before_any_job(tmp_path, env_with_venv):
    copy_workflow(tmp_path, edit=lambda p: p["variants"]["deit_tps"]["kwargs"].update(pattern="E"))
    run = subprocess.run(["snakemake", "-n", "--cores", "1", "--config", "profile=paper"], cwd=tmp_path,
                         env=env_with_venv, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("pst workflow: error: params.yaml run kinetics400/deit_k400/deit_tps") and \
        len(run.stderr.splitlines()) == 1 and "unknown pattern 'E'" in run.stderr, run.stderr   # one line
    assert "Job stats" not in run.stdout and not (tmp_path / "results").exists()
    (tmp_path / "params.yaml").write_text("- a list\n")                  # not the params' shape: one line too
    run = subprocess.run(["snakemake", "-n", "--cores", "1"], cwd=tmp_path, env=env_with_venv, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and run.stderr == ("pst workflow: error: params.yaml: not a mapping of sections "
                                                  "(profiles:, datasets:, variants:, recipes:, ...); restore the "
                                                  "file\n"), run.stderr


def test_a_synthetic_set_synth_would_refuse():
    msg = _refused(lambda p: p["datasets"]["synthetic"]["synth"].update(radius=[0.4, 0.1]), profile="synthetic")
    assert "params.yaml datasets.synthetic.synth: radius: [low, high]" in msg
    msg = _refused(lambda p: p["datasets"]["synthetic"]["synth"].update(size=48), profile="synthetic")
    assert "params.yaml datasets.synthetic.synth: size: decord misreads H.264 frames 48 px wide" in msg
