"""The embedded synthetic set: real mp4 files, deterministic, classes in time-reversed twins."""
import numpy as np
import pytest
import torch

from pst.data.dataset import read_video
from pst.data.synthetic import MOTIONS, SynthConfig, generate, render_clip

CFG = SynthConfig(pairs=4, train_per_class=2, val_per_class=1, frames=12, size=32)


def test_twins_are_exact_reversals_before_encoding():
    for pair in range(5):
        cfg = SynthConfig(pairs=5, frames=12, size=32)
        a, b = render_clip(2 * pair, 123, cfg), render_clip(2 * pair + 1, 123, cfg)
        assert np.array_equal(b, a[::-1])
        assert not np.array_equal(a, a[::-1])                # the motion is visible: not a palindrome


def test_motion_goes_the_named_way():
    cfg = SynthConfig(pairs=3, frames=12, size=64)
    right = render_clip(0, 7, cfg).astype(float)
    diff = np.abs(right[-1] - right[0]).sum(axis=(0, 2))    # column profile of what changed
    grow = render_clip(4, 7, cfg).astype(float)
    assert np.abs(grow[-1] - grow[0]).sum() > 0
    assert diff.sum() > 0


def test_same_seed_same_bytes_and_frames(tmp_path):
    a = generate(tmp_path / "a", CFG)
    b = generate(tmp_path / "b", CFG)
    assert a == b
    for name in ("train.txt", "val.txt", "classes.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rel = (tmp_path / "a" / "val.txt").read_text().split()[0]
    assert np.array_equal(read_video(tmp_path / "a" / rel).numpy(), read_video(tmp_path / "b" / rel).numpy())
    other = generate(tmp_path / "c", SynthConfig(**{**CFG.__dict__, "seed": 1}))
    assert not np.array_equal(read_video(tmp_path / "a" / rel).numpy(), read_video(tmp_path / "c" / rel).numpy())
    assert other["train"] == 16


def test_decoded_twin_videos_are_reversals(tmp_path):
    generate(tmp_path, CFG)
    classes = (tmp_path / "classes.txt").read_text().split()
    assert classes[:2] == list(MOTIONS[0])
    fwd = read_video(tmp_path / f"videos/train/{classes[2]}_0000.mp4").float()
    bwd = read_video(tmp_path / f"videos/train/{classes[3]}_0000.mp4").float()
    assert fwd.shape == (12, 3, 32, 32)
    # 4x4 means: the per-frame noise averages out, the object's motion does not
    pool = torch.nn.functional.avg_pool2d
    fwd, bwd = pool(fwd, 4), pool(bwd, 4)
    err = (bwd - fwd.flip(0)).abs().mean()
    assert err < 2.0, err                                   # H.264 at crf 18: within a few grey levels
    assert (fwd - fwd.flip(0)).abs().mean() > 3 * err


def test_bad_config_names_field():
    with pytest.raises(ValueError, match="pairs"):
        SynthConfig(pairs=9)
    with pytest.raises(ValueError, match="size"):
        SynthConfig(size=33)
    with pytest.raises(ValueError, match="radius"):
        SynthConfig(radius=(0.3, 0.1))


def test_radius_sets_the_object_size():
    def object_pixels(radius):
        cfg = SynthConfig(pairs=1, frames=4, size=64, noise=0.0, distractors=0, texture=False, radius=radius)
        frame = render_clip(0, 5, cfg)[0].astype(int)
        return int((np.abs(frame - 100).sum(-1) > 0).sum())   # flat grey background is 100

    small, large = object_pixels((0.1, 0.1)), object_pixels((0.2, 0.2))
    assert 3 < large / small < 5                              # area grows with the square of the radius


def test_a_changed_config_renders_again_and_the_same_config_keeps_videos(tmp_path):
    cfg = SynthConfig(pairs=1, train_per_class=1, val_per_class=1, frames=4, size=32, noise=0.0, distractors=0,
                      texture=False)
    generate(tmp_path, cfg)
    video = tmp_path / "videos/train" / f"{cfg.classes[0]}_0000.mp4"
    first = read_video(video).numpy()
    stamp = video.stat().st_mtime_ns
    generate(tmp_path, cfg)
    assert video.stat().st_mtime_ns == stamp                  # same config: kept (an interrupted run resumes)
    (tmp_path / "videos/train/stale.mp4").write_bytes(b"old")
    generate(tmp_path, SynthConfig(**{**cfg.__dict__, "radius": (0.3, 0.3)}))
    assert not (tmp_path / "videos/train/stale.mp4").exists()
    def area(v):
        return int((np.abs(v.astype(int) - 100) > 30).sum())
    assert area(read_video(video).numpy()) > 2 * area(first)  # re-rendered with the larger object
