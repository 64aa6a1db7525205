"""The embedded synthetic set: real mp4 files, deterministic, classes in time-reversed twins."""
import numpy as np
import pytest
import torch

from pst.data.dataset import read_video
from pst.datasets.synthetic import MOTIONS, SynthConfig, generate, render_clip

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
    with pytest.raises(ValueError, match="noise and distractors: >= 0"):
        SynthConfig(noise=-5)


def test_radius_sets_the_object_size():
    def object_pixels(radius):
        cfg = SynthConfig(pairs=1, frames=4, size=64, noise=0.0, distractors=0, texture=False, radius=radius)
        frame = render_clip(0, 5, cfg)[0].astype(int)
        return int((np.abs(frame - 100).sum(-1) > 0).sum())   # flat grey background is 100

    small, large = object_pixels((0.1, 0.1)), object_pixels((0.2, 0.2))
    assert 3 < large / small < 5                              # area grows with the square of the radius


def test_synth_resumes_its_own_set_and_touches_nothing_else(tmp_path, monkeypatch):
    root = tmp_path / "set"                                   # beside it: a user's folder, a refused size
    cfg = SynthConfig(pairs=1, train_per_class=1, val_per_class=1, frames=4, size=32, noise=0.0, distractors=0,
                      texture=False)
    generate(root, cfg)
    video = root / "videos/train" / f"{cfg.classes[0]}_0000.mp4"
    first = read_video(video).numpy()
    stamp = video.stat().st_mtime_ns
    generate(root, cfg)
    assert video.stat().st_mtime_ns == stamp                  # same config: kept (an interrupted run resumes)
    lists = (root / "train.txt").read_bytes()
    (root / "train.txt").write_bytes(lists + b"videos/mine.mp4 0\n")
    with pytest.raises(ValueError, match="train.txt: not the list pst data synth wrote for this set"):
        generate(root, cfg)                                   # a user's edit of a finished set: refused, kept
    (root / "train.txt").write_bytes(lists)
    good = video.read_bytes()
    video.write_bytes(good[:100])                             # damaged since it was written
    with pytest.raises(ValueError, match="a video of an earlier run, damaged since: remove it"):
        generate(root, cfg)
    video.write_bytes(good)
    larger = SynthConfig(**{**cfg.__dict__, "radius": (0.3, 0.3)})
    before = sorted((p, p.read_bytes()) for p in root.rglob("*") if p.is_file())
    with pytest.raises(ValueError, match="finished synthetic set of another config"):
        generate(root, larger)                                # a finished set is never overwritten
    assert sorted((p, p.read_bytes()) for p in root.rglob("*") if p.is_file()) == before
    (root / "synth.json").unlink()                            # an interrupted run of another config: its own
    (root / "videos/train/stale.mp4").write_bytes(b"old")
    generate(root, larger)
    assert not (root / "videos/train/stale.mp4").exists()
    def area(v):
        return int((np.abs(v.astype(int) - 100) > 30).sum())
    assert area(read_video(video).numpy()) > 2 * area(first)  # re-rendered with the larger object
    # a user's own folder: refused, nothing touched; a size decord misreads leaves nothing behind
    mine = tmp_path / "mine"
    (mine / "videos").mkdir(parents=True)
    (mine / "videos" / "holiday.mp4").write_bytes(b"mine")
    with pytest.raises(ValueError, match="not written by pst data synth"):
        generate(mine, cfg)
    assert [p.name for p in mine.rglob("*")] == ["videos", "holiday.mp4"]
    with pytest.raises(ValueError, match="size: decord misreads H.264 frames 48 px wide"):
        SynthConfig(**{**cfg.__dict__, "size": 48})             # a known size: refused with the config
    import pst.datasets.synthetic as synthetic  # one not known: caught by the first video's read
    monkeypatch.setattr(synthetic, "DECORD_MISREADS", ())
    with pytest.raises(ValueError, match="decord cannot read"):
        generate(tmp_path / "s48", SynthConfig(**{**cfg.__dict__, "size": 48}))
    assert not (tmp_path / "s48").exists()


def test_the_studys_set_is_byte_identical_when_generated_three_times_at_once(tmp_path, env_with_venv):
    """The embedded study's own set (params.yaml), generated by three concurrent `pst data synth` processes with
    1, 2 and 3 workers on 2 cores, each with other bytes in its fresh heap memory (glibc's MALLOC_PERTURB_): every
    file has the same bytes. With x264's AVX-512 kernels the bitstream follows uninitialised heap memory (a fixed
    fill gives a fixed, fill-dependent output), so this fails on an AVX-512 machine unless asm is off."""
    import hashlib
    import subprocess
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    synth = yaml.safe_load((root / "params.yaml").read_text())["datasets"]["synthetic"]["synth"]
    args = []
    for k, v in synth.items():                       # as the workflow's synth rule passes them
        if isinstance(v, bool):
            args.append(f"--{k}" if v else f"--no-{k}")
        else:
            args += [f"--{k.replace('_', '-')}", *map(str, v if isinstance(v, list) else [v])]
    fills = {1: None, 2: "165", 3: "90"}                # heap fill byte per process (None: glibc's default)
    procs = [subprocess.Popen(["pst", "data", "synth", "--out", str(tmp_path / str(w)), *args, "--workers", str(w)],
                              env={**env_with_venv, **({"MALLOC_PERTURB_": fill} if fill else {})},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w, fill in fills.items()]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]

    def digests(folder: Path) -> dict:
        return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
                for f in sorted(folder.rglob("*")) if f.is_file()}

    first = digests(tmp_path / "1")
    assert sum(k.endswith(".mp4") for k in first) == 4 * (synth["train_per_class"] + synth["val_per_class"])
    for w in (2, 3):
        other = digests(tmp_path / str(w))
        assert other.keys() == first.keys()
        assert [k for k in first if first[k] != other[k]] == []


def test_a_killed_synth_leaves_no_worker_holding_its_folder(tmp_path, env_with_venv):
    """SIGKILL of `pst data synth --workers 2` (the OOM killer, a cluster's kill): its pool's workers end with it.
    Forked from it, they held its folder lock and sat on the pool's queue for good, so every rerun was refused
    as "in use" by a process that no longer existed."""
    import signal
    import subprocess
    import time

    from conftest import outlived

    out = tmp_path / "set"
    cmd = ["pst", "data", "synth", "--out", str(out), "--pairs", "1", "--train-per-class", "60", "--val-per-class",
           "2", "--frames", "8", "--workers", "2"]
    job = subprocess.Popen(cmd, env=env_with_venv, stderr=subprocess.DEVNULL, start_new_session=True)
    while len(list(out.glob("videos/train/*.mp4"))) < 4:             # the pool is under way
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not outlived(job)
    again = subprocess.run(cmd, env=env_with_venv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr                        # resumes its own set
    assert len(list(out.glob("videos/*/*.mp4"))) == 2 * (60 + 2)
