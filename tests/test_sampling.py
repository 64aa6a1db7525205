"""Frame sampling pinned to mmaction2 0.x (dense and uniform), and test-view geometry."""
import itertools

import numpy as np
import pytest
import torch

from pst.data.sampling import Sampling, clip_loops, dense_test_offsets, dense_train_offsets, frame_indices
from pst.data.transforms import TestTransform, TrainTransform, three_crop_offsets


def test_dense_test_clips_are_centred_in_equal_segments():
    s = Sampling("dense", clip_len=32, frame_interval=2, num_clips=4)
    inds = frame_indices(300, s, test=True)
    avg = (300 - 64 + 1) / 4                      # 59.25
    assert inds[:, 0].tolist() == [int(k * avg + avg / 2) for k in range(4)] == [29, 88, 148, 207]
    assert (np.diff(inds, axis=1) == 2).all()


def test_dense_test_short_video_starts_at_zero_and_loops():
    s = Sampling("dense", clip_len=8, frame_interval=2, num_clips=3)
    inds = frame_indices(10, s, test=True)        # 10 frames < 16-frame span
    assert inds[:, 0].tolist() == [0, 0, 0]
    assert inds[0].tolist() == [0, 2, 4, 6, 8, 0, 2, 4]


def test_dense_train_offsets_stay_in_their_segment():
    s = Sampling("dense", clip_len=4, frame_interval=1, num_clips=2)
    rng = np.random.default_rng(0)
    for _ in range(200):
        inds = frame_indices(21, s, test=False, rng=rng)       # avg interval (21-4+1)//2 = 9
        assert 0 <= inds[0, 0] < 9 and 9 <= inds[1, 0] < 18
    starts = {int(frame_indices(21, s, False, rng)[0, 0]) for _ in range(300)}
    assert starts == set(range(9))


def test_dense_train_branches_for_short_videos():
    rng = np.random.default_rng(0)
    one = Sampling("dense", clip_len=8, num_clips=1)
    assert frame_indices(8, one, False, rng)[0].tolist() == list(range(8))       # avg 1: offset 0
    assert frame_indices(5, one, False, rng)[0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]   # loops


def test_uniform_sampling_train_and_test():
    s = Sampling("uniform", clip_len=8)
    test = frame_indices(41, s, test=True)[0]
    seg = 40 / 8
    expect = [(int(np.round(seg * i)) + int(np.round(seg * (i + 1)))) // 2 for i in range(8)]
    assert test.tolist() == expect == [2, 7, 12, 17, 22, 27, 32, 37]
    rng = np.random.default_rng(1)
    for _ in range(100):
        tr = frame_indices(41, s, test=False, rng=rng)[0]
        assert all(int(np.round(seg * i)) <= v <= int(np.round(seg * (i + 1))) for i, v in enumerate(tr))
    assert frame_indices(3, s, test=True)[0].max() <= 2          # fewer frames than the clip: repeats


def test_bad_sampling_names_field():
    with pytest.raises(ValueError, match="sampling.mode"):
        Sampling("random")
    with pytest.raises(ValueError, match="clip_len"):
        Sampling("dense", clip_len=0)


@pytest.mark.parametrize("h, w, expect", [
    (224, 398, [(0, 0), (0, 174), (0, 87)]),      # landscape: left, right, centre along the width
    (398, 224, [(0, 0), (174, 0), (87, 0)]),      # portrait: top, bottom, centre along the height
    (224, 224, [(0, 0), (0, 0), (0, 0)]),
])
def test_three_crop_geometry(h, w, expect):
    assert three_crop_offsets(h, w, 224) == expect


def test_test_views_shape_and_content():
    frames = torch.arange(2 * 3 * 40 * 60, dtype=torch.float32).reshape(2, 3, 40, 60).remainder(256).to(torch.uint8)
    views = TestTransform(size=20, short_side=20, crops=3, mean=(0, 0, 0), std=(1, 1, 1))(frames)
    assert views.shape == (3, 3, 2, 20, 20)
    assert not torch.equal(views[0], views[1])
    centre = TestTransform(size=20, short_side=20, crops=1)(frames)
    assert centre.shape == (1, 3, 2, 20, 20)
    with pytest.raises(ValueError, match="crops"):
        TestTransform(crops=2)


def _asymmetric_clip():
    frames = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    frames[..., :16] = 255                 # bright left half
    return frames


def test_flip_rule_never_flips_left_right_classes():
    torch.manual_seed(0)
    t = TrainTransform(size=32, short_side=None, area=(1.0, 1.0), flip=1.0, no_flip_labels=(86, 87),
                       mean=(0, 0, 0), std=(1, 1, 1))
    clip, label = t(_asymmetric_clip(), 86)
    assert label == 86 and clip[0, 0, 0, 0] == 255          # left stays bright
    clip, label = t(_asymmetric_clip(), 5)
    assert label == 5 and clip[0, 0, 0, 0] == 0             # flipped


def test_flip_pairs_swap_labels_as_an_option():
    t = TrainTransform(size=32, short_side=None, area=(1.0, 1.0), flip=1.0, flip_pairs={86: 87},
                       mean=(0, 0, 0), std=(1, 1, 1))
    clip, label = t(_asymmetric_clip(), 87)
    assert label == 86 and clip[0, 0, 0, 0] == 0


def test_train_transform_same_crop_for_all_frames_and_augmentations_run():
    torch.manual_seed(0)
    frames = torch.randint(0, 255, (1, 3, 48, 64), dtype=torch.uint8).expand(6, -1, -1, -1).contiguous()
    t = TrainTransform(size=32, short_side=40, randaugment={"policy": "official", "num_ops": 2, "magnitude": 9,
                                                           "signs": "process"}, erasing=1.0)
    clip, _ = t(frames, 3)
    assert clip.shape == (3, 6, 32, 32)
    assert all(torch.equal(clip[:, 0], clip[:, k]) for k in range(6))     # one crop/augment/erase per clip


def test_clip_loops_says_exactly_when_a_clip_runs_past_the_last_frame():
    """Closed form (what training and evaluation count) against the clips' own indices before they loop: every test
    clip, and a training clip (one per video) at any random start."""
    rng = np.random.default_rng(0)
    for n, clip_len, interval, clips in itertools.product(range(1, 40), (1, 4, 8), (1, 2, 3), (1, 3, 10)):
        s = Sampling("dense", clip_len, interval, clips)
        unlooped = dense_test_offsets(n, s)[:, None] + np.arange(clip_len) * interval
        assert clip_loops(n, s) == bool((unlooped >= n).any()), (n, s)
        if clips == 1:
            for _ in range(5):
                unlooped = dense_train_offsets(n, s, rng)[:, None] + np.arange(clip_len) * interval
                assert clip_loops(n, s) == bool((unlooped >= n).any()), (n, s, "train")
    assert clip_loops(7, Sampling("uniform", 8)) and not clip_loops(8, Sampling("uniform", 8))
