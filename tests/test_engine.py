"""Training and evaluation engine: learning, recipes, parameter groups, schedule, evaluation with known outputs."""
import csv
import json
import math
import re

import pytest
import torch
import yaml

from engine_helpers import DENSE, easy_set, tiny_recipe
from pst.engine.config import accumulation, parse_views, resolve
from pst.engine.build import build_model, views_dataset
from pst.engine.evaluate import accuracy, aggregate, evaluate_run, list_tag, predict
from pst.engine.optim import lr_factor, param_groups
from pst.env import cpu_name
from pst.engine.train import GlobalBatchSampler, train
from pst.engine.checkpoint import load_weights, save_weights, weights_digest


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    return easy_set(tmp_path_factory.mktemp("easy"))


def test_tiny_model_learns_within_seconds(easy, tmp_path):
    threads = torch.get_num_threads()
    recipe = tiny_recipe(easy)
    recipe["train"]["threads"] = 1                            # the study's count, as a hand-run reads it
    summary = train(recipe, tmp_path / "run")
    assert torch.get_num_threads() == threads                 # torch's own count again afterwards
    rows = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(rows) == 24 and rows[-1]["loss"] < rows[0]["loss"]
    assert summary["final"]["val_top1"] >= 50.0, rows[-1]           # 4 classes: chance is 25 %
    for key in ("lr", "loss", "val_top1", "val_top5", "val_twin_top1"):
        assert rows[-1][key] is not None
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())      # execution record, not versioned
    assert [t["epoch"] for t in timing] == list(range(1, 25)) and timing[-1]["epoch_seconds"] > 0
    assert rows[-1]["lr"] > 0                                        # the lr the last epoch trained with, not 0
    log = (tmp_path / "run" / "train.log").read_text()
    assert "starting afresh" in log and re.search(r"epoch 24/24: loss [\d.]+, val top-1 [\d.]+ \(twin [\d.]+\), "
                                                  r"lr [\d.e-]+, \d+ s, [\d.]+ clips/s, ETA 0 s", log), log[-600:]
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    assert env["accumulation"] == 1 and env["world_size"] == 1 and env["device"] == "cpu"
    assert env["device_name"] == cpu_name() and env["device_name"].endswith(")")     # the model and ATen's ISA
    assert env["threads"] == 1                                # part of what the weights' bits depend on
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"]["name"] == "deit_s_tsm"
    # a finished run is not trained again; a different recipe in the same folder is refused
    assert train(tiny_recipe(easy), tmp_path / "run") == summary
    other = tiny_recipe(easy)
    other["optim"]["lr"] = 5e-4
    with pytest.raises(ValueError, match="optim.lr"):
        train(other, tmp_path / "run")


def test_recipe_errors_name_the_key():
    with pytest.raises(ValueError, match="train.global_batchh"):
        resolve({"train": {"global_batchh": 8}})
    with pytest.raises(ValueError, match="optim.lr"):
        resolve({}, ["optim.lr=fast"])
    cfg = resolve({}, ["optim.lr=3e-4", "model.kwargs.pattern=D"])
    assert cfg["optim"]["lr"] == 3e-4 and cfg["model"]["kwargs"] == {"pattern": "D"}
    with pytest.raises(ValueError, match="global_batch 64 is not a multiple"):
        accumulation(resolve({"train": {"global_batch": 64, "batch_per_device": 6}}), 1)
    assert accumulation(resolve({}), 1) == 8 and accumulation(resolve({}), 8) == 1


def test_global_batch_sampler_is_world_size_invariant():
    one = [b for b in GlobalBatchSampler(40, 8, world=1, rank=0, accum=2, seed=3, epoch=1)]
    two = [GlobalBatchSampler(40, 8, world=2, rank=r, accum=1, seed=3, epoch=1) for r in range(2)]
    merged = [b for pair in zip(*(list(s) for s in two)) for b in pair]
    assert one == merged
    resumed = list(GlobalBatchSampler(40, 8, 1, 0, 2, 3, 1, start_batch=2))
    assert resumed == one[4:]
    assert list(GlobalBatchSampler(40, 8, 1, 0, 2, 3, 2)) != one       # a new permutation every epoch
    twice = list(GlobalBatchSampler(40, 8, 1, 0, 2, 3, 1, repeats=2))   # repeated augmentation: 2 clips a video
    assert len(twice) == len(one) and all(len(b) == 2 for b in twice)    # the same steps, half the videos each
    assert len({i for b in twice for i, _ in b}) == 20                   # an epoch draws half of the 40


