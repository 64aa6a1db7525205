"""AdamW parameter groups and the learning-rate schedule of the official configs.

Parameter groups (``optim.groups``):
- ``official`` (default, what ran): mmcv applies only the longest custom key found in a parameter's name. With the
  official keys (absolute_pos_embed, relative_position_bias_table, norm, backbone) every backbone parameter, norms
  included, gets lr x backbone_lr_mult *with* weight decay; relative-position tables get the base lr without decay;
  the head gets the base lr with decay.
- ``intended``: what the config meant: no decay on position embeddings, relative-position tables, class tokens and
  norms; every backbone parameter at lr x backbone_lr_mult.
- ``flat``: one group, base lr and decay everywhere.

Schedule: mmcv's CosineAnnealing stepped per epoch (``by_epoch``) to ``min_lr_ratio`` x lr, with a linear warm-up measured in
(fractional) epochs that starts at ``warmup_ratio`` x lr and is applied per optimizer step.
"""
from __future__ import annotations

import math

import torch

OFFICIAL_KEYS = {  # key -> (lr_mult, decay_mult); mmcv picks the longest key contained in the name
    "relative_position_bias_table": (None, 0.0),
    "absolute_pos_embed": (None, 0.0),
    "backbone": ("backbone", None),
    "norm": (None, 0.0),
}
NO_DECAY_INTENDED = ("absolute_pos_embed", "pos_embed", "cls_token", "relative_position_bias_table", "norm")


def _is_backbone(name: str) -> bool:
    return not name.startswith("head.")


def param_groups(model: torch.nn.Module, lr: float, weight_decay: float, mode: str = "official",
                 backbone_lr_mult: float = 0.1) -> list[dict]:
    groups: dict[tuple[float, float], list] = {}
    names: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        full = ("backbone." + name) if _is_backbone(name) else ("cls_head." + name)
        p_lr, p_wd = lr, weight_decay
        if mode == "official":
            for key in sorted(sorted(OFFICIAL_KEYS), key=len, reverse=True):
                if key in full:
                    lr_mult, decay_mult = OFFICIAL_KEYS[key]
                    if lr_mult == "backbone":
                        p_lr = lr * backbone_lr_mult
                    if decay_mult is not None:
                        p_wd = weight_decay * decay_mult
                    break
        elif mode == "intended":
            if _is_backbone(name):
                p_lr = lr * backbone_lr_mult
            if any(k in name for k in NO_DECAY_INTENDED):
                p_wd = 0.0
        elif mode != "flat":
            raise ValueError(f"optim.groups: expected official, intended or flat, got {mode!r}")
        groups.setdefault((p_lr, p_wd), []).append(p)
        names.setdefault((p_lr, p_wd), []).append(name)
    return [{"params": ps, "lr": k[0], "weight_decay": k[1], "names": names[k]} for k, ps in groups.items()]


def build_optimizer(model: torch.nn.Module, optim_cfg: dict) -> torch.optim.AdamW:
    groups = param_groups(model, optim_cfg["lr"], optim_cfg["weight_decay"], optim_cfg["groups"],
                          optim_cfg["backbone_lr_mult"])
    for g in groups:
        g["initial_lr"] = g["lr"]
    return torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups],
                             lr=optim_cfg["lr"], betas=tuple(optim_cfg["betas"]),
                             weight_decay=optim_cfg["weight_decay"])


def lr_factor(step: int, steps_per_epoch: int, sched: dict) -> float:
    """Multiplier of each group's initial lr before optimizer step ``step`` (0-based)."""
    epochs = sched["epochs"]
    progress = step // steps_per_epoch if sched["by_epoch"] else step / steps_per_epoch
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, epochs) / epochs))
    factor = sched["min_lr_ratio"] + (1 - sched["min_lr_ratio"]) * cosine
    warmup = sched["warmup_epochs"] * steps_per_epoch
    if step < warmup:
        factor *= 1 - (1 - sched["warmup_ratio"]) * (1 - step / warmup)
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, steps_per_epoch: int, sched: dict):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps_per_epoch, sched))
