"""Flip rules name classes: resolved to ids through the dataset's own class list (the official numbering puts
SS's left/right classes at 86, 87, 93, 94, 166, 167), refused at planning when they name anything but left/right
classes of the run's dataset, and a copy numbered otherwise is refused too."""
import copy

import pytest
import yaml

from conftest import ROOT
from fixtures_data import place_sthv1, ss_classes
from pst.data.mirror import flip_ids, left_right_classes, mirror_name
from pst.datasets.catalog import SS_LEFT_RIGHT
from pst.datasets.preprocess import prepare
from pst.engine.build import train_dataset
from pst.engine.config import resolve
from pst.study import Study

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_left_right_classes_are_those_with_a_mirror_class():
    classes = ss_classes()
    assert sorted(left_right_classes(classes)) == sorted(SS_LEFT_RIGHT)      # not "upright", not "right out"
    assert mirror_name("move_left_to_right") == "move_right_to_left" and mirror_name("Holding something") is None
    assert left_right_classes(["move_left_to_right", "move_right_to_left", "grow"]) == {
        "move_left_to_right": "move_right_to_left", "move_right_to_left": "move_left_to_right"}
    sorted_classes = sorted(classes)
    assert flip_ids(SS_LEFT_RIGHT, {SS_LEFT_RIGHT[0]: SS_LEFT_RIGHT[1]}, sorted_classes, "x") == (
        (86, 87, 93, 94, 166, 167), {86: 87})
    with pytest.raises(ValueError, match="not each other's mirror"):
        flip_ids([], {SS_LEFT_RIGHT[0]: SS_LEFT_RIGHT[2]}, sorted_classes, "x")
    with pytest.raises(ValueError, match="closest: 'Pushing something from left to right'"):
        flip_ids(["Pushing something from left to rigth"], {}, sorted_classes, "classes.txt")
    with pytest.raises(ValueError, match="names classes by their name, got 86"):
        flip_ids([86], {}, sorted_classes, "classes.txt")


def test_the_ss_recipe_never_flips_the_left_right_classes_of_a_real_format_copy(tmp_path, monkeypatch):
    """pst_sthv1 on an SSv1 copy prepared from the dataset's own files: the never-flipped ids are the official
    config's, and the classes they name are the six left/right classes."""
    place_sthv1(tmp_path / "sthv1" / "raw")
    prepare("sthv1", tmp_path / "sthv1", progress=False)
    cfg = resolve(PARAMS["recipes"]["pst_sthv1"])
    cfg["data"].update(root=str(tmp_path / "sthv1" / "processed"), modality="frames")
    assert train_dataset(cfg).transform.no_flip_labels == (86, 87, 93, 94, 166, 167)
    # planning reads the same copy: a copy numbered as the labels file (an older prepare) is refused
    monkeypatch.chdir(tmp_path)
    params = copy.deepcopy(PARAMS)
    params["profiles"]["paper"]["data"] = "."
    Study(params, "paper").check_recipes()
    (tmp_path / "sthv1" / "processed" / "classes.txt").write_text("".join(c + "\n" for c in ss_classes()))
    with pytest.raises(ValueError, match=r"classes.txt: the classes are not numbered as the official lists .* rerun "
                                         r"`pst data prepare sthv1`"):
        Study(params, "paper").check_recipes()


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["recipes"]["pst_sthv1"]["data"]["train"]["no_flip_classes"].append("Holding something"),
     "names 'Holding something', which is not a left/right class of sthv1"),
    (lambda p: p["tables"]["main_kinetics400"].update(recipe="pst_sthv1"),
     "which is not a left/right class of kinetics400 (a flip does not turn it into another class; its left/right "
     "classes: none)"),
    (lambda p: p["recipes"]["pst_sthv1"]["data"]["train"].update(no_flip_labels=[86, 87]),
     "'data.train.no_flip_labels' is now 'data.train.no_flip_classes': name the classes"),
])
def test_flip_rules_that_name_other_classes_are_refused_at_planning(edit, message):
    params = copy.deepcopy(PARAMS)
    edit(params)
    with pytest.raises(ValueError) as err:
        Study(params, "paper").check_recipes()
    assert message in str(err.value) and "params.yaml run" in str(err.value)
