"""Reading checkpoints from local files: safe (weights_only / safetensors) and format-tolerant."""
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
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:  # pickle with arbitrary objects, or a torn file
                raise ValueError(f"checkpoint {path}: cannot be read as weights only ({err}); re-save it as a plain "
                                 "state dict or safetensors") from err
    for key in ("model", "state_dict", "module"):
        while isinstance(state.get(key), Mapping):
            state = dict(state[key])
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
