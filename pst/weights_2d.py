"""The 2D ImageNet weights each video model starts from in the paper, as timm names them: the one list that the
models' timm pretrained_cfgs, the workflow's `pretrained` rule and the study's 2D init paths all read.
Torch-free (the planner imports it).

DeiT-S and Swin-T start from ImageNet-1K, Swin-B (PST-B) from ImageNet-21K as the paper says — timm's default
`swin_base_patch4_window7_224` tag is the 22K model fine-tuned on 1K, which the paper did not use.
"""
from __future__ import annotations

from pathlib import Path

PAPER_2D = {
    "deit_s_2d": "deit_small_patch16_224.fb_in1k",
    "deit_s_tsm": "deit_small_patch16_224.fb_in1k",
    "deit_s_tps": "deit_small_patch16_224.fb_in1k",
    "pst_t": "swin_tiny_patch4_window7_224.ms_in1k",
    "swin_t_2d": "swin_tiny_patch4_window7_224.ms_in1k",
    "swin3d_t": "swin_tiny_patch4_window7_224.ms_in1k",
    "swin_joint_t": "swin_tiny_patch4_window7_224.ms_in1k",
    "pst_b": "swin_base_patch4_window7_224.ms_in22k",
}
CLASSES = {"fb_in1k": 1000, "ms_in1k": 1000, "ms_in22k": 21841}     # of each source's classifier


def weights_2d(model: str) -> str:
    """timm's name (architecture.tag) of the 2D weights ``model`` starts from."""
    if model not in PAPER_2D:
        raise ValueError(f"model {model!r} is not a registered model with 2D ImageNet weights; choose one of "
                         f"{', '.join(PAPER_2D)}")
    return PAPER_2D[model]


def pretrained_cfg(model: str, license: str) -> dict:
    """timm's pretrained_cfg of a video model: the hub copy of its 2D weights (converted by the model's filter)."""
    name = weights_2d(model)
    return {"hf_hub_id": f"timm/{name}", "num_classes": CLASSES[name.split(".")[1]], "input_size": (3, 224, 224),
            "license": license}


def _reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def download(name_given: str, out: str) -> str:
    """`pst pretrained`: save timm's ImageNet weights ``name_given`` (one of our models: the paper's 2D weights
    of it) as a state dict at ``out``, never over a file; offline, the local cache only, in one line."""
    import os

    from pst.io import atomic_path, check_not_inside, check_output

    check_output(out)
    check_not_inside(out)                                # never into a run's or a dataset's folder
    if Path(out).exists():
        raise ValueError(f"--out {out}: exists; pretrained never overwrites a file (remove it to download again)")
    name = PAPER_2D.get(name_given, name_given)          # one of our models: the paper's 2D weights of it
    hub = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    offline = not _reachable(hub)
    if offline:                 # the local cache only: no minute of retries, no page of warnings
        os.environ["HF_HUB_OFFLINE"] = "1"
    import timm
    import torch
    from huggingface_hub.utils import logging as hub_logging

    if not timm.is_model(name):                          # said before any network: no download could find it
        raise ValueError(f"pretrained {name_given}: neither one of our models ({', '.join(PAPER_2D)}) nor a timm "
                         "model (e.g. deit_small_patch16_224.fb_in1k); check the name")

    hub_logging.set_verbosity_error()
    try:
        state = timm.create_model(name, pretrained=True).state_dict()
    except Exception as err:  # noqa: BLE001 - network, hub or name errors all end here
        why = f"{hub} cannot be reached from here and the weights are not in the local cache" if offline else \
            str(err).splitlines()[0][:200]
        raise ValueError(f"pretrained {name}: could not get the weights from the timm hub ({why}); download them "
                         f"on a machine with network (`pst pretrained {name_given} --out FILE`) and copy the file "
                         f"to {out}") from None
    with atomic_path(out) as tmp:
        torch.save(state, tmp)
    return f"{name}: {len(state)} tensors -> {out}"
