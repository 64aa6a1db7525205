"""Training memory of one optimizer step, accounted on the meta device: parameters, gradients, AdamW state and the
activations the backward pass keeps, at any input and batch without allocating it (Table 2(e)'s memory column).

torch's MemTracker follows every tensor storage a training step creates and frees (forward, backward, optimizer
step) and reports the peak per category. On the meta device nothing is allocated, so the paper's input (32 x 224²,
8 clips per GPU) is accounted on a laptop in seconds. It is an account of *our* implementation in fp32: attention
through torch's scaled_dot_product_attention (the official code keeps explicit attention matrices, so its joint and
local rows cost relatively more), no allocator caching or fragmentation. `benchmarks/memory.py` checks it against
a step measured for real on the CPU.
"""
from __future__ import annotations

import torch

from pst.models import create

GIB = 2**30


def _step(model, optimizer, x, y) -> None:
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def training_memory(model_name: str, frames: int, size: int, batch: int, device: str = "meta",
                    **model_kwargs) -> dict:
    """Peak memory (GiB) of a training step at steady state (the second step: AdamW state already allocated),
    split as MemTracker categorises it; ``device="cpu"`` runs the same step for real (for the cross-check). The
    model's options as `pst.report.flops.count` takes them (``num_classes`` too: the model's own default otherwise)."""
    from torch.distributed._tools.mem_tracker import MemTracker

    with torch.device(device):
        model = create(model_name, num_frames=frames, img_size=size, **model_kwargs)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(batch, 3, frames, size, size)
        y = torch.zeros(batch, dtype=torch.long)
    model.train()
    tracker = MemTracker()
    tracker.track_external(model, optimizer, x, y)
    with tracker:
        for _ in range(2):
            _step(model, optimizer, x, y)
            tracker.reset_mod_stats()
    peak = tracker.get_tracker_snapshot("peak")[torch.device(device)]
    parts = {str(getattr(k, "value", k)).lower(): v / GIB for k, v in peak.items()}
    return {"model": model_name, "frames": frames, "size": size, "batch": batch, "dtype": "float32",
            "peak_gib": parts.pop("total"), **{f"{k}_gib": v for k, v in parts.items()}}
