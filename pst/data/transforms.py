"""Clip transforms on uint8 frames (T, C, H, W); outputs are normalised float clips (C, T, H, W) (NCTHW models), or
for training with ``data.normalize: device`` the uint8 clips that `normalize_batch` turns into the same floats there.

Every random choice is drawn once per clip, so all frames of a clip get the same crop, flip and augmentation.
Test views: a short-side resize, then three crops along the long side (mmaction2's ThreeCrop: left/top,
right/bottom at twice the half-step, centre) or one centre crop, for every temporal clip.

The short-side resize is mmcv's by default (``data.resize: mmcv``, what the official code ran), torchvision's as an
option. The random resized crop of training keeps torchvision's resize (antialiased) in both: an augmentation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

# ImageNet statistics on 0-255 RGB, as the official configs normalise.
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def normalize(frames: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    """uint8 (T, C, H, W) -> float (C, T, H, W)."""
    x = frames.float()
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return ((x - m) / s).permute(1, 0, 2, 3).contiguous()


def normalize_batch(clips: torch.Tensor, keep: Optional[torch.Tensor] = None, mean=MEAN,
                    std=STD) -> torch.Tensor:
    """uint8 (B, C, T, H, W) clips (``data.normalize: device``: a quarter of the bytes to the device) -> the float
    clips `normalize` makes, bit for bit (the same IEEE subtraction and division, wherever they run); ``keep``:
    (B, H, W) False where random erasing zeroed the clip after normalisation."""
    shape = (1, 3, 1, 1, 1)
    m = torch.tensor(mean, device=clips.device).view(shape)
    s = torch.tensor(std, device=clips.device).view(shape)
    x = (clips.float() - m) / s
    return x if keep is None else torch.where(keep[:, None, None], x, 0.0)


RESIZE = ("mmcv", "torchvision")


def short_side_size(h: int, w: int, short: int, method: str = "mmcv") -> tuple[int, int]:
    """(h, w) after a short-side resize to ``short``: mmcv's ``Resize(scale=(-1, short))`` rounds the long side to
    nearest, ``int(w * short / h + 0.5)`` (340x256 -> 298x224); torchvision rounds it down (297x224)."""
    if method not in RESIZE:
        raise ValueError(f"data.resize: expected one of {', '.join(RESIZE)}, got {method!r}")
    scale = short / min(h, w)
    if method == "mmcv":
        return int(h * scale + 0.5), int(w * scale + 0.5)
    return (short, int(w * scale)) if h <= w else (int(h * scale), short)


def resize_short(frames: torch.Tensor, short: int, method: str = "mmcv") -> torch.Tensor:
    """uint8 (T, C, H, W) with the short side resized to ``short``. "mmcv" is what the official code ran (mmcv 1.x
    imresize: cv2 bilinear, no antialiasing, on the uint8 frames, sizes rounded to nearest); "torchvision" is
    torchvision's antialiased resize with the long side rounded down."""
    h, w = frames.shape[-2:]
    size = short_side_size(h, w, short, method)
    if size == (h, w):
        return frames
    if method == "torchvision":
        return TF.resize(frames, short, antialias=True)
    import cv2

    hwc = frames.permute(0, 2, 3, 1).contiguous().numpy()
    out = np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for f in hwc])
    return torch.from_numpy(out.reshape(len(hwc), size[0], size[1], -1)).permute(0, 3, 1, 2)


def three_crop_offsets(h: int, w: int, size: int) -> list[tuple[int, int]]:
    """(top, left) of the three test crops along the long side of an (h, w) frame whose short side is >= size."""
    if min(h, w) < size:
        raise ValueError(f"three crop: frame {h}x{w} is smaller than the crop {size}; resize the short side first")
    if w >= h:
        step, top = (w - size) // 2, (h - size) // 2
        return [(top, 0), (top, 2 * step), (top, step)]
    step, left = (h - size) // 2, (w - size) // 2
    return [(0, left), (2 * step, left), (step, left)]


def center_crop_offset(h: int, w: int, size: int) -> tuple[int, int]:
    return (h - size) // 2, (w - size) // 2


