"""`pst train`: one loop for CPU, one GPU and torchrun, writing everything into one run directory.

RUN_DIR/
  config.yaml      the resolved recipe (a restart with another recipe is refused)
  env.json         versions, device, world size, accumulation used, git revision
  checkpoints/     ckpt_e{epoch}_s{step}.pt: model, optimizer, scheduler, scaler, RNG, sampler position
  metrics.csv/json one row per epoch: loss, lr, val top-1/5, clips/s, epoch time, peak memory, unreadable videos
  final.pt         the final weights (weights only), written last with train.json

Data order does not depend on the number of processes: every epoch is one seeded permutation cut into global
batches; device r of W takes slice r of each micro-step, and each sample draws its augmentation from its own
seed. So torchrun on W processes and one process with W-fold accumulation see the same batches, and a restarted
run replays exactly what the killed one would have done.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import numpy as np
import timm
import torch
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

import pst.models  # noqa: F401  (registers the models)
from pst.data.annotations import read_classes
from pst.data.dataset import VideoDataset, collate
from pst.data.sampling import Sampling
from pst.data.transforms import TrainTransform
from pst.engine import checkpoint as ckpt
from pst.engine.config import accumulation, resolve
from pst.engine.distributed import Context, all_reduce_sum, barrier, setup, teardown
from pst.engine.evaluate import accuracy, predict, views_dataset
from pst.engine.optim import build_optimizer, build_scheduler
from pst.io import atomic_path, write_text


def resolve_path(root: str | Path, path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(root) / p


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0] >> 1)


class GlobalBatchSampler(Sampler):
    """Micro-batches of (index, sample seed) for one rank, independent of the world size (see module doc)."""

    def __init__(self, n: int, global_batch: int, world: int, rank: int, accum: int, seed: int, epoch: int,
                 start_batch: int = 0):
        if n < global_batch:
            raise ValueError(f"the training list has {n} videos, fewer than train.global_batch {global_batch}")
        self.n, self.g, self.world, self.rank, self.accum = n, global_batch, world, rank, accum
        self.seed, self.epoch, self.start = seed, epoch, start_batch
        self.micro = global_batch // (world * accum)

    @property
    def batches(self) -> int:
        return self.n // self.g

    def __len__(self) -> int:
        return (self.batches - self.start) * self.accum

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=gen).tolist()
        for b in range(self.start, self.batches):
            chunk = perm[b * self.g:(b + 1) * self.g]
            for k in range(self.accum):
                part = chunk[(k * self.world + self.rank) * self.micro:(k * self.world + self.rank + 1) * self.micro]
                yield [(i, sample_seed(self.seed, self.epoch, i)) for i in part]


def train_dataset(cfg: dict) -> VideoDataset:
    """The recipe's training set: one clip per video with the training transform."""
    d, s, tr = cfg["data"], cfg["data"]["sampling"], cfg["data"]["train"]
    transform = TrainTransform(size=tr["size"], short_side=tr["short_side"], area=tuple(tr["area"]), flip=tr["flip"],
                               no_flip_labels=tuple(tr["no_flip_labels"]),
                               flip_pairs={int(k): int(v) for k, v in tr["flip_pairs"].items()},
                               randaugment=tuple(tr["randaugment"]) if tr["randaugment"] else None,
                               erasing=tr["erasing"])
    return VideoDataset(d["root"], resolve_path(d["root"], d["train_list"]),
                        Sampling(s["mode"], s["clip_len"], s["frame_interval"], 1), transform, cache=d["cache_videos"])


def _fresh_partial() -> dict:
    """Running sums of the epoch in progress (kept in mid-epoch checkpoints)."""
    return {"loss_sum": 0.0, "clips": 0, "failed": 0, "seconds": 0.0}


def build_model(cfg: dict, num_classes: Optional[int], run_dir: Optional[Path] = None) -> torch.nn.Module:
    d, m = cfg["data"], cfg["model"]
    if num_classes is None:
        num_classes = len(read_classes(resolve_path(d["root"], d["classes"])))
    kwargs = {"num_frames": d["sampling"]["clip_len"], "img_size": d["train"]["size"], "num_classes": num_classes,
              **m["kwargs"]}
    if m["checkpoint_2d"]:
        kwargs["checkpoint_2d"] = m["checkpoint_2d"]
    model = timm.create_model(m["name"], **kwargs)
    if cfg["train"]["activation_checkpointing"]:
        model.set_grad_checkpointing(True)
    return model


def load_run_config(run_dir: Path) -> dict:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a run directory (no config.yaml); train into it first")
    return yaml.safe_load(path.read_text())


