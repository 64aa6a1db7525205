"""How fast a recipe's training samples are made (`pst bench loader`, benchmarks/data.py, benchmarks/gpu.py).

One process with one torch thread, as one loader worker runs: per clip, the time to read its frames (open, seek,
decode the window) and the time to make the training clip from them (resize, crop, flip, augmentation,
normalisation), and how many frames the decoder had to decode for it. The cores one GPU needs are its clips/s over
one worker's. Frames decoded are counted from the file's key frames, as a seeking decoder reads: it jumps to the key
frame before a wanted frame when that key frame lies ahead of where it is, else decodes forward.
"""
from __future__ import annotations

import bisect
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from pst.data.dataset import VideoDataset
from pst.checks import finite_number
from pst.layout import PARAMS

# A PST-T 32 x 224² bf16 training step on an H100/H200-class GPU: Swin-T's image throughput / 16 temporal tokens
# (an estimate, +-2x, issue #29) until benchmarks/gpu.py has measured one.
ASSUMED_GPU_CLIPS_PER_S = 150.0
GPU_PROBE = "benchmarks/results/gpu.json"          # what benchmarks/gpu.py writes


def gpu_probe(path: str | Path | None = None) -> dict | None:
    """The GPU probe's measurements, where it has run on a GPU at the paper's sizes (None otherwise): per model,
    its fastest bf16 training step's clips/s and TFLOP/s, and the GPU's name. ``path``: a record the user names
    (it must be there), else benchmarks/gpu.py's own, where it has run."""
    from pst.io import read_record

    given, path = path is not None, Path(GPU_PROBE if path is None else path)
    if path.is_dir():
        raise ValueError(f"--gpu-probe {path}: a folder; name the probe's JSON file ({GPU_PROBE})")
    if not path.is_file():
        if given:
            raise ValueError(f"--gpu-probe {path}: no such file; name the record benchmarks/gpu.py wrote ("
                             f"{GPU_PROBE}), or leave the option out")
        return None
    report = read_record(path, "the GPU probe's record", "name the record benchmarks/gpu.py wrote" if given else
                         "rerun benchmarks/gpu.py, or move the file aside", {"rows": list})
    if not report.get("cuda") or report.get("tiny"):
        return None
    fix = "name the record benchmarks/gpu.py wrote" if given else "rerun benchmarks/gpu.py, or move the file aside"
    best: dict[str, dict] = {}
    for i, row in enumerate(report["rows"]):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: rows[{i}] is not an object (the probe's record has one per model and dtype); "
                             f"{fix}")
        if row.get("dtype") != "bf16" or "clips_per_s" not in row or "failed" in row or "skipped" in row:
            continue                                        # a row that failed or was skipped: no figures
        for key, is_valid in (("model", lambda v: isinstance(v, str)), ("mode", lambda v: isinstance(v, str)),
                              ("clips_per_s", _positive), ("tflops", _positive)):
            if not is_valid(row.get(key)):
                raise ValueError(f"{path}: rows[{i}].{key} = {row.get(key)!r} is not valid (a model's name and mode, "
                                 f"and clips/s and TFLOP/s above 0 and finite); {fix}")
        if row["clips_per_s"] > best.get(row["model"], {}).get("clips_per_s", 0):
            best[row["model"]] = {"clips_per_s": row["clips_per_s"], "tflops": row["tflops"], "mode": row["mode"]}
    if best and not isinstance(report.get("device"), str):
        raise ValueError(f"{path}: its device = {report.get('device')!r} is not a GPU's name; {fix}")
    return {"device": report["device"], "file": str(path), "models": best} if best else None


def _positive(value) -> bool:
    return finite_number(value) and value > 0


def gpu_rate(probe: dict | None, model: str = "pst_t") -> tuple[float, str]:
    """(clips/s one GPU trains ``model`` at, where that figure comes from): the probe's measurement, else the
    estimate."""
    if probe and model in probe["models"]:
        return probe["models"][model]["clips_per_s"], f"measured on {probe['device']} ({model})"
    return ASSUMED_GPU_CLIPS_PER_S, "assumed (no GPU probe: benchmarks/gpu.py)"