def randaugment(spec: Optional[dict], sign_sets: int = 8, seed: int = 0):
    """The recipe's RandAugment on uint8 (T, C, H, W) clips: the official policy (pst.data.randaugment: mmaction2
    0.x's Imgaug default), torchvision's RandAugment (its own 31-bin scale and op list), or None."""
    if not spec or spec.get("policy") is None:
        return None
    if spec["policy"] == "torchvision":
        return v2.RandAugment(spec["num_ops"], spec["magnitude"])
    from pst.data.randaugment import ClipRandAugment

    return ClipRandAugment(spec["num_ops"], spec["magnitude"], spec["signs"], sign_sets, seed)


@dataclass
class TrainTransform:
    """Short-side resize, random resized crop, horizontal flip (label-aware), optional RandAugment and erasing, in
    the official pipeline's order.

    ``no_flip_labels``: classes never flipped (the official SSv1/SSv2 rule for left/right-sensitive labels).
    ``flip_pairs``: instead of skipping, flip and swap the label with its mirror class (an option, not what ran).
    """
    size: int = 224
    short_side: Optional[int] = 256
    area: tuple[float, float] = (0.08, 1.0)
    flip: float = 0.5
    no_flip_labels: tuple[int, ...] = ()
    flip_pairs: dict[int, int] = field(default_factory=dict)
    randaugment: Optional[dict] = None    # {policy: official | torchvision, num_ops, magnitude, signs}; None: off
    erasing: float = 0.0                               # probability, 0.25 for the SS recipe
    sign_sets: int = 8                                 # official RandAugment, signs "process": the official processes
    seed: int = 0                                      # the run's seed (the official RandAugment's sign sets)
    resize: str = "mmcv"                               # the short-side resize (see resize_short)
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD
    uint8: bool = False          # ``data.normalize: device``: (clip uint8, keep mask) for normalize_batch on the device

    def __post_init__(self):
        self._crop = v2.RandomResizedCrop(self.size, scale=self.area, antialias=True)
        self._augment = randaugment(self.randaugment, self.sign_sets, self.seed)
        # timm's RandomErasing as the official pipeline ran it (probability, area 0.02-1/3, aspect 0.3-1/0.3, zeros
        # after normalisation): the same sampling as torchvision's with timm's bounds
        self._erase = v2.RandomErasing(p=self.erasing, scale=(0.02, 1 / 3), ratio=(0.3, 1 / 0.3)) \
            if self.erasing > 0 else None
        pairs = dict(self.flip_pairs)
        self._pairs = {**pairs, **{b: a for a, b in pairs.items()}}

    def __call__(self, frames: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
        if self.short_side:
            frames = resize_short(frames, self.short_side, self.resize)
        frames = self._crop(frames)
        if float(torch.rand(())) < self.flip:
            if self._pairs and label in self._pairs:
                frames, label = TF.horizontal_flip(frames), self._pairs[label]
            elif label not in self.no_flip_labels:
                frames = TF.horizontal_flip(frames)
        if self._augment is not None:
            frames = self._augment(frames)
        if self.uint8:
            clip = frames.permute(1, 0, 2, 3).contiguous()
            if self._erase is None:
                return clip, label
            # the same draws as erasing the float clip (they depend on its height and width only): a mask
            keep = self._erase(torch.ones(1, *frames.shape[1:], dtype=torch.uint8))[0, 0].bool()
            return (clip, keep), label
        clip = normalize(frames, self.mean, self.std)
        if self._erase is not None:
            clip = self._erase(clip.transpose(0, 1)).transpose(0, 1)   # one region, erased in every frame
        return clip, label


@dataclass
class TestTransform:
    """Short-side resize to ``short_side`` then ``crops`` (1 = centre, 3 = along the long side) of ``size``."""
    __test__ = False      # not a pytest class, despite the name
    size: int = 224
    short_side: int = 224
    crops: int = 3
    resize: str = "mmcv"
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD

    def __post_init__(self):
        if self.crops not in (1, 3):
            raise ValueError(f"crops: expected 1 (centre) or 3 (three crops along the long side), got {self.crops}")
        if self.short_side < self.size:
            raise ValueError(f"short_side {self.short_side} is smaller than the crop size {self.size}")

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (T, C, H, W) -> (crops, C, T, size, size)."""
        frames = resize_short(frames, self.short_side, self.resize)
        h, w = frames.shape[-2:]
        offsets = three_crop_offsets(h, w, self.size) if self.crops == 3 else [center_crop_offset(h, w, self.size)]
        return torch.stack([normalize(frames[..., t:t + self.size, l:l + self.size], self.mean, self.std)
                            for t, l in offsets])
