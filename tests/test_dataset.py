"""The video dataset over internal lists: clips, test views, frame folders, and unreadable videos."""
import warnings

import pytest
import torch
from torch.utils.data import DataLoader

from fixtures_data import place_sthv1
from pst.data.dataset import VideoDataset, collate
from pst.data.sampling import Sampling, frame_indices
from pst.data.transforms import TestTransform, TrainTransform, normalize_batch
from pst.datasets.preprocess import prepare
from pst.datasets.synthetic import SynthConfig, generate


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(pairs=2, train_per_class=3, val_per_class=2, frames=16, size=32))
    return root


def test_train_clips_and_loader(synth):
    ds = VideoDataset(synth, synth / "train.txt", Sampling("dense", 8, 1, 1), TrainTransform(size=24, short_side=32))
    sample = ds[0]
    assert sample["clips"].shape == (3, 8, 24, 24) and sample["valid"] and sample["failed"] == []
    # forkserver: workers forked from a test process that other tests filled with threads can hang (seen once in CI)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate, multiprocessing_context="forkserver")
    batch = next(iter(loader))
    assert batch["clips"].shape == (4, 3, 8, 24, 24) and batch["label"].shape == (4,)


def test_uint8_clips_normalised_on_the_device_are_the_loader_bits_and_repeats_share_a_decode(synth):
    """data.normalize: device sends uint8 clips and an erasing mask; normalize_batch gives the loader's floats bit
    for bit (erased regions are +0). Repeated augmentation: k clips of one decode, each with its own draws."""
    sampling = Sampling("dense", 8, 1, 1)
    spec = dict(size=24, short_side=32, erasing=0.5)
    floats = VideoDataset(synth, synth / "train.txt", sampling, TrainTransform(**spec))
    uint8 = VideoDataset(synth, synth / "train.txt", sampling, TrainTransform(**spec, uint8=True))
    items = [(i, 100 + i) for i in range(len(floats))]
    a = collate([floats[i] for i in items])
    b = collate([uint8[i] for i in items])
    assert b["clips"].dtype == torch.uint8 and b["keep"].shape == (len(items), 24, 24)
    assert (~b["keep"]).any()                                      # some clip was erased
    assert torch.equal(normalize_batch(b["clips"], b["keep"]), a["clips"]) and torch.equal(a["label"], b["label"])
    twice = VideoDataset(synth, synth / "train.txt", sampling, TrainTransform(**spec, uint8=True), repeats=2)
    batch = collate([twice[i] for i in items[:3]])
    assert batch["clips"].shape == (6, 3, 8, 24, 24) and batch["index"].tolist() == [0, 0, 1, 1, 2, 2]
    assert not torch.equal(batch["clips"][0], batch["clips"][1])   # two augmentations of one decode


def test_test_views_batch_all_views_of_a_video(synth):
    ds = VideoDataset(synth, synth / "val.txt", Sampling("dense", 8, 1, 2), TestTransform(24, 32, 3), test=True)
    s = ds[1]
    assert s["clips"].shape == (6, 3, 8, 24, 24)                  # 2 clips x 3 crops
    a, b = ds[1]["clips"], ds[1]["clips"]
    assert torch.equal(a, b)                                       # test views are deterministic


def test_unreadable_training_video_is_replaced_and_counted(synth, tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    lst = tmp_path / "list.txt"
    good = (synth / "train.txt").read_text().splitlines()[0].split()[0]
    lst.write_text(f"broken.mp4 0\n{synth / good} 1\n")
    ds = VideoDataset(tmp_path, lst, Sampling("dense", 8), TrainTransform(size=24, short_side=32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = ds[0]
    assert s["valid"] and s["failed"] == ["broken.mp4"] and s["label"] == 1
    assert any("broken.mp4" in str(w.message) for w in caught)
    test_ds = VideoDataset(tmp_path, lst, Sampling("dense", 8), TestTransform(24, 32, 1), test=True)
    bad = test_ds[0]
    assert bad["valid"] is False and "broken.mp4" in bad["failed"]
    assert collate([bad])["invalid_index"] == [0]


def test_videos_validation_could_not_trust_are_left_out_of_training_and_failed_in_tests(synth):
    paths = [ln.split()[0] for ln in (synth / "val.txt").read_text().splitlines()]
    bad = {paths[0]: "seek mismatch at frame 23 (decord: mean |d| 69 of 255 ...)"}
    train = VideoDataset(synth, synth / "val.txt", Sampling("dense", 8), TrainTransform(size=24, short_side=32),
                         bad=bad)
    assert [e.path for e in train.entries] == paths[1:] and train.bad == bad
    test = VideoDataset(synth, synth / "val.txt", Sampling("dense", 8), TestTransform(24, 32, 1), test=True, bad=bad)
    first = test[0]
    assert len(test) == len(paths) and first["valid"] is False and "failed validation: seek mismatch" in first["error"]
    assert collate([first, test[1]])["invalid_index"] == [0]


def test_frame_folders_read_one_based_jpgs(tmp_path):
    root = tmp_path / "ss1"
    place_sthv1(root / "raw")
    prepare("sthv1", root, progress=False)
    ds = VideoDataset(root / "processed", root / "processed" / "val.txt", Sampling("uniform", 5),
                      TestTransform(16, 24, 1, mean=(0, 0, 0), std=(1, 1, 1)), test=True, modality="frames")
    clip = ds[0]["clips"][0]
    inds = frame_indices(5, Sampling("uniform", 5), test=True)[0]   # 0-based: [0, 1, 2, 2, 3]
    values = clip[0, :, 8, 8].round().tolist()
    assert values == [10.0 * (i + 1) for i in inds]                 # index i reads 0000{i+1}.jpg (1-based files)
