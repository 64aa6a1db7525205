"""PST against the official code's conventions, rebuilt here independently from its description."""
import torch

import timm
import pst.models  # noqa: F401  (registers the models)
from pst.models.swin_checkpoints import load_video_checkpoint, relative_position_buffers
from pst.models.swin import relative_position_index, window_partition
from pst.ops import patch_shift, pattern_grid

# Pattern C as the official code writes it: (row slice start, col slice start, roll shift)
OFFICIAL_C = [(0, 0, -4), (0, 1, 1), (0, 2, 2), (1, 2, 3), (1, 0, -1), (2, 0, -2), (2, 1, -3), (2, 2, 4)]


def official_window_shift(windows, batch, frames, inverse=False):
    """The official PatchShift on window tokens (B*nW, N, C) with 7x7 windows, all heads (ratio 1)."""
    bn, n, c = windows.shape
    feat = windows.view(batch, frames, -1, 7, 7, c)
    out = feat.clone()
    m = -1 if inverse else 1
    for r, q, s in OFFICIAL_C:
        out[:, :, :, r::3, q::3] = torch.roll(feat[:, :, :, r::3, q::3], shifts=s * m, dims=1)
    return out.view(bn, n, c)


def test_shift_before_partition_equals_official_shift_on_windows():
    b, t, h, w, c = 2, 16, 14, 21, 8
    x = torch.randn(b, t, h, w, c)
    ours = window_partition(patch_shift(x, "C", window=(7, 7)), (1, 7, 7)).reshape(-1, 49, c)
    theirs = official_window_shift(window_partition(x, (1, 7, 7)).reshape(-1, 49, c), b, t)
    assert torch.equal(ours, theirs)
    back = official_window_shift(theirs, b, t, inverse=True)
    assert torch.equal(back, window_partition(x, (1, 7, 7)).reshape(-1, 49, c))


def official_index(shifted: bool):
    """relative_position_index(_old) exactly as the official WindowAttention3D builds it (window (16, 7, 7))."""
    ws = (16, 7, 7)
    coords = torch.stack(torch.meshgrid(*(torch.arange(n) for n in ws), indexing="ij"))
    if shifted:
        for r, q, s in OFFICIAL_C:
            coords[:, :, r::3, q::3] = torch.roll(coords[:, :, r::3, q::3], shifts=s, dims=1)
    flat = coords.flatten(1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws[0] - 1
    rel[:, :, 1] += ws[1] - 1
    rel[:, :, 2] += ws[2] - 1
    rel[:, :, 0] *= (2 * ws[1] - 1) * (2 * ws[2] - 1)
    rel[:, :, 1] *= 2 * ws[2] - 1
    idx = rel.sum(-1)
    return idx.view(16, 49, 16, 49).permute(0, 2, 1, 3).reshape(256, 49, 49)[::16]


def test_official_bias_index_buffers_exact():
    model = timm.create_model("pst_t", bias="official", num_frames=32)
    ours = relative_position_buffers(model)
    assert len(ours) == 12
    for name, idx in ours.items():
        assert torch.equal(idx, official_index("index_old" not in name)), name


def test_paper_bias_uses_true_source_offsets():
    grid = pattern_grid("C")
    idx = relative_position_index((1, 7, 7), (16, 7, 7), tuple(map(tuple, grid)), 16, "paper",
                                  torch.device("cpu"))
    assert idx.shape == (1, 49, 49)
    # query at window (0, 1) came from t-1, key at (0, 0) from t+4: key is 5 frames later, same row, one left
    q, k = 0 * 7 + 1, 0
    dt = (-grid[0][1]) - (-grid[0][0])       # coordinate of q minus coordinate of k = s_k - s_q
    assert dt == -5
    expect = ((dt + 15) * 13 + 0 + 6) * 13 + (1 - 0) + 6
    assert idx[0, q, k].item() == expect
    plain = relative_position_index((1, 7, 7), (16, 7, 7), None, 16, "paper", torch.device("cpu"))
    assert ((plain // 169) == 15).all()        # unshifted blocks: same frame, dt = 0


def _official_state_dict(model):
    """A checkpoint in the official mmaction2 layout written from ``model``."""
    state = {f"backbone.{k}": v for k, v in model.state_dict().items() if not k.startswith("head")}
    state["cls_head.fc_cls.weight"] = model.head.weight.detach().clone()
    state["cls_head.fc_cls.bias"] = model.head.bias.detach().clone()
    for layer in range(2):
        for blk in range(2):
            key = "relative_position_index" if blk % 2 else "relative_position_index_old"
            state[f"backbone.layers.{layer}.blocks.{blk}.attn.{key}"] = official_index(blk % 2 == 1)
    return {"meta": {}, "state_dict": state}


def test_official_checkpoint_loads_only_with_official_bias(tmp_path):
    kw = dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), num_classes=7, num_frames=32, head_drop=0.0)
    src = timm.create_model("pst_t", bias="official", **kw).eval()
    path = tmp_path / "official.pth"
    torch.save(_official_state_dict(src), path)
    dst = timm.create_model("pst_t", bias="official", **kw).eval()
    assert load_video_checkpoint(dst, path) == []
    x = torch.randn(1, 3, 32, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x))
    paper = timm.create_model("pst_t", bias="paper", **kw)
    try:
        load_video_checkpoint(paper, path)
    except ValueError as err:
        assert "bias='official'" in str(err)
    else:
        raise AssertionError("a paper-bias model must refuse the official index buffers")


def test_official_and_paper_bias_differ_in_output():
    kw = dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), num_classes=5, num_frames=16)
    a = timm.create_model("pst_t", bias="official", **kw).eval()
    b = timm.create_model("pst_t", bias="paper", **kw).eval()
    with torch.no_grad():
        for name, p in a.named_parameters():
            if name.endswith("relative_position_bias_table"):
                p.normal_()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 16, 56, 56)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x), atol=1e-4)


import pytest  # noqa: E402

from pst.models.swin import window_gather_index  # noqa: E402
from pst.ops import pattern_key  # noqa: E402


@pytest.mark.parametrize("dims, ws, shift, pattern", [
    ((16, 14, 21), (1, 7, 7), (0, 3, 3), "C"),
    ((5, 7, 7), (1, 7, 7), (0, 0, 0), "D"),
    ((8, 6, 10), (1, 3, 5), (0, 1, 2), "A"),
    ((16, 14, 14), (8, 7, 7), (4, 3, 3), None),
])
def test_fused_gather_equals_roll_shift_partition(dims, ws, shift, pattern):
    b, c = 2, 3
    x = torch.randn(b, *dims, c)
    chain = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
    if pattern is not None:
        chain = patch_shift(chain, pattern, window=ws[1:])
    chain = window_partition(chain, ws)
    key = pattern_key(pattern) if pattern else None
    index, inverse = window_gather_index(b, *dims, ws, shift, key, torch.device("cpu"))
    fused = x.reshape(-1, c)[index].view_as(chain)
    assert torch.equal(fused, chain)
    assert torch.equal(fused.reshape(-1, c)[inverse], x.reshape(-1, c))
