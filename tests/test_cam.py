"""GradCAM per frame: maps have the frame's shape and are normalised, peak where the logit looks, and the token
layouts of DeiT (class token first) and PST (B, T', h, w, C) go back onto the frame grid."""
import numpy as np
import pytest
import timm
import torch
from torch import nn

import pst.models  # noqa: F401  (registers the models)
from pst.report.cam import deit_reshape, frame_cams, swin_reshape


class MovingRegion(nn.Module):
    """Per-frame features, masked to one quadrant that moves with the frame index: the logit sees only it."""

    QUADRANTS = [(0, 0), (0, 1), (1, 1), (1, 0)]        # (row half, column half) of frame t % 4

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        b, c, t, h, w = x.shape
        f = torch.relu(self.features(x.transpose(1, 2).reshape(b * t, c, h, w)))
        mask = torch.zeros(t, 1, h, w)
        for k in range(t):
            r, q = self.QUADRANTS[k % 4]
            mask[k, :, r * h // 2:(r + 1) * h // 2, q * w // 2:(q + 1) * w // 2] = 1
        f = f * mask.repeat(b, 1, 1, 1)
        self.masked = f
        return self.head(f.mean((2, 3)).view(b, t, -1).mean(1))


def test_cam_peaks_in_the_region_the_logit_depends_on():
    torch.manual_seed(0)
    model = MovingRegion()
    with torch.no_grad():                               # features positive everywhere, so only the mask decides
        model.features.weight.abs_()
        model.features.bias.fill_(0.1)
        model.head.weight.abs_()
    target = nn.Identity()
    original = model.forward

    def forward(x):
        out = original(x)
        target(model.masked)
        return out

    model.forward = forward
    clip = torch.rand(1, 3, 4, 32, 48)
    maps = frame_cams(model, clip, label=0, target=target)
    assert maps.shape == (4, 32, 48) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1 and np.isclose(maps.max(), 1)
    for k, (r, q) in enumerate(MovingRegion.QUADRANTS):
        inside = maps[k, r * 16:(r + 1) * 16, q * 24:(q + 1) * 24]
        peak = np.unravel_index(maps[k].argmax(), maps[k].shape)
        assert r * 16 <= peak[0] < (r + 1) * 16 and q * 24 <= peak[1] < (q + 1) * 24, (k, peak)
        assert inside.mean() > 5 * (maps[k].sum() - inside.sum()) / (maps[k].size - inside.size + 1e-9)


def test_token_layouts_go_back_onto_the_frame_grid():
    tokens = torch.arange(2 * (1 + 6) * 3, dtype=torch.float32).view(2, 7, 3)          # B·T=2, cls + 2x3 grid
    grid = deit_reshape((2, 3))(tokens)
    assert grid.shape == (2, 3, 2, 3)
    assert torch.equal(grid[1, :, 1, 2], tokens[1, 1 + 1 * 3 + 2])                      # row 1, column 2
    swin = torch.randn(2, 4, 3, 5, 8)                                                    # (B, T', h, w, C)
    out = swin_reshape(swin)
    assert out.shape == (8, 8, 3, 5) and torch.equal(out[5, :, 2, 4], swin[1, 1, 2, 4])


@pytest.mark.parametrize("name,kwargs,maps", [
    ("deit_s_tps", dict(patch_size=8, embed_dim=32, depth=2, num_heads=2), 4),
    ("pst_t", dict(patch_size=(2, 4, 4), embed_dim=16, depths=(2, 2), num_heads=(1, 2), window_size=(1, 4, 4)), 2),
])
def test_cam_of_the_video_models_is_one_normalised_map_per_temporal_position(name, kwargs, maps):
    model = timm.create_model(name, num_frames=4, img_size=32, num_classes=3, **kwargs)
    out = frame_cams(model, torch.randn(1, 3, 4, 32, 32))
    assert out.shape == (maps, 32, 32)
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
