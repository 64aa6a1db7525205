import pytest
import timm
import torch

import pst.models  # noqa: F401  (registers the models)
from pst.models import MODEL_NAMES

TINY_DEIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=4, num_heads=2, num_classes=5)
TINY_SWIN = dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), num_classes=5, drop_path_rate=0.0, head_drop=0.0)


def tiny(name, **kw):
    base = TINY_DEIT if name.startswith("deit") else TINY_SWIN
    return timm.create_model(name, **{"num_frames": 8, **base, **kw}).eval()


def strong_bias(model):
    """Relative-position tables of unit scale, so that bias conventions visibly change outputs."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("relative_position_bias_table"):
                p.normal_()
    return model


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_registered_and_shapes(name):
    assert name in timm.list_models()
    model = tiny(name)
    x = torch.randn(2, 3, 8, 32, 32)
    y = model(x)
    assert y.shape == (2, 5)
    y.sum().backward()


@pytest.mark.parametrize("name", ["pst_t", "swin_t_2d", "swin3d_t", "deit_s_tps"])
@pytest.mark.parametrize("frames, size", [(6, (40, 56)), (2, (28, 28)), (20, (36, 44))])
def test_any_frame_count_and_size(name, frames, size):
    model = tiny(name, img_size=size[0]) if name.startswith("deit") else tiny(name)
    h, w = (size[0], size[0]) if name.startswith("deit") else size
    assert model(torch.randn(1, 3, frames, h, w)).shape == (1, 5)


def test_deit_shift_placement():
    tps, tsm, d2 = tiny("deit_s_tps"), tiny("deit_s_tsm"), tiny("deit_s_2d")
    assert [b.attn.temporal for b in tps.blocks] == [None, "patch", None, "patch"]
    assert [b.attn.temporal for b in tsm.blocks] == ["channel"] * 4
    assert [b.attn.temporal for b in d2.blocks] == [None] * 4


def test_frame_order_blind_2d_and_order_aware_temporal_models():
    x = torch.randn(2, 3, 8, 32, 32)
    rev = x.flip(2)
    with torch.no_grad():
        d2, tps, tsm = tiny("deit_s_2d"), tiny("deit_s_tps"), tiny("deit_s_tsm")
        torch.testing.assert_close(d2(x), d2(rev))
        assert not torch.allclose(tps(x), tps(rev), atol=1e-4)
        assert not torch.allclose(tsm(x), tsm(rev), atol=1e-4)
        # a temporal patch of 1 frame: the 2D Swin then never sees frame order
        s2, pst_ = tiny("swin_t_2d", patch_size=(1, 4, 4)), tiny("pst_t", patch_size=(1, 4, 4))
        torch.testing.assert_close(s2(x), s2(rev), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(pst_(x), pst_(rev), atol=1e-4)


def test_tps_class_token_untouched_and_single_frame_is_2d():
    torch.manual_seed(0)
    tps = tiny("deit_s_tps")
    d2 = tiny("deit_s_2d")
    d2.load_state_dict(tps.state_dict())
    x = torch.randn(2, 3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(tps(x), d2(x))   # one frame: the shift is the identity


def test_swin_switches_place_shifts():
    def kinds(m):
        return [[b.temporal for b in layer.blocks] for layer in m.layers]
    assert kinds(tiny("pst_t")) == [["channel", "patch"]] * 2
    assert kinds(tiny("pst_t", channel_shift=False)) == [[None, "patch"]] * 2
    assert kinds(tiny("pst_t", alternate=False)) == [["patch", "patch"]] * 2
    assert kinds(tiny("pst_t", tps_stages=[0])) == [["channel", "patch"], [None, None]]
    assert kinds(tiny("swin_t_2d")) == [[None, None]] * 2
    x = torch.randn(1, 3, 8, 32, 32)
    base = strong_bias(tiny("pst_t"))
    for kw in ({"shift_back": False}, {"shifted_bias": False}, {"pattern": "A"}):
        other = tiny("pst_t", **kw)
        other.load_state_dict(base.state_dict())
        with torch.no_grad():
            assert not torch.allclose(other(x), base(x), atol=1e-5), kw


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="pattern"):
        tiny("pst_t", pattern="Z")
    with pytest.raises(ValueError, match="window"):
        tiny("pst_t", window_size=(8, 7, 7), pattern="C")
    with pytest.raises(ValueError, match="bias"):
        tiny("pst_t", bias="learned")
    with pytest.raises(ValueError, match="temporal tokens"):
        tiny("pst_t", bias="official", num_frames=64)
    with pytest.raises(ValueError, match="x"):
        tiny("pst_t")(torch.randn(3, 8, 32, 32))
    with pytest.raises(ValueError, match="x"):
        tiny("deit_s_tps")(torch.randn(3, 8, 32, 32))


def test_activation_checkpointing_same_gradients():
    torch.manual_seed(0)
    a = tiny("pst_t").train()
    b = tiny("pst_t", use_checkpoint=True).train()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 8, 32, 32)
    a(x).sum().backward()
    b(x).sum().backward()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)


def test_paper_sized_pst_t_as_the_issue_calls_it():
    model = timm.create_model("pst_t", num_frames=16, pattern="B", num_classes=174)
    assert model.head.out_features == 174 and model.num_frames == 16
    blocks = [b for layer in model.layers for b in layer.blocks]
    assert len(blocks) == 12 and [b.temporal for b in blocks[:2]] == ["channel", "patch"]
    assert blocks[1].pattern == ((0, 1), (-1, 2)) and blocks[1].window == (1, 7, 7)
    assert blocks[0].attn.relative_position_bias_table.shape == (31 * 169, 3)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 4, 64, 64)).shape == (1, 174)
