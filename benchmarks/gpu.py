"""The GPU probe (issue #29; `make bench-gpu`): one command, under 5 minutes on one GPU, writes
benchmarks/results/gpu.json.

For every model at its paper input and per-GPU batch (DeiT-S 16 x 224², the Swin family 32 x 224², 8 clips), one
training step (forward, backward, AdamW) in bf16, and in fp16 with a gradient scaler for PST-T (the official
apex O1 precision), eager and under torch.compile: step time, clips/s, peak memory beside Table 2(e)'s published
memory, and the TFLOP/s achieved (training = 3 x the forward's multiply-adds, 2 FLOPs each). Then, with more than
one GPU, a DDP step over all of them (nccl), and with --loader-list the training loader's clips/s per worker on
this node's CPUs beside the cores per GPU the measured rate needs. `pst cost` and `pst bench loader` read the file.

On a GPU node:  python benchmarks/gpu.py            (or `make bench-gpu`)
The test suite runs it with --tiny on the CPU (tiny models, the compile path through the aot_eager backend, a
two-process gloo DDP step), so it cannot rot.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (model, frames, the params.yaml recipe whose model options it trains with)
MODELS = (("deit_s_2d", 16, "deit_k400"), ("deit_s_tps", 16, "deit_k400"), ("swin_t_2d", 32, "pst_k400"),
          ("pst_t", 32, "pst_k400"), ("pst_b", 32, "pst_k400"), ("swin3d_t", 32, "pst_k400"),
          ("swin_joint_t", 32, "pst_k400"))
FP16 = ("pst_t",)                                     # the official precision (apex O1 fp16), on its main model
MEMORY_ROW = {"swin_t_2d": "avgpool", "pst_t": "pst", "swin3d_t": "local", "swin_joint_t": "joint"}   # Table 2(e)
TINY = {"deit": {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2},
        "swin": {"embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": [1, 4, 4]}}


def model_recipe(model: str, frames: int, recipe: str, tiny: bool) -> dict:
    """The resolved recipe a paper run of ``model`` trains with (its recipe's options, its variant's pattern)."""
    from pst.engine.config import resolve
    from pst.study import read_params

    params = read_params(ROOT / "params.yaml")
    r = {k: v for k, v in params["recipes"][recipe].items() if k != "sources"}
    variants = params["variants"]            # the model's main variant (pst_t: pattern C), not an ablation's
    variant = next((variants[n] for n in (model, model.replace("_s_", "_")) if n in variants), None) or \
        next((v for v in variants.values() if v["model"] == model), {})
    kwargs = {**r.get("model", {}).get("kwargs", {}), **variant.get("kwargs", {})}
    if tiny:
        kwargs.update(TINY["deit" if model.startswith("deit") else "swin"])
        r["data"] = {**r["data"], "train": {**r["data"]["train"], "size": 32, "short_side": 32},
                     "val": {"size": 32, "short_side": 32}}
        r["train"] = {**r.get("train", {}), "batch_per_device": 2, "global_batch": 2}
    r["data"] = {**r["data"], "sampling": {**r["data"]["sampling"], "clip_len": 4 if tiny else frames}}
    r["model"] = {"name": model, "kwargs": kwargs}
    return resolve(r)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step_rate(cfg: dict, device: torch.device, dtype: torch.dtype, compiled: bool, backend: str,
                    steps: int, warmup: int, model=None) -> dict:
    """Median seconds of one training step at the recipe's per-device batch (after ``warmup`` steps, which
    include compilation), clips/s, peak memory."""
    from pst.engine.config import create_model

    model = (model or create_model(cfg, 400)).to(device).train()
    net = torch.compile(model, backend=backend) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    b, d = cfg["train"]["batch_per_device"], cfg["data"]
    x = torch.randn(b, 3, d["sampling"]["clip_len"], d["train"]["size"], d["train"]["size"], device=device)
    y = torch.randint(0, 400, (b,), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        times.append(time.perf_counter() - t0)
    step = statistics.median(times[warmup:])
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"step_s": step, "first_step_s": times[0], "clips_per_s": b / step, "peak_memory_gib": peak}


def _ddp_worker(rank: int, world: int, backend: str, port: int, cfg: dict, dtype: torch.dtype, steps: int,
                out: str) -> None:
    import torch.distributed as dist

    from pst.engine.config import create_model

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world)
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(0)
    model = create_model(cfg, 400).to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank] if device.type == "cuda" else None)
    result = train_step_rate(cfg, device, dtype, False, "inductor", steps, 2, model=ddp)
    if rank == 0:
        Path(out).write_text(json.dumps(result))
    dist.destroy_process_group()


def ddp_rate(cfg: dict, world: int, backend: str, dtype: torch.dtype, steps: int) -> dict:
    """A DDP training step over ``world`` processes (nccl on GPUs, gloo on the CPU): rank 0's step, clips/s of
    all."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "rank0.json")
        mp.spawn(_ddp_worker, args=(world, backend, port, cfg, dtype, steps, out), nprocs=world, join=True)
        result = json.loads(Path(out).read_text())
    return {**result, "world_size": world, "backend": backend, "clips_per_s": world * result["clips_per_s"]}


