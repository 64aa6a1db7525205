"""`pst train`: one loop for CPU, one GPU and torchrun, writing everything into one run directory.

RUN_DIR/
  config.yaml       the resolved recipe (another recipe is refused or moved aside; see pst.engine.run)
  env.json          versions, device, world size, accumulation used, data fingerprint
  metrics.csv/json  one row per epoch: loss, the lr the epoch trained with, val top-1/5 (and twin top-1 on the
                    synthetic set), unreadable, partial and looped videos (samples drawn)
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

A training is five named phases over one ``Session``: ``setup`` (checks, datasets, model; the run folder only after
them), ``resume`` (last checkpoint or afresh; the environment record; the loader), then per epoch ``train_epoch``
(steps, mid-epoch checkpoints, signals), ``validate`` (the epoch's row) and ``end_epoch`` (metrics, divergence,
the epoch's checkpoint), and ``finish`` (final weights and train.json, written last). ``train`` around them owns
the run folder's lock, the recipe checks and what a failure or signal leaves behind.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

import pst.models  # noqa: F401  (registers the models)
from pst.data.annotations import read_classes
from pst.data.dataset import UnreadableVideosError
from pst.data.transforms import normalize_batch
from pst.engine import checkpoint as ckpt
from pst.engine.build import build_model, loader, train_dataset, views_dataset
from pst.engine.config import accumulation, resolve, resolve_path
from pst.engine.distributed import Context, all_reduce_sum, barrier, setup as setup_processes, teardown
from pst.engine.run import (Interrupted, PeerLost, Preempted, StopSignals, check_run_files, check_run_folder,
                            changes, data_fingerprint, log_line, move_aside, peer_lost,
                            seal, starting_workers, write_config, check_loader_workers,
                            load_config, recipe_digest)
from pst.engine.evaluate import accuracy, predict, twin_accuracy
from pst.engine.optim import build_optimizer, build_scheduler
from pst.io import locked, read_record, write_text
from pst.layout import RunDir, final_weights, synthetic_set
from pst.env import device_name, software
from pst.provenance import git_revision


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
    return {"loss_sum": 0.0, "clips": 0, "failed": 0, "partial": 0, "looped": 0, "seconds": 0.0, "lr": None,
            "lr_max": None}


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
        ("partial_videos", "videos that decoded only in part"),
        ("looped_videos", "videos shorter than the clip, read looping as mmaction2 does")) if row.get(k))
    return (f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, val top-1 {val}, lr {row['lr']:.3g}, "
            f"{_duration(timing['epoch_seconds'])}, {speed}, ETA {'n/a' if eta_s is None else _duration(eta_s)}"
            f"{skipped}")


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_metrics(run_dir: Path, rows: list[dict], timings: list[dict]) -> None:
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row))     # a run resumed by newer code: its new columns
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
    check_loader_workers(cfg["data"]["workers"], "recipe: data.workers")
    with _threads(cfg["train"]["threads"]), locked(run_dir, "pst train") if main else nullcontext():
        changed = changes(run_dir, cfg)
        if changed and not restart_on_change:
            raise ValueError(f"{run_dir} holds a run of another recipe or data ({'; '.join(changed[:5])}); train into "
                             "another --out, or pass --restart-on-change to start afresh there (a finished run is "
                             "moved aside to RUN.archived/, never deleted)")
        if changed and main:
            aside = move_aside(run_dir, "; ".join(changed))
            print(f"{run_dir}: recipe or data changed ({'; '.join(changed[:5])}); " + (
                f"the finished run was moved to {aside}; " if aside else "stale checkpoints discarded; ") +
                "starting afresh", flush=True)
        if main:
            ckpt.adopt_legacy_weights(run_dir)
        if not changed and RunDir(run_dir).summary.exists() and RunDir(run_dir).final.exists():
            ckpt.load_weights(final_weights(run_dir))        # a damaged file is never taken as done
            check_run_files(Path(run_dir))      # its config.yaml stays as it finished (other execution settings:
                                                 # the same run, and a finished run is never rewritten)
            if main:                            # the pruning it finished with, if a kill cut it short
                ckpt.prune_finished(RunDir(run_dir).checkpoints, load_config(run_dir)["train"]["keep_finished"])
            print(f"{run_dir}: already trained ({Path(final_weights(run_dir)).name}); nothing to do", flush=True)
            return read_record(RunDir(run_dir).summary, "a finished run's summary", "restore it (its record under "
                               "results/<profile>/records/ keeps a copy)", {"epochs": int, "final": dict})
        ctx = setup_processes(cfg["train"]["amp"])
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
    """The phases in the order they draw random numbers and write files: a resumed run replays them exactly."""
    s = setup(cfg, run_dir, ctx, stop)
    resume(s)
    for e in range(s.epoch, s.epochs):
        train_epoch(s, e)
        validate(s, e)
        end_epoch(s, e)
    return finish(s)


@dataclass
class Session:
    """One training between its phases: what it was given, what setup built, and where it stands (what a
    checkpoint keeps: ``epoch``, ``start_batch``, ``step``, ``history``, ``timings``, ``sums``)."""
    cfg: dict
    run_dir: Path
    ctx: Context
    stop: StopSignals
    classes: list
    train_ds: object
    val_ds: object
    model: torch.nn.Module
    net: torch.nn.Module                     # the model, wrapped in DDP on several processes
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    accum: int
    steps_per_epoch: int
    epoch: int = 0
    start_batch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    timings: list = field(default_factory=list)
    sums: dict = field(default_factory=_fresh_sums)
    last_save: float = 0.0
    board: object = None
    sampler: Optional[Sampler] = None
    loader: Optional[DataLoader] = None

    @property
    def epochs(self) -> int:
        return self.cfg["schedule"]["epochs"]

    @property
    def checkpoints(self) -> Path:
        return RunDir(self.run_dir).checkpoints

    def snapshot(self, e: int, next_batch: int) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": ckpt.rng_state(), "epoch": e, "next_batch": next_batch, "step": self.step,
                "history": self.history, "timings": self.timings, "sums": dict(self.sums),
                "recipe": recipe_digest(self.cfg)}

    def save(self, e: int, next_batch: int) -> None:
        if self.ctx.is_main:
            ckpt.save(self.checkpoints, e, self.step, self.snapshot(e, next_batch),
                      self.cfg["train"]["keep_checkpoints"])
        self.last_save = time.monotonic()


def setup(cfg: dict, run_dir: Path, ctx: Context, stop: StopSignals) -> Session:
    """Seed, check the data, build the datasets, model and optimizer; only when every check has passed, make the
    run folder and write its recipe."""
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
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
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
    return Session(cfg, run_dir, ctx, stop, classes, train_ds, val_ds, model, net, optimizer, scheduler, scaler,
                   accum, steps_per_epoch)


def resume(s: Session) -> None:
    """Continue from the last checkpoint (states, RNG, position, the epoch's running sums) or start afresh; log
    which, write the environment, and make the loader that serves every epoch from there."""
    cfg, ctx, run_dir = s.cfg, s.ctx, s.run_dir
    t_cfg, d_cfg = cfg["train"], cfg["data"]
    state = ckpt.load_latest(s.checkpoints)
    if state is not None and state.get("recipe", recipe_digest(cfg)) != recipe_digest(cfg):
        raise ValueError(f"{s.checkpoints}: its newest checkpoint is of another run (its recipe is not this run's "
                         f"{RunDir.CONFIG}); remove the checkpoints that are not this run's, or train into a new "
                         "folder")
    if state is not None:
        s.model.load_state_dict(state["model"])
        s.optimizer.load_state_dict(state["optimizer"])
        s.scheduler.load_state_dict(state["scheduler"])
        s.scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        s.epoch, s.start_batch, s.step, s.history = state["epoch"], state["next_batch"], state["step"], \
            state["history"]
        s.timings = state.get("timings", [])
        s.sums = {**_fresh_sums(), **state.get("sums", state.get("partial", {}))}
    s.stop.where = (s.epoch + 1, s.step)
    if ctx.is_main:
        log_line(run_dir, f"{run_dir}: " + ("starting afresh" if state is None else
                 f"resuming at epoch {s.epoch + 1}, step {s.step} (batch {s.start_batch} of the epoch)") +
                 f"; {s.epochs} epochs of {s.steps_per_epoch} steps, {ctx.world_size} process(es) x {s.accum} "
                 f"accumulation on {ctx.device}; code {git_revision()}")
        write_text(RunDir(run_dir).env, json.dumps({
            **software(), "device": str(ctx.device), "device_name": device_name(ctx.device),
            "threads": torch.get_num_threads(),     # CPU kernels split work by thread: the count changes the bits
            "world_size": ctx.world_size, "batch_per_device": t_cfg["batch_per_device"], "accumulation": s.accum,
            "global_batch": t_cfg["global_batch"], "amp": str(ctx.amp_dtype),
            "train_videos": len(s.train_ds), "val_videos": len(s.val_ds), "steps_per_epoch": s.steps_per_epoch,
            "data": data_fingerprint(cfg)}, indent=1) + "\n")
    s.last_save = time.monotonic()
    if t_cfg["tensorboard"] and ctx.is_main:
        from torch.utils.tensorboard import SummaryWriter

        s.board = SummaryWriter(str(run_dir / "tensorboard"))
    seed, workers = t_cfg["seed"], d_cfg["workers"]
    s.sampler = GlobalBatchSampler(len(s.train_ds), t_cfg["global_batch"], ctx.world_size, ctx.rank, s.accum, seed,
                                   s.epoch, s.start_batch, d_cfg["train"]["repeated_augmentation"])
    s.loader = loader(s.train_ds, workers, seed, batch_sampler=s.sampler,
                      pin_memory=d_cfg["pin_memory"] and ctx.device.type == "cuda",
                      persistent=d_cfg["persistent_workers"], prefetch=d_cfg["prefetch_factor"])


def train_epoch(s: Session, e: int) -> None:
    """One epoch's optimizer steps (from ``start_batch`` in a resumed epoch), checkpointing at step boundaries
    every N steps, every N minutes, or when a signal asks (then it raises Preempted)."""
    cfg, ctx, t_cfg = s.cfg, s.ctx, s.cfg["train"]
    sampler, accum, sums = s.sampler, s.accum, s.sums
    sampler.set_epoch(e, s.start_batch if e == s.epoch else 0)
    on_device = cfg["data"]["normalize"] == "device"
    progress = t_cfg["progress"] and ctx.is_main and sys.stderr.isatty()   # a bar in a log file is noise: the
                                                                             # epoch lines are printed in any case
    every_steps, every_minutes = t_cfg["checkpoint_every_steps"], t_cfg["checkpoint_minutes"]
    s.net.train()
    t0 = time.perf_counter()
    batch_no = sampler.start
    bar = tqdm(total=len(sampler) // accum, desc=f"epoch {e + 1}", disable=not progress, leave=False)
    for i, batch in enumerate(starting_workers(s.loader)):
        k = i % accum
        sums["failed"] += len(batch["failed"])
        sums["partial"] += len(batch["partial"])
        sums["looped"] += len(batch["looped"])
        clips = batch["clips"].to(ctx.device, non_blocking=True)
        if on_device:           # uint8 clips: normalised here (and erased), the same bits as in the loader
            keep = batch["keep"]
            clips = normalize_batch(clips, None if keep is None else keep.to(ctx.device, non_blocking=True))
        labels = batch["label"].to(ctx.device, non_blocking=True)
        mix = None
        if t_cfg["mixup"] > 0:
            mix_rng = np.random.default_rng([t_cfg["seed"], e, batch_no, k, ctx.rank, 1])   # replayable after resume
            lam = float(mix_rng.beta(t_cfg["mixup"], t_cfg["mixup"]))
            perm = torch.from_numpy(mix_rng.permutation(len(labels))).to(ctx.device)
            clips, mix = lam * clips + (1 - lam) * clips[perm], (lam, perm)
        sync = s.net.no_sync() if ctx.world_size > 1 and k < accum - 1 else nullcontext()
        with sync:
            with ctx.autocast():
                loss = _loss(s.net(clips), labels, t_cfg["label_smoothing"], mix)
            s.scaler.scale(loss / accum).backward()
        sums["loss_sum"] += loss.item() * len(labels)
        sums["clips"] += len(labels)
        if k < accum - 1:
            continue
        if t_cfg["grad_clip"]:
            s.scaler.unscale_(s.optimizer)
            torch.nn.utils.clip_grad_norm_(s.model.parameters(), t_cfg["grad_clip"])
        sums["lr"] = s.optimizer.param_groups[0]["lr"]               # the lr this step trains with
        sums["lr_max"] = max(g["lr"] for g in s.optimizer.param_groups)
        s.scaler.step(s.optimizer)
        s.scaler.update()
        s.optimizer.zero_grad(set_to_none=True)
        s.scheduler.step()
        s.step += 1
        s.stop.where = (e + 1, s.step)
        batch_no += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        # a checkpoint at this step boundary: every N steps, every N minutes, or asked by a signal
        # (all ranks agree: the main rank's clock and any rank's signal decide)
        due = bool(every_steps and s.step % every_steps == 0 and batch_no < sampler.batches)
        timed = bool(every_minutes and ctx.is_main and time.monotonic() - s.last_save >= 60 * every_minutes)
        if s.stop.interrupted:              # a Ctrl-C whose KeyboardInterrupt something swallowed
            raise KeyboardInterrupt
        flags = torch.tensor([float(s.stop.received is not None), float(timed)], dtype=torch.float64)
        stopping, timed = (bool(v) for v in (all_reduce_sum(flags) if ctx.world_size > 1 else flags) > 0)
        if due or timed or stopping:
            sums["seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            s.save(e, batch_no)
            barrier()
        if stopping:
            bar.close()
            by = {"SIGINT": "Ctrl-C", None: "a signal on another rank"}.get(s.stop.received, s.stop.received)
            message = (f"{s.run_dir}: stopped by {by} at epoch {e + 1}, step {s.step} (checkpoint saved); rerun the "
                       "same command to resume")
            if ctx.is_main:
                log_line(s.run_dir, message)
            raise (Interrupted if s.stop.received == "SIGINT" else Preempted)(message)
    bar.close()
    sums["seconds"] += time.perf_counter() - t0


def validate(s: Session, e: int) -> None:
    """The epoch's row of metrics: its loss and unreadable/partial/looped counts summed over ranks, the validation
    top-1/5 (and twin top-1 on the synthetic set) from the main rank; appended to the history with its timing."""
    ctx, sums, t_cfg = s.ctx, s.sums, s.cfg["train"]
    twins = synthetic_set(s.cfg["data"]["root"])      # time-reversed twin classes: order-blindness
    totals = all_reduce_sum(torch.tensor([sums["loss_sum"], sums["clips"], sums["failed"], sums["partial"],
                                          sums["looped"]], dtype=torch.float64))
    val = predict(s.model, s.val_ds, ctx.device, batch_videos=max(1, t_cfg["batch_per_device"]),
                  workers=s.cfg["data"]["workers"], autocast=ctx.autocast()) if ctx.is_main else None
    row = {"epoch": e + 1, "step": s.step, "lr": sums["lr"], "lr_max": sums["lr_max"],
           "loss": totals[0].item() / max(totals[1].item(), 1),
           "val_top1": None, "val_top5": None, "val_videos": None,
           "unreadable_videos": int(totals[2].item()), "partial_videos": int(totals[3].item()),
           "looped_videos": int(totals[4].item())}
    if twins:
        row["val_twin_top1"] = None
    timing = {"epoch": e + 1, "epoch_seconds": sums["seconds"],
              "clips_per_s": totals[1].item() / sums["seconds"] if sums["seconds"] else None,
              "peak_memory_mb": _peak_memory_mb(ctx.device)}
    if val is not None:
        m = accuracy(val["probs"], val["labels"], len(s.classes))
        row.update(val_top1=m["top1"], val_top5=m["top5"], val_videos=len(val["labels"]))
        if twins:
            row["val_twin_top1"] = twin_accuracy(val["probs"], val["labels"])
    s.history.append(row)
    s.timings.append(timing)
    s.sums = _fresh_sums()


def end_epoch(s: Session, e: int) -> None:
    """Write the metrics and the epoch line, stop a diverged training before it is checkpointed, and save the
    epoch's checkpoint (every ``checkpoint_every`` epochs and the last)."""
    ctx, t_cfg, row = s.ctx, s.cfg["train"], s.history[-1]
    if ctx.is_main:
        _write_metrics(s.run_dir, s.history, s.timings)
        done = [t["epoch_seconds"] for t in s.timings if t["epoch_seconds"]]
        eta = sum(done) / len(done) * (s.epochs - e - 1) if done else None
        log_line(s.run_dir, epoch_line(row, s.timings[-1], s.epochs, eta))
    if not math.isfinite(row["loss"]):      # all-reduced: every rank stops here, before a checkpoint of it
        raise ValueError(f"{s.run_dir}: the training loss is {row['loss']} in epoch {e + 1}: training diverged; "
                         "lower optim.lr or set train.grad_clip (checkpoints before it are kept)")
    if ctx.is_main:
        if s.board is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    s.board.add_scalar(key, value, e + 1)
            s.board.flush()
        if (e + 1) % t_cfg["checkpoint_every"] == 0 or e + 1 == s.epochs:
            s.save(e + 1, 0)
    barrier()
    s.start_batch = 0


def finish(s: Session) -> dict:
    """The final weights (with their digest) and train.json, written last: only then is the run finished; then
    the checkpoints a finished run does not keep go."""
    summary = {"epochs": s.epochs, "steps": s.step, "final": s.history[-1] if s.history else None,
               "world_size": s.ctx.world_size, "accumulation": s.accum}
    if s.ctx.is_main:
        summary["sealed"] = seal(s.run_dir)
        ckpt.save_weights(s.model.state_dict(), final_weights(s.run_dir))
        summary["weights"] = ckpt.weights_digest(final_weights(s.run_dir))   # these weights, not another run's
        write_text(RunDir(s.run_dir).summary, json.dumps(summary, indent=1) + "\n")
        ckpt.prune_finished(s.checkpoints, s.cfg["train"]["keep_finished"])
        log_line(s.run_dir, f"{s.run_dir}: finished {s.epochs} epochs ({s.step} steps); wrote "
                            f"{final_weights(s.run_dir)}")
    barrier()
    return summary
