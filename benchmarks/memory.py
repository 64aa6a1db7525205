"""Training memory of Table 2(e)'s attention types (issue: the rest of Table 2), written to
benchmarks/results/memory.json.

The table's memory column is an account made on the meta device (pst.report.memory: parameters, gradients, AdamW
state, activations, at the paper's 32 x 224² and 8 clips per device, without allocating them). This checks the
account against a training step measured for real at a size the CPU can run, the paper's input with 1 clip: in a
fresh process, the resident-memory high-water mark of two steps above the memory the process held before the
model existed. Ratios measured / accounted are the result; no assert.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys

MODELS = ("swin_t_2d", "pst_t", "swin3d_t", "swin_joint_t")
PAPER = {"swin_t_2d": ("avgpool", 3.7), "pst_t": ("pst", 3.7), "swin3d_t": ("local", 11.0),
         "swin_joint_t": ("joint", 20.2)}


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(model: str, frames: int, size: int, batch: int) -> dict:
    """Run in a fresh process: two real training steps on the CPU; peak resident memory above the baseline."""
    import timm
    import torch

    import pst.models  # noqa: F401

    torch.set_num_threads(2)
    warm = timm.create_model(model, num_frames=4, img_size=32, num_classes=4, window_size=(1, 4, 4),
                             embed_dim=16, depths=(1, 1), num_heads=(1, 2))
    torch.nn.functional.cross_entropy(warm(torch.randn(1, 3, 4, 32, 32)), torch.zeros(1, dtype=torch.long)).backward()
    del warm                                            # kernels and libraries loaded: they are not the step's
    base = _rss()
    m = timm.create_model(model, num_frames=frames, img_size=size, num_classes=400)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 3, frames, size, size), torch.zeros(batch, dtype=torch.long)
    for _ in range(2):
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"measured_peak_gib": (peak - base) / 2**30}


def main(quick: bool = False, out: str = "benchmarks/results/memory.json") -> dict:
    from pst.io import write_text
    from pst.report.memory import training_memory

    frames, size = (8, 112) if quick else (32, 224)
    rows = {}
    for model in MODELS:
        account_1 = training_memory(model, frames, size, 1)
        account_8 = training_memory(model, frames, size, 8)
        probe = subprocess.run([sys.executable, __file__, "--measure", model, str(frames), str(size), "1"],
                               capture_output=True, text=True, check=True)
        measured = json.loads(probe.stdout.strip().splitlines()[-1])["measured_peak_gib"]
        row, paper = PAPER[model]
        rows[model] = {"paper_row": row, "paper_memory_gb": paper,
                       "account_batch8_gib": account_8["peak_gib"],
                       "account_batch8_activations_gib": account_8["activation_gib"],
                       "account_batch1_gib": account_1["peak_gib"], "measured_batch1_gib": measured,
                       "measured_over_account_batch1": measured / account_1["peak_gib"]}
        print(model, json.dumps(rows[model]), flush=True)
    base = rows["pst_t"]
    report = {"input": f"{frames}x{size}²", "dtype": "float32", "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "models": rows,
              "account_ratios_to_pst_batch8": {m: r["account_batch8_gib"] / base["account_batch8_gib"]
                                               for m, r in rows.items()},
              "paper_ratios_to_pst": {m: r["paper_memory_gb"] / base["paper_memory_gb"] for m, r in rows.items()}}
    write_text(out, json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        model, frames, size, batch = sys.argv[2], *map(int, sys.argv[3:6])
        print(json.dumps(measure(model, frames, size, batch)))
    else:
        main(quick="--quick" in sys.argv)
