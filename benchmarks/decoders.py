"""Decoder speed on real-length files (issue: real videos), written to benchmarks/results/decoders.json.

Clips per second of each loader decoder (pst.data.video: decord, PyAV, torchcodec), a fresh reader per clip as a
training loader opens one, on the files the paper path trains on: K400-like H.264 mp4 as `pst data prepare` writes
them (10 s at 30 fps, short side 320, x264's defaults: key frames every 250) read as dense 32 x 2 clips, and
SSv2-like VP9 WebM (240p, 12 fps, 4 s) read as 16 uniform frames; and the cost of the new loader path on good files
(header read + reader) against decord called directly with the old header read. Ratios from one run; no assert.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from pst.data.dataset import decode_video
from pst.data.sampling import Sampling, frame_indices
from pst.data.video import DECODERS, open_reader
from pst.datasets.synthetic import SynthConfig, render_clip
from pst.io import write_text


def _write(path: Path, frames: np.ndarray, fps: int, codec: str, fmt: str, options: dict) -> Path:
    import av

    with av.open(str(path), mode="w", format=fmt) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = options
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _files(tmp: Path, quick: bool) -> dict[str, list[Path]]:
    n = 2 if quick else 6
    k400, ssv2 = [], []
    for i in range(n):
        big = SynthConfig(pairs=1, frames=300, size=320, fps=30)
        clip = render_clip(i % 2, i, big)
        clip = np.ascontiguousarray(np.concatenate([clip, clip[:, :, :106]], axis=2))       # 426 x 320
        k400.append(_write(tmp / f"k400_{i}.mp4", clip, 30, "libx264", "mp4", {"crf": "20", "preset": "fast"}))
        small = SynthConfig(pairs=1, frames=48, size=240, fps=12)
        ssv2.append(_write(tmp / f"ssv2_{i}.webm", render_clip(i % 2, i, small), 12, "libvpx-vp9", "webm",
                           {"crf": "32", "b": "0", "deadline": "good", "cpu-used": "5"}))
    return {"k400 dense 32x2 (426x320 H.264, 300 frames)": k400, "ssv2 uniform 16 (240p VP9, 48 frames)": ssv2}


def _clips_per_s(paths: list[Path], read, sampling: Sampling, repeats: int) -> float:
    """1 / the median seconds of ``read(path, choose)`` over the files (a fresh reader per clip)."""
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats):
        for p in paths:
            t0 = time.perf_counter()
            read(p, lambda n: frame_indices(n, sampling, False, rng).reshape(-1).tolist())
            times.append(time.perf_counter() - t0)
    return 1 / statistics.median(times)


def _with(decoder: str):
    def read(path, choose):
        reader = open_reader(path, decoder)
        reader.get(choose(reader.num_frames))
    return read


def _before(path, choose):
    """What decode_video did before the decoders: decord directly and the container's claimed count."""
    import av
    import decord

    vr = decord.VideoReader(str(path), num_threads=1)
    vr.get_batch(choose(len(vr))).asnumpy()
    with av.open(str(path)) as c:
        _ = c.streams.video[0].frames


def _now(path, choose):
    decode_video(path, choose)


def _available(decoder: str) -> bool:
    try:
        open_reader(Path(__file__), decoder)
    except Exception as err:  # noqa: BLE001
        return "cannot load torchcodec" not in str(err)
    return True


def main(quick: bool = False, out: str = "benchmarks/results/decoders.json") -> dict:
    repeats = 1 if quick else 3
    report = {"machine": {"cpus": os.cpu_count()}, "quick": quick, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, paths in _files(Path(tmp), quick).items():
            sampling = Sampling("dense", 32, 2) if name.startswith("k400") else Sampling("uniform", 16)
            row = {"set": name, "clips_per_s": {}}
            for decoder in DECODERS:
                if _available(decoder):
                    row["clips_per_s"][decoder] = _clips_per_s(paths, _with(decoder), sampling, repeats)
            base = row["clips_per_s"]["decord"]
            row["vs_decord"] = {d: v / base for d, v in row["clips_per_s"].items()}
            old, new = (_clips_per_s(paths, f, sampling, repeats) for f in (_before, _now))
            row["loader_path_on_good_files"] = {"before_clips_per_s": old, "now_clips_per_s": new,
                                                "now_vs_before": new / old}
            print(json.dumps(row))
            report["rows"].append(row)
    report["target"] = "the loader path on good files within a few percent of before (now_vs_before >= 0.95)"
    write_text(out, json.dumps(report, indent=1) + "\n")
    return report
