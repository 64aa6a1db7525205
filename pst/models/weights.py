"""Building a video model with its 2D weights (timm's builder and pretrained cfgs), and reading checkpoint files
safely (weights_only / safetensors) and format-tolerantly."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Union

import torch

StateLike = Union[str, Path, Mapping[str, torch.Tensor]]


def load_state_dict_file(source: StateLike) -> dict[str, torch.Tensor]:
    """A flat state dict from a path (.pth/.pt/.bin via torch.load(weights_only=True), or .safetensors) or a dict.

    Wrappers used by the field are unwrapped: {"model": ...} (Swin, DeiT), {"state_dict": ...} (mmcv),
    {"module": ...} (DDP saves).
    """
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path}: no such file; give the path of a local .pth or "
                                    ".safetensors file")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file
                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle with arbitrary objects, a torn or truncated file
            reason = " ".join(str(err).split())[:300]          # torch's reasons span many lines
            raise ValueError(f"checkpoint {path}: cannot be read as weights only ({reason}); re-save it as a "
                             "plain state dict or safetensors, or copy it again if it was cut short") from err
    for key in ("model", "state_dict", "module"):
        while isinstance(state.get(key), Mapping):
            state = dict(state[key])
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def build_video_model(cls, variant: str, pretrained: bool, filter_fn, defaults: dict, **kwargs):
    """timm's builder for a video model: ``pretrained`` loads the 2D weights its pretrained_cfg names through
    ``filter_fn`` (the 2D -> video conversion); ``checkpoint_2d=PATH`` loads a local file the same way (timm's
    ``pretrained_cfg_overlay=dict(file=PATH)``). One path for downloaded and local weights."""
    from timm.models import build_model_with_cfg

    path = kwargs.pop("checkpoint_2d", None)
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint {path}: no such file; give the path of a local .pth or "
                                    ".safetensors file")
        pretrained = True
        kwargs["pretrained_cfg_overlay"] = {**(kwargs.get("pretrained_cfg_overlay") or {}), "file": str(path)}
    try:
        return build_model_with_cfg(cls, variant, pretrained, pretrained_filter_fn=filter_fn,
                                    pretrained_strict=False, **{**defaults, **kwargs})
    except ValueError as err:
        if path and str(err).startswith("checkpoint:"):
            raise ValueError(f"checkpoint {path}:{str(err)[len('checkpoint:'):]}") from None
        raise
