"""Temporal patch shift (TPS) and temporal channel shift on token tensors laid out (B, T, H, W, C).

Patch shift is a fixed permutation of tokens over (T, H, W). It is done as one row gather with an index computed
once per (pattern, shape, window, device) and cached; its gradient is the gather with the inverse index (a
permutation's transpose), so backward costs what forward costs. Models may compose it with other token
permutations (Swin's cyclic roll and window partition) into a single gather: see ``permute_tokens``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import torch

from pst.ops.patterns import PAPER_PATTERN, PatternLike, pattern_grid


@lru_cache(maxsize=64)
def _named_key(name: str) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(row) for row in pattern_grid(name))


def pattern_key(pattern: PatternLike) -> tuple[tuple[int, ...], ...]:
    """A validated pattern as nested tuples (hashable, for caches); names are validated once."""
    if isinstance(pattern, str):
        return _named_key(pattern)
    return tuple(tuple(row) for row in pattern_grid(pattern))


def _check_window(window: Optional[Sequence[int]]) -> Optional[tuple[int, int]]:
    if window is None:
        return None
    if len(window) != 2 or any(int(w) < 1 for w in window):
        raise ValueError(f"window: expected (height, width) of positive ints, got {window!r}")
    return int(window[0]), int(window[1])


def offset_map(pattern: PatternLike, height: int, width: int,
               window: Optional[Sequence[int]] = None) -> torch.Tensor:
    """(H, W) int64 map of temporal offsets: the pattern tiled from (0, 0), or from each window's origin.

    With ``window=(wh, ww)`` the grid restarts at every window (the official Swin placement: the shift acts on the
    tokens of each 7x7 window, so position (i, j) uses grid[(i mod wh) mod g][(j mod ww) mod g]).
    """
    grid = torch.tensor(pattern_grid(pattern), dtype=torch.long)
    g = grid.shape[0]
    win = _check_window(window)
    i = torch.arange(height)
    j = torch.arange(width)
    if win is not None:
        i, j = i % win[0], j % win[1]
    return grid[(i % g)[:, None], (j % g)[None, :]]


def source_frames(pattern: PatternLike, frames: int, height: int, width: int,
                  window: Optional[Sequence[int]] = None, inverse: bool = False) -> torch.Tensor:
    """(T, H, W) frame each output token is taken from: (t - s) mod T, or (t + s) mod T for the inverse."""
    if frames < 1 or height < 1 or width < 1:
        raise ValueError(f"x: need T, H, W >= 1, got T={frames}, H={height}, W={width}")
    shift = offset_map(pattern, height, width, window)
    t = torch.arange(frames)[:, None, None]
    return (t + shift) % frames if inverse else (t - shift) % frames


@lru_cache(maxsize=256)
def _patch_shift_index(key, batch: int, frames: int, height: int, width: int, window, inverse: bool,
                       device: torch.device) -> torch.Tensor:
    src_t = source_frames(key, frames, height, width, window, inverse)
    spatial = torch.arange(height * width).view(1, height, width)
    index = (src_t * (height * width) + spatial).reshape(1, -1)
    index = index + torch.arange(batch)[:, None] * index.shape[1]          # the same permutation in every clip
    return index.reshape(-1).to(device)


def patch_shift_index(pattern: PatternLike, frames: int, height: int, width: int,
                      window: Optional[Sequence[int]] = None, inverse: bool = False, batch: int = 1,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Flat source index over (B*T*H*W) tokens: output token k is input token index[k]. Cached."""
    return _patch_shift_index(pattern_key(pattern), int(batch), int(frames), int(height), int(width),
                              _check_window(window), bool(inverse), torch.device(device))


_WORDS = (torch.int64, torch.int32, torch.int16, torch.uint8)