def _names(groups):
    return {n: (g["lr"], g["weight_decay"]) for g in groups for n in g["names"]}


def test_official_param_groups_are_what_mmcv_ran():
    model = build_model(resolve({"model": {"name": "pst_t", "kwargs": {"embed_dim": 16, "depths": [2, 2],
                                                                        "num_heads": [2, 4]}}}), num_classes=5)
    g = _names(param_groups(model, 1e-3, 0.02, "official", 0.1))
    assert g["layers.0.blocks.0.norm1.weight"] == (1e-4, 0.02)                     # backbone wins over norm
    assert g["layers.0.blocks.1.attn.relative_position_bias_table"] == (1e-3, 0.0)
    assert g["patch_embed.proj.weight"] == (1e-4, 0.02)
    assert g["head.weight"] == (1e-3, 0.02)
    i = _names(param_groups(model, 1e-3, 0.02, "intended", 0.1))
    assert i["layers.0.blocks.0.norm1.weight"] == (1e-4, 0.0)
    assert i["layers.0.blocks.1.attn.relative_position_bias_table"] == (1e-4, 0.0)
    assert i["layers.0.blocks.0.attn.qkv.weight"] == (1e-4, 0.02) and i["head.bias"] == (1e-3, 0.02)


def test_schedule_warmup_then_cosine_by_epoch():
    sched = resolve({"schedule": {"epochs": 30, "warmup_epochs": 2.5}})["schedule"]
    spe = 10
    assert lr_factor(0, spe, sched) == pytest.approx(0.1)
    assert lr_factor(12, spe, sched) == pytest.approx((1 - 0.9 * (1 - 12 / 25)) * 0.5 * (1 + math.cos(math.pi / 30)))
    assert lr_factor(25, spe, sched) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 30)))
    assert lr_factor(39, spe, sched) == lr_factor(30, spe, sched)                 # stepped per epoch
    assert lr_factor(300, spe, sched) == pytest.approx(0.0)


def test_aggregation_and_metrics_known_values():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 0.0, 4.0]],
                           [[0.0, 3.0, 0.0], [0.0, 3.0, 0.0]]])
    prob = aggregate(logits, "prob")
    expect0 = (torch.tensor([2.0, 0, 0]).softmax(0) + torch.tensor([0, 0, 4.0]).softmax(0)) / 2
    torch.testing.assert_close(prob[0], expect0)
    torch.testing.assert_close(aggregate(logits, "score")[0], torch.tensor([1.0, 0.0, 2.0]).softmax(0))
    assert prob[0].argmax() == 2 and aggregate(logits, "score")[0].argmax() == 2
    m = accuracy(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]),
                 torch.tensor([0, 1, 1, 2]), 3)
    assert m["top1"] == 50.0 and m["mean_class_accuracy"] == pytest.approx(100 * (1 + 0.5 + 0) / 3)
    assert parse_views("3x4") == (3, 4)
    with pytest.raises(ValueError, match="views"):
        parse_views("2x1")


def test_evaluation_views_averaging_and_failed_videos(easy, tmp_path):
    run = tmp_path / "run"
    train(tiny_recipe(easy, DENSE) | {"schedule": {"epochs": 1, "warmup_epochs": 0.0}}, run)
    # a model with known outputs: zero classifier weights, bias favouring class 1 -> every video predicted 1
    state = load_weights(run / "final.safetensors")
    state["head.weight"].zero_()
    state["head.bias"].copy_(torch.tensor([0.0, 5.0, 1.0, 0.0]))
    save_weights(state, run / "final.safetensors")
    summary = json.loads((run / "train.json").read_text())              # the run finished with these weights
    (run / "train.json").write_text(json.dumps({**summary, "weights": weights_digest(run / "final.safetensors")}))
    good = (easy / "val.txt").read_text()
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    lst = tmp_path / "val_plus_broken.txt"
    lst.write_text(good + f"{tmp_path / 'broken.mp4'} 2\n")
    report = evaluate_run(run, views="3x2", list_file=str(lst), batch_videos=2, max_views=4)
    labels = [int(line.split()[1]) for line in good.splitlines()]
    assert report["views_per_video"] == 6 and report["videos_listed"] == len(labels) + 1
    assert report["videos_failed"] == 1 and report["failed"] == [str(tmp_path / "broken.mp4")]
    assert report["denominator"] == len(labels)
    assert report["top1"] == pytest.approx(100 * labels.count(1) / len(labels))
    assert report["top5"] == 100.0 and report["mean_class_accuracy"] == pytest.approx(25.0)
    rows = list(csv.DictReader(open(run / f"eval_3x2_{list_tag(lst)}" / "predictions.csv")))   # its own folder
    assert len(rows) == len(labels) and {r["pred"] for r in rows} == {"1"}
    # every view goes through the model, in chunks of at most max_views
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    model = build_model(cfg, 4)
    model.load_state_dict(state)
    sizes = []
    model.register_forward_hook(lambda m, i, o: sizes.append(i[0].shape[0]))
    ds = views_dataset(cfg, easy / "val.txt", crops=3, clips=2)
    res = predict(model, ds, torch.device("cpu"), batch_videos=3, max_views=4)
    assert sum(sizes) == 6 * len(labels) and max(sizes) <= 4 and res["views"] == 6 * len(labels)


