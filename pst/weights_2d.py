"""The 2D ImageNet weights each video model starts from in the paper, as timm names them: the one list that the
models' timm pretrained_cfgs, the workflow's `pretrained` rule and the study's 2D init paths all read.
Torch-free (the planner imports it).

DeiT-S and Swin-T start from ImageNet-1K, Swin-B (PST-B) from ImageNet-21K as the paper says — timm's default
`swin_base_patch4_window7_224` tag is the 22K model fine-tuned on 1K, which the paper did not use.
"""
from __future__ import annotations

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
