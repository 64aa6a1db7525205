"""RandAugment as the official SS and Diving48 recipes ran it: mmaction2 0.x ``Imgaug(transforms='default')``.

That is imgaug 0.4.0's ``SomeOf(2)`` over 15 ops at magnitude 9 of 10 (level 0.9): two *distinct* ops, applied in
list order, the same ops and parameters on every frame of a clip (imgaug's ``to_deterministic`` per clip). Each op
below is written from that source, pixel for pixel on uint8 RGB (checked against imgaug 0.4.0 with the
scikit-image of its time: tests/test_randaugment.py holds the op table and the pixel checks):

    op           imgaug class                      parameter at level L = m / 10      at m = 9
    ShearX/Y     geometric.ShearX/Y (Affine)       ±17.19·L degrees                   ±15.471°
    TranslateX/Y geometric.TranslateX/Y            ±0.2·L of the same side            ±0.18
    Rotate       geometric.Rotate                  ±30·L degrees                      ±27°
    Posterize    color.Posterize (keep top bits)   max(1, int(4·L)) bits              3
    Solarize     arithmetic.Solarize               invert v >= int(256·L)             230
    Enhance*     pillike Color/Contrast/Brightness/Sharpness, factor 1.8·L + 0.1      1.72
    Autocontrast pillike (cutoff 0), Equalize pillike, Invert (always)
    Cutout       arithmetic.Cutout                 one grey (128) square of 0.2·L     0.18 of the height

Affine ops warp about the frame centre with OpenCV 4's fixed-point bilinear (what imgaug used for uint8), fill 0;
imgaug's shear (scikit-image <= 0.20's AffineTransform) also squashes the other axis by cos(shear). The sign of each signed op is
the recipe's choice (``signs``; README "Where paper and official code differ"). Random draws come from torch's
generator, which the dataset seeds per sample, so a clip's augmentation is reproducible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

POLICIES = ("official", "torchvision")
SIGNS = ("process", "clip")


@dataclass(frozen=True)
class Op:
    name: str
    value: Optional[float]      # degrees, fraction, bits, threshold, factor or side (see the module table)
    signed: bool = False


def official_ops(magnitude: float = 9) -> tuple[Op, ...]:
    """The 15 ops of mmaction2 0.x's default Imgaug policy at ``magnitude`` (of 10), in imgaug's list order."""
    level = magnitude / 10
    factor = 1.8 * level + 0.1
    return (Op("ShearX", 17.19 * level, True), Op("ShearY", 17.19 * level, True),
            Op("TranslateX", 0.2 * level, True), Op("TranslateY", 0.2 * level, True),
            Op("Rotate", 30 * level, True), Op("Posterize", max(1, int(4 * level))),
            Op("Solarize", 256 * level), Op("EnhanceColor", factor), Op("EnhanceContrast", factor),
            Op("EnhanceBrightness", factor), Op("EnhanceSharpness", factor), Op("Autocontrast", 0),
            Op("Equalize", None), Op("Invert", None), Op("Cutout", 0.2 * level))


# ---- affine ops: the forward matrix imgaug builds, warped by cv2 as imgaug did for uint8

def _rotation(a: float) -> np.ndarray:
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def affine_matrix(name: str, value: float, h: int, w: int) -> np.ndarray:
    """The forward 3x3 matrix (destination = M @ source, x right, y down) of one affine op about the frame centre
    ((w - 1) / 2, (h - 1) / 2). Shears follow scikit-image <= 0.20 (imgaug's time): AffineTransform(shear=s) is
    [[1, -sin s], [0, cos s]], a shear that also squashes the other axis; ShearY is ShearX turned by 90 degrees."""
    rot = math.radians(value) if name == "Rotate" else 0.0
    shx = math.radians(value) if name == "ShearX" else 0.0
    shy = math.radians(value) if name == "ShearY" else 0.0
    tx = np.float32(value) * np.float32(w) if name == "TranslateX" else 0.0   # float32, as imgaug samples it
    ty = np.float32(value) * np.float32(h) if name == "TranslateY" else 0.0
    cx, cy = w / 2 - 0.5, h / 2 - 0.5
    to_origin = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    shear_y = np.array([[1.0, -math.sin(shy), 0.0], [0.0, math.cos(shy), 0.0], [0.0, 0.0, 1.0]])
    main = np.array([[math.cos(rot), -math.sin(rot + shx), float(tx)],
                     [math.sin(rot), math.cos(rot + shx), float(ty)], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]])
    return back @ main @ _rotation(math.pi / 2) @ shear_y @ _rotation(-math.pi / 2) @ to_origin


def _inverse(m: np.ndarray) -> list[float]:
    """The 2x3 destination -> source map of a forward matrix, inverted in the order and precision OpenCV 4's
    warpAffine uses (so the positions below round as they did for the official runs)."""
    a, b, c, d, e, f = (float(v) for v in m[:2].ravel())
    det = a * e - b * d
    det = 1.0 / det if det else 0.0
    a, b, d, e = e * det, -b * det, -d * det, a * det
    return [a, b, -a * c - b * f, d, e, -d * c - e * f]


def warp_bilinear(frames: np.ndarray, m: np.ndarray, fill: int = 0) -> np.ndarray:
    """OpenCV 4's warpAffine (INTER_LINEAR, BORDER_CONSTANT), bit for bit, on uint8 (T, H, W, C), one map for every
    frame: the source position of each pixel in 1/32 pixel from a fixed-point map (10 fractional bits, rounded half
    to even), then cv2.remap with that fixed-point map (integer bilinear weights summing to 2^15). OpenCV 5's
    warpAffine computes positions otherwise (up to 5 grey levels apart), so the map is made here."""
    import cv2

    h, w = frames.shape[1:3]
    a, b, c, d, e, f = _inverse(m)
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    x = (np.rint((b * ys + c) * 1024).astype(np.int64)[:, None] + 16
         + np.rint(a * xs * 1024).astype(np.int64)[None, :]) >> 5
    y = (np.rint((e * ys + f) * 1024).astype(np.int64)[:, None] + 16
         + np.rint(d * xs * 1024).astype(np.int64)[None, :]) >> 5
    whole = np.stack([np.clip(x >> 5, -32768, 32767), np.clip(y >> 5, -32768, 32767)], -1).astype(np.int16)
    fraction = ((y & 31) * 32 + (x & 31)).astype(np.uint16)
    return np.stack([cv2.remap(fr, whole, fraction, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=(fill, fill, fill)) for fr in frames])


def _affine(frames: np.ndarray, name: str, value: float) -> np.ndarray:
    h, w = frames.shape[1:3]
    return warp_bilinear(frames, affine_matrix(name, value, h, w))


# ---- per-pixel and per-frame ops (frames: uint8 (T, H, W, 3))

def _lut(frames: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table.astype(np.uint8)[frames]


def _posterize(frames: np.ndarray, bits: int) -> np.ndarray:
    return frames & np.uint8((0xFF << (8 - bits)) & 0xFF)         # to the lower edge of each bin


def _solarize(frames: np.ndarray, threshold: float) -> np.ndarray:
    cut = int(np.float32(threshold))                                # imgaug: int(float32(230.4)) = 230
    v = np.arange(256)
    return _lut(frames, np.where(v >= cut, 255 - v, v))


def _enhance(frames: np.ndarray, name: str, factor: float) -> np.ndarray:
    """PIL's ImageEnhance (what imgaug's pillike ops call), frame by frame."""
    from PIL import Image, ImageEnhance

    cls = {"EnhanceColor": ImageEnhance.Color, "EnhanceContrast": ImageEnhance.Contrast,
           "EnhanceBrightness": ImageEnhance.Brightness, "EnhanceSharpness": ImageEnhance.Sharpness}[name]
    f = float(np.float32(factor))                                   # imgaug samples the factor as float32
    return np.stack([np.asarray(cls(Image.fromarray(fr)).enhance(f)) for fr in frames])


def _autocontrast(frame: np.ndarray) -> np.ndarray:
    """Each channel stretched to 0..255 by its own min and max (cutoff 0), truncating as imgaug does."""
    out = np.empty_like(frame)
    for c in range(frame.shape[2]):
        ch = frame[..., c]
        lo, hi = int(ch.min()), int(ch.max())
        if hi <= lo:
            out[..., c] = ch
            continue
        scale = 255.0 / (hi - lo)
        out[..., c] = np.clip(np.arange(256) * scale + (-lo * scale), 0, 255).astype(np.uint8)[ch]
    return out


def _equalize(frame: np.ndarray) -> np.ndarray:
    """Histogram equalisation per channel. imgaug uses PIL's below 4096 values a frame and its own port above, which
    leaves out bin 255's count rather than the last non-empty bin's (the two differ where a channel stays < 255)."""
    out = np.empty_like(frame)
    for c in range(frame.shape[2]):
        ch = frame[..., c]
        hist = np.bincount(ch.ravel(), minlength=256)
        nonzero = np.flatnonzero(hist)
        if len(nonzero) <= 1:
            out[..., c] = ch
            continue
        last = hist[nonzero[-1]] if frame.size < 4096 else hist[255]
        step = (ch.size - int(last)) // 255
        if not step:
            out[..., c] = ch
            continue
        cum = np.concatenate([[0], np.cumsum(hist)[:-1]])
        out[..., c] = np.minimum(255, (step // 2 + cum) // step).astype(np.uint8)[ch]
    return out


def cutout_box(h: int, w: int, x: float, y: float, size: float) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of imgaug's squared Cutout centred at (x, y) (fractions of the frame, drawn uniformly): a
    side of ``size`` of the height in both directions, float32 arithmetic, truncated and clipped to the frame."""
    f32 = np.float32
    x, y, half = f32(x), f32(y), f32(size) / f32(2)
    x1, x2, y1, y2 = (x - half) * f32(w), (x + half) * f32(w), (y - half) * f32(h), (y + half) * f32(h)
    side_half = (y2 - y1) / f32(2)
    xc = x1 + (x2 - x1) / f32(2)
    x1, x2 = xc - side_half, xc + side_half
    clip = (lambda v, hi: min(max(int(v), 0), hi))
    return clip(x1, w), clip(y1, h), clip(x2, w), clip(y2, h)