def _git_revision() -> Optional[str]:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _diff(a: dict, b: dict, path: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += _diff(a[k], b[k], f"{path}{k}.")
        elif a.get(k) != b.get(k):
            out.append(f"{path}{k}: {a.get(k)!r} -> {b.get(k)!r}")
    return out


def _check_same_recipe(run_dir: Path, cfg: dict, restart: bool = False) -> bool:
    """A run directory belongs to one recipe: resuming or reusing it with another is refused, or (``restart``,
    what the workflow asks when a recipe changed) the old run's files are deleted and training starts afresh."""
    saved = run_dir / "config.yaml"
    if saved.exists():
        changes = [c for c in _diff(yaml.safe_load(saved.read_text()), cfg) if not c.startswith("train.progress")]
        if changes and restart and int(os.environ.get("RANK", "0")) == 0:
            print(f"{run_dir}: recipe changed ({'; '.join(changes[:5])}); starting afresh", flush=True)
            shutil.rmtree(run_dir)
        elif changes and not restart:
            raise ValueError(f"{run_dir} holds a run of another recipe ({'; '.join(changes[:5])}); "
                             "use a new run directory or the same recipe to resume")
        return bool(changes)
    return False


def _prepare_run_dir(run_dir: Path, cfg: dict, ctx: Context) -> None:
    if ctx.is_main and not (run_dir / "config.yaml").exists():
        write_text(run_dir / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))


