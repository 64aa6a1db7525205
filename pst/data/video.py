"""Reading video files with a decoder that can be trusted: three decoders behind one reader, the reference decode
they are checked against, and what a file's header promises.

- ``decord`` (the design card's): fast, but its random access is wrong on some real files — open-GOP H.264 (it
  places a key frame at its decode-order position, so clips past the second key frame come back 3 frames late) and
  AVI with B-frames (wrong frames, last frames swapped); it reads 8-, 12-, 16-, 24-, 48- and 72-px-wide H.264 not at
  all, and auto-rotates by the display matrix.
- ``pyav``: seeks to the key frame at or before the first wanted frame (by presentation time, from a demux-only
  index) and decodes forward; a file whose packets carry no usable presentation times (AVI) is decoded from the
  start, counting frames. The display rotation is applied, as decord and torchcodec do.
- ``torchcodec`` (the PyTorch team's, versioned with torch; needs FFmpeg's shared libraries): exact seek mode;
  wrong on AVI with B-frames.

``reference_frames`` decodes front to back with PyAV: what every random access must equal (`pst data validate`), and
what `pst data prepare` re-encodes. The default decoder is chosen in the recipe (``data.decoder``); see the README.
"""
from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

@dataclass(frozen=True)
class Header:
    """What a video's container says before anything is decoded."""
    frames: int               # frames it claims (the index's count; for WebM, which stores none: duration x rate)
    duration: float           # seconds (the video stream's, else the container's); 0 if unknown
    rate: Fraction            # average frame rate (guessed where absent)
    codec: str
    format: str               # container format, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi", "matroska,webm"


def header(path: str | Path) -> Header:
    import av

    with av.open(str(path)) as c:
        if not c.streams.video:
            raise ValueError("no video stream")
        s = c.streams.video[0]
        rate = Fraction(s.average_rate or s.guessed_rate or 25)
        duration = float(s.duration * s.time_base) if s.duration and s.time_base else \
            (c.duration / 1e6 if c.duration else 0.0)
        frames = s.frames or (round(duration * rate) if duration else 0)
        return Header(int(frames), duration, rate, s.codec_context.name, c.format.name)


