"""The training recipe: one nested mapping (YAML/JSON or params.yaml's recipe), validated with clear errors.

Unknown keys are refused with their dotted path, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "data": {
        "root": "data/synthetic",            # folder the list paths are relative to
        "train_list": "train.txt",           # relative to root unless absolute
        "val_list": "val.txt",
        "classes": "classes.txt",
        "sampling": {"mode": "dense", "clip_len": 8, "frame_interval": 1},
        "train": {"size": 56, "short_side": 64, "area": [0.08, 1.0], "flip": 0.5, "no_flip_labels": [],
                  "flip_pairs": {}, "randaugment": None, "erasing": 0.0},
        "val": {"size": 56, "short_side": 64, "crops": 1, "num_clips": 1},   # validation during training
        "test": {"short_side": None},        # multi-view test: short side (None = the crop size, three crops)
        "val_subset": 0,                      # validation videos per epoch (0 = all)
        "workers": 2,
        "cache_videos": False,               # keep decoded videos in memory (small sets only, e.g. synthetic)
    },
    "model": {"name": "deit_s_tps", "kwargs": {}, "checkpoint_2d": None},
    "optim": {"lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.02, "groups": "official",
              "backbone_lr_mult": 0.1},
    "schedule": {"epochs": 30, "warmup_epochs": 2.5, "warmup_ratio": 0.1, "by_epoch": True, "min_lr_ratio": 0.0},
    "train": {"global_batch": 64, "batch_per_device": 8, "grad_clip": None, "label_smoothing": 0.0,
              "mixup": 0.0, "amp": "auto", "activation_checkpointing": False, "seed": 0, "deterministic": False,
              "checkpoint_every": 1, "checkpoint_every_steps": 0, "keep_checkpoints": 2, "tensorboard": False,
              "progress": True},
}


def _merge(base: dict, override: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if key not in base:
            raise ValueError(f"recipe: unknown key {where!r}; known keys here: {', '.join(sorted(base))}")
        if key in ("kwargs", "flip_pairs"):                  # free-form mappings: merged, any key
            if not isinstance(value, dict):
                raise ValueError(f"recipe: {where!r} must be a mapping, got {type(value).__name__}")
            out[key] = {**base[key], **copy.deepcopy(value)}
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"recipe: {where!r} must be a mapping, got {type(value).__name__}")
            out[key] = _merge(base[key], value, f"{where}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(cfg: dict, dotted: str, value: Any) -> None:
    """Apply one ``a.b.c=value`` override (value parsed as YAML: numbers, lists, null, booleans)."""
    keys = dotted.split(".")
    node = cfg
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value


def parse_value(raw: str) -> Any:
    """JSON first (so 3e-4 is a number), then YAML (null, true, [1, 2], bare words)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return yaml.safe_load(raw)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def resolve(recipe: dict | None = None, overrides: list[str] | None = None) -> dict:
    """Defaults <- recipe <- ``key=value`` overrides, then validated."""
    merged = _merge(DEFAULTS, recipe or {})
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set: expected KEY=VALUE (e.g. train.seed=1), got {item!r}")
        key, raw = item.split("=", 1)
        patch: dict = {}
        set_dotted(patch, key, parse_value(raw))
        merged = _merge(merged, patch)
    validate(merged)
    return merged


def validate(cfg: dict) -> None:
    t, s, o = cfg["train"], cfg["schedule"], cfg["optim"]
    for key, value, ok in (
            ("train.global_batch", t["global_batch"], isinstance(t["global_batch"], int) and t["global_batch"] > 0),
            ("train.batch_per_device", t["batch_per_device"],
             isinstance(t["batch_per_device"], int) and t["batch_per_device"] > 0),
            ("schedule.epochs", s["epochs"], isinstance(s["epochs"], int) and s["epochs"] > 0),
            ("schedule.warmup_epochs", s["warmup_epochs"], _number(s["warmup_epochs"]) and s["warmup_epochs"] >= 0),
            ("optim.lr", o["lr"], _number(o["lr"]) and o["lr"] > 0),
            ("optim.weight_decay", o["weight_decay"], _number(o["weight_decay"]) and o["weight_decay"] >= 0),
            ("optim.backbone_lr_mult", o["backbone_lr_mult"], _number(o["backbone_lr_mult"])),
            ("optim.groups", o["groups"], o["groups"] in ("official", "intended", "flat")),
            ("train.amp", t["amp"], t["amp"] in ("auto", "bf16", "fp16", "off")),
            ("train.mixup", t["mixup"], _number(t["mixup"]) and 0 <= t["mixup"]),
            ("train.label_smoothing", t["label_smoothing"], _number(t["label_smoothing"])
             and 0 <= t["label_smoothing"] < 1),
    ):
        if not ok:
            raise ValueError(f"recipe: {key} = {value!r} is not valid")


def load_recipe(path: str | Path) -> dict:
    """A recipe file (YAML/JSON), or the recipe itself as inline JSON (how the workflow passes it)."""
    if isinstance(path, str) and path.lstrip().startswith("{"):
        try:
            data = json.loads(path)
        except json.JSONDecodeError as err:
            raise ValueError(f"recipe: inline JSON does not parse ({err})") from None
        if not isinstance(data, dict):
            raise ValueError("recipe: expected a mapping at the top level")
        return data
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path}: no such file")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"recipe {path}: expected a mapping at the top level")
    return data


def accumulation(cfg: dict, world_size: int) -> int:
    """Micro-steps per optimizer step that keep the recipe's global batch on ``world_size`` devices."""
    g, b = cfg["train"]["global_batch"], cfg["train"]["batch_per_device"]
    if g % (b * world_size):
        raise ValueError(f"recipe: train.global_batch {g} is not a multiple of train.batch_per_device {b} x "
                         f"{world_size} device(s); change one so the global batch is kept exactly")
    return g // (b * world_size)