def _write_metrics(run_dir: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    fields = list(rows[0])
    w = csv.DictWriter(buf, fields)
    w.writeheader()
    w.writerows(rows)
    write_text(run_dir / "metrics.csv", buf.getvalue())
    write_text(run_dir / "metrics.json", json.dumps(rows, indent=1) + "\n")


def _loss(logits, labels, smoothing: float, mix=None):
    if mix is None:
        return F.cross_entropy(logits.float(), labels, label_smoothing=smoothing)
    lam, perm = mix
    return lam * F.cross_entropy(logits.float(), labels, label_smoothing=smoothing) + \
        (1 - lam) * F.cross_entropy(logits.float(), labels[perm], label_smoothing=smoothing)


def train(cfg: dict, run_dir: str | Path, restart_on_change: bool = False) -> dict:
    """Train (or resume) the recipe ``cfg`` in ``run_dir``. Returns the final summary."""
    cfg = resolve(cfg)
    run_dir = Path(run_dir)
    changed = _check_same_recipe(run_dir, cfg, restart_on_change)    # other ranks: rank 0 deletes, then barrier
    if not changed and (run_dir / "train.json").exists() and (run_dir / "final.pt").exists():
        return json.loads((run_dir / "train.json").read_text())
    ctx = setup(cfg["train"]["amp"])
    try:
        return _train(cfg, run_dir, ctx)
    finally:
        teardown()


def _train(cfg: dict, run_dir: Path, ctx: Context) -> dict:
    t_cfg, d_cfg = cfg["train"], cfg["data"]
    run_dir.mkdir(parents=True, exist_ok=True)
    _prepare_run_dir(run_dir, cfg, ctx)
    barrier()
    seed = t_cfg["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if t_cfg["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    accum = accumulation(cfg, ctx.world_size)
    root = Path(d_cfg["root"])
    for key in ("classes", "train_list", "val_list"):
        if not resolve_path(root, d_cfg[key]).is_file():
            raise FileNotFoundError(f"recipe data.{key}: {resolve_path(root, d_cfg[key])} not found; prepare the "
                                    f"data first (`pst data synth --out {root}` or `pst data prepare`)")
    classes = read_classes(resolve_path(root, d_cfg["classes"]))
    train_ds = train_dataset(cfg)
    v = d_cfg["val"]
    val_ds = views_dataset(cfg, resolve_path(root, d_cfg["val_list"]), v["crops"], v["num_clips"], v["short_side"])
    if d_cfg["val_subset"] and d_cfg["val_subset"] < len(val_ds):
        keep = np.linspace(0, len(val_ds) - 1, d_cfg["val_subset"]).round().astype(int)
        val_ds.entries = [val_ds.entries[i] for i in keep]
    model = build_model(cfg, len(classes)).to(ctx.device)
    optimizer = build_optimizer(model, cfg["optim"])
    steps_per_epoch = len(train_ds) // t_cfg["global_batch"]
    scheduler = build_scheduler(optimizer, max(steps_per_epoch, 1), cfg["schedule"])
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=ctx.amp_dtype == torch.float16)
    net = model
    if ctx.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device.index]
                                                        if ctx.device.type == "cuda" else None)
    ckpt_dir = run_dir / "checkpoints"
    state = ckpt.load_latest(ckpt_dir)
    epoch, start_batch, step, history = 0, 0, 0, []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        epoch, start_batch, step, history = state["epoch"], state["next_batch"], state["step"], state["history"]
        partial = state.get("partial", _fresh_partial())
    else:
        partial = _fresh_partial()
    if ctx.is_main:
        write_text(run_dir / "env.json", json.dumps({
            "torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version(),
            "pst": pst.__version__, "device": str(ctx.device),
            "device_name": torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else platform.processor(),
            "world_size": ctx.world_size, "batch_per_device": t_cfg["batch_per_device"], "accumulation": accum,
            "global_batch": t_cfg["global_batch"], "amp": str(ctx.amp_dtype), "git": _git_revision(),
            "train_videos": len(train_ds), "val_videos": len(val_ds), "steps_per_epoch": steps_per_epoch,
            "resumed_from": None if state is None else {"epoch": epoch, "batch": start_batch}}, indent=1) + "\n")
    progress = t_cfg["progress"] and ctx.is_main
    every_steps = t_cfg["checkpoint_every_steps"]
    board = None
    if t_cfg["tensorboard"] and ctx.is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ValueError("train.tensorboard: install the tensorboard package (pip install tensorboard) "
                             "or set train.tensorboard=false") from err
        board = SummaryWriter(str(run_dir / "tensorboard"))

    def snapshot(e: int, next_batch: int) -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": ckpt.rng_state(),
                "epoch": e, "next_batch": next_batch, "step": step, "history": history, "partial": dict(partial)}

    for e in range(epoch, cfg["schedule"]["epochs"]):
        sampler = GlobalBatchSampler(len(train_ds), t_cfg["global_batch"], ctx.world_size, ctx.rank, accum,
                                     seed, e, start_batch if e == epoch else 0)
        loader = DataLoader(train_ds, batch_sampler=sampler, num_workers=d_cfg["workers"], collate_fn=collate,
                            generator=torch.Generator().manual_seed(seed + e), pin_memory=ctx.device.type == "cuda")
        net.train()
        t0 = time.perf_counter()
        batch_no = sampler.start
        bar = tqdm(total=len(sampler) // accum, desc=f"epoch {e + 1}", disable=not progress, leave=False)
        for i, batch in enumerate(loader):
            k = i % accum
            partial["failed"] += len(batch["failed"])
            clips = batch["clips"].to(ctx.device, non_blocking=True)
            labels = batch["label"].to(ctx.device, non_blocking=True)
            mix = None
            if t_cfg["mixup"] > 0:
                mix_rng = np.random.default_rng([seed, e, batch_no, k, ctx.rank, 1])   # replayable after resume
                lam = float(mix_rng.beta(t_cfg["mixup"], t_cfg["mixup"]))
                perm = torch.from_numpy(mix_rng.permutation(len(labels))).to(ctx.device)
                clips, mix = lam * clips + (1 - lam) * clips[perm], (lam, perm)
            sync = net.no_sync() if ctx.world_size > 1 and k < accum - 1 else nullcontext()
            with sync:
                with ctx.autocast():
                    loss = _loss(net(clips), labels, t_cfg["label_smoothing"], mix)
                scaler.scale(loss / accum).backward()
            partial["loss_sum"] += loss.item() * len(labels)
            partial["clips"] += len(labels)
            if k == accum - 1:
                if t_cfg["grad_clip"]:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                batch_no += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if every_steps and step % every_steps == 0 and batch_no < sampler.batches:
                    partial["seconds"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    if ctx.is_main:
                        ckpt.save(ckpt_dir, e, step, snapshot(e, batch_no), t_cfg["keep_checkpoints"])
                    barrier()
        bar.close()
        partial["seconds"] += time.perf_counter() - t0
        totals = all_reduce_sum(torch.tensor([partial["loss_sum"], partial["clips"], partial["failed"]],
                                             dtype=torch.float64))
        val = predict(model, val_ds, ctx.device, batch_videos=max(1, t_cfg["batch_per_device"]),
                      workers=d_cfg["workers"], autocast=ctx.autocast()) if ctx.is_main else None
        row = {"epoch": e + 1, "step": step, "lr": optimizer.param_groups[0]["lr"],
               "lr_max": max(g["lr"] for g in optimizer.param_groups),
               "loss": totals[0].item() / max(totals[1].item(), 1),
               "val_top1": None, "val_top5": None, "val_videos": None,
               "clips_per_s": totals[1].item() / partial["seconds"] if partial["seconds"] else None,
               "epoch_seconds": partial["seconds"], "peak_memory_mb": _peak_memory_mb(ctx.device),
               "unreadable_videos": int(totals[2].item())}
        if val is not None:
            m = accuracy(val["probs"], val["labels"], len(classes))
            row.update(val_top1=m["top1"], val_top5=m["top5"], val_videos=len(val["labels"]))
        history.append(row)
        partial = _fresh_partial()
        if ctx.is_main:
            _write_metrics(run_dir, history)
            if board is not None:
                for key, value in row.items():
                    if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                        board.add_scalar(key, value, e + 1)
                board.flush()
            last = e + 1 == cfg["schedule"]["epochs"]
            if (e + 1) % t_cfg["checkpoint_every"] == 0 or last:
                ckpt.save(ckpt_dir, e + 1, step, snapshot(e + 1, 0), t_cfg["keep_checkpoints"])
        barrier()
        start_batch = 0
    summary = {"epochs": cfg["schedule"]["epochs"], "steps": step, "final": history[-1] if history else None,
               "world_size": ctx.world_size, "accumulation": accum}
    if ctx.is_main:
        with atomic_path(run_dir / "final.pt") as tmp:
            torch.save(model.state_dict(), tmp)
        write_text(run_dir / "train.json", json.dumps(summary, indent=1) + "\n")
    barrier()
    return summary
