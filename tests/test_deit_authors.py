"""The authors' own DeiT code (bytecode in the official repository), as options of deit_s_tps / deit_s_tsm,
against a reference written out here by hand: shift q, k and v after the qkv projection — TPS on the first
2 * (heads // 6) heads of the patch tokens with a cyclic 2x2 pattern and `attn @ v` shifted back, in odd blocks;
TSM by head_dim // 6 channels each way in every head, zero ends, no shift back, in every block."""
import pytest
import timm
import torch

import pst.models  # noqa: F401  (registers the models)

AUTHORS_2X2 = [[1, 0], [0, -1]]         # (0::2, 0::2) from t-1, (1::2, 1::2) from t+1, the rest stay
TINY = dict(img_size=16, patch_size=4, embed_dim=48, depth=2, num_heads=6, num_classes=3, num_frames=4,
            drop_path_rate=0.0)


def _roll_positions(x, t, grid_hw):
    """(B*T, N_patches, ...) tokens: even/even positions from frame t-1, odd/odd from t+1, cyclic."""
    gh, gw = grid_hw
    clips = x.reshape(-1, t, gh, gw, *x.shape[2:]).clone()
    src = clips.clone()
    clips[:, :, 0::2, 0::2] = torch.roll(src, 1, dims=1)[:, :, 0::2, 0::2]
    clips[:, :, 1::2, 1::2] = torch.roll(src, -1, dims=1)[:, :, 1::2, 1::2]
    return clips.reshape(x.shape)


def _unroll_positions(x, t, grid_hw):
    gh, gw = grid_hw
    clips = x.reshape(-1, t, gh, gw, *x.shape[2:]).clone()
    src = clips.clone()
    clips[:, :, 0::2, 0::2] = torch.roll(src, -1, dims=1)[:, :, 0::2, 0::2]
    clips[:, :, 1::2, 1::2] = torch.roll(src, 1, dims=1)[:, :, 1::2, 1::2]
    return clips.reshape(x.shape)


def _reference_attention(attn, x, t, mode, heads_shifted):
    bt, n, c = x.shape
    nh, hd = attn.num_heads, c // attn.num_heads
    qkv = attn.qkv(x).reshape(bt, n, 3, nh, hd)
    if mode == "patch":
        patches = qkv[:, 1:, :, :heads_shifted]
        qkv = qkv.clone()
        qkv[:, 1:, :, :heads_shifted] = _roll_positions(patches, t, attn.grid_size)
    else:                                                # TSM: per head, fold = hd // 6 from t-1, next from t+1
        fold = hd // 6
        clips = qkv.reshape(bt // t, t, n, 3, nh, hd)
        out = clips.clone()
        out[:, :, :, :, :, :fold] = 0
        out[:, 1:, :, :, :, :fold] = clips[:, :-1, :, :, :, :fold]
        out[:, :, :, :, :, fold:2 * fold] = 0
        out[:, :-1, :, :, :, fold:2 * fold] = clips[:, 1:, :, :, :, fold:2 * fold]
        qkv = out.reshape(bt, n, 3, nh, hd)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))       # (B*T, heads, N, hd)
    w = (q @ k.transpose(-2, -1) * hd ** -0.5).softmax(-1)
    o = (w @ v).transpose(1, 2)                                       # (B*T, N, heads, hd)
    if mode == "patch":
        o = o.clone()
        o[:, 1:, :heads_shifted] = _unroll_positions(o[:, 1:, :heads_shifted], t, attn.grid_size)
    return attn.proj(o.reshape(bt, n, c))


@pytest.mark.parametrize("name, block, mode", [("deit_s_tps", 1, "patch"), ("deit_s_tsm", 0, "channel")])
def test_the_authors_qkv_shift_matches_a_hand_written_reference(name, block, mode):
    torch.manual_seed(0)
    kwargs = dict(pattern=AUTHORS_2X2) if name == "deit_s_tps" else {}
    model = timm.create_model(name, shift_on="qkv", **TINY, **kwargs).eval()
    attn = model.blocks[block].attn
    assert attn.temporal == mode and (attn.shift_heads == 2 if name == "deit_s_tps" else True)   # 2 of 6 heads
    attn.num_frames = 4
    x = torch.randn(2 * 4, 1 + 16, 48)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), _reference_attention(attn, x, 4, mode, 2), atol=1e-5, rtol=1e-5)
    tokens = timm.create_model(name, **TINY, **kwargs).eval()      # the supplement's whole-token shift differs
    tokens.load_state_dict(model.state_dict())
    clip = torch.randn(1, 3, 4, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(model(clip), tokens(clip), atol=1e-4)


def test_head_count_rule_and_its_limits():
    assert timm.create_model("deit_s_tps", shift_on="qkv", **TINY).shift_heads == 2
    assert timm.create_model("deit_s_tps", shift_on="qkv", **{**TINY, "embed_dim": 16, "num_heads": 2}).shift_heads == 0
    with pytest.raises(ValueError, match="shift_heads"):
        timm.create_model("deit_s_tps", shift_on="qkv", shift_heads=7, **TINY)
    with pytest.raises(ValueError, match="shift_on"):
        timm.create_model("deit_s_tps", shift_on="x", **TINY)
    model = timm.create_model("deit_s_tps", shift_on="qkv", pattern=AUTHORS_2X2, **TINY)
    model(torch.randn(1, 3, 4, 16, 16)).sum().backward()           # trains
    assert model.blocks[1].attn.qkv.weight.grad.abs().sum() > 0
