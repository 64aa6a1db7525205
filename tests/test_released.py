"""Released weights first: an authors' checkpoint in the official layout is evaluated with a recipe's views on a
data copy exactly as load_video_checkpoint loads it, and a checkpoint that does not fit the copy is refused in one
line. (The rehearsal runs the DAG target with a paper-size PST-T checkpoint.)"""
import json

import pytest
import timm
import torch

import pst.models  # noqa: F401  (registers the models)
from engine_helpers import easy_set
from fixtures_data import write_official_checkpoint
from pst.engine.build import views_dataset
from pst.engine.config import resolve
from pst.engine.evaluate import evaluate_checkpoint, predict

TINY = dict(embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=[1, 4, 4], patch_size=[2, 4, 4],
            head_drop=0.0, drop_path_rate=0.0, bias="official")


def _recipe(root) -> dict:
    return resolve({"data": {"root": str(root), "sampling": {"mode": "uniform", "clip_len": 8},
                             "val": {"size": 32, "short_side": 32}, "test": {"short_side": 32}, "workers": 0},
                    "model": {"name": "pst_t", "kwargs": TINY}})


def test_released_checkpoint_is_evaluated_as_loaded(tmp_path):
    root = easy_set(tmp_path / "set")
    cfg = _recipe(root)
    torch.manual_seed(3)
    authors = timm.create_model("pst_t", num_frames=8, img_size=32, num_classes=4, **TINY).eval()
    ckpt = write_official_checkpoint(authors, tmp_path / "released" / "pst_t_k400.pth")
    rec = evaluate_checkpoint(ckpt, cfg, "3x1", tmp_path / "out")
    assert json.loads((tmp_path / "out" / "eval.json").read_text())["checkpoint"] == str(ckpt)
    assert rec["views"] == "3x1" and rec["videos_evaluated"] == rec["videos_listed"] == 32
    ds = views_dataset(cfg, root / "val.txt", 3, 1)
    expected = predict(authors, ds, torch.device("cpu"))["probs"]
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()[1:]
    probs = [float(r.split(",")[4]) for r in rows]
    assert probs == pytest.approx(expected.max(1).values.tolist(), abs=1e-6)   # the authors' weights, as saved
    # a checkpoint of another class count (another dataset's classifier) is refused, naming both
    other = write_official_checkpoint(timm.create_model("pst_t", num_frames=8, img_size=32, num_classes=7, **TINY),
                                      tmp_path / "released" / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth does not fit pst_t with 4 classes"):
        evaluate_checkpoint(other, cfg, "3x1", tmp_path / "out2")
