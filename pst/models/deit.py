"""DeiT-S video variants of supplement Section 3: 2D (temporal average), TSM (channel shift), TPS (patch shift).

Built on timm's VisionTransformer so that 2D ImageNet checkpoints load key for key; the only change is the
attention module, which mixes time before attending (and undoes a patch shift after).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from timm.layers import resample_abs_pos_embed, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models.vision_transformer import Attention, VisionTransformer

from pst.ops import PAPER_PATTERN, channel_shift, patch_shift, pattern_grid
from pst.models.weights import build_video_model, load_state_dict_file
from pst.weights_2d import pretrained_cfg

TEMPORAL_MODES = ("2d", "tsm", "tps")


SHIFT_ON = ("tokens", "qkv")


class TemporalAttention(Attention):
    """timm Attention that first moves tokens or channels across the frames of a clip.

    ``temporal`` is set per block (pst.ops.BLOCK_SHIFTS, as Swin's blocks): None (plain 2D), "channel" (TSM on patch
    and class tokens, zero padded ends) or "patch" (TPS on patch tokens only, class token untouched, shifted back
    after attention).
    ``shift_on="tokens"`` shifts the block's input tokens, all channels (the supplement's pseudo-code);
    ``"qkv"`` is the authors' own DeiT code: it shifts q, k and v after the qkv projection — a patch shift on the
    first ``shift_heads`` heads with ``attn @ v`` shifted back, a channel shift of ``head_dim // 6`` channels each
    way in every head, not shifted back.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.temporal: Optional[str] = None
        self.pattern = PAPER_PATTERN
        self.grid_size = (14, 14)
        self.num_frames = 1
        self.shift_back = True
        self.channel_pad = "zero"
        self.shift_on = "tokens"
        self.shift_heads = 0

    def _patches(self, x: torch.Tensor, prefix: int, inverse: bool = False) -> torch.Tensor:
        """Patch-shift the patch tokens of (B*T, N, ...) (the first ``prefix`` tokens, the class token, stay)."""
        bt, n = x.shape[:2]
        t, (gh, gw) = self.num_frames, self.grid_size
        tokens = x[:, prefix:].reshape(bt // t, t, gh, gw, -1)
        moved = patch_shift(tokens, self.pattern, inverse=inverse).reshape(bt, n - prefix, *x.shape[2:])
        return torch.cat([x[:, :prefix], moved], dim=1)

    def _forward_qkv(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        """timm's attention with the authors' shift of q, k and v between the projection and the attention."""
        bt, n, c = x.shape
        t, heads, hd = self.num_frames, self.num_heads, self.head_dim
        gate = self.gate(x).sigmoid() if getattr(self, "gate", None) is not None else None
        qkv = self.qkv(x).reshape(bt, n, 3, heads, hd)
        prefix = n - self.grid_size[0] * self.grid_size[1]
        h = self.shift_heads
        if self.temporal == "channel":
            qkv = channel_shift(qkv.reshape(bt // t, t, n, 3 * heads * hd), fold_div=6, pad="zero",
                                groups=3 * heads).reshape(bt, n, 3, heads, hd)
        elif h:
            qkv = torch.cat([self._patches(qkv[:, :, :, :h], prefix), qkv[:, :, :, h:]], dim=3)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                             dropout_p=self.attn_drop.p if self.training else 0.0)
        out = out.transpose(1, 2)                                            # (B*T, N, heads, head_dim)
        if self.temporal == "patch" and h and self.shift_back:
            out = torch.cat([self._patches(out[:, :, :h], prefix, inverse=True), out[:, :, h:]], dim=2)
        out = self.norm(out.reshape(bt, n, self.attn_dim))
        if gate is not None:
            out = out * gate
        return self.proj_drop(self.proj(out))

    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        if self.temporal is None:
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        if self.shift_on == "qkv":
            return self._forward_qkv(x, attn_mask, is_causal)
        bt, n, c = x.shape
        t = self.num_frames
        clips = x.view(bt // t, t, n, c)
        if self.temporal == "channel":
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
    # (source, differs) of the options the supplement or the authors' code decide (see PatchShiftSwin.SOURCES)
    SOURCES = {
        "channel_pad": ("supplement §3: DeiT-S-TSM's channel shift 'set the same as' TSM (zero padding)",
                        "`channel_pad='self'`: the official PST code's clip ends"),
        "shift_on": ("supplement pseudo-code: TPS shifts whole tokens of x, all channels and heads",
                     "`shift_on='qkv'`: the authors' own DeiT code (bytecode only in the official repository): q, "
                     "k and v shifted after the projection; TPS on the first `shift_heads` heads (default "
                     "2·(heads // 6): 2 of DeiT-S's 6) with their 2×2 pattern `[[1, 0], [0, -1]]`, `attn @ v` "
                     "shifted back; TSM by head_dim // 6 channels each way in every head, not shifted back"),
        "drop_rate": ("timm: no head dropout (the paper recipe sets 0.5, as PST-T's I3DHead, after the average "
                      "over time)", ""),
    }

    def __init__(self, num_frames: int = 16, temporal: str = "tps", pattern=PAPER_PATTERN, shift_back: bool = True,
                 channel_pad: str = "zero", pos_init_std: float = 0.02, shift_on: str = "tokens",
                 shift_heads: Optional[int] = None, **kwargs):
        if temporal not in TEMPORAL_MODES:
            raise ValueError(f"temporal: unknown mode {temporal!r}; choose one of {TEMPORAL_MODES}")
        if shift_on not in SHIFT_ON:
            raise ValueError(f"shift_on: expected 'tokens' (the supplement) or 'qkv' (the authors' code), "
                             f"got {shift_on!r}")
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
        heads = self.blocks[0].attn.num_heads
        if shift_heads is None:
            shift_heads = 2 * (heads // 6)           # the authors' code: 2 of 6 heads for DeiT-S, none below 6
        if not 0 <= shift_heads <= heads:
            raise ValueError(f"shift_heads: {shift_heads} is not between 0 and the {heads} heads")
        self.shift_on, self.shift_heads = shift_on, shift_heads
        # timm's head dropout (``drop_rate``) acts on the clip feature, after the average over time, as the official
        # I3DHead's dropout does (timm would drop each frame's feature before the average)
        self.clip_drop, self.head_drop = self.head_drop, nn.Identity()
        for i, blk in enumerate(self.blocks):
            attn = blk.attn
            attn.grid_size = tuple(self.patch_embed.grid_size)
            attn.pattern, attn.shift_back, attn.channel_pad = pattern, shift_back, channel_pad
            attn.shift_on, attn.shift_heads = shift_on, shift_heads
            # TSM shifts before the attention of every block; TPS sits in every second block.
            attn.temporal = {"2d": None, "tsm": "channel", "tps": "patch" if i % 2 == 1 else None}[temporal]

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
        return self.head(self.clip_drop(self.forward_features_video(x)))


def checkpoint_filter_fn(state_dict: dict, model: VideoDeiT) -> dict:
    """A 2D DeiT/ViT ImageNet checkpoint (timm layout) as this video DeiT's weights (timm's builder calls it): the
    position embedding resized when the image size differs, a classifier of another class count dropped. Keys the
    model does not have are refused: the file is not a DeiT/ViT of this width and depth."""
    state = dict(state_dict)
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise ValueError(f"checkpoint: keys not in {type(model).__name__}: {unexpected[:5]}; is this a DeiT/ViT "
                         "checkpoint of the same width and depth?")
    pos = state.get("pos_embed")
    if pos is not None and pos.shape != model.pos_embed.shape:
        prefix = 0 if model.no_embed_class else model.num_prefix_tokens
        state["pos_embed"] = resample_abs_pos_embed(pos, new_size=model.patch_embed.grid_size,
                                                    num_prefix_tokens=prefix)
    for k in ("head.weight", "head.bias"):
        if k in state and state[k].shape != own[k].shape:
            del state[k]
    return state


def load_deit_2d(model: VideoDeiT, path: str) -> list[str]:
    """Load a 2D DeiT/ViT ImageNet checkpoint into a built video DeiT (what ``checkpoint_2d=`` does at build
    time, through the same filter). Returns the names left at their initial values."""
    try:
        state = checkpoint_filter_fn(load_state_dict_file(path), model)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return list(model.load_state_dict(state, strict=False).missing_keys)


DEIT_S = dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, img_size=224, num_classes=400)

# timm's pretrained_cfg of each model: the paper's 2D weights (pst.weights_2d), adapted by checkpoint_filter_fn.
default_cfgs = generate_default_cfgs({f"{m}.fb_in1k": pretrained_cfg(m, "apache-2.0")
                                      for m in ("deit_s_2d", "deit_s_tsm", "deit_s_tps")})


def _create(name: str, temporal: str, pretrained=False, **kwargs) -> VideoDeiT:
    return build_video_model(VideoDeiT, name, pretrained, checkpoint_filter_fn, {**DEIT_S, "temporal": temporal},
                             **kwargs)


@register_model
def deit_s_2d(pretrained=False, **kwargs) -> VideoDeiT:
    """DeiT-S per frame, features averaged over time (supplement Table 1, row 1)."""
    return _create("deit_s_2d", "2d", pretrained, **kwargs)


@register_model
def deit_s_tsm(pretrained=False, **kwargs) -> VideoDeiT:
    """DeiT-S with temporal channel shift (1/8 + 1/8) before every attention, class token included."""
    return _create("deit_s_tsm", "tsm", pretrained, **kwargs)


@register_model
def deit_s_tps(pretrained=False, **kwargs) -> VideoDeiT:
    """DeiT-S with temporal patch shift around the attention of every second block, patch tokens only."""
    return _create("deit_s_tps", "tps", pretrained, **kwargs)


__all__ = ["VideoDeiT", "TemporalAttention", "load_deit_2d", "deit_s_2d", "deit_s_tsm", "deit_s_tps"]
