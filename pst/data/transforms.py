"""Clip transforms on uint8 frames (T, C, H, W); outputs are normalised float clips (C, T, H, W) (NCTHW models).

Every random choice is drawn once per clip, so all frames of a clip get the same crop, flip and augmentation.
Test views: a short-side resize, then three crops along the long side (mmaction2's ThreeCrop: left/top,
right/bottom at twice the half-step, centre) or one centre crop, for every temporal clip.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

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


def resize_short(frames: torch.Tensor, short: int) -> torch.Tensor:
    h, w = frames.shape[-2:]
    if min(h, w) == short:
        return frames
    return TF.resize(frames, short, antialias=True)


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


@dataclass
class TrainTransform:
    """Short-side resize, random resized crop, horizontal flip (label-aware), optional RandAugment and erasing.

    ``no_flip_labels``: classes never flipped (the official SSv1/SSv2 rule for left/right-sensitive labels).
    ``flip_pairs``: instead of skipping, flip and swap the label with its mirror class (an option, not what ran).
    """
    size: int = 224
    short_side: Optional[int] = 256
    area: tuple[float, float] = (0.08, 1.0)
    flip: float = 0.5
    no_flip_labels: tuple[int, ...] = ()
    flip_pairs: dict[int, int] = field(default_factory=dict)
    randaugment: Optional[tuple[int, int]] = None     # (num_ops, magnitude), (2, 9) for the SS recipe
    erasing: float = 0.0                               # probability, 0.25 for the SS recipe
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD

    def __post_init__(self):
        self._crop = v2.RandomResizedCrop(self.size, scale=self.area, antialias=True)
        self._augment = v2.RandAugment(*self.randaugment) if self.randaugment else None
        self._erase = v2.RandomErasing(p=self.erasing) if self.erasing > 0 else None
        pairs = dict(self.flip_pairs)
        self._pairs = {**pairs, **{b: a for a, b in pairs.items()}}

    def __call__(self, frames: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
        if self.short_side:
            frames = resize_short(frames, self.short_side)
        frames = self._crop(frames)
        if float(torch.rand(())) < self.flip:
            if self._pairs and label in self._pairs:
                frames, label = TF.horizontal_flip(frames), self._pairs[label]
            elif label not in self.no_flip_labels:
                frames = TF.horizontal_flip(frames)
        if self._augment is not None:
            frames = self._augment(frames)
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
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD

    def __post_init__(self):
        if self.crops not in (1, 3):
            raise ValueError(f"crops: expected 1 (centre) or 3 (three crops along the long side), got {self.crops}")
        if self.short_side < self.size:
            raise ValueError(f"short_side {self.short_side} is smaller than the crop size {self.size}")

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (T, C, H, W) -> (crops, C, T, size, size)."""
        frames = resize_short(frames, self.short_side)
        h, w = frames.shape[-2:]
        offsets = three_crop_offsets(h, w, self.size) if self.crops == 3 else [center_crop_offset(h, w, self.size)]
        return torch.stack([normalize(frames[..., t:t + self.size, l:l + self.size], self.mean, self.std)
                            for t, l in offsets])
