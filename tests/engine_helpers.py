"""A tiny synthetic set and recipe on which a tiny model learns in seconds (shared by the engine tests)."""
from pathlib import Path

from pst.datasets.synthetic import SynthConfig, generate

EASY = SynthConfig(pairs=2, train_per_class=24, val_per_class=8, frames=12, size=32, noise=0.0, distractors=0,
                   texture=False)


def easy_set(root: Path) -> Path:
    if not (root / "val.txt").exists():
        generate(root, EASY)
    return root


DENSE = {"mode": "dense", "clip_len": 4, "frame_interval": 2}     # several distinct test clips per video


def tiny_recipe(root: Path, sampling: dict | None = None, **train) -> dict:
    return {
        "data": {"root": str(root), "sampling": sampling or {"mode": "uniform", "clip_len": 8},
                 "train": {"size": 32, "short_side": 32, "area": [0.8, 1.0], "flip": 0.0},
                 "val": {"size": 32, "short_side": 32}, "workers": 0},
        "model": {"name": "deit_s_tsm",
                  "kwargs": {"patch_size": 4, "embed_dim": 64, "depth": 2, "num_heads": 2, "drop_path_rate": 0.0}},
        "optim": {"lr": 1e-3, "backbone_lr_mult": 1.0, "weight_decay": 0.01},
        "schedule": {"epochs": 24, "warmup_epochs": 0.5},
        "train": {"global_batch": 8, "batch_per_device": 8, "progress": False, **train},
    }
