"""Test views as mmaction2 0.x / mmcv 1.x make them: the short-side resize rounds to nearest and is cv2's bilinear
without antialiasing (torchvision's stays an option); frame folders named by a template from a start index (SSv1's
00001.jpg, mmaction2's img_00001.jpg); list lines read by the dataset's declared modality, never by their columns."""
import numpy as np
import pytest
import torch
from PIL import Image

from pst.data.annotations import read_list
from pst.data.dataset import VideoDataset
from pst.data.sampling import Sampling
from pst.data.transforms import TestTransform, resize_short, short_side_size, three_crop_offsets
from pst.datasets.validate import validate
from pst.study import Study

# (w, h) of real and re-encoded frames -> the long side at short side 224: mmcv int(x + 0.5), torchvision floor
AT_224 = [((340, 256), 298, 297), ((320, 240), 299, 298), ((426, 240), 398, 397), ((480, 360), 299, 298),
          ((640, 480), 299, 298), ((176, 144), 274, 273), ((300, 225), 299, 298), ((427, 320), 299, 298),
          ((424, 320), 297, 296), ((568, 320), 398, 397)]


@pytest.mark.parametrize("wh, mmcv, torchvision", AT_224)
def test_short_side_sizes_round_as_mmcv_does(wh, mmcv, torchvision):
    w, h = wh
    assert short_side_size(h, w, 224, "mmcv") == (224, mmcv)
    assert short_side_size(h, w, 224, "torchvision") == (224, torchvision)
    assert short_side_size(w, h, 224, "mmcv") == (mmcv, 224)                  # portrait: the same along h
    frames = torch.zeros(1, 3, h, w, dtype=torch.uint8)
    assert tuple(resize_short(frames, 224, "mmcv").shape[-2:]) == (224, mmcv)
    assert tuple(resize_short(frames, 224, "torchvision").shape[-2:]) == (224, torchvision)


def test_validation_resize_to_256_rounds_to_nearest_too():
    assert short_side_size(144, 176, 256, "mmcv") == (256, 313)                # 312.9
    assert short_side_size(144, 176, 256, "torchvision") == (256, 312)


def test_three_crops_of_a_340x256_frame_start_where_mmaction2s_do():
    """298x224 after the resize: ThreeCrop(224) at x = 0, 74, 37 (torchvision's 297 wide gave 0, 72, 36)."""
    assert three_crop_offsets(224, 298, 224) == [(0, 0), (0, 74), (0, 37)]
    assert three_crop_offsets(224, 297, 224) == [(0, 0), (0, 72), (0, 36)]


def _bilinear_half_pixel(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Float64 bilinear with half-pixel centres and edge clamping (what cv2's INTER_LINEAR computes, before its
    fixed-point rounding): an independent reference, not the code under test."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(out_h) + 0.5) * h / out_h - 0.5, 0, h - 1)
    xs = np.clip((np.arange(out_w) + 0.5) * w / out_w - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = img.astype(np.float64)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bottom = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def test_test_views_are_bilinear_without_antialias_within_one_level():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (256, 340, 3), dtype=np.uint8)                # noise: antialiasing shows most
    frames = torch.from_numpy(frame).permute(2, 0, 1)[None]
    reference = _bilinear_half_pixel(frame, 224, 298)
    ours = resize_short(frames, 224, "mmcv")[0].permute(1, 2, 0).numpy().astype(np.float64)
    assert np.abs(ours - reference).max() <= 1.0
    smoothed = resize_short(frames, 224, "torchvision")[0].permute(1, 2, 0).numpy().astype(np.float64)
    assert np.abs(smoothed - reference[:, :297]).mean() > 10                  # the antialiased option differs
    views = TestTransform(size=224, short_side=224, crops=3)(frames)          # (3, C, T, 224, 224), normalised
    std = torch.tensor((58.395, 57.12, 57.375)).view(3, 1, 1, 1)
    mean = torch.tensor((123.675, 116.28, 103.53)).view(3, 1, 1, 1)
    crop = (views[1] * std + mean).round()[:, 0].permute(1, 2, 0).numpy()    # the right crop, x = 74
    assert np.abs(crop - reference[:, 74:74 + 224]).max() <= 1.0


def _frame_folder(folder, tmpl, n=6):
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        Image.fromarray(np.full((32, 40, 3), 20 * i, np.uint8)).save(folder / tmpl.format(i))


def test_frame_folders_are_read_by_the_datasets_template(tmp_path):
    _frame_folder(tmp_path / "frames" / "a", "img_{:05d}.jpg")               # mmaction2's extraction naming
    (tmp_path / "list.txt").write_text("frames/a 6 0\n")
    (tmp_path / "classes.txt").write_text("x\n")
    sampling = Sampling("uniform", 3, 1, 1)
    ds = VideoDataset(tmp_path, tmp_path / "list.txt", sampling, TestTransform(32, 32, 1), test=True,
                      modality="frames", frame_tmpl="img_{:05d}.jpg", frame_start=1)
    sample = ds[0]
    assert sample["valid"] and sample["clips"].shape == (1, 3, 3, 32, 32)
    ssv1 = VideoDataset(tmp_path, tmp_path / "list.txt", sampling, TestTransform(32, 32, 1), test=True,
                        modality="frames")                                     # SSv1's 00001.jpg: not there
    assert not ssv1[0]["valid"] and "00002.jpg" in ssv1[0]["error"]
    ok = validate(tmp_path, tmp_path / "list.txt", progress=False, modality="frames",
                  frame_template="img_{:05d}.jpg")
    assert ok["bad"] == 0
    assert validate(tmp_path, tmp_path / "list.txt", progress=False, modality="frames")["bad"] == 1


def test_a_study_takes_the_frame_naming_from_the_catalog_or_params(tmp_path):
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    study = Study(params, "paper")
    assert study.frames("sthv1") == {"modality": "frames", "frame_template": "{:05d}.jpg", "frame_start": 1}
    assert study.frames("sthv2") == {"modality": "video"}
    run = next(r for r in study.runs if r.dataset == "sthv1")
    assert study.recipe(run)["data"]["modality"] == "frames"
    assert "modality" not in study.recipe(next(r for r in study.runs if r.dataset == "sthv2"))["data"]
    params["datasets"]["sthv1"]["frame_template"] = "img_{:05d}.jpg"         # folders from mmaction2's tools
    assert Study(params, "paper").frames("sthv1")["frame_template"] == "img_{:05d}.jpg"


def test_list_lines_are_read_by_the_declared_modality(tmp_path):
    lst = tmp_path / "val.txt"
    lst.write_text("a.mp4 1\ntest.mp4 0 3\n")
    with pytest.raises(ValueError, match=r"val.txt:2: expected 'relative/path.mp4 label' \(a list of video\), "
                                         r"got 'test.mp4 0 3'"):
        read_list(lst)
    lst.write_text("frames/a 6 0\nframes/b 2\n")
    with pytest.raises(ValueError, match=r"val.txt:2: expected 'relative/frame_dir num_frames label'"):
        read_list(lst, modality="frames")
    lst.write_text("frames/a 0 3\n")                                           # no frames: not a frame folder
    with pytest.raises(ValueError, match=r"val.txt:1:"):
        read_list(lst, modality="frames")
    with pytest.raises(ValueError, match=r"data.modality"):
        read_list(lst, modality="rawframes")
