"""Which frames a clip reads: dense (clip_len x interval) or uniform (one frame per segment, TSN style).

Pinned to mmaction2 0.x as the official configs ran it (implementation-facts.md):
- dense, test: split the video into ``num_clips`` equal segments and centre one clip in each,
  ``avg = (N - clip_len*interval + 1) / num_clips``, ``start_k = int(k*avg + avg/2)``; a video shorter than one
  clip starts every clip at 0.
- dense, train: one random start per segment (mmaction2's ``_get_train_clips``, all four branches).
- out-of-range indices loop (``i mod N``): a short video is read cyclically, mmaction2's default (training and
  evaluation count the videos whose clips do: ``clip_loops``).
- uniform (``frame_uniform``): ``seg = (N-1)/clip_len``; segment i spans ``round(seg*i)..round(seg*(i+1))``
  (numpy rounding, half to even); train picks a random frame in it (both ends included), test the middle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sampling:
    mode: str = "dense"          # "dense" or "uniform"
    clip_len: int = 8
    frame_interval: int = 1
    num_clips: int = 1           # clips per video (test views along time)

    def __post_init__(self):
        if self.mode not in ("dense", "uniform"):
            raise ValueError(f"sampling.mode: expected 'dense' or 'uniform', got {self.mode!r}")
        for name in ("clip_len", "frame_interval", "num_clips"):
            if getattr(self, name) < 1:
                raise ValueError(f"sampling.{name}: must be >= 1, got {getattr(self, name)}")


def dense_train_offsets(n: int, s: Sampling, rng: np.random.Generator) -> np.ndarray:
    span = s.clip_len * s.frame_interval
    avg = (n - span + 1) // s.num_clips
    if avg > 0:
        return np.arange(s.num_clips) * avg + rng.integers(avg, size=s.num_clips)
    if n > max(s.num_clips, span):
        return np.sort(rng.integers(n - span + 1, size=s.num_clips))
    if avg == 0:
        ratio = (n - span + 1.0) / s.num_clips
        return np.around(np.arange(s.num_clips) * ratio).astype(np.int64)
    return np.zeros(s.num_clips, dtype=np.int64)


def dense_test_offsets(n: int, s: Sampling) -> np.ndarray:
    span = s.clip_len * s.frame_interval
    avg = (n - span + 1) / float(s.num_clips)
    if n > span - 1:
        return (np.arange(s.num_clips) * avg + avg / 2.0).astype(np.int64)
    return np.zeros(s.num_clips, dtype=np.int64)


def uniform_indices(n: int, clip_len: int, test: bool, rng: np.random.Generator | None) -> np.ndarray:
    seg = float(n - 1) / clip_len
    out = []
    for i in range(clip_len):
        start, end = int(np.round(seg * i)), int(np.round(seg * (i + 1)))
        out.append((start + end) // 2 if test else int(rng.integers(start, end + 1)))
    return np.array(out, dtype=np.int64)


def clip_loops(num_frames: int, s: Sampling) -> bool:
    """Whether a video of ``num_frames`` frames is shorter than the clip ``s`` reads (a test clip, or a training clip
    of one clip per video, the training's; both start at 0 when the video is short): dense, the clip runs past
    the last frame and loops to the first (mmaction2's default); uniform, fewer frames than the clip, so some repeat
    (the official segments of (N - 1) / clip_len also repeat one frame at N == clip_len, not counted: that video is
    as long as the clip). Kept as the official code reads such a video, and counted, so a result says how many clips
    were not the video's own time span."""
    if s.mode == "uniform":
        return num_frames < s.clip_len
    return num_frames <= (s.clip_len - 1) * s.frame_interval


def frame_indices(num_frames: int, s: Sampling, test: bool, rng: np.random.Generator | None = None) -> np.ndarray:
    """(num_clips, clip_len) 0-based frame indices into a video of ``num_frames`` frames."""
    if num_frames < 1:
        raise ValueError(f"num_frames: a video needs at least one frame, got {num_frames}")
    rng = rng if rng is not None else np.random.default_rng()
    if s.mode == "uniform":
        # one clip covers the whole video; several test clips would be identical, so they are not offered
        return np.stack([uniform_indices(num_frames, s.clip_len, test, rng) for _ in range(s.num_clips)])
    offsets = dense_test_offsets(num_frames, s) if test else dense_train_offsets(num_frames, s, rng)
    inds = offsets[:, None] + np.arange(s.clip_len)[None, :] * s.frame_interval
    return np.mod(inds, num_frames)