def apply_op(frames: np.ndarray, op: Op, sign: int = 1, position: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """One op on a clip, uint8 (T, H, W, 3), the same parameters on every frame; ``sign`` for the signed ops,
    ``position`` the Cutout centre."""
    if op.name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"):
        return _affine(frames, op.name, sign * op.value)
    if op.name == "Posterize":
        return _posterize(frames, int(op.value))
    if op.name == "Solarize":
        return _solarize(frames, op.value)
    if op.name.startswith("Enhance"):
        return _enhance(frames, op.name, op.value)
    if op.name == "Autocontrast":
        return np.stack([_autocontrast(f) for f in frames])
    if op.name == "Equalize":
        return np.stack([_equalize(f) for f in frames])
    if op.name == "Invert":
        return 255 - frames
    if op.name == "Cutout":
        x1, y1, x2, y2 = cutout_box(frames.shape[1], frames.shape[2], *position, op.value)
        out = frames.copy()
        out[:, y1:y2, x1:x2] = 128
        return out
    raise ValueError(f"RandAugment: unknown op {op.name!r}")


class ClipRandAugment:
    """The official policy on a uint8 clip (T, C, H, W): ``num_ops`` distinct ops, in list order, the same on
    every frame.

    ``signs``: "process" draws ``sign_sets`` sets of signs once, from ``seed`` (the official code drew one set in
    each of its training processes when it built the pipeline: 8 processes, unseeded), and each clip uses one set
    at random: every clip sees the official distribution, whatever our own process layout. "clip": each clip draws
    its own signs (RandAugment's definition)."""

    def __init__(self, num_ops: int = 2, magnitude: float = 9, signs: str = "process", sign_sets: int = 8,
                 seed: int = 0):
        if signs not in SIGNS:
            raise ValueError(f"randaugment.signs: expected one of {', '.join(SIGNS)}, got {signs!r}")
        self.ops = official_ops(magnitude)
        if not 0 <= num_ops <= len(self.ops):
            raise ValueError(f"randaugment.num_ops: between 0 and {len(self.ops)}, got {num_ops}")
        self.num_ops, self.signs = num_ops, signs
        rng = np.random.default_rng([seed, 0x5A16])
        self.sign_sets = rng.choice([-1, 1], size=(max(1, sign_sets), len(self.ops)))

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        chosen = sorted(torch.randperm(len(self.ops))[:self.num_ops].tolist())
        if self.signs == "process":
            signs = self.sign_sets[int(torch.randint(len(self.sign_sets), ()))]
        else:
            signs = (torch.randint(0, 2, (len(self.ops),)) * 2 - 1).tolist()
        position = tuple(torch.rand(2).tolist())
        clip = frames.permute(0, 2, 3, 1).contiguous().numpy()
        for i in chosen:
            clip = apply_op(clip, self.ops[i], int(signs[i]), position)
        return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