def keyframes(path: str | Path) -> list[int]:
    """Display-order indices of a video's key frames, from its packets (demuxed, not decoded)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
    packets.sort()
    return [i for i, (_, key) in enumerate(packets) if key]


def frames_decoded(keys: list[int], indices) -> int:
    """Frames a seeking decoder decodes to deliver ``indices`` (read in order, each frame once)."""
    pos, count = -1, 0
    for i in sorted(set(int(i) for i in np.asarray(indices).reshape(-1))):
        key = keys[max(bisect.bisect_right(keys, i) - 1, 0)] if keys else 0
        count += i - key + 1 if key > pos else i - pos
        pos = i
    return count


def sample_costs(ds: VideoDataset, clips: int, seed: int = 0, clips_per_decode: int = 1) -> dict:
    """Time ``clips`` training clips of ``ds`` in this process (one torch thread): read and transform, separately.
    ``clips_per_decode``: transform each read that many times (repeated augmentation)."""
    from pst.data.sampling import frame_indices

    rng = np.random.default_rng(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    read_s, make_s, decoded, keys = [], [], [], {}
    try:
        done = 0
        while done < clips:
            entry = ds.entries[int(rng.integers(len(ds)))]
            state = rng.bit_generator.state
            t0 = time.perf_counter()
            frames = ds.read(entry, rng)[0]
            t1 = time.perf_counter()
            for _ in range(clips_per_decode):
                ds.transform(frames, entry.label)
            t2 = time.perf_counter()
            read_s.append(t1 - t0)
            make_s.append((t2 - t1) / clips_per_decode)
            done += clips_per_decode
            if entry.num_frames is None:               # a video file: count what its decoder had to decode
                path = ds.root / entry.path
                if entry.path not in keys:
                    from pst.data.video import open_reader

                    reader = open_reader(path, ds.decoder)
                    keys[entry.path] = (keyframes(path), reader.num_frames)
                    getattr(reader, "close", lambda: None)()
                replay = np.random.default_rng()
                replay.bit_generator.state = state       # the same draw as the read's
                inds = frame_indices(keys[entry.path][1], ds.sampling, False, replay)
                decoded.append(frames_decoded(keys[entry.path][0], inds))
    finally:
        torch.set_num_threads(threads)
    per_clip = statistics.mean(read_s) / clips_per_decode + statistics.mean(make_s)
    return {"clips": done, "clips_per_decode": clips_per_decode,
            "read_ms": 1e3 * statistics.mean(read_s), "transform_ms": 1e3 * statistics.mean(make_s),
            "clips_per_s": 1 / per_clip,
            "frames_per_clip": ds.sampling.clip_len * ds.sampling.num_clips,
            "frames_decoded_per_clip": statistics.mean(decoded) / clips_per_decode if decoded else None,
            "keyframe_interval": _mean_gap(keys)}


def _mean_gap(keys: dict) -> float | None:
    gaps = [n / len(k) for k, n in keys.values() if k]
    return statistics.mean(gaps) if gaps else None


def bench_recipe(recipe: str, list_file: str | Path, root: str | Path | None = None,
                 classes: str | Path | None = None, params: str | Path = PARAMS,
                 overrides: list[str] | None = None) -> dict:
    """A params.yaml recipe, resolved, reading ``list_file`` (paths relative to ``root``, default its folder; class
    names in ``classes``, default classes.txt beside it) as its training list."""
    from pst.engine.config import resolve
    from pst.study import read_params

    unused = next((o for o in overrides or [] if not o.startswith("data.")), None)
    if unused:                                   # never silently ignored
        raise ValueError(f"--set {unused}: the loader benchmark reads the recipe's data.* keys only (its model, "
                         "optimizer and schedule play no part); set data.* keys")
    recipes = read_params(params)["recipes"]
    if recipe not in recipes:
        raise ValueError(f"--recipe {recipe!r}: not a recipe of {params} (one of {', '.join(recipes)})")
    list_file = Path(list_file).resolve()
    if not list_file.is_file():
        raise ValueError(f"--list {list_file}: no such file; give a prepared training list (train.txt)")
    classes = Path(classes or list_file.parent / "classes.txt").resolve()
    if not classes.is_file():
        raise ValueError(f"{classes}: no classes file; pass --classes (the dataset's classes.txt)")
    cfg = {k: v for k, v in recipes[recipe].items() if k != "sources"}
    data = {**cfg.get("data", {}), "root": str(Path(root or list_file.parent).resolve()),
            "train_list": str(list_file), "classes": str(classes)}
    return resolve({**cfg, "data": data}, ["data.cache_videos=false", *(overrides or [])])   # every read decodes


def cores_per_gpu(clips_per_s_per_worker: float, gpu_clips_per_s: float = ASSUMED_GPU_CLIPS_PER_S) -> float:
    """Loader processes (one core each) that keep one GPU at ``gpu_clips_per_s``."""
    return gpu_clips_per_s / clips_per_s_per_worker
