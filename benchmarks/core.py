"""Core speed and memory ratios (issue: core), measured in one run and written to benchmarks/results/core.json.

Ratios, not absolute times, are the result: every pair is timed in the same process, interleaved, median of
repeats. No assert: targets are printed beside the measured ratio.
"""
from __future__ import annotations

import json
import platform
import statistics
import time

import timm
import torch

import pst.models  # noqa: F401  (registers the models)
from pst.io import write_text
from pst.ops import patch_shift, pattern_grid


def median_times(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Median seconds of each callable, timed round-robin so that machine noise hits all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def roll_per_position(x: torch.Tensor, pattern, inverse: bool = False) -> torch.Tensor:
    """The official code's way: a clone, then one torch.roll per grid position on a strided slice."""
    grid = pattern_grid(pattern)
    g = len(grid)
    out = x.clone()
    for i in range(g):
        for j in range(g):
            s = -grid[i][j] if inverse else grid[i][j]
            if s:
                out[:, :, i::g, j::g] = torch.roll(x[:, :, i::g, j::g], shifts=s, dims=1)
    return out


def bench_shift(quick: bool) -> list[dict]:
    shapes = {"pst_t_stage1": (2, 16, 56, 56, 96), "deit_s": (2, 16, 14, 14, 384)}
    if quick:
        shapes = {"small": (2, 4, 14, 14, 32)}
    repeats = 5 if quick else 50
    rows = []
    for label, shape in shapes.items():
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(shape).to(dtype)
            buf, back, copy_dst = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
            for pattern in ("C", "D"):
                # two groups, each timed round-robin: the floor pair, then the allocating implementations
                t = median_times({
                    "copy": lambda: (copy_dst.copy_(x), back.copy_(copy_dst)),
                    "ours_out": lambda: (patch_shift(x, pattern, out=buf),
                                         patch_shift(buf, pattern, inverse=True, out=back)),
                }, repeats)
                t.update(median_times({
                    "ours": lambda: patch_shift(patch_shift(x, pattern), pattern, inverse=True),
                    "roll": lambda: roll_per_position(roll_per_position(x, pattern), pattern, True),
                    "clone": lambda: x.clone().clone(),
                }, repeats))
                t_copy, t_ours_out, t_ours, t_roll, t_clone = (t[k] / 2 if k in ("copy", "clone") else t[k]
                                                               for k in ("copy", "ours_out", "ours", "roll", "clone"))
                assert torch.equal(back, x)
                rows.append({
                    "tokens": label, "shape": list(shape), "dtype": str(dtype).removeprefix("torch."),
                    "pattern": pattern, "copy_ms": t_copy * 1e3, "shift_plus_inverse_into_buffers_ms": t_ours_out * 1e3,
                    "shift_plus_inverse_into_buffers_vs_2_copies": t_ours_out / (2 * t_copy),
                    "shift_plus_inverse_allocating_vs_2_copies": t_ours / (2 * t_copy),
                    "clone_vs_copy": t_clone / t_copy,
                    "per_position_roll_vs_ours_allocating": t_roll / t_ours,
                    "per_position_roll_vs_ours_into_buffers": t_roll / t_ours_out,
                    "per_position_roll_vs_2_copies": t_roll / (2 * t_copy),
                })
                print(json.dumps(rows[-1]))
    return rows


def saved_activation_bytes(model, x) -> int:
    """Bytes of tensors autograd keeps for backward (distinct storages): the training-memory term that grows
    with the input. Parameters are left out: they are (nearly) the same for the models compared here."""
    seen = {(p.untyped_storage().data_ptr(), p.untyped_storage().nbytes()) for p in model.parameters()}
    total = 0

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    return total


def bench_train_step(quick: bool) -> list[dict]:
    repeats = 2 if quick else 5
    common = dict(num_classes=10)
    cases = [
        ("deit_s_tps vs deit_s_2d", ("deit_s_tps", "deit_s_2d"), dict(img_size=112, num_frames=8), (2, 3, 8, 112, 112),
         1.05, None),
        ("pst_t vs swin_t_2d", ("pst_t", "swin_t_2d"), dict(num_frames=16), (2, 3, 16, 112, 112), 1.10, None),
        ("pst_t vs swin3d_t (8x7x7 windows)", ("pst_t", "swin3d_t"), dict(num_frames=32), (1, 3, 32, 112, 112),
         "<= 0.7 memory, >= 1.5x speed", None),
    ]
    if quick:
        cases = [(n, m, {**kw, **({"img_size": 32} if "deit" in n else {})}, (1, 3, s[2] // 4, 32, 32), t, None)
                 for n, m, kw, s, t, _ in cases]
    rows = []
    for name, (a, b), kw, shape, target, _ in cases:
        torch.manual_seed(0)
        models = {m: timm.create_model(m, **common, **kw).train() for m in (a, b)}
        x = torch.randn(shape)

        def step(m):
            for p in m.parameters():
                p.grad = None
            m(x).sum().backward()

        times = {m: [] for m in models}
        for m in models:           # warm-up
            step(models[m])
        for _ in range(repeats):   # interleaved, so drift hits both alike
            for m in models:
                t0 = time.perf_counter()
                step(models[m])
                times[m].append(time.perf_counter() - t0)
        t = {m: statistics.median(v) for m, v in times.items()}
        mem = {m: saved_activation_bytes(models[m], x) for m in models}
        row = {"case": name, "input": list(shape), "target": target,
               f"{a}_step_s": t[a], f"{b}_step_s": t[b], "time_ratio": t[a] / t[b], "speedup": t[b] / t[a],
               f"{a}_saved_activations_mb": mem[a] / 2**20, f"{b}_saved_activations_mb": mem[b] / 2**20,
               "memory_ratio": mem[a] / mem[b]}
        print(json.dumps(row))
        rows.append(row)
    return rows


def main(quick: bool = False, out: str = "benchmarks/results/core.json") -> dict:
    report = {
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "cuda": torch.cuda.is_available()},
        "quick": quick,
        "patch_shift": bench_shift(quick),
        "train_step": bench_train_step(quick),
        "targets": {"shift_plus_inverse_vs_copy": "<= 1.5", "per_position_roll_vs_ours": ">= 3",
                    "deit_s_tps_vs_deit_s_2d": "<= 1.05", "pst_t_vs_swin_t_2d": "<= 1.10",
                    "pst_t_vs_swin3d_t": "memory <= 0.7, speed >= 1.5x"},
    }
    write_text(out, json.dumps(report, indent=1) + "\n")
    return report
