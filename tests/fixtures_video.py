"""Small real-format video files with the faults real dataset copies have, written by the encoders cameras and sites
use (PyAV: libx264 with B-frames and open GOPs, MPEG-4 Part 2 in AVI, VP8/VP9 in WebM cut short, display rotation,
variable frame rate, odd sizes, 4:4:4, full range, broken audio). Deterministic for a seed (x264 without its
assembly kernels, WebM muxed bit-exact). Frames change strongly from one to the next (moving bars, a binary frame
counter, noise), so a wrong frame is obvious against the front-to-back PyAV decode that tests use as reference."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

import numpy as np


def render_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, height, width, 3): a vertical bar moving 5 px a frame, a horizontal one moving 3, a hue that
    cycles, frame i's binary code in blocks along the bottom, and noise."""
    rng = np.random.default_rng(seed)
    x0, y0 = rng.integers(0, width), rng.integers(0, height)
    phase = rng.uniform(0, 2 * np.pi, 3)
    bits = max(1, int(np.ceil(np.log2(max(n, 2)))))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xx / max(width - 1, 1) + yy / max(height - 1, 1)) / 2
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        img = np.stack([90 + 60 * np.sin(2 * np.pi * i / 17 + phase[c] + 3 * ramp) for c in range(3)], -1)
        img[:, (np.arange(max(2, width // 8)) + 5 * i + x0) % width] = (240, 230, 40)
        img[(np.arange(max(2, height // 8)) + 3 * i + y0) % height, :] = (30, 60, 230)
        for b in range(bits):
            img[height - max(2, height // 6):, b * width // bits:(b + 1) * width // bits] = 250 if (i >> b) & 1 else 5
        img += np.random.default_rng([seed, i]).normal(0, 6, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def encode(path: Path, frames: np.ndarray, fmt: str = "mp4", codec: str = "libx264", fps: float = 30,
           pix_fmt: str = "yuv420p", options: Optional[dict] = None, codec_tag: Optional[str] = None,
           pts_ms: Optional[Sequence[int]] = None, rotation: int = 0, color_range: Optional[str] = None,
           audio: Optional[str] = None) -> Path:
    """RGB ``frames`` to ``path``. pts_ms: per-frame times in ms (variable frame rate); rotation: display matrix,
    degrees counter-clockwise; color_range "pc" (full); audio "short" (ends at 30 %) or "corrupt" (random AAC
    payloads, muxed first)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    tb = Fraction(1, 1000) if pts_ms is not None else 1 / rate
    with av.open(str(path), mode="w", format=fmt, options={"fflags": "+bitexact"}) as c:
        astream = c.add_stream("aac", rate=44100, layout="mono") if audio else None
        vs = c.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        vs.codec_context.thread_count = 1
        if pts_ms is not None:
            vs.codec_context.time_base = vs.time_base = Fraction(1, 1000)
        vs.options = dict(options or {})
        if codec_tag:
            vs.codec_tag = codec_tag
        if color_range:
            vs.codec_context.color_range = 2
        if rotation:
            vs.set_display_rotation(rotation)
        packets = []
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            f = f.reformat(format=pix_fmt, dst_color_range=2) if color_range else f.reformat(format=pix_fmt)
            f.time_base, f.pts = tb, int(pts_ms[i]) if pts_ms is not None else i
            packets += vs.encode(f)
        packets += vs.encode(None)
        if audio:
            seconds = len(frames) / float(rate) * (0.3 if audio == "short" else 1.0)
            rng = np.random.default_rng(7)
            for k in range(0, int(seconds * 44100), 1024):
                t = np.arange(k, k + 1024, dtype=np.float32) / 44100
                a = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t))[None], format="fltp", layout="mono")
                a.sample_rate, a.pts, a.time_base = 44100, k, Fraction(1, 44100)
                packets += astream.encode(a)
            packets += astream.encode(None)
            if audio == "corrupt":
                for p in [p for p in packets if p.stream is astream]:
                    p.update(rng.integers(0, 256, p.size, dtype=np.uint8).tobytes()) if hasattr(p, "update") else None
        for p in sorted(packets, key=lambda p: float((p.dts if p.dts is not None else p.pts) * p.time_base)):
            c.mux(p)
    return path


def x264(extra: str = "") -> dict:
    return {"crf": "20", "preset": "fast", "x264-params": ":".join(p for p in (extra, "asm=0") if p)}


def cut(src: Path, dst: Path, fraction: float) -> Path:
    """A copy of ``src`` cut to ``fraction`` of its bytes: a truncated download."""
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


def vfr_ms(n: int, seed: int = 0) -> list[int]:
    """Times (ms) of a phone that drops frames: 33/34 ms apart with a 100-200 ms gap every ~10 frames."""
    rng = np.random.default_rng(seed + 77)
    d = np.where(np.arange(n - 1) % 3 == 2, 34, 33)
    d[rng.choice(n - 1, size=max(1, n // 10), replace=False)] = rng.integers(100, 201, max(1, n // 10))
    return [0] + np.cumsum(d).astype(int).tolist()


def corpus(out: Path, seed: int = 0) -> dict[str, Path]:
    """Every fault family, small: {name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    f = render_frames(60, 48, 64, seed)
    wide = render_frames(30, 64, 96, seed + 1)
    files = {
        # open GOPs: x264 puts leading B-frames before its key frames only on enough texture (128x96 here)
        "open_gop": encode(out / "open_gop.mp4", render_frames(60, 96, 128, seed),
                           options=x264("bframes=3:b-pyramid=normal:open-gop=1:keyint=24:min-keyint=24:scenecut=0")),
        "closed_gop": encode(out / "closed_gop.mp4", f, options=x264("bframes=3:keyint=24:scenecut=0")),
        "avi_h264": encode(out / "avi_h264.avi", f, fmt="avi", fps=25, options=x264("bframes=3:keyint=24")),
        "avi_mpeg4_bf": encode(out / "avi_mpeg4_bf.avi", f, fmt="avi", codec="mpeg4", fps=25, codec_tag="XVID",
                               options={"bf": "2", "g": "24", "qscale": "4", "flags": "+qscale"}),
        "avi_mpeg4": encode(out / "avi_mpeg4.avi", f, fmt="avi", codec="mpeg4", fps=25,
                            options={"bf": "0", "g": "24", "qscale": "4", "flags": "+qscale"}),
        "vp9": encode(out / "vp9.webm", f, fmt="webm", codec="libvpx-vp9", fps=12,
                      options={"crf": "32", "b": "0", "g": "30", "deadline": "good", "cpu-used": "5", "row-mt": "0"}),
        "vp8": encode(out / "vp8.webm", f, fmt="webm", codec="libvpx", fps=12,
                      options={"crf": "10", "b": "1M", "g": "30", "deadline": "good", "cpu-used": "5"}),
        "rot90": encode(out / "rot90.mp4", wide, options=x264("keyint=10"), rotation=90),      # upright 64 wide
        "rot270": encode(out / "rot270.mp4", wide, options=x264("keyint=10"), rotation=270),
        "vfr": encode(out / "vfr.mp4", f, options=x264("keyint=15"), pts_ms=vfr_ms(len(f), seed)),
        "yuv444_odd": encode(out / "yuv444_odd.mp4", render_frames(30, 17, 33, seed), pix_fmt="yuv444p",
                             options=x264("keyint=12")),
        "fullrange": encode(out / "fullrange.mp4", f[:30], options=x264("keyint=12"), color_range="pc"),
        "width48": encode(out / "width48.mp4", render_frames(30, 32, 48, seed), options=x264("keyint=12")),
        "audio_short": encode(out / "audio_short.mp4", f[:30], options=x264("keyint=12"), audio="short"),
    }
    for name in ("vp8", "vp9"):
        for frac in (0.3, 0.6, 0.9):
            files[f"{name}_cut{int(frac * 100)}"] = cut(files[name], out / f"{name}_cut{int(frac * 100)}.webm", frac)
    files["mp4_cut60"] = cut(files["closed_gop"], out / "closed_gop_cut60.mp4", 0.6)   # index at the end: unopenable
    return files
