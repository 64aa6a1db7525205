"""Inflating 2D ImageNet Swin weights into PST, and loading video checkpoints of the official code.

Swin-2D -> PST (as the official code does): the patch embedding is repeated over the temporal patch and divided by
its length; each 2D relative-position table is repeated over the temporal axis of the 3-D table.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from pst.models.swin import PatchShiftSwin
from pst.models.weights import StateLike, load_state_dict_file

_DERIVED = ("relative_position_index", "attn_mask")


def _from_timm_layout(state: dict) -> dict:
    """timm's Swin puts each patch merge at the start of the next stage and names the head head.fc."""
    if "layers.0.downsample.reduction.weight" in state or not any(".downsample." in k for k in state):
        return state
    out = {}
    for k, v in state.items():
        m = re.match(r"layers\.(\d+)\.downsample\.(.*)", k)
        k = f"layers.{int(m.group(1)) - 1}.downsample.{m.group(2)}" if m else k
        out[k.replace("head.fc.", "head.")] = v
    return out


def _check_unexpected(model, state, source) -> list[str]:
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"{source if isinstance(source, str) else 'checkpoint'}: keys not in "
                         f"{type(model).__name__}: {unexpected[:5]}; is it a Swin of the same width and depths?")
    return list(missing)


def load_swin_2d(model: PatchShiftSwin, source: StateLike) -> list[str]:
    """Load a 2D Swin ImageNet checkpoint (original Microsoft or timm layout) into a PST model. Returns missing keys."""
    state = _from_timm_layout({k: v for k, v in load_state_dict_file(source).items()
                               if not any(d in k for d in _DERIVED)})
    own = model.state_dict()
    pt = model.patch_embed.patch_size[0]
    w = state.get("patch_embed.proj.weight")
    if w is not None and w.dim() == 4:
        state["patch_embed.proj.weight"] = w.unsqueeze(2).repeat(1, 1, pt, 1, 1) / pt
    for k in [k for k in state if k.endswith("relative_position_bias_table")]:
        if k not in own:
            continue
        table = state[k]
        heads = table.shape[1]
        target = own[k].shape
        et, eh, ew = model.get_submodule(k.rsplit(".", 1)[0]).extent
        side = int(round(table.shape[0] ** 0.5))
        if side * side == table.shape[0] and (side, side) != (2 * eh - 1, 2 * ew - 1):
            table = F.interpolate(table.T.reshape(1, heads, side, side), size=(2 * eh - 1, 2 * ew - 1),
                                  mode="bicubic", align_corners=False).reshape(heads, -1).T
        if table.shape[0] * (2 * et - 1) == target[0]:
            table = table.repeat(2 * et - 1, 1)
        state[k] = table
    for k in ("head.weight", "head.bias"):
        if k in state and state[k].shape != own[k].shape:
            del state[k]
    return _check_unexpected(model, state, source)


def relative_position_buffers(model: PatchShiftSwin, frames: int = 16) -> dict[str, torch.Tensor]:
    """The bias index each block of ``model`` uses for ``frames`` temporal tokens, named as in the official
    checkpoint (patch-shift blocks ``relative_position_index``, the others ``relative_position_index_old``).

    With ``bias="official"`` these equal the official code's buffers; with ``bias="paper"`` each is (1, N, N).
    """
    from pst.models.swin import relative_position_index
    out = {}
    for name, blk in model.named_modules():
        if hasattr(blk, "bias_pattern"):
            ws = blk.window
            idx = relative_position_index(ws, blk.attn.extent, blk.bias_pattern, frames, blk.bias_mode,
                                          torch.device("cpu"))
            key = "relative_position_index" if blk.temporal == "patch" else "relative_position_index_old"
            out[f"{name}.attn.{key}"] = idx
    return out


def load_video_checkpoint(model: PatchShiftSwin, source: StateLike, verify_index: bool = True) -> list[str]:
    """Load a PST video checkpoint: ours, or the official mmaction2 one (``backbone.*``, ``cls_head.fc_cls.*``).

    Index buffers found in the file are compared with the ones this model computes; a mismatch means the file
    was trained with another bias convention and is reported instead of being loaded silently wrong.
    """
    state = {}
    for k, v in load_state_dict_file(source).items():
        k = k.removeprefix("backbone.").replace("cls_head.fc_cls.", "head.")
        state[k] = v
    buffers = {k: state.pop(k) for k in [k for k in state if any(d in k for d in _DERIVED)]}
    if verify_index and any("relative_position_index" in k for k in buffers):
        ours = relative_position_buffers(model, frames=16)
        for k, v in buffers.items():
            if k in ours and (ours[k].shape != v.shape or not torch.equal(ours[k].to(v.dtype), v)):
                raise ValueError(f"{k}: the checkpoint's bias index differs from this model's; build the model with "
                                 "bias='official' to load the official weights")
    return _check_unexpected(model, state, source)
