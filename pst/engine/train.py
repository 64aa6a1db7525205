"""`pst train`: one loop for CPU, one GPU and torchrun, writing everything into one run directory.

RUN_DIR/
  config.yaml       the resolved recipe (another recipe is refused or moved aside; see pst.engine.run)
  env.json          versions, device, world size, accumulation used, data fingerprint
  metrics.csv/json  one row per epoch: loss, the lr the epoch trained with, val top-1/5 (and twin top-1 on the
                    synthetic set), unreadable and partial videos (samples drawn)
  final.safetensors the final weights, written last with train.json
and execution records, kept beside them but not versioned (they differ from one execution to the next):
  train.log         every attempt's start (code revision) / resume / epoch lines / stop, time-stamped (appended)
  timing.json       per epoch: seconds, clips/s, peak memory
  checkpoints/      ckpt_e{epoch}_s{step}.pt: model, optimizer, scheduler, scaler, RNG, sampler position
The versioned files are a function of the recipe and the data: the same run on the same machine kind writes the
same bytes (DVC hashes them; a fresh clone's `make reproduce` leaves dvc.lock unchanged).

Data order does not depend on the number of processes: every epoch is one seeded permutation cut into global
batches; device r of W takes slice r of each micro-step, and each sample draws its augmentation from its own
seed. So torchrun on W processes and one process with W-fold accumulation see the same batches, and a restarted
run replays exactly what the killed one would have done.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import resource
import shutil
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Optional

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

import pst.models  # noqa: F401  (registers the models)
from pst.data.annotations import read_classes
from pst.data.dataset import UnreadableVideosError, collate
from pst.data.transforms import normalize_batch
from pst.engine import checkpoint as ckpt
from pst.engine.build import build_model, loader_worker, train_dataset, views_dataset
from pst.engine.config import accumulation, resolve, resolve_path
from pst.engine.distributed import Context, all_reduce_sum, barrier, setup, teardown
from pst.engine.run import (PeerLost, Preempted, StopSignals, check_run_files, check_run_folder, data_changes,
                            data_fingerprint, load_config, locked, log_line, move_aside, peer_lost, recipe_changes,
                            write_config)
from pst.engine.evaluate import accuracy, predict, twin_accuracy
from pst.engine.optim import build_optimizer, build_scheduler
from pst.io import read_record, write_text
from pst.layout import RunDir, final_weights
from pst.provenance import cpu_name, git_revision


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0] >> 1)


class GlobalBatchSampler(Sampler):
    """Micro-batches of (index, sample seed) for one rank, independent of the world size (see module doc).

    ``repeats``: each video gives that many clips (repeated augmentation), so a global batch holds
    ``global_batch / repeats`` videos and an epoch, with the same steps, draws ``1 / repeats`` of them.
    ``set_epoch`` moves it to another epoch, so one loader (and its persistent workers) serves every epoch."""

    def __init__(self, n: int, global_batch: int, world: int, rank: int, accum: int, seed: int, epoch: int,
                 start_batch: int = 0, repeats: int = 1):
        if n < global_batch:
            raise ValueError(f"the training list has {n} videos, fewer than train.global_batch {global_batch}")
        self.n, self.g, self.world, self.rank, self.accum = n, global_batch, world, rank, accum
        self.seed, self.repeats = seed, repeats
        self.micro = global_batch // (world * accum) // repeats
        self.set_epoch(epoch, start_batch)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start = epoch, start_batch

    @property
    def batches(self) -> int:
        return self.n // self.g

    def __len__(self) -> int:
        return (self.batches - self.start) * self.accum

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=gen).tolist()
        videos = self.g // self.repeats
        for b in range(self.start, self.batches):
            chunk = perm[b * videos:(b + 1) * videos]
            for k in range(self.accum):
                part = chunk[(k * self.world + self.rank) * self.micro:(k * self.world + self.rank + 1) * self.micro]
                yield [(i, sample_seed(self.seed, self.epoch, i)) for i in part]


def _fresh_sums() -> dict:
    """Running sums of the epoch in progress (kept in mid-epoch checkpoints); ``lr`` is the lr of its last step."""
    return {"loss_sum": 0.0, "clips": 0, "failed": 0, "partial": 0, "seconds": 0.0, "lr": None, "lr_max": None}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def epoch_line(row: dict, timing: dict, epochs: int, eta_s: Optional[float]) -> str:
    """One line per epoch for every log (progress bar or not): what `tail -f` on a cluster shows."""
    val = "n/a" if row["val_top1"] is None else f"{row['val_top1']:.1f}"
    if row.get("val_twin_top1") is not None:
        val += f" (twin {row['val_twin_top1']:.1f})"
    speed = f"{timing['clips_per_s']:.1f} clips/s" if timing["clips_per_s"] else "n/a clips/s"
    skipped = "".join(f", {row[k]} {what}" for k, what in (
        ("unreadable_videos", "unreadable videos replaced by others (`pst data validate` names them)"),
        ("partial_videos", "videos that decoded only in part")) if row.get(k))
    return (f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, val top-1 {val}, lr {row['lr']:.3g}, "
            f"{_duration(timing['epoch_seconds'])}, {speed}, ETA {'n/a' if eta_s is None else _duration(eta_s)}"
            f"{skipped}")


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_metrics(run_dir: Path, rows: list[dict], timings: list[dict]) -> None:
    buf = io.StringIO()
    fields = list(rows[0])
    w = csv.DictWriter(buf, fields)
    w.writeheader()
    w.writerows(rows)
    files = RunDir(run_dir)
    write_text(files.metrics_csv, buf.getvalue())
    write_text(files.metrics, json.dumps(rows, indent=1) + "\n")
    write_text(files.timing, json.dumps(timings, indent=1) + "\n")


def _loss(logits, labels, smoothing: float, mix=None):
    if mix is None:
        return F.cross_entropy(logits.float(), labels, label_smoothing=smoothing)
    lam, perm = mix
    return lam * F.cross_entropy(logits.float(), labels, label_smoothing=smoothing) + \
        (1 - lam) * F.cross_entropy(logits.float(), labels[perm], label_smoothing=smoothing)


@contextmanager
def _threads(node_threads: int):
    """torch's CPU threads while training: the node's ``train.threads`` shared by its processes (0: leave torch's
    default), as before afterwards; env.json records the count."""
    if node_threads > (os.cpu_count() or 1):          # OpenMP would try to start them all (and fail)
        raise ValueError(f"recipe: train.threads = {node_threads} is not valid: expected at most this node's "
                         f"{os.cpu_count()} cores (0: torch's default)")
    before = torch.get_num_threads()
    if node_threads:
        torch.set_num_threads(max(1, node_threads // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(cfg: dict, run_dir: str | Path, restart_on_change: bool = False) -> dict:
    """Train (or resume) the recipe ``cfg`` in ``run_dir``. Returns the final summary.

    A run folder holds one recipe (its identity, pst.engine.run): the same one resumes; execution settings may
    change and are recorded; another recipe is refused, or with ``restart_on_change`` the old run is moved aside
    (a finished one whole, to RUN.archived/) and training starts afresh. One process writes a run at a time."""
    cfg = resolve(cfg)
    run_dir = Path(run_dir)
    check_run_folder(run_dir)
    main = int(os.environ.get("RANK", "0")) == 0
    existed = run_dir.is_dir()
    fresh = not existed or not any(run_dir.iterdir())      # nothing of a run there yet (or Snakemake's empty folder)
    with _threads(cfg["train"]["threads"]), locked(run_dir, "pst train") if main else nullcontext():
        changes = recipe_changes(run_dir, cfg) + data_changes(run_dir, cfg)
        if changes and not restart_on_change:
            raise ValueError(f"{run_dir} holds a run of another recipe or data ({'; '.join(changes[:5])}); train into "
                             "another --out, or pass --restart-on-change to start afresh there (a finished run is "
                             "moved aside to RUN.archived/, never deleted)")
        if changes and main:
            aside = move_aside(run_dir, "; ".join(changes))
            print(f"{run_dir}: recipe or data changed ({'; '.join(changes[:5])}); " + (
                f"the finished run was moved to {aside}; " if aside else "stale checkpoints discarded; ") +
                "starting afresh", flush=True)
        if main:
            ckpt.adopt_legacy_weights(run_dir)
        if not changes and RunDir(run_dir).summary.exists() and RunDir(run_dir).final.exists():
            ckpt.load_weights(final_weights(run_dir))        # a damaged file is never taken as done
            check_run_files(Path(run_dir))
            if main and RunDir(run_dir).config.exists() and load_config(run_dir) != cfg:
                write_config(run_dir, cfg)            # same run, new execution settings: recorded
            print(f"{run_dir}: already trained ({Path(final_weights(run_dir)).name}); nothing to do", flush=True)
            return read_record(RunDir(run_dir).summary, "a finished run's summary", "restore it (its record under "
                               "results/<profile>/records/ keeps a copy)", {"epochs": int, "final": dict})
        ctx = setup(cfg["train"]["amp"])
        stop = StopSignals()
        try:
            with stop:
                return _train(cfg, run_dir, ctx, stop)
        except (ValueError, OSError, UnreadableVideosError):
            if main and fresh and run_dir.is_dir() and not ckpt.list_checkpoints(RunDir(run_dir).checkpoints):
                shutil.rmtree(run_dir)           # failed before its first checkpoint: nothing half-written stays
                if existed:
                    run_dir.mkdir()
            raise
        except RuntimeError as err:
            if ctx.world_size < 2 or not peer_lost(err):
                raise
            epoch, step = stop.where
            node = os.environ.get("SLURMD_NODENAME") or platform.node()
            message = (f"{run_dir}: rank {ctx.rank} on {node} lost another training process at epoch {epoch}, step "
                       f"{step} ({str(err).splitlines()[0][:200]}); checkpoints are kept: rerun the same command to "
                       "resume")
            log_line(run_dir, message)          # any rank that notices: rank 0 may be the one that died
            raise PeerLost(message) from None
        except KeyboardInterrupt:
            if main and run_dir.exists():       # as SIGTERM's stop line: the log says where it stopped
                epoch, step = stop.where
                log_line(run_dir, f"{run_dir}: interrupted (Ctrl-C) at epoch {epoch}, step {step}; checkpoints are "
                                  "kept: rerun the same command to resume from the last one")
            raise
        finally:
            teardown()


def _train(cfg: dict, run_dir: Path, ctx: Context, stop: StopSignals) -> dict:
    t_cfg, d_cfg = cfg["train"], cfg["data"]
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
    if len(train_ds) < t_cfg["global_batch"]:           # before the run folder exists
        raise ValueError(f"recipe: train.global_batch {t_cfg['global_batch']} is more than the training list's "
                         f"{len(train_ds)} videos ({d_cfg['train_list']}); lower it")
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
    if t_cfg["tensorboard"] and ctx.is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ValueError("train.tensorboard: install the tensorboard package (pip install tensorboard) "
                             "or set train.tensorboard=false") from err
    if ctx.is_main:                      # every check has passed: only now does the run folder exist
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, cfg)
        if train_ds.bad:
            first = next(iter(train_ds.bad.items()))
            log_line(run_dir, f"left out {len(train_ds.bad)} training videos that failed validation "
                              f"({d_cfg['bad_videos']}), e.g. {first[0]}: {first[1]}")
    barrier()
    ckpt_dir = RunDir(run_dir).checkpoints
    state = ckpt.load_latest(ckpt_dir)
    epoch, start_batch, step, history, timings = 0, 0, 0, [], []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        epoch, start_batch, step, history = state["epoch"], state["next_batch"], state["step"], state["history"]
        timings = state.get("timings", [])
        sums = {**_fresh_sums(), **state.get("sums", state.get("partial", {}))}
    else:
        sums = _fresh_sums()
    epochs = cfg["schedule"]["epochs"]
    stop.where = (epoch + 1, step)
    if ctx.is_main:
        log_line(run_dir, f"{run_dir}: " + ("starting afresh" if state is None else
                 f"resuming at epoch {epoch + 1}, step {step} (batch {start_batch} of the epoch)") +
                 f"; {epochs} epochs of {steps_per_epoch} steps, {ctx.world_size} process(es) x {accum} "
                 f"accumulation on {ctx.device}; code {git_revision()}")
    if ctx.is_main:
        write_text(RunDir(run_dir).env, json.dumps({
            "torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version(),
            "pst": pst.__version__, "device": str(ctx.device),
            "device_name": torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else cpu_name(),
            "threads": torch.get_num_threads(),     # CPU kernels split work by thread: the count changes the bits
            "world_size": ctx.world_size, "batch_per_device": t_cfg["batch_per_device"], "accumulation": accum,
            "global_batch": t_cfg["global_batch"], "amp": str(ctx.amp_dtype),
            "train_videos": len(train_ds), "val_videos": len(val_ds), "steps_per_epoch": steps_per_epoch,
            "data": data_fingerprint(cfg)}, indent=1) + "\n")
    on_device = d_cfg["normalize"] == "device"
    twins = (root / "synth.json").is_file()         # time-reversed twin classes: order-blindness shows here
    progress = t_cfg["progress"] and ctx.is_main and sys.stderr.isatty()   # a bar in a log file is noise: the
                                                                             # epoch lines are printed in any case
    every_steps = t_cfg["checkpoint_every_steps"]
    every_minutes = t_cfg["checkpoint_minutes"]
    last_save = time.monotonic()
    board = SummaryWriter(str(run_dir / "tensorboard")) if t_cfg["tensorboard"] and ctx.is_main else None

    def snapshot(e: int, next_batch: int) -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": ckpt.rng_state(),
                "epoch": e, "next_batch": next_batch, "step": step, "history": history, "timings": timings,
                "sums": dict(sums)}

    sampler = GlobalBatchSampler(len(train_ds), t_cfg["global_batch"], ctx.world_size, ctx.rank, accum, seed,
                                 epoch, start_batch, d_cfg["train"]["repeated_augmentation"])
    workers = d_cfg["workers"]
    # its own generator: starting an epoch's workers never draws from torch's global RNG, which the model's dropout
    # uses (a resumed run would be one draw apart); samples draw from their own seeds, whatever the worker
    loader = DataLoader(train_ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed),
                        pin_memory=d_cfg["pin_memory"] and ctx.device.type == "cuda", worker_init_fn=loader_worker,
                        persistent_workers=workers > 0 and d_cfg["persistent_workers"],
                        prefetch_factor=d_cfg["prefetch_factor"] if workers else None)
    for e in range(epoch, epochs):
        sampler.set_epoch(e, start_batch if e == epoch else 0)
        net.train()
        t0 = time.perf_counter()
        batch_no = sampler.start
        bar = tqdm(total=len(sampler) // accum, desc=f"epoch {e + 1}", disable=not progress, leave=False)
        for i, batch in enumerate(loader):
            k = i % accum
            sums["failed"] += len(batch["failed"])
            sums["partial"] += len(batch["partial"])
            clips = batch["clips"].to(ctx.device, non_blocking=True)
            if on_device:           # uint8 clips: normalised here (and erased), the same bits as in the loader
                keep = batch["keep"]
                clips = normalize_batch(clips, None if keep is None else keep.to(ctx.device, non_blocking=True))
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
            sums["loss_sum"] += loss.item() * len(labels)
            sums["clips"] += len(labels)
            if k == accum - 1:
                if t_cfg["grad_clip"]:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
                sums["lr"] = optimizer.param_groups[0]["lr"]               # the lr this step trains with
                sums["lr_max"] = max(g["lr"] for g in optimizer.param_groups)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                stop.where = (e + 1, step)
                batch_no += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                # a checkpoint at this step boundary: every N steps, every N minutes, or asked by a signal
                # (all ranks agree: the main rank's clock and any rank's signal decide)
                due = bool(every_steps and step % every_steps == 0 and batch_no < sampler.batches)
                timed = bool(every_minutes and ctx.is_main and time.monotonic() - last_save >= 60 * every_minutes)
                flags = torch.tensor([float(stop.received is not None), float(timed)], dtype=torch.float64)
                stopping, timed = (bool(v) for v in (all_reduce_sum(flags) if ctx.world_size > 1 else flags) > 0)
                if due or timed or stopping:
                    sums["seconds"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    if ctx.is_main:
                        ckpt.save(ckpt_dir, e, step, snapshot(e, batch_no), t_cfg["keep_checkpoints"])
                    last_save = time.monotonic()
                    barrier()
                if stopping:
                    bar.close()
                    message = (f"{run_dir}: stopped by {stop.received or 'a signal on another rank'} at epoch "
                               f"{e + 1}, step {step} (checkpoint saved); rerun the same command to resume")
                    if ctx.is_main:
                        log_line(run_dir, message)
                    raise Preempted(message)
        bar.close()
        sums["seconds"] += time.perf_counter() - t0
        totals = all_reduce_sum(torch.tensor([sums["loss_sum"], sums["clips"], sums["failed"], sums["partial"]],
                                             dtype=torch.float64))
        val = predict(model, val_ds, ctx.device, batch_videos=max(1, t_cfg["batch_per_device"]),
                      workers=d_cfg["workers"], autocast=ctx.autocast()) if ctx.is_main else None
        row = {"epoch": e + 1, "step": step, "lr": sums["lr"], "lr_max": sums["lr_max"],
               "loss": totals[0].item() / max(totals[1].item(), 1),
               "val_top1": None, "val_top5": None, "val_videos": None,
               "unreadable_videos": int(totals[2].item()), "partial_videos": int(totals[3].item())}
        if twins:
            row["val_twin_top1"] = None
        timing = {"epoch": e + 1, "epoch_seconds": sums["seconds"],
                  "clips_per_s": totals[1].item() / sums["seconds"] if sums["seconds"] else None,
                  "peak_memory_mb": _peak_memory_mb(ctx.device)}
        if val is not None:
            m = accuracy(val["probs"], val["labels"], len(classes))
            row.update(val_top1=m["top1"], val_top5=m["top5"], val_videos=len(val["labels"]))
            if twins:
                row["val_twin_top1"] = twin_accuracy(val["probs"], val["labels"])
        history.append(row)
        timings.append(timing)
        sums = _fresh_sums()
        if ctx.is_main:
            _write_metrics(run_dir, history, timings)
            done = [t["epoch_seconds"] for t in timings if t["epoch_seconds"]]
            eta = sum(done) / len(done) * (epochs - e - 1) if done else None
            log_line(run_dir, epoch_line(row, timing, epochs, eta))
        if not math.isfinite(row["loss"]):      # all-reduced: every rank stops here, before a checkpoint of it
            raise ValueError(f"{run_dir}: the training loss is {row['loss']} in epoch {e + 1}: training diverged; "
                             "lower optim.lr or set train.grad_clip (checkpoints before it are kept)")
        if ctx.is_main:
            if board is not None:
                for key, value in row.items():
                    if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                        board.add_scalar(key, value, e + 1)
                board.flush()
            last = e + 1 == epochs
            if (e + 1) % t_cfg["checkpoint_every"] == 0 or last:
                ckpt.save(ckpt_dir, e + 1, step, snapshot(e + 1, 0), t_cfg["keep_checkpoints"])
                last_save = time.monotonic()
        barrier()
        start_batch = 0
    summary = {"epochs": epochs, "steps": step, "final": history[-1] if history else None,
               "world_size": ctx.world_size, "accumulation": accum}
    if ctx.is_main:
        ckpt.save_weights(model.state_dict(), final_weights(run_dir))
        write_text(RunDir(run_dir).summary, json.dumps(summary, indent=1) + "\n")
        ckpt.prune_finished(ckpt_dir, t_cfg["keep_finished"])
        log_line(run_dir, f"{run_dir}: finished {epochs} epochs ({step} steps); wrote {final_weights(run_dir)}")
    barrier()
    return summary
