"""Loader throughput (issues: data, #29), written to benchmarks/results/data.json.

Clips per second of the training loader (decord decode + augment, DataLoader with the machine's cores) on the
synthetic set and on 320p H.264 mp4, against PyAV decoding the same clips sequentially (decode from the start up
to the last needed frame, the plain way), and against what one training step of the default-sized CPU model
consumes. Then the paper's recipes at their settings on real-length videos made as `pst data prepare` makes them
(K400-like: 10 s at 30 fps, 640x480 sources re-encoded to short side 320, x264's key-frame interval and --keyint 32;
SSv2-like: 4 s at 12 fps VP9 to 256; Diving48-like: 5 s at 30 fps to 256), moving textures and grain rather than
flat colour: one loader process's clips/s (pst.engine.bench: read vs transform, frames decoded per clip) per
decoder, and the cores one GPU needs at the GPU probe's rate (or 150 clips/s, an estimate). Figures from one run;
no assert.
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
from torch.utils.data import RandomSampler

import pst.models  # noqa: F401  (registers the models)
from pst.data.annotations import Entry, write_list
from pst.data.dataset import VideoDataset
from pst.data.sampling import Sampling, frame_indices
from pst.data.transforms import TrainTransform
from pst.datasets.synthetic import SynthConfig, generate, render_clip, write_video
from pst.engine import build
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
    loader = build.loader(ds, workers, batch_size=batch, sampler=sampler)
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


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random RGB texture (sums of upsampled noise at several scales), 0-255 float."""
    import cv2

    img = np.zeros((h, w, 3), np.float32)
    for scale, weight in ((4, 0.1), (8, 0.2), (16, 0.3), (48, 0.5), (128, 0.6)):
        small = rng.standard_normal((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
        img += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.mean()) / (img.std() + 1e-6)
    return np.clip(rng.uniform(60, 200, 3).astype(np.float32) + 45 * img, 0, 255)


def real_like_frames(seed: int, w: int, h: int, n: int, fps: int):
    """Frames that cost a decoder what camera footage does: a panning textured background, textured shapes moving
    across it, sensor grain."""
    rng = np.random.default_rng(seed)
    bg = _texture(rng, int(h * 1.6), int(w * 1.6))
    shapes = [(rng.uniform(0.08, 0.25) * h, rng.uniform([0, 0], [w, h]), rng.uniform(-3, 3, 2) * 30 / fps)
              for _ in range(int(rng.integers(3, 7)))]
    shapes = [(r, p, v, _texture(rng, int(2 * r) + 2, int(2 * r) + 2)) for r, p, v in shapes]
    pan = rng.uniform(-1.2, 1.2, 2) * 30 / fps
    for t in range(n):
        ox = int((bg.shape[1] - w) / 2 + pan[0] * t) % (bg.shape[1] - w)
        oy = int((bg.shape[0] - h) / 2 + pan[1] * t) % (bg.shape[0] - h)
        f = bg[oy:oy + h, ox:ox + w].copy()
        for r, p, v, tex in shapes:
            x0, y0 = (np.mod(p + v * t, [w, h]) - r).astype(int)
            yy, xx = np.mgrid[0:tex.shape[0], 0:tex.shape[1]]
            inside = (xx - tex.shape[1] / 2) ** 2 + (yy - tex.shape[0] / 2) ** 2 < r ** 2
            xs, ys, xe, ye = max(0, x0), max(0, y0), min(w, x0 + tex.shape[1]), min(h, y0 + tex.shape[0])
            if xe > xs and ye > ys:
                sub = inside[ys - y0:ye - y0, xs - x0:xe - x0]
                f[ys:ye, xs:xe][sub] = tex[ys - y0:ye - y0, xs - x0:xe - x0][sub]
        yield np.clip(f + rng.normal(0, 3.0, f.shape), 0, 255).astype(np.uint8)


def write_source(path: Path, frames, w: int, h: int, fps: int, codec: str, options: dict) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt, stream.options = w, h, "yuv420p", options
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# dataset -> (source width, height, fps, seconds, codec, options, prepare's short side)
SOURCES = {"k400": (640, 480, 30, 10, "libx264", {"crf": "14", "preset": "veryfast"}, 320),
           "sthv2": (428, 240, 12, 4, "libvpx-vp9", {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"},
                     256),
           "diving48": (640, 360, 30, 5, "libx264", {"crf": "14", "preset": "veryfast"}, 256)}
# (row, dataset, prepared copy, params.yaml recipe, overrides)
PAPER_ROWS = (("K400 dense 32x2 (pst_k400)", "k400", "videos", "pst_k400", []),
              ("K400 dense 32x2, prepare --keyint 32", "k400", "videos_keyint32", "pst_k400", []),
              ("K400 dense 16x4", "k400", "videos", "pst_k400",
               ["data.sampling.clip_len=16", "data.sampling.frame_interval=4"]),
              ("K400 dense 16x4, prepare --keyint 32", "k400", "videos_keyint32", "pst_k400",
               ["data.sampling.clip_len=16", "data.sampling.frame_interval=4"]),
              ("SSv2 uniform 32 (pst_sthv1)", "sthv2", "videos", "pst_sthv1", []),
              ("SSv2 uniform 16", "sthv2", "videos", "pst_sthv1", ["data.sampling.clip_len=16"]),
              ("Diving48 uniform 32 (pst_diving48)", "diving48", "videos", "pst_diving48", []))


def paper_sets(root: Path, videos: int) -> dict:
    """Real-length sources, re-encoded by prepare's own encoder (and at --keyint 32 for K400), with lists. Returns
    the seconds one video took to re-encode and to validate (one core), per dataset: what prepare and validate at
    scale cost."""
    from pst.data.annotations import read_list as _read
    from pst.datasets.catalog import SS_LEFT_RIGHT
    from pst.datasets.preprocess import reencode
    from pst.datasets.validate import check_entry

    costs: dict = {}

    for ds, (w, h, fps, seconds, codec, options, short) in SOURCES.items():
        (root / ds / "raw").mkdir(parents=True, exist_ok=True)
        entries = []
        for i in range(videos):
            src = root / ds / "raw" / f"{i}.{'webm' if codec == 'libvpx-vp9' else 'mp4'}"
            write_source(src, real_like_frames(1000 * len(ds) + i, w, h, fps * seconds, fps), w, h, fps, codec,
                         options)
            for copy, keyint in (("videos", None), ("videos_keyint32", 32)) if ds == "k400" else (("videos", None),):
                t0 = time.perf_counter()
                reencode(src, root / ds / copy / f"{i}.mp4", short, keyint)
                costs.setdefault(f"{ds} {copy} re-encode s/video", []).append(time.perf_counter() - t0)
            entries.append(i)
        for copy in ("videos", "videos_keyint32"):
            write_list(root / ds / f"{copy}.txt", [Entry(f"{copy}/{i}.mp4", i) for i in entries])
        names = [*SS_LEFT_RIGHT, *(f"class {c}" for c in range(400 - len(SS_LEFT_RIGHT)))]   # the SS flip rule's
        write_text(root / ds / "classes.txt", "".join(f"{n}\n" for n in names))
        for e in _read(root / ds / "videos.txt"):
            t0 = time.perf_counter()
            check_entry(root / ds, e, ("decord",), "{:05d}.jpg", 1)
            costs.setdefault(f"{ds} validate s/video", []).append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in costs.items()}


def paper_rows(root: Path, clips: int) -> list[dict]:
    """One loader process per recipe, decoder and clips per decode; cores per GPU at the probe's (or an assumed)
    rate."""
    from pst.engine.bench import bench_recipe, cores_per_gpu, gpu_probe, gpu_rate, sample_costs
    from pst.engine.build import train_dataset

    rate, source = gpu_rate(gpu_probe())
    decoders = ["decord", "pyav"] + (["torchcodec"] if _torchcodec() else [])
    rows = []
    for name, ds, copy, recipe, overrides in PAPER_ROWS:
        for decoder in decoders:
            for repeats in (1, 2):
                if repeats > 1 and decoder != "decord":
                    continue
                cfg = bench_recipe(recipe, root / ds / f"{copy}.txt", root / ds, params="params.yaml",
                                   overrides=[*overrides, f"data.decoder={decoder}"])
                costs = sample_costs(train_dataset(cfg), clips, clips_per_decode=repeats)
                row = {"recipe": name, "decoder": decoder, **costs, "gpu_clips_per_s": rate,
                       "gpu_rate": source,
                       "cores_per_gpu": cores_per_gpu(costs["clips_per_s"], rate)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def _torchcodec() -> bool:
    try:
        import torchcodec.decoders  # noqa: F401
        return True
    except Exception:  # noqa: BLE001 - missing FFmpeg libraries raise at import
        return False


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
        report["per_video_seconds"] = paper_sets(tmp / "paper", 2 if quick else 4)
        print(json.dumps(report["per_video_seconds"]), flush=True)
        report["paper"] = paper_rows(tmp / "paper", 4 if quick else 24)
        sizes = {c: sum(f.stat().st_size for f in (tmp / "paper" / "k400" / c).glob("*.mp4"))
                 for c in ("videos", "videos_keyint32")}
        report["k400_keyint32_size_ratio"] = sizes["videos_keyint32"] / sizes["videos"]
    report["target"] = ("synthetic loader >= 2x what the default training consumes; paper recipes: <= 12 cores per "
                        "GPU for PST-T on K400 at the GPU's rate")
    write_text(out, json.dumps(report, indent=1) + "\n")
    return report
