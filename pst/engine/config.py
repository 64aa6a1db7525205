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
        "modality": "video",                 # list lines: "path label" (video) or "dir num_frames label" (frames)
        "frame_template": "{:05d}.jpg",      # frame folders: frame i is frame_template.format(i + frame_start)
        "frame_start": 1,                    # (SSv1: 00001.jpg; mmaction2's extraction: img_{:05d}.jpg from 1)
        "resize": "mmcv",                    # short-side resize: mmcv (what the official code ran) | torchvision
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
              "checkpoint_every": 1, "checkpoint_every_steps": 0, "checkpoint_minutes": 0, "keep_checkpoints": 2,
              "tensorboard": False,
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


def merge(base: dict, over: dict) -> dict:
    """Two partial recipes (or any nested mappings) merged, ``over`` winning key by key; no key is checked here
    (resolve() checks the result)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
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


def _template(text) -> bool:
    """A frame-file template that formats an index (e.g. "{:05d}.jpg", "img_{:05d}.jpg")."""
    try:
        return isinstance(text, str) and text.format(1) != text.format(2)
    except (IndexError, KeyError, ValueError):
        return False


def validate(cfg: dict) -> None:
    t, s, o, d = cfg["train"], cfg["schedule"], cfg["optim"], cfg["data"]
    for key, value, ok in (
            ("data.modality", d["modality"], d["modality"] in ("video", "frames")),
            ("data.resize", d["resize"], d["resize"] in ("mmcv", "torchvision")),
            ("data.frame_template", d["frame_template"], _template(d["frame_template"])),
            ("data.frame_start", d["frame_start"], isinstance(d["frame_start"], int) and d["frame_start"] >= 0),
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
            ("train.checkpoint_minutes", t["checkpoint_minutes"], _number(t["checkpoint_minutes"])
             and t["checkpoint_minutes"] >= 0),
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
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"recipe {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}{at} "
                         f"({problem}); fix the file") from None
    if not isinstance(data, dict):
        raise ValueError(f"recipe {path}: expected a mapping at the top level")
    return data


def parse_views(text: str) -> tuple[int, int]:
    """"3x4" -> (3 crops, 4 clips)."""
    try:
        crops, clips = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"--views: expected CROPSxCLIPS such as 3x4 or 1x1, got {text!r}") from None
    if crops not in (1, 3) or clips < 1:
        raise ValueError(f"--views: crops must be 1 or 3 and clips >= 1, got {text!r}")
    return crops, clips


def check_views(cfg: dict, views: str) -> tuple[int, int]:
    """The test views a recipe can be evaluated with: uniform sampling covers the whole video with one clip, so
    several clips would be identical copies (mmaction2's frame_uniform returns one); refused rather than scored."""
    crops, clips = parse_views(views)
    mode = cfg["data"]["sampling"]["mode"]
    if mode == "uniform" and clips > 1:
        raise ValueError(f"--views {views}: data.sampling.mode 'uniform' takes one clip over the whole video, so "
                         f"{clips} clips would be {clips} identical copies; use {crops}x1")
    return crops, clips


def model_kwargs(cfg: dict, num_classes: int) -> dict:
    """The model's constructor arguments from a recipe (frames and size from the data, then the recipe's options)."""
    d, m = cfg["data"], cfg["model"]
    kwargs = {"num_frames": d["sampling"]["clip_len"], "img_size": d["train"]["size"], "num_classes": num_classes,
              **m["kwargs"]}
    if m["checkpoint_2d"]:
        kwargs["checkpoint_2d"] = m["checkpoint_2d"]
    return kwargs


def resolve_path(root: str | Path, path: str | Path) -> Path:
    """A recipe's data path: relative to ``data.root`` unless absolute."""
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def create_model(cfg: dict, num_classes: int, meta: bool = False):
    """The recipe's model, as every job builds it; an unknown model, an option the constructor does not take or
    a value it refuses (a pattern that is not a square integer grid, the official bias's frame limit) is a
    ValueError naming the model. ``meta``: on the meta device, without weights (no memory, no 2D init read)."""
    import timm
    import torch

    import pst.models  # noqa: F401  (registers the models)

    name = cfg["model"]["name"]
    if name not in pst.models.MODEL_NAMES:
        raise ValueError(f"recipe: model.name {name!r} is not a registered model; choose one of "
                         f"{', '.join(pst.models.MODEL_NAMES)}")
    kwargs = model_kwargs(cfg, num_classes)
    if meta:
        kwargs.pop("checkpoint_2d", None)
    try:
        if meta:
            with torch.device("meta"):
                return timm.create_model(name, **kwargs)
        return timm.create_model(name, **kwargs)
    except TypeError as err:
        raise ValueError(f"recipe: model {name} does not accept these options ({err}); check model.kwargs "
                         "(and the variant's kwargs)") from None
    except (ValueError, AssertionError, RuntimeError) as err:
        raise ValueError(f"recipe: model {name} refuses its options: {err}") from None


def check_model(cfg: dict) -> None:
    """Build the recipe's model on the meta device: whatever the constructor refuses is refused at planning
    time, by the same code a training job runs."""
    create_model(cfg, num_classes=2, meta=True)


def accumulation(cfg: dict, world_size: int) -> int:
    """Micro-steps per optimizer step that keep the recipe's global batch on ``world_size`` devices."""
    g, b = cfg["train"]["global_batch"], cfg["train"]["batch_per_device"]
    if g % (b * world_size):
        raise ValueError(f"recipe: train.global_batch {g} is not a multiple of train.batch_per_device {b} x "
                         f"{world_size} device(s); change one so the global batch is kept exactly")
    return g // (b * world_size)