def test_recipe_options_run_together(easy, tmp_path):
    """Label smoothing, mixup, clipping, activation checkpointing, intended groups, repeated augmentation, erasing
    and bf16 autocast on CPU."""
    r = tiny_recipe(easy, label_smoothing=0.1, mixup=0.2, grad_clip=1.0, activation_checkpointing=True, amp="bf16",
                    global_batch=16, batch_per_device=8)
    r["optim"]["groups"] = "intended"
    r["data"]["train"].update(repeated_augmentation=2, erasing=0.5)
    r["schedule"] = {"epochs": 1, "warmup_epochs": 0.0}
    r["model"]["name"] = "pst_t"
    r["model"]["kwargs"] = {"embed_dim": 16, "depths": [2, 2], "num_heads": [2, 4], "window_size": [1, 4, 4],
                            "patch_size": [2, 4, 4], "drop_path_rate": 0.1}
    summary = train(r, tmp_path / "run")
    row = summary["final"]
    assert row["step"] == 96 // 16 and math.isfinite(row["loss"]) and row["val_videos"] == 32
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    assert env["accumulation"] == 2 and env["amp"] == "torch.bfloat16"


def test_evaluate_cli(easy, tmp_path, capsys):
    from pst.cli import main

    run = tmp_path / "run"
    train(tiny_recipe(easy, DENSE) | {"schedule": {"epochs": 1, "warmup_epochs": 0.0}}, run)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--views", "3x2", "--batch-videos", "4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3x2 views: top-1" in out and "over 32 videos (0 failed to decode, 0 partial)" in out
    assert json.loads((run / "eval_3x2" / "eval.json").read_text())["views_per_video"] == 6
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2 and "config.yaml" in capsys.readouterr().err
    uniform = tmp_path / "uniform"
    train(tiny_recipe(easy) | {"schedule": {"epochs": 1, "warmup_epochs": 0.0}}, uniform)
    assert main(["evaluate", str(uniform), "--views", "3x4", "--quiet"]) == 2
    assert "identical copies; use 3x1" in capsys.readouterr().err          # not scored 4 times
    assert not (uniform / "eval_3x4").exists()


def test_the_epoch_line_counts_the_videos_it_could_not_read():
    """A video replaced by another sample is counted where a user looks first, the epoch's line in the log."""
    from pst.engine.train import epoch_line

    row = {"epoch": 2, "loss": 1.0, "val_top1": 50.0, "lr": 1e-3, "unreadable_videos": 3, "partial_videos": 0}
    line = epoch_line(row, {"epoch_seconds": 4.0, "clips_per_s": 8.0}, 5, 6.0)
    assert line.endswith(", 3 unreadable videos replaced by others (`pst data validate` names them)"), line
    assert "unreadable" not in epoch_line({**row, "unreadable_videos": 0}, {"epoch_seconds": 4.0, "clips_per_s": 8.0},
                                          5, 6.0)
    looped = epoch_line({**row, "unreadable_videos": 0, "looped_videos": 2}, {"epoch_seconds": 4.0, "clips_per_s": 8.0},
                        5, 6.0)
    assert looped.endswith(", 2 videos shorter than the clip, read looping as mmaction2 does"), looped


def test_a_run_resumed_by_newer_code_keeps_its_metrics_with_the_new_columns(tmp_path):
    """Rows written before a count existed (a checkpoint of older code) and rows with it: one CSV, every column."""
    from pst.engine.train import _write_metrics

    _write_metrics(tmp_path, [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0, "looped_videos": 0}], [])
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert rows == [{"epoch": "1", "loss": "2.0", "looped_videos": ""},
                    {"epoch": "2", "loss": "1.0", "looped_videos": "0"}]
