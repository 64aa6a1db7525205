"""DeiT-S video variants of supplement Section 3: 2D (temporal average), TSM (channel shift), TPS (patch shift).

Built on timm's VisionTransformer so that 2D ImageNet checkpoints load key for key; the only change is the
attention module, which mixes time before attending (and undoes a patch shift after).
"""
from __future__ import annotations

from typing import Optional

import torch
from timm.layers import resample_abs_pos_embed, trunc_normal_
from timm.models import register_model
from timm.models.vision_transformer import Attention, VisionTransformer

from pst.ops import channel_shift, patch_shift, pattern_grid
from pst.models.weights import load_state_dict_file

TEMPORAL_MODES = ("2d", "tsm", "tps")


class TemporalAttention(Attention):
    """timm Attention that first moves tokens or channels across the frames of a clip.

    ``mode`` is set per block: None (plain 2D), "channel" (TSM on patch and class tokens, zero padded ends) or
    "patch" (TPS on patch tokens only, class token untouched, shifted back after attention).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mode: Optional[str] = None
        self.pattern = "C"
        self.grid_size = (14, 14)
        self.num_frames = 1
        self.shift_back = True
        self.channel_pad = "zero"

    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        if self.mode is None:
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        bt, n, c = x.shape
        t = self.num_frames
        clips = x.view(bt // t, t, n, c)
        if self.mode == "channel":
            x = channel_shift(clips, pad=self.channel_pad).view(bt, n, c)
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        gh, gw = self.grid_size
        prefix = n - gh * gw
        cls, patches = clips[:, :, :prefix], clips[:, :, prefix:].reshape(bt // t, t, gh, gw, c)
        patches = patch_shift(patches, self.pattern).reshape(bt // t, t, gh * gw, c)
        x = super().forward(torch.cat([cls, patches], dim=2).view(bt, n, c), attn_mask=attn_mask, is_causal=is_causal)
        if not self.shift_back:
            return x
        out = x.view(bt // t, t, n, c)
        patches = patch_shift(out[:, :, prefix:].reshape(bt // t, t, gh, gw, c), self.pattern, inverse=True)
        return torch.cat([out[:, :, :prefix], patches.reshape(bt // t, t, gh * gw, c)], dim=2).view(bt, n, c)


class VideoDeiT(VisionTransformer):
    """A ViT applied per frame to (B, C, T, H, W) clips; class-token features are averaged over time (TSN)."""

    def __init__(self, num_frames: int = 16, temporal: str = "tps", pattern="C", shift_back: bool = True,
                 channel_pad: str = "zero", pos_init_std: float = 0.02, **kwargs):
        if temporal not in TEMPORAL_MODES:
            raise ValueError(f"temporal: unknown mode {temporal!r}; choose one of {TEMPORAL_MODES}")
        if num_frames < 1:
            raise ValueError(f"num_frames: must be >= 1, got {num_frames}")
        pattern_grid(pattern)  # validate early
        super().__init__(attn_layer=TemporalAttention, **kwargs)
        if pos_init_std != 0.02:
            # From scratch (the synthetic profile): a wider spread than timm's 0.02 lets the tokens' positions steer
            # attention from step 0, which a patch shift needs to tell its mosaic's frames apart.
            trunc_normal_(self.pos_embed, std=pos_init_std, a=-2 * pos_init_std, b=2 * pos_init_std)
        self.num_frames = num_frames
        self.temporal = temporal
        self.pattern = pattern
        for i, blk in enumerate(self.blocks):
            attn = blk.attn
            attn.grid_size = tuple(self.patch_embed.grid_size)
            attn.pattern, attn.shift_back, attn.channel_pad = pattern, shift_back, channel_pad
            # TSM shifts before the attention of every block; TPS sits in every second block.
            attn.mode = {"2d": None, "tsm": "channel", "tps": "patch" if i % 2 == 1 else None}[temporal]

    def forward_features_video(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> per-clip features (B, D), averaged over frames."""
        if x.dim() != 5:
            raise ValueError(f"x: expected a clip batch (B, C, T, H, W), got shape {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        for blk in self.blocks:
            blk.attn.num_frames = t
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        feats = self.forward_head(self.forward_features(frames), pre_logits=True)
        return feats.view(b, t, -1).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features_video(x))


def load_deit_2d(model: VideoDeiT, path: str) -> list[str]:
    """Load a 2D DeiT/ViT ImageNet checkpoint (timm layout) into a video DeiT.

    The position embedding is resized when the image size differs; the classifier is dropped when its class
    count differs. Returns the names left at their initial values.
    """
    state = load_state_dict_file(path)
    pos = state.get("pos_embed")
    if pos is not None and pos.shape != model.pos_embed.shape:
        prefix = 0 if model.no_embed_class else model.num_prefix_tokens
        state["pos_embed"] = resample_abs_pos_embed(pos, new_size=model.patch_embed.grid_size,
                                                    num_prefix_tokens=prefix)
    for k in ("head.weight", "head.bias"):
        if k in state and state[k].shape != model.state_dict()[k].shape:
            del state[k]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"{path}: keys not in {type(model).__name__}: {unexpected[:5]}... "
                         "is this a DeiT/ViT checkpoint of the same width and depth?")
    return list(missing)


DEIT_S = dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, img_size=224)


def _create(temporal: str, pretrained=False, **kwargs) -> VideoDeiT:
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(k, None)
    checkpoint = kwargs.pop("checkpoint_2d", None)
    cfg = {**DEIT_S, "num_classes": 400, **kwargs}
    model = VideoDeiT(temporal=temporal, **cfg)
    if pretrained and not checkpoint:
        import timm
        src = timm.create_model("deit_small_patch16_224", pretrained=True)
        checkpoint = src.state_dict()
    if checkpoint is not None:
        load_deit_2d(model, checkpoint)
    return model


@register_model
def deit_s_2d(pretrained=False, **kwargs) -> VideoDeiT:
    """DeiT-S per frame, features averaged over time (supplement Table 1, row 1)."""
    return _create("2d", pretrained, **kwargs)


@register_model
def deit_s_tsm(pretrained=False, **kwargs) -> VideoDeiT:
    """DeiT-S with temporal channel shift (1/8 + 1/8) before every attention, class token included."""
    return _create("tsm", pretrained, **kwargs)


@register_model
def deit_s_tps(pretrained=False, **kwargs) -> VideoDeiT:
    """DeiT-S with temporal patch shift around the attention of every second block, patch tokens only."""
    return _create("tps", pretrained, **kwargs)


__all__ = ["VideoDeiT", "TemporalAttention", "load_deit_2d", "deit_s_2d", "deit_s_tsm", "deit_s_tps"]
