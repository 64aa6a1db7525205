"""Loading video checkpoints of the official code into PST, and 2D Swin weights into a built model (the 2D -> video
conversion itself is `pst.models.swin.checkpoint_filter_fn`, which timm's builder also uses).
"""
from __future__ import annotations

import torch

from pst.models.swin import _DERIVED, PatchShiftSwin, checkpoint_filter_fn
from pst.models.weights import StateLike, load_state_dict_file


def _check_unexpected(model, state, source) -> list[str]:
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"{source if isinstance(source, str) else 'checkpoint'}: keys not in "
                         f"{type(model).__name__}: {unexpected[:5]}; is it a Swin of the same width and depths?")
    return list(missing)


def load_swin_2d(model: PatchShiftSwin, source: StateLike) -> list[str]:
    """Load a 2D Swin ImageNet checkpoint (original Microsoft or timm layout) into a built PST model (what
    ``checkpoint_2d=`` does at build time, through the same filter). Returns missing keys."""
    try:
        state = checkpoint_filter_fn(load_state_dict_file(source), model)
    except ValueError as err:
        raise ValueError(f"{source if isinstance(source, str) else 'checkpoint'}: {err}") from None
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
