"""PST (Patch Shift Transformer): a Swin Transformer with temporal patch shift, and a 3D-window baseline.

One implementation serves every attention type of the paper's Table 2(e), chosen by arguments:
- PST-T / PST-B: window (1, 7, 7) so attention stays inside a frame; temporal mixing only from the shifts. Blocks
  alternate a temporal channel shift (even index) and a temporal patch shift tiled in each window (odd index);
  ``channel_shift=False`` is the patch-only model, ``patch_shift=False`` the channel-only one.
- the plain 2D Swin baseline (average pooling over time): ``pattern="none"`` (no shift at all).
- 3D windows, ``pattern="none"``: Video Swin's local attention (``swin3d_t``: half the clip's temporal tokens per
  window, 8 of 16 at 32 frames) and joint space-time attention (``swin_joint_t``: every temporal token).

The relative position bias is a 3-D table. With a patch shift, a token that came from frame t - s is biased as
being s frames away (the paper's meaning, ``bias="paper"``); ``bias="official"`` rebuilds the official code's
frame-dependent index exactly (query at frame t against the key coordinates of frame 0).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from torch import nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from pst.models.weights import build_video_model
from pst.weights_2d import pretrained_cfg, weights_2d
from pst.ops import BLOCK_SHIFTS, PAPER_PATTERN, channel_shift, offset_map, pattern_grid, pattern_key, permute_tokens

Window = tuple[int, int, int]


def effective_window(size: Sequence[int], window: Window, shift: Window) -> tuple[Window, Window]:
    """Video Swin's rule: a window no larger than the feature map, and no cyclic shift along a dim it covers."""
    win, sh = list(window), list(shift)
    for i, s in enumerate(size):
        if s <= window[i]:
            win[i], sh[i] = s, 0
    return tuple(win), tuple(sh)