def rotate(frames: torch.Tensor, rotation: int) -> torch.Tensor:
    """(T, C, H, W) turned upright from a display rotation in degrees counter-clockwise (PyAV's frame.rotation),
    as decord and torchcodec return them."""
    k = (int(rotation) // 90) % 4
    return torch.rot90(frames, k, dims=(-2, -1)).contiguous() if k else frames


def upright(frame) -> torch.Tensor:
    """A decoded PyAV frame as uint8 (C, H, W) RGB, upright. reformat then to_ndarray: the same pixels as
    to_ndarray(format="rgb24"), ~6x faster (PyAV 18)."""
    return rotate(torch.from_numpy(frame.reformat(format="rgb24").to_ndarray()).permute(2, 0, 1), frame.rotation)


@dataclass(frozen=True)
class PacketIndex:
    """A demux-only pass over a video stream: what the packets say without decoding."""
    pts: list[int]            # presentation times of the packets with data, in the stream's time base, sorted
    keys: list[int]           # those of the key frames, sorted
    timed: bool               # every packet with data carries a presentation time


def packet_index(container, stream) -> PacketIndex:
    """The packet index of ``stream`` in an open ``container`` (left at its end: seek before decoding); a cut
    file's index holds the packets read before the cut."""
    import av

    pts, keys, timed = [], [], True
    try:
        for p in container.demux(stream):
            if not p.size:
                continue
            if p.pts is None:
                timed = False
            else:
                pts.append(p.pts)
                if p.is_keyframe:
                    keys.append(p.pts)
    except (av.error.FFmpegError, OSError):
        pass
    return PacketIndex(sorted(pts), sorted(keys), timed)


def reference_frames(path: str | Path) -> Iterator[tuple[np.ndarray, float, float]]:
    """Every frame front to back (PyAV), upright: (uint8 HWC RGB, presentation time s, duration s, one frame
    interval where the file stores none). A decoder error ends the stream where it happens (a truncated file yields
    what is there)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tick = 1 / float(s.average_rate or s.guessed_rate or 25)     # a frame's duration where none is stored
        try:
            for f in c.decode(s):
                t = float(f.pts * f.time_base) if f.pts is not None and f.time_base else math.nan
                d = float(f.duration * f.time_base) if f.duration and f.time_base else tick
                yield upright(f).permute(1, 2, 0).numpy(), t, d
        except (av.error.FFmpegError, OSError):
            return


@contextmanager
def native_stderr_silenced():
    """File descriptor 2 pointed at /dev/null for a native call: decord's C++ prints "ERROR opening: FILE" or
    "Failed to seek" there (beneath its log level setting) before raising; the refusal or the dataset's count
    names the file instead, in one line. A dup2 each: microseconds beside a decode."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class DecordReader:
    def __init__(self, path: str | Path):
        import decord

        if not Path(path).is_file():        # said here: decord's own C++ log line would precede its error
            raise FileNotFoundError(f"{path}: no such video file")
        decord.logging.set_level(decord.logging.QUIET)   # FFmpeg's own lines ("partial file"): a failed or short
        #                                                  decode is counted and named by the dataset, per video
        with native_stderr_silenced():
            self._vr = decord.VideoReader(str(path), num_threads=1)
        self.num_frames = len(self._vr)

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        with native_stderr_silenced():          # a failed seek prints its C++ line, then raises (counted, named)
            frames = self._vr.get_batch(list(indices)).asnumpy()
        return torch.from_numpy(frames).permute(0, 3, 1, 2)


class PyAVReader:
    """Exact random access with PyAV: a demux-only index of presentation times (and key frames), then for each
    wanted frame a seek to the last key frame at or before it and a decode forward; files whose packets carry no
    usable presentation times (AVI) are decoded from the start, counting frames."""

    def __init__(self, path: str | Path):
        import av

        self.path = str(path)
        self._c = av.open(self.path)
        self._s = self._c.streams.video[0]
        index = packet_index(self._c, self._s)
        ordered = index.timed and self._c.format.name != "avi"   # AVI times are made up from decode order
        self._pts = index.pts if ordered else []
        self._keys = index.keys
        self.num_frames = len(index.pts) if ordered else self._count()
        self._c.seek(0, stream=self._s)

    def _count(self) -> int:
        return sum(1 for _ in self._frames_from_start())

    def _frames_from_start(self):
        import av

        self._c.seek(0, stream=self._s)
        try:
            yield from self._c.decode(self._s)
        except (av.error.FFmpegError, OSError):
            return

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        want = sorted(set(int(i) for i in indices))
        if want and (want[0] < 0 or want[-1] >= self.num_frames):
            raise IndexError(f"frame {want[-1] if want[-1] >= self.num_frames else want[0]} of "
                             f"{self.num_frames}")
        got: dict[int, torch.Tensor] = {}
        if not self._pts:                                 # no presentation order in the packets: count frames
            for i, f in enumerate(self._frames_from_start()):
                if i in want:
                    got[i] = upright(f)
                if len(got) == len(want):
                    break
        else:
            got = self._seek_decode(want)
        missing = [i for i in want if i not in got]
        if missing:
            raise RuntimeError(f"frames {missing[:3]} do not decode (of {self.num_frames} indexed)")
        return torch.stack([got[int(i)] for i in indices]).contiguous()

    def _seek_decode(self, want: list[int]) -> dict[int, torch.Tensor]:
        import av

        by_pts = {self._pts[i]: i for i in want}
        got: dict[int, torch.Tensor] = {}
        pending = list(want)
        while pending:
            target = self._pts[pending[0]]
            key = max((k for k in self._keys if k <= target), default=self._pts[0])
            self._c.seek(key, stream=self._s, backward=True, any_frame=False)
            last_needed = max(self._pts[i] for i in pending)
            try:
                for f in self._c.decode(self._s):
                    if f.pts in by_pts and by_pts[f.pts] not in got:
                        got[by_pts[f.pts]] = upright(f)
                    if f.pts is not None and f.pts >= last_needed and all(i in got for i in pending):
                        break
                    nxt = [i for i in pending if i not in got]
                    if nxt and f.pts is not None and self._gap(f.pts, self._pts[nxt[0]]):
                        break                             # the next wanted frame is cheaper to seek to
            except (av.error.FFmpegError, OSError):
                pass
            left = [i for i in pending if i not in got]
            if left == pending:                           # nothing new decoded from here: give up on it
                break
            pending = left
        return got

    def _gap(self, now: int, target: int) -> bool:
        """A key frame lies between the decode position and the target: a seek skips the frames in between."""
        return any(now < k <= target for k in self._keys)

    def close(self) -> None:
        self._c.close()


class TorchCodecReader:
    def __init__(self, path: str | Path):
        try:
            from torchcodec.decoders import VideoDecoder
        except (ImportError, RuntimeError, OSError) as err:
            raise RuntimeError(f"data.decoder torchcodec: cannot load torchcodec ({str(err).splitlines()[0]}); "
                               "install it (pip install 'pst[torchcodec]') and FFmpeg's shared libraries "
                               "(apt-get install ffmpeg, or conda install ffmpeg)") from None
        self._d = VideoDecoder(str(path), seek_mode="exact", num_ffmpeg_threads=1)
        self.num_frames = int(self._d.metadata.num_frames)

    def get(self, indices: Sequence[int]) -> torch.Tensor:
        return self._d.get_frames_at(list(indices)).data


READERS = {"decord": DecordReader, "pyav": PyAVReader, "torchcodec": TorchCodecReader}
DECODERS = tuple(READERS)       # mirrored, torch-free, by pst.engine.config.DECODERS (tests/test_video.py)


def open_reader(path: str | Path, decoder: str = "decord"):
    """A reader of ``path`` with ``num_frames`` and ``get(indices) -> uint8 (T, C, H, W)``."""
    if decoder not in READERS:
        raise ValueError(f"data.decoder: expected one of {', '.join(DECODERS)}, got {decoder!r}")
    return READERS[decoder](path)


def fps_map(times: Sequence[float], fps: Fraction | float, end: Optional[float] = None) -> list[int]:
    """Which input frame each tick of a constant-rate output shows, as FFmpeg's ``fps`` filter picks them (defaults:
    round=near, start at the first frame): every time is rounded to the nearest tick (half away from zero), and
    tick k shows the last frame whose rounded time is <= k, from the first frame's tick until ``end`` (default:
    the last time plus the last interval)."""
    q = (lambda v: v if isinstance(v, Fraction) else Fraction(v).limit_denominator(1 << 20))
    fps, ts = q(fps), [q(t) for t in times]
    if not ts:
        return []
    if end is None:
        end = ts[-1] + (ts[-1] - ts[-2] if len(ts) > 1 else 1 / fps)
    near = (lambda x: math.floor(abs(x) + Fraction(1, 2)) * (1 if x >= 0 else -1))
    ticks = [near(t * fps) for t in ts]
    out, current, tick = [], 0, ticks[0]
    stop = near(q(end) * fps)
    while tick < stop:
        while current + 1 < len(ts) and ticks[current + 1] <= tick:
            current += 1
        out.append(current)
        tick += 1
    return out
