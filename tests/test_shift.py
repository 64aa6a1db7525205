import pytest
import torch

from pst.ops import channel_shift, offset_map, patch_shift, pattern_grid


def roll_reference(x, pattern, inverse=False, window=None):
    """The official code's semantics, one torch.roll per token position: out[t] = x[t - s]."""
    grid = pattern_grid(pattern)
    g = len(grid)
    out = x.clone()
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            ii, jj = (i % window[0], j % window[1]) if window else (i, j)
            s = grid[ii % g][jj % g]
            out[:, :, i, j] = torch.roll(x[:, :, i, j], shifts=-s if inverse else s, dims=1)
    return out


SHAPES = [(2, 8, 6, 6, 4), (1, 5, 7, 9, 3), (2, 3, 5, 4, 2), (1, 1, 3, 3, 2), (1, 16, 8, 8, 1)]


@pytest.mark.parametrize("pattern", ["A", "B", "C", "D", [[2, -1, 0], [0, 3, -5], [1, 1, 1]]])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_per_position_roll(pattern, shape):
    x = torch.randn(shape)
    assert torch.equal(patch_shift(x, pattern), roll_reference(x, pattern))
    assert torch.equal(patch_shift(x, pattern, inverse=True), roll_reference(x, pattern, inverse=True))


@pytest.mark.parametrize("pattern", ["A", "B", "C", "D"])
@pytest.mark.parametrize("window", [(7, 7), (4, 5), (2, 3)])
def test_window_tiling_matches_reference(pattern, window):
    x = torch.randn(2, 9, 14, 10, 3)
    y = patch_shift(x, pattern, window=window)
    assert torch.equal(y, roll_reference(x, pattern, window=window))
    assert torch.equal(patch_shift(y, pattern, inverse=True, window=window), x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64, torch.int64])
@pytest.mark.parametrize("pattern", ["A", "B", "C", "D"])
def test_inverse_is_identity_bit_exact(pattern, dtype):
    x = (torch.randn(3, 7, 11, 13, 6) * 100).to(dtype)
    assert torch.equal(patch_shift(patch_shift(x, pattern), pattern, inverse=True), x)
    assert torch.equal(patch_shift(patch_shift(x, pattern, inverse=True), pattern), x)


def test_frame_index_tensor_shows_source_frames():
    t = 9
    frames = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1, 1).expand(1, t, 6, 6, 1).contiguous()
    out = patch_shift(frames, "C")[0, :, :, :, 0]
    grid = pattern_grid("C")
    for f in range(t):
        for i in range(6):
            for j in range(6):
                assert out[f, i, j] == (f - grid[i % 3][j % 3]) % t
    # frame 4 sees nine consecutive frames 0..8 in one 3x3 tile: the mosaic of Figure 1(c)
    assert sorted(out[4, :3, :3].reshape(-1).tolist()) == list(range(9))


def test_short_clip_wraps_cyclically():
    x = torch.arange(2.0).view(1, 2, 1, 1, 1).expand(1, 2, 4, 4, 1).contiguous()
    out = patch_shift(x, "D")
    assert out[0, 1, 1, 1, 0] == (1 - (-7)) % 2


def test_offset_map_tiles_from_window_origin():
    m = offset_map("C", 14, 14, window=(7, 7))
    assert torch.equal(m[7:, 7:], m[:7, :7])
    assert m[6, 6].item() == pattern_grid("C")[0][0]          # 6 % 3 == 0
    assert offset_map("C", 14, 14)[7, 7].item() == pattern_grid("C")[1][1]


def test_gradient_is_inverse_shift():
    x = torch.randn(2, 5, 4, 4, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: patch_shift(z, "D"), (x,))
    g = torch.randn(2, 5, 4, 4, 3, dtype=torch.double)
    patch_shift(x, "C").backward(g)
    assert torch.equal(x.grad, patch_shift(g, "C", inverse=True))


def test_non_contiguous_input():
    x = torch.randn(2, 6, 6, 5, 4).transpose(2, 3)
    assert torch.equal(patch_shift(x, "B"), roll_reference(x.contiguous(), "B"))


@pytest.mark.parametrize("bad, arg", [((2, 3, 4, 5), "x"), ((2, 3, 4, 5, 6, 7), "x")])
def test_wrong_rank_names_x(bad, arg):
    with pytest.raises(ValueError, match=arg):
        patch_shift(torch.zeros(bad), "C")


def test_bad_pattern_and_window():
    with pytest.raises(ValueError, match="pattern"):
        patch_shift(torch.zeros(1, 2, 3, 3, 1), "Q")
    with pytest.raises(ValueError, match="square"):
        patch_shift(torch.zeros(1, 2, 3, 3, 1), [[1, 2, 3]])
    with pytest.raises(ValueError, match="window"):
        patch_shift(torch.zeros(1, 2, 3, 3, 1), "C", window=(0, 7))


def _tsm_reference(x, fold_div, pad):
    c = x.shape[-1]
    fold = c // fold_div
    out = x.clone() if pad == "self" else torch.zeros_like(x)
    out[..., 2 * fold:] = x[..., 2 * fold:]
    out[:, 1:, ..., :fold] = x[:, :-1, ..., :fold]
    out[:, :-1, ..., fold:2 * fold] = x[:, 1:, ..., fold:2 * fold]
    return out


@pytest.mark.parametrize("pad", ["zero", "self"])
def test_channel_shift_matches_tsm(pad):
    x = torch.randn(2, 5, 3, 16)
    assert torch.equal(channel_shift(x, 8, pad=pad), _tsm_reference(x, 8, pad))


def test_channel_shift_per_head_groups():
    x = torch.randn(2, 4, 7, 3 * 16)
    out = channel_shift(x, 8, pad="self", groups=3)
    for h in range(3):
        sl = slice(16 * h, 16 * (h + 1))
        assert torch.equal(out[..., sl], _tsm_reference(x[..., sl], 8, "self"))


def test_channel_shift_ends():
    x = torch.ones(1, 3, 1, 8)
    z = channel_shift(x, 8, pad="zero")
    assert z[0, 0, 0, 0] == 0 and z[0, 2, 0, 1] == 0 and z[0, 1, 0, :].eq(1).all()
    assert channel_shift(x, 8, pad="self").eq(1).all()


def test_channel_shift_bad_arguments():
    with pytest.raises(ValueError, match="pad"):
        channel_shift(torch.zeros(1, 2, 8), pad="circular")
    with pytest.raises(ValueError, match="groups"):
        channel_shift(torch.zeros(1, 2, 8), groups=3)
    with pytest.raises(ValueError, match="x"):
        channel_shift(torch.zeros(8, 2))


def test_out_buffer_matches_and_refuses_autograd():
    x = torch.randn(2, 5, 6, 6, 8)
    buf = torch.empty_like(x)
    assert patch_shift(x, "D", out=buf) is buf
    assert torch.equal(buf, patch_shift(x, "D"))
    with pytest.raises(ValueError, match="out"):
        patch_shift(x.requires_grad_(), "D", out=buf)
    with pytest.raises(ValueError, match="out"):
        patch_shift(x.detach(), "D", out=torch.empty(2, 5, 6, 6, 4))


@pytest.mark.parametrize("pad", ["zero", "self"])
@pytest.mark.parametrize("frames", [1, 2, 5])
def test_channel_shift_gradient(pad, frames):
    x = torch.randn(2, frames, 3, 16, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: channel_shift(z, 8, pad=pad, groups=2), (x,))
