"""Loader throughput (issue: data), written to benchmarks/results/data.json.

Clips per second of the training loader (decord decode + augment, DataLoader with the machine's cores) on the
synthetic set and on 320p H.264 mp4, against PyAV decoding the same clips sequentially (decode from the start up
to the last needed frame, the plain way), and against what one training step of the default-sized CPU model
consumes. Ratios from one run; no assert.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
from torch.utils.data import DataLoader, RandomSampler

import pst.models  # noqa: F401  (registers the models)
from pst.data.annotations import Entry, write_list
from pst.data.dataset import VideoDataset, collate
from pst.data.sampling import Sampling, frame_indices
from pst.data.synthetic import SynthConfig, generate, render_clip, write_video
from pst.data.transforms import TrainTransform
from pst.io import write_text


def pyav_clips_per_s(root: Path, entries: list[Entry], sampling: Sampling, n: int) -> float:
    import av

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for e in entries[:n]:
        with av.open(str(root / e.path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        inds = frame_indices(len(frames), sampling, False, rng).reshape(-1)
        np.stack([frames[i] for i in inds])
    return n / (time.perf_counter() - t0)


def loader_clips_per_s(ds: VideoDataset, batch: int, workers: int, batches: int) -> float:
    sampler = RandomSampler(ds, replacement=True, num_samples=batch * (batches + 1),
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate)
    it = iter(loader)
    next(it)                                    # worker start-up is not throughput
    t0 = time.perf_counter()
    got = 0
    for _ in range(batches):
        got += next(it)["clips"].shape[0]
    return got / (time.perf_counter() - t0)


def train_consumption(clip_len: int, size: int, batch: int, steps: int = 5) -> float:
    """Clips/s one CPU training step of the default-sized model consumes (tiny DeiT-TPS, the study's scale)."""
    model = timm.create_model("deit_s_tps", num_frames=clip_len, img_size=size, patch_size=8, embed_dim=96, depth=4,
                              num_heads=3, num_classes=8)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x, y = torch.randn(batch, 3, clip_len, size, size), torch.randint(0, 8, (batch,))
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()
        if i:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def main(quick: bool = False, out: str = "benchmarks/results/data.json") -> dict:
    workers = min(2, os.cpu_count() or 1)
    report = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__}, "quick": quick, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = SynthConfig(train_per_class=4 if quick else 40, val_per_class=1)
        generate(tmp / "synth", cfg, workers=workers)
        sampling = Sampling("dense", clip_len=8, frame_interval=1)
        synth = VideoDataset(tmp / "synth", tmp / "synth" / "train.txt", sampling,
                             TrainTransform(size=56, short_side=64, area=(0.3, 1.0), flip=0.0))
        # 320p mp4: the K400 preprocessing target (short side 320), 64 frames, dense 16 x 2 clips
        big = SynthConfig(pairs=1, frames=64, size=320, fps=25)
        entries = []
        for i in range(2 if quick else 12):
            rel = f"big/{i}.mp4"
            write_video(render_clip(i % 2, i, big), tmp / rel, big.fps)
            entries.append(Entry(rel, i % 2))
        write_list(tmp / "big.txt", entries)
        big_sampling = Sampling("dense", clip_len=16, frame_interval=2)
        k400 = VideoDataset(tmp, tmp / "big.txt", big_sampling, TrainTransform(size=224, short_side=None))
        batches = 2 if quick else 10
        consume = train_consumption(8, 56, 16)
        for name, ds, samp, batch in (("synthetic 64px, 8 frames, crop 56", synth, sampling, 16),
                                      ("320p mp4, 16x2 frames, crop 224", k400, big_sampling, 4)):
            row = {"set": name,
                   "loader_clips_per_s": loader_clips_per_s(ds, batch, workers, batches),
                   "loader_clips_per_s_no_workers": loader_clips_per_s(ds, batch, 0, max(1, batches // 2)),
                   "pyav_sequential_clips_per_s": pyav_clips_per_s(ds.root, ds.entries, samp,
                                                                   min(len(ds), 8 if quick else 40)),
                   "workers": workers}
            row["loader_vs_pyav"] = row["loader_clips_per_s"] / row["pyav_sequential_clips_per_s"]
            if ds is synth:
                row["default_training_consumes_clips_per_s"] = consume
                row["loader_vs_training"] = row["loader_clips_per_s"] / consume
            print(json.dumps(row))
            report["rows"].append(row)
    report["target"] = "synthetic loader >= 2x what the default training consumes"
    write_text(out, json.dumps(report, indent=1) + "\n")
    return report