def _gather_rows(x: torch.Tensor, index: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """out[r] = x[index[r]] for the rows (tokens) of a (N, C) tensor, as one index_select.

    Rows are reinterpreted as the widest integer type that tiles them: index_select then moves whole 8-byte
    words (bf16/fp16 rows gather ~1.4x faster than as 2-byte elements) and the result is bit-exact.
    """
    x = x.contiguous()
    out = torch.empty((index.numel(), x.shape[1]), dtype=x.dtype, device=x.device) if out is None else out
    word = x.dtype
    if not (x.dtype.is_complex or x.dtype == torch.bool):
        row_bytes = x.shape[-1] * x.dtype.itemsize
        word = next(dt for dt in _WORDS if row_bytes % dt.itemsize == 0)
    src, dst = (x, out) if word == x.dtype else (x.view(word), out.view(word))
    torch.index_select(src, 0, index, out=dst)
    return out


class _TokenPermutation(torch.autograd.Function):
    """Gather rows (tokens) of (N, C) by a permutation; backward gathers by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, index, inverse_index):
        ctx.save_for_backward(inverse_index)
        return _gather_rows(x, index)

    @staticmethod
    def backward(ctx, grad):
        (inverse_index,) = ctx.saved_tensors
        return _gather_rows(grad, inverse_index), None, None


def permute_tokens(rows: torch.Tensor, index: torch.Tensor, inverse_index: torch.Tensor) -> torch.Tensor:
    """Rows (N, C) reordered by a permutation ``index``; ``inverse_index`` (its inverse) serves the gradient."""
    return _TokenPermutation.apply(rows, index, inverse_index)


def patch_shift(x: torch.Tensor, pattern: PatternLike = PAPER_PATTERN, inverse: bool = False,
                window: Optional[Sequence[int]] = None, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Temporal patch shift of tokens ``x`` (B, T, H, W, C).

    The token at spatial (i, j) of frame t becomes the token of frame (t - s) mod T with s = grid[i mod g][j mod g];
    ``inverse=True`` undoes it exactly. ``window=(wh, ww)`` tiles the pattern inside each window (Swin).
    Works for any T >= 1 and any H, W. ``out`` (contiguous, like ``x``) receives the result without a fresh
    allocation, for inference loops where page faults of new buffers would cost more than the shift; it is not
    differentiable.
    """
    if x.dim() != 5:
        raise ValueError(f"x: expected tokens of shape (B, T, H, W, C), got {tuple(x.shape)}")
    b, t, h, w, c = x.shape
    key, win = pattern_key(pattern), _check_window(window)
    fwd = _patch_shift_index(key, b, t, h, w, win, bool(inverse), x.device)
    rows = x.reshape(b * t * h * w, c)
    if out is not None:
        if torch.is_grad_enabled() and x.requires_grad:
            raise ValueError("out: not differentiable; call without out= when x requires grad")
        if out.shape != x.shape or out.dtype != x.dtype or not out.is_contiguous():
            raise ValueError(f"out: expected a contiguous {x.dtype} tensor of shape {tuple(x.shape)}")
        _gather_rows(rows, fwd, out.view(b * t * h * w, c))
        return out
    bwd = _patch_shift_index(key, b, t, h, w, win, not inverse, x.device)
    return permute_tokens(rows, fwd, bwd).view(b, t, h, w, c)


def _shift_channels(x: torch.Tensor, fold: int, pad: str, adjoint: bool) -> torch.Tensor:
    """Channel shift of x (B, T, ..., G, Cg) into one new tensor; ``adjoint`` gives its transpose (for backward)."""
    out = torch.empty_like(x)
    out[..., 2 * fold:] = x[..., 2 * fold:]
    a, b = (slice(0, fold), slice(fold, 2 * fold))
    if not adjoint:
        # channels a from t-1, channels b from t+1
        out[:, 1:, ..., a] = x[:, :-1, ..., a]
        out[:, :-1, ..., b] = x[:, 1:, ..., b]
        first, last = (x[:, :1, ..., a], x[:, -1:, ..., b]) if pad == "self" else (0, 0)
        out[:, :1, ..., a] = first
        out[:, -1:, ..., b] = last
        return out
    # transpose: gradients flow back one frame the other way; with pad="self" an end frame also keeps its own
    out[:, :-1, ..., a] = x[:, 1:, ..., a]
    out[:, 1:, ..., b] = x[:, :-1, ..., b]
    out[:, -1:, ..., a] = 0
    out[:, :1, ..., b] = 0
    if pad == "self":
        out[:, :1, ..., a] += x[:, :1, ..., a]
        out[:, -1:, ..., b] += x[:, -1:, ..., b]
    return out


class _ChannelShift(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fold, pad):
        ctx.fold, ctx.pad = fold, pad
        return _shift_channels(x, fold, pad, adjoint=False)

    @staticmethod
    def backward(ctx, grad):
        return _shift_channels(grad.contiguous(), ctx.fold, ctx.pad, adjoint=True), None, None


def channel_shift(x: torch.Tensor, fold_div: int = 8, pad: str = "zero", groups: int = 1) -> torch.Tensor:
    """Temporal channel shift (TSM) along dim 1 of ``x`` (B, T, ..., C).

    In each of ``groups`` channel groups (the official PST shifts per attention head), the first 1/fold_div of the
    channels come from frame t-1 and the next 1/fold_div from frame t+1; the rest stay. At the clip ends the missing
    neighbour is zeros (``pad="zero"``, standard TSM) or the frame's own channels (``pad="self"``, official PST).
    """
    if pad not in ("zero", "self"):
        raise ValueError(f"pad: expected 'zero' (standard TSM) or 'self' (official PST), got {pad!r}")
    if x.dim() < 3:
        raise ValueError(f"x: expected (B, T, ..., C) with at least 3 dims, got {tuple(x.shape)}")
    if fold_div < 2:
        raise ValueError(f"fold_div: must be >= 2, got {fold_div}")
    c = x.shape[-1]
    if groups < 1 or c % groups:
        raise ValueError(f"groups: {groups} does not divide the {c} channels")
    fold = (c // groups) // fold_div
    if fold == 0 or x.shape[1] == 1:
        return x
    xg = x.reshape(*x.shape[:-1], groups, c // groups)
    return _ChannelShift.apply(xg, fold, pad).reshape(x.shape)