def loader_rate(recipe: str, list_file: str, clips: int, gpu_clips_per_s: float | None) -> dict:
    """The training loader of ``recipe`` on a prepared list: clips/s of one worker and the cores a GPU needs."""
    from pst.engine.bench import ASSUMED_GPU_CLIPS_PER_S, bench_recipe, cores_per_gpu, sample_costs
    from pst.engine.build import train_dataset

    cfg = bench_recipe(recipe, list_file, params=ROOT / "params.yaml")
    costs = sample_costs(train_dataset(cfg), clips)
    rate = gpu_clips_per_s or ASSUMED_GPU_CLIPS_PER_S
    gpus = max(torch.cuda.device_count(), 1)
    return {"recipe": recipe, "list": list_file, **costs, "gpu_clips_per_s": rate,
            "cores_per_gpu_needed": cores_per_gpu(costs["clips_per_s"], rate),
            "cores_per_gpu_here": (os.cpu_count() or 1) / gpus}


def main(argv: list[str] | None = None) -> dict:
    import pst.models  # noqa: F401
    from pst.io import write_text
    from pst.env import cpu_name
    from pst.report.flops import count
    from pst.report.published import published

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/gpu.json"))
    p.add_argument("--models", nargs="+", default=[m for m, _, _ in MODELS], choices=[m for m, _, _ in MODELS])
    p.add_argument("--steps", type=int, default=10, help="timed steps per setting (after the warm-up)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    p.add_argument("--no-compile", action="store_true", help="eager only")
    p.add_argument("--backend", default="inductor", help="torch.compile backend")
    p.add_argument("--budget-s", type=float, default=270, help="settings not started by then are skipped (so "
                                                               "the probe ends in under 5 minutes)")
    p.add_argument("--ddp", type=int, default=None, help="processes of the DDP step (default: every GPU, none "
                                                          "with one)")
    p.add_argument("--loader-list", help="a prepared training list to measure the loader on (its recipe: "
                                         "--loader-recipe)")
    p.add_argument("--loader-recipe", default="pst_k400")
    p.add_argument("--loader-clips", type=int, default=40)
    p.add_argument("--tiny", action="store_true", help="tiny models on whatever device (the test suite's run)")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    table2e = published()["table2e_attention"]["rows"]
    report = {"device": torch.cuda.get_device_name(device) if cuda else cpu_name(), "cuda": cuda,
              "gpus": torch.cuda.device_count(), "torch": torch.__version__, "cuda_version": torch.version.cuda,
              "host": platform.node(), "cpus": os.cpu_count(), "tiny": args.tiny,
              "settings": "training step: forward, backward, AdamW; random clips; median of the timed steps",
              "rows": []}
    settings = [(m, f, r, dt, compiled) for compiled in ([False] if args.no_compile else [False, True])
                for m, f, r in MODELS if m in args.models
                for dt in (["bf16"] + (["fp16"] if m in FP16 and cuda else []))]
    for model, frames, recipe, dt, compiled in settings:
        cfg = model_recipe(model, frames, recipe, args.tiny)
        row = {"model": model, "frames": cfg["data"]["sampling"]["clip_len"], "size": cfg["data"]["train"]["size"],
               "batch": cfg["train"]["batch_per_device"], "dtype": dt, "mode": "compile" if compiled else "eager",
               "paper_memory_gb": table2e[MEMORY_ROW[model]]["memory_g"] if model in MEMORY_ROW else None}
        if time.perf_counter() - t_start > args.budget_s:
            row["skipped"] = f"time budget of {args.budget_s:g} s spent"
        else:
            try:
                row.update(train_step_rate(cfg, device, {"bf16": torch.bfloat16, "fp16": torch.float16}[dt],
                                           compiled, args.backend, args.steps, args.warmup))
                gmacs = count(model, row["frames"], row["size"], **cfg["model"]["kwargs"])["gflops"]
                row["train_gflop_per_clip"] = 3 * 2 * gmacs
                row["tflops"] = row["clips_per_s"] * row["train_gflop_per_clip"] / 1e3
            except torch.OutOfMemoryError as err:
                row["failed"] = f"out of memory: {str(err).splitlines()[0][:200]}"
            except Exception as err:  # noqa: BLE001 - a probe records what failed and goes on
                row["failed"] = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            if cuda:
                torch.cuda.empty_cache()
        print(json.dumps(row), flush=True)
        report["rows"].append(row)
    world = args.ddp if args.ddp is not None else (torch.cuda.device_count() if cuda else 0)
    if world > 1:
        cfg = model_recipe("pst_t", 32, "pst_k400", args.tiny)
        report["ddp"] = {"model": "pst_t", "dtype": "bf16",
                         **ddp_rate(cfg, world, "nccl" if cuda else "gloo", torch.bfloat16, args.steps)}
        print(json.dumps(report["ddp"]), flush=True)
    if args.loader_list:
        measured = [r for r in report["rows"] if r["model"] == "pst_t" and r["dtype"] == "bf16" and "clips_per_s" in r]
        rate = max(r["clips_per_s"] for r in measured) if measured and cuda else None
        report["loader"] = loader_rate(args.loader_recipe, args.loader_list, args.loader_clips, rate)
        print(json.dumps(report["loader"]), flush=True)
    report["seconds"] = time.perf_counter() - t_start
    write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(f"{args.out}: {len(report['rows'])} settings in {report['seconds']:.0f} s on {report['device']}")
    return report


if __name__ == "__main__":
    main()