def window_partition(x: torch.Tensor, ws: Window) -> torch.Tensor:
    """(B, D, H, W, C) -> (B, nWindows, wd*wh*ww, C), windows ordered (d, h, w)."""
    b, d, h, w, c = x.shape
    x = x.view(b, d // ws[0], ws[0], h // ws[1], ws[1], w // ws[2], ws[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, -1, ws[0] * ws[1] * ws[2], c)


@lru_cache(maxsize=128)
def window_gather_index(batch: int, dp: int, hp: int, wp: int, ws: Window, shift: Window, pattern,
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of (B, Dp, Hp, Wp) tokens -> window order (B, nWindows, N), after Swin's cyclic roll by -shift and,
    when ``pattern`` is given, the temporal patch shift tiled in each window. Returns (index, inverse index).

    Composing the three permutations into one gather saves two full copies each way (roll, then partition).
    """
    d = torch.arange(dp).view(dp, 1, 1)
    if pattern is not None:
        d = d - offset_map(pattern, hp, wp, window=ws[1:])[None]            # patch shift: token from frame t - s
    h = torch.arange(hp).view(1, hp, 1)
    w = torch.arange(wp).view(1, 1, wp)
    src = ((d % dp + shift[0]) % dp * hp + (h + shift[1]) % hp) * wp + (w + shift[2]) % wp   # after the roll
    src = window_partition(src.expand(dp, hp, wp)[None, ..., None], ws).reshape(1, -1)
    index = (src + torch.arange(batch)[:, None] * (dp * hp * wp)).reshape(-1)
    inverse = torch.empty_like(index)
    inverse[index] = torch.arange(index.numel())
    return index.to(device), inverse.to(device)


@lru_cache(maxsize=64)
def shift_window_mask(dp: int, hp: int, wp: int, ws: Window, shift: Window, device: torch.device) -> torch.Tensor:
    """(nWindows, N, N) additive mask (0 / -100) that keeps cyclically rolled regions apart (Swin SW-MSA)."""
    img = torch.zeros((1, dp, hp, wp, 1))
    cnt = 0
    for d in (slice(-ws[0]), slice(-ws[0], -shift[0]), slice(-shift[0], None)):
        for h in (slice(-ws[1]), slice(-ws[1], -shift[1]), slice(-shift[1], None)):
            for w in (slice(-ws[2]), slice(-ws[2], -shift[2]), slice(-shift[2], None)):
                img[:, d, h, w, :] = cnt
                cnt += 1
    win = window_partition(img, ws)[0, :, :, 0]
    mask = win[:, None, :] - win[:, :, None]
    return mask.masked_fill(mask != 0, -100.0).to(device)


def _table_index(coords: torch.Tensor, keys: torch.Tensor, extent: Window) -> torch.Tensor:
    """Flat bias-table index of (query, key) coordinate pairs; coords (..., Nq, 3), keys (..., Nk, 3)."""
    rel = coords[..., :, None, :] - keys[..., None, :, :]
    for i, e in enumerate(extent):
        if rel[..., i].abs().max() > e - 1:
            raise ValueError(f"relative position bias: offsets up to {int(rel[..., i].abs().max())} along axis {i} "
                             f"do not fit a table of extent {e}; use a larger bias_frames or a smaller pattern")
    et, eh, ew = extent
    return ((rel[..., 0] + et - 1) * (2 * eh - 1) + rel[..., 1] + eh - 1) * (2 * ew - 1) + rel[..., 2] + ew - 1


@lru_cache(maxsize=256)
def relative_position_index(ws: Window, extent: Window, shift_key, frames: int, mode: str,
                            device: torch.device) -> torch.Tensor:
    """(F, N, N) index into the bias table for one block; F = 1 unless ``mode == "official"`` (F = frames).

    ``shift_key`` is the pattern grid (as tuples) when the block patch-shifts and its bias follows the shift,
    else None. Patch-shifted tokens carry temporal coordinate -s (they came from frame t - s).
    """
    grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in ws), indexing="ij"), dim=-1).view(-1, 3)
    if mode == "paper":
        if shift_key is not None:
            grid = grid.clone()
            grid[:, 0] = -offset_map(shift_key, ws[1], ws[2]).reshape(-1)
        return _table_index(grid, grid, extent)[None].to(device)
    # official: coordinates of a (frames, wh, ww) block, rolled along time like the tokens, and only the pairs
    # (query at frame t, key at frame 0) kept, so the bias depends on the query's frame index.
    if ws[0] != 1:
        raise ValueError("bias='official' exists only for windows of one frame (PST)")
    s = (offset_map(shift_key, ws[1], ws[2]) if shift_key is not None else torch.zeros(ws[1], ws[2], dtype=torch.long))
    t = torch.arange(frames)[:, None, None]
    hw = grid[:, 1:].view(1, ws[1], ws[2], 2).expand(frames, -1, -1, -1)
    coords = torch.cat([((t - s) % frames)[..., None], hw], dim=-1).view(frames, -1, 3)
    return _table_index(coords, coords[:1].expand(frames, -1, -1), extent).to(device)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a relative position bias from a 3-D table."""

    def __init__(self, dim: int, num_heads: int, window: Window, bias_frames: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.extent = (bias_frames, window[1], window[2])
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * bias_frames - 1) * (2 * window[1] - 1) * (2 * window[2] - 1), num_heads))
        trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def bias(self, index: torch.Tensor) -> torch.Tensor:
        f, n, _ = index.shape
        return self.relative_position_bias_table[index.reshape(-1)].view(f, n, n, -1).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor, index: torch.Tensor, mask: Optional[torch.Tensor], n_d: int) -> torch.Tensor:
        """x (B, nWindows, N, C) with windows ordered (d, hw); index (F, N, N), F in {1, n_d}; mask (nW, N, N)."""
        b, nw, n, c = x.shape
        h = self.num_heads
        qkv = self.qkv(x).view(b * nw, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        add = self.bias(index).unsqueeze(1)                                   # (F, 1, h, N, N)
        if mask is not None:
            add = add + mask.view(n_d, nw // n_d, 1, n, n)
        add = add.expand(n_d, nw // n_d, h, n, n).reshape(1, nw, h, n, n).expand(b, -1, -1, -1, -1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=add.reshape(b * nw, h, n, n).to(q.dtype),
                                             dropout_p=self.attn_drop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(b, nw, n, c)
        return self.proj_drop(self.proj(out))


class SwinBlock(nn.Module):
    """Swin block with an optional temporal shift in front of the attention. The residual path is never shifted.

    Args:
        dim, num_heads: channels and attention heads of the stage.
        window, shift: the (t, h, w) window and its cyclic shift ((0, 0, 0) in even blocks, half a window in odd).
        bias_frames: frames the relative-position bias table spans.
        temporal: pst.ops.BLOCK_SHIFTS, as DeiT's blocks: None, "channel" (per head, 1/8 from t-1 and 1/8 from
            t+1, no shift back) or "patch" (the
            pattern tiled in each window, shifted back after attention unless ``shift_back`` is False).
        pattern, shift_back, shifted_bias, bias, channel_pad: as PatchShiftSwin's options of those names.
        mlp_ratio, qkv_bias, drop, attn_drop, drop_path: Swin's own.
    """

    def __init__(self, dim: int, num_heads: int, window: Window, shift: Window, bias_frames: int, *,
                 temporal: Optional[str] = None, pattern=None, shift_back: bool = True, shifted_bias: bool = True,
                 bias: str = "paper", channel_pad: str = "self", mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        if temporal not in BLOCK_SHIFTS:
            raise ValueError(f"temporal: {temporal!r} is not one of {BLOCK_SHIFTS}")
        self.window, self.shift = window, shift
        self.temporal, self.shift_back, self.channel_pad = temporal, shift_back, channel_pad
        self.pattern = pattern_key(pattern) if temporal == "patch" else None
        self.bias_pattern = self.pattern if (temporal == "patch" and shifted_bias) else None
        self.bias_mode = bias
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window, bias_frames, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w, c = x.shape
        ws, shift = effective_window((d, h, w), self.window, self.shift)
        x = self.norm1(x)
        pad = [(ws[i] - s % ws[i]) % ws[i] for i, s in enumerate((d, h, w))]
        x = F.pad(x, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        dp, hp, wp = d + pad[0], h + pad[1], w + pad[2]
        if self.temporal == "channel":
            x = channel_shift(x, fold_div=8, pad=self.channel_pad, groups=self.attn.num_heads)
        # cyclic roll, patch shift and window partition as one gather; the way back as another
        into, into_inv = window_gather_index(b, dp, hp, wp, ws, shift, self.pattern, x.device)
        back_pattern = self.pattern if self.shift_back else None
        back, back_inv = (into, into_inv) if back_pattern == self.pattern else \
            window_gather_index(b, dp, hp, wp, ws, shift, back_pattern, x.device)
        windows = permute_tokens(x.reshape(-1, c), into, into_inv).view(b, -1, ws[0] * ws[1] * ws[2], c)
        mask = shift_window_mask(dp, hp, wp, ws, shift, x.device) if any(shift) else None
        index = relative_position_index(ws, self.attn.extent, self.bias_pattern, dp, self.bias_mode, x.device)
        out = self.attn(windows, index, mask, dp // ws[0])
        x = permute_tokens(out.reshape(-1, c), back_inv, back).view(b, dp, hp, wp, c)
        return x[:, :d, :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self._attention(x))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 spatial merge to twice the channels (Swin's downsampling between stages)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:4]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One stage: blocks (regular windows at even index, shifted windows at odd index), then a patch merge."""

    def __init__(self, blocks: list[SwinBlock], downsample: Optional[nn.Module], use_checkpoint: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample
        self.use_checkpoint = use_checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = activation_checkpoint(blk, x, use_reentrant=False) if self.use_checkpoint and self.training \
                else blk(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed3D(nn.Module):
    """Non-overlapping (t, h, w) patches -> tokens, padding the clip up to a multiple of the patch."""

    def __init__(self, patch_size: Window, in_chans: int, embed_dim: int, norm: bool):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, d, h, w = x.shape
        p = self.patch_size
        x = F.pad(x, (0, (-w) % p[2], 0, (-h) % p[1], 0, (-d) % p[0]))
        x = self.proj(x).permute(0, 2, 3, 4, 1)                                # (B, D, H, W, C)
        return self.norm(x) if self.norm is not None else x


class PatchShiftSwin(nn.Module):
    """Video Swin backbone + I3D-style head (average pool, dropout, linear). Input (B, C, T, H, W).

    Paper switches (Table 2): ``pattern`` (A-D, a grid, or "none"), ``channel_shift`` (False = the patch-only model
    of Table 2(a)-(d)), ``patch_shift`` (False = the channel-only model of Table 2(e)), ``alternate`` (False = patch
    shift in every block), ``shift_back``, ``shifted_bias``, ``tps_stages`` (stages with temporal shifts; Table
    2(c)); ``bias`` ("paper" or "official").
    """
    # Where the defaults of the options that the paper or the official code decide come from, and the other
    # behaviour where the two differ: (source, differs). `pst recipe show` and the README's table read them.
    SOURCES = {
        "pattern": ("supplement Figure 1 (patterns A-D); C is the paper's best and the released model's",
                    "the supplement's pseudo-code labelled 'pattern B' performs pattern A's two rolls; Figure 1's "
                    "B ([[0, 1], [-1, 2]]) is the default"),
        "bias": ("paper: a token that came from frame t - s is biased as being s frames away",
                 "`bias='official'`: the official code's index buffers (query at frame t against frame 0's key "
                 "coordinates), needed to load the released K400 PST-T weights"),
        "channel_pad": ("official PST code: a clip end keeps its own channels (it shifts into a copy)",
                        "`channel_pad='zero'`: standard TSM zero padding"),
        "drop_path_rate": ("official dataset configs: model.backbone.drop_path_rate=0.1", ""),
        "head_drop": ("official: I3DHead dropout_ratio=0.5", ""),
        "head_init_std": ("timm: the head initialised as every Linear (truncated normal, std 0.02)",
                          "the paper recipes set 0.01: the official I3DHead's normal_init(std=0.01)"),
    }

    def __init__(self, num_frames: int = 32, num_classes: int = 400, img_size: int = 224,
                 patch_size: Sequence[int] = (2, 4, 4), in_chans: int = 3, embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (3, 6, 12, 24),
                 window_size: Sequence[int] = (1, 7, 7), mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 head_drop: float = 0.5, pattern=PAPER_PATTERN, channel_shift: bool = True, patch_shift: bool = True,
                 alternate: bool = True, shift_back: bool = True, shifted_bias: bool = True, bias: str = "paper",
                 bias_frames: Optional[int] = None, channel_pad: str = "self",
                 tps_stages: Optional[Sequence[int]] = None, patch_norm: bool = True, use_checkpoint: bool = False,
                 bias_init_std: float = 0.02, head_init_std: Optional[float] = None):
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)} must have the same length")
        for i, heads in enumerate(num_heads):
            if (embed_dim * 2 ** i) % heads:
                raise ValueError(f"num_heads {list(num_heads)}: stage {i}'s {embed_dim * 2 ** i} channels (embed_dim "
                                 f"{embed_dim} x 2^{i}) do not split into {heads} heads")
        if bias not in ("paper", "official"):
            raise ValueError(f"bias: expected 'paper' or 'official', got {bias!r}")
        smallest = patch_size[1] * 2 ** (len(depths) - 1)       # one token left in the last stage
        if img_size < smallest:
            raise ValueError(f"img_size {img_size}: at least {smallest} pixels (patch {patch_size[1]} x "
                             f"{len(depths) - 1} patch merges)")
        window = tuple(int(v) for v in window_size)
        if len(window) != 3:
            raise ValueError(f"window_size: expected (t, h, w), got {window_size!r}")
        temporal_shift = not (isinstance(pattern, str) and pattern.lower() == "none")
        if temporal_shift:
            try:
                pattern_grid(pattern)
            except ValueError as err:
                raise ValueError(f"{err} (or 'none' for no temporal shift)") from None
            if window[0] != 1:
                raise ValueError("pattern: temporal shifts need windows of one frame, window_size=(1, h, w); "
                                 "use pattern='none' for the 3D-window baseline")
        self.num_frames, self.img_size, self.num_classes = num_frames, img_size, num_classes
        self.pattern = pattern if temporal_shift else "none"
        bias_frames = bias_frames or (16 if window[0] == 1 else window[0])
        if bias == "official" and num_frames // patch_size[0] > bias_frames:
            raise ValueError(f"bias='official': {num_frames // patch_size[0]} temporal tokens exceed the table's "
                             f"{bias_frames} frames")
        stages = set(range(len(depths)) if tps_stages is None else tps_stages)
        if not stages <= set(range(len(depths))):
            raise ValueError(f"tps_stages {sorted(stages)}: the model has stages 0..{len(depths) - 1}")
        if temporal_shift and not (channel_shift or patch_shift):
            raise ValueError("channel_shift=False and patch_shift=False leave no temporal shift; use pattern='none' "
                             "for the 2D model")
        self.patch_embed = PatchEmbed3D(tuple(patch_size), in_chans, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        n_blocks = sum(depths)
        dpr = [drop_path_rate * i / max(n_blocks - 1, 1) for i in range(n_blocks)]  # stochastic depth decay rule
        shift = tuple(w // 2 for w in window)
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            dim = embed_dim * 2 ** i
            blocks = []
            for j in range(depth):
                temporal = None
                if temporal_shift and i in stages:
                    if patch_shift and (not alternate or j % 2 == 1):
                        temporal = "patch"
                    elif channel_shift and j % 2 == 0:
                        temporal = "channel"
                blocks.append(SwinBlock(
                    dim, heads, window, (0, 0, 0) if j % 2 == 0 else shift, bias_frames, temporal=temporal,
                    pattern=pattern, shift_back=shift_back, shifted_bias=shifted_bias, bias=bias,
                    channel_pad=channel_pad, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                    attn_drop=attn_drop_rate, drop_path=dpr[sum(depths[:i]) + j]))
            down = PatchMerging(dim) if i < len(depths) - 1 else None
            self.layers.append(BasicLayer(blocks, down, use_checkpoint))
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.head_drop = nn.Dropout(head_drop)
        self.head = nn.Linear(self.num_features, num_classes)
        self.apply(self._init_weights)
        if head_init_std is not None:
            # mmaction2's I3DHead (the official head): normal_init(fc_cls, std=init_std), a plain normal, bias 0
            nn.init.normal_(self.head.weight, 0.0, head_init_std)
            nn.init.zeros_(self.head.bias)
        if bias_init_std != 0.02:
            # From scratch (the synthetic profile) a spread like a trained Swin's table (values of a few units) gives
            # the attention a relative-position preference at step 0; at 0.02 every window attends uniformly and
            # a patch-only model sits on a plateau where frame order cannot be learned (see results/README.md).
            for name, p in self.named_parameters():
                if name.endswith("relative_position_bias_table"):
                    trunc_normal_(p, std=bias_init_std, a=-2 * bias_init_std, b=2 * bias_init_std)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation checkpointing per block (timm's name for it): less memory, one more forward."""
        for layer in self.layers:
            layer.use_checkpoint = enable

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> normalised last-stage tokens (B, T', H', W', C')."""
        if x.dim() != 5:
            raise ValueError(f"x: expected a clip batch (B, C, T, H, W), got shape {tuple(x.shape)}")
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(self.forward_features(x).mean(dim=(1, 2, 3))))


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


def checkpoint_filter_fn(state_dict: dict, model: "PatchShiftSwin") -> dict:
    """A 2D Swin ImageNet checkpoint (Microsoft's or timm's layout) as this video model's weights, what the
    official code does (timm's builder calls it, as for timm's own Swin): the patch embedding repeated over the
    temporal patch and divided by its length; each 2D relative-position table resized to the window and repeated
    over the temporal offsets of the 3-D table; a classifier of another class count dropped. Keys the model does
    not have are refused: the file is not a Swin of this width and depth."""
    state = _from_timm_layout({k: v for k, v in state_dict.items() if not any(d in k for d in _DERIVED)})
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise ValueError(f"checkpoint: keys not in {type(model).__name__}: {unexpected[:5]}; is it a Swin of the "
                         "same width and depths?")
    pt = model.patch_embed.patch_size[0]
    w = state.get("patch_embed.proj.weight")
    if w is not None and w.dim() == 4:
        state["patch_embed.proj.weight"] = w.unsqueeze(2).repeat(1, 1, pt, 1, 1) / pt
    for k in [k for k in state if k.endswith("relative_position_bias_table")]:
        table = state[k]
        heads = table.shape[1]
        et, eh, ew = model.get_submodule(k.rsplit(".", 1)[0]).extent
        side = int(round(table.shape[0] ** 0.5))
        if side * side == table.shape[0] and (side, side) != (2 * eh - 1, 2 * ew - 1):
            table = F.interpolate(table.T.reshape(1, heads, side, side), size=(2 * eh - 1, 2 * ew - 1),
                                  mode="bicubic", align_corners=False).reshape(heads, -1).T
        if table.shape[0] * (2 * et - 1) == own[k].shape[0]:
            table = table.repeat(2 * et - 1, 1)
        state[k] = table
    for k in ("head.weight", "head.bias"):
        if k in state and state[k].shape != own[k].shape:
            del state[k]
    return state


# timm's pretrained_cfg of each model: the paper's 2D weights (pst.weights_2d), inflated by checkpoint_filter_fn.
default_cfgs = generate_default_cfgs({f"{m}.{weights_2d(m).split('.')[1]}": pretrained_cfg(m, "mit")
                                      for m in ("pst_t", "pst_b", "swin_t_2d", "swin3d_t", "swin_joint_t")})


SWIN_T = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
SWIN_B = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))


@register_model
def pst_t(pretrained=False, **kwargs) -> PatchShiftSwin:
    """PST-T: Swin-T, temporal patch 2, window (1, 7, 7), channel shift / pattern-C patch shift alternating."""
    return build_video_model(PatchShiftSwin, "pst_t", pretrained, checkpoint_filter_fn, {**SWIN_T, "num_classes": 400}, **kwargs)


@register_model
def pst_b(pretrained=False, **kwargs) -> PatchShiftSwin:
    """PST-B: Swin-B, otherwise as PST-T."""
    return build_video_model(PatchShiftSwin, "pst_b", pretrained, checkpoint_filter_fn,
                 {**SWIN_B, "num_classes": 400}, **kwargs)


@register_model
def swin_t_2d(pretrained=False, **kwargs) -> PatchShiftSwin:
    """The 2D Swin-T baseline: PST-T without any temporal shift (Table 2(e) 'average pooling')."""
    return build_video_model(PatchShiftSwin, "swin_t_2d", pretrained, checkpoint_filter_fn, {**SWIN_T, "num_classes": 400},
                 **kwargs, pattern="none")


def _window_3d(kwargs: dict, share: float) -> dict:
    """A 3D-window baseline's window: the spatial part of ``window_size`` (default 7 x 7) and ``share`` of the
    clip's temporal tokens (or ``temporal_window``), so one definition holds at 32 frames and on the tiny models."""
    frames = kwargs.get("num_frames", 32)
    tokens = -(-frames // tuple(kwargs.get("patch_size", (2, 4, 4)))[0])
    spatial = tuple(kwargs.pop("window_size", (1, 7, 7)))[1:]
    t = kwargs.pop("temporal_window", None)
    if t is not None and (not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= tokens):
        raise ValueError(f"temporal_window = {t!r} is not valid: expected a whole number from 1 to the clip's "
                         f"{tokens} temporal tokens ({frames} frames / temporal patch)")
    return {**kwargs, "window_size": (t or max(1, int(tokens * share)), *spatial), "pattern": "none"}


@register_model
def swin3d_t(pretrained=False, **kwargs) -> PatchShiftSwin:
    """Video Swin's local space-time attention (Table 2(e) 'local'): 3D windows over half the clip's temporal
    tokens, (8, 7, 7) at 32 frames."""
    return build_video_model(PatchShiftSwin, "swin3d_t", pretrained, checkpoint_filter_fn, {**SWIN_T, "num_classes": 400},
                 **_window_3d(kwargs, 0.5))


@register_model
def swin_joint_t(pretrained=False, **kwargs) -> PatchShiftSwin:
    """Joint space-time attention (Table 2(e) 'joint'): 3D windows over every temporal token, (16, 7, 7) at 32
    frames."""
    return build_video_model(PatchShiftSwin, "swin_joint_t", pretrained, checkpoint_filter_fn,
                             {**SWIN_T, "num_classes": 400}, **_window_3d(kwargs, 1.0))
