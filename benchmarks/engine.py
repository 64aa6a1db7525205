"""Engine throughput (issue: engine), written to benchmarks/results/engine.json.

Training: clips/s of one epoch of a CPU-sized recipe on the default synthetic set (decode, augment, forward,
backward, AdamW), as the run's own metrics report it. Evaluation: views/s with every view of a video in one
batched forward versus one view per forward, same videos, same model.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
import yaml

from pst.datasets.synthetic import SynthConfig, generate
from pst.engine.build import build_model, views_dataset
from pst.engine.checkpoint import load_weights
from pst.engine.evaluate import predict
from pst.engine.train import train
from pst.io import write_text


def recipe(root: Path, epochs: int) -> dict:
    return {
        "data": {"root": str(root), "sampling": {"mode": "dense", "clip_len": 8},
                 "train": {"size": 56, "short_side": 64, "area": [0.3, 1.0], "flip": 0.0},
                 "val": {"size": 56, "short_side": 64}, "val_subset": 16, "workers": 2},
        "model": {"name": "deit_s_tps", "kwargs": {"patch_size": 8, "embed_dim": 96, "depth": 4, "num_heads": 3}},
        "optim": {"backbone_lr_mult": 1.0},
        "schedule": {"epochs": epochs, "warmup_epochs": 0.5},
        "train": {"global_batch": 16, "batch_per_device": 16, "progress": False},
    }


def main(quick: bool = False, out: str = "benchmarks/results/engine.json") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "synth", SynthConfig(train_per_class=8 if quick else 40, val_per_class=2), workers=2)
        train(recipe(tmp / "synth", 1 if quick else 2), tmp / "run")
        rows = json.loads((tmp / "run" / "metrics.json").read_text())
        cfg = yaml.safe_load((tmp / "run" / "config.yaml").read_text())
        model = build_model(cfg, None)
        model.load_state_dict(load_weights(tmp / "run" / "final.safetensors"))
        ds = views_dataset(cfg, tmp / "synth" / "val.txt", crops=3, clips=2)
        ds.entries = ds.entries[:8 if quick else 32]
        batched = predict(model, ds, torch.device("cpu"), batch_videos=4, max_views=64)
        single = predict(model, ds, torch.device("cpu"), batch_videos=1, max_views=1)
        assert torch.allclose(batched["probs"], single["probs"], atol=1e-5)
    report = {
        "quick": quick, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "train_recipe": "deit_s_tps tiny (patch 8, dim 96, depth 4), 8 x 56^2 clips, global batch 16, 2 workers",
        "train_clips_per_s": [r["clips_per_s"] for r in rows],
        "train_epoch_seconds": [r["epoch_seconds"] for r in rows],
        "eval_views": "3x2", "eval_videos": len(ds),
        "eval_views_per_s_batched": batched["views"] / batched["seconds"],
        "eval_views_per_s_one_at_a_time": single["views"] / single["seconds"],
    }
    report["eval_batched_speedup"] = report["eval_views_per_s_batched"] / report["eval_views_per_s_one_at_a_time"]
    print(json.dumps(report))
    write_text(out, json.dumps(report, indent=1) + "\n")
    return report
