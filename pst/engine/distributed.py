"""Device, precision and world size from the environment: one CPU process, one GPU, or torchrun (DDP)."""
from __future__ import annotations

import datetime
import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    amp_dtype: torch.dtype | None       # None: full precision

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)


def setup(amp: str = "auto") -> Context:
    """Join the process group when started by torchrun (gloo on CPU, nccl on CUDA); pick device and precision."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        # a peer that vanishes without closing its connections (a dead node) ends a collective after this many
        # seconds instead of hanging the job; a crashed peer is noticed at once (its connections drop)
        timeout = datetime.timedelta(seconds=int(os.environ.get("PST_DIST_TIMEOUT", "600")))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    amp_dtype = None
    if amp == "bf16" or (amp == "auto" and cuda and torch.cuda.is_bf16_supported()):
        amp_dtype = torch.bfloat16
    elif amp == "fp16" or (amp == "auto" and cuda):
        amp_dtype = torch.float16
    if amp_dtype is not None and not cuda and amp_dtype == torch.float16:
        raise ValueError("train.amp: fp16 needs CUDA; use bf16 or off on CPU")
    return Context(rank, world, local, device, amp_dtype)


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
