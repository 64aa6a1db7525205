"""FLOPs and parameters per view, counted on the meta device (no memory, no compute, no GPU).

Counted with torch.utils.flop_counter; a multiply-add is one FLOP, as the paper counts. On real CPU tensors
torch's counter misses the fused attention kernel, on the meta device it does not.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from pst.models import create


_counted: dict[str, dict] = {}


def count(model_name: str, frames: int, size: int, **model_kwargs) -> dict:
    """{"model", "frames", "size", "gflops", "params_m"} for one view of ``frames`` x ``size``^2; counted once per
    process for each model, input and options (`pst cost` asks for every run's, many of them alike)."""
    key = repr((model_name, frames, size, sorted(model_kwargs.items())))
    if key not in _counted:
        _counted[key] = _count(model_name, frames, size, **model_kwargs)
    return dict(_counted[key])


def _count(model_name: str, frames: int, size: int, **model_kwargs) -> dict:
    with torch.device("meta"):
        model = create(model_name, num_frames=frames, img_size=size, **model_kwargs)
        x = torch.empty(1, 3, frames, size, size)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return {"model": model_name, "frames": frames, "size": size,
            "gflops": counter.get_total_flops() / 2 / 1e9, "params_m": params / 1e6}
