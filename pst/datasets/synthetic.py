"""The embedded dataset: synthetic motion clips whose classes come in time-reversed twins.

Every class pair shares one motion rendered forwards (even class id) or backwards (odd id): a twin's video is the
exact frame reversal of a clip drawn with the same parameters. The parameters are drawn identically for both
classes of a pair, so the frames of a clip and of its reversed twin have the same distribution: a model that
ignores frame order cannot beat chance within a pair, while a temporal model can. Shapes, colours, sizes, speeds,
start positions, a textured and noisy background and moving distractors vary per clip.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pst.data.annotations import Entry, classes_text, list_text, write_classes, write_list
from pst.io import atomic_path, check_not_inside, worker_pool, write_text

# (forward class, backward class): what the object does over the clip.
MOTIONS = [
    ("move_left_to_right", "move_right_to_left"),
    ("move_top_to_bottom", "move_bottom_to_top"),
    ("grow", "shrink"),
    ("rotate_clockwise", "rotate_counterclockwise"),
    ("appear", "disappear"),
]
SHAPES = ("square", "disk", "triangle", "bar", "cross")
# Even frame sides from 16 to 256 px whose square H.264 videos decord 0.6.0 reads wrongly (measured by rendering
# and reading back one video of each); refused with the config, so planning stops before any rendering. A size not
# listed that decord misreads is still caught when the first video is read back (generate).
DECORD_MISREADS = (16, 24, 48, 72)


def _option(default, help: str):
    """A field with the one-line help `pst data synth --help` prints for it (pst.cli generates the options)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SynthConfig:
    """The set's parameters: the defaults are a small general-purpose set; the embedded study's own are in
    params.yaml (datasets.synthetic.synth)."""
    # (the fields' order is synth.json's: a reordering would change the set's bytes)
    pairs: int = _option(4, "time-reversed twin pairs (classes = 2 x pairs, at most 5)")
    train_per_class: int = _option(40, "training videos per class")
    val_per_class: int = _option(12, "validation videos per class")
    frames: int = _option(24, "frames per video (room for 2-4 test clips of 8)")
    size: int = _option(64, "frame side in pixels (even; decord misreads 16, 24, 48 and 72)")
    fps: int = _option(12, "frames per second of the mp4")
    seed: int = _option(0, "the set's seed (same seed and config: the same bytes)")
    noise: float = _option(6.0, "std of per-frame pixel noise, 0-255 scale")
    distractors: int = _option(2, "at most this many moving distractors (at least 1 when > 0)")
    texture: bool = _option(True, "smooth random texture behind the object (else a flat grey)")
    radius: tuple = _option((0.10, 0.16), "object radius range as fractions of the frame side")

    def __post_init__(self):
        if not 1 <= self.pairs <= len(MOTIONS):
            raise ValueError(f"pairs: between 1 and {len(MOTIONS)}, got {self.pairs}")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size: an even number of pixels >= 16 (H.264 needs even sizes), got {self.size}")
        for name in ("size", "frames"):                 # a frame or clip is held in memory whole
            if getattr(self, name) > 1024:
                raise ValueError(f"{name}: at most 1024 (the embedded set's videos are 16 frames of 32 px), got "
                                 f"{getattr(self, name)}")
        if self.size in DECORD_MISREADS:
            raise ValueError(f"size: decord misreads H.264 frames {self.size} px wide (as it does "
                             f"{', '.join(map(str, DECORD_MISREADS))}); choose another even size, e.g. 64")
        object.__setattr__(self, "radius", tuple(self.radius))
        if not (len(self.radius) == 2 and 0 < self.radius[0] <= self.radius[1] <= 0.5):
            raise ValueError(f"radius: [low, high] fractions of the frame with 0 < low <= high <= 0.5, got {self.radius}")
        if self.frames < 2:
            raise ValueError(f"frames: at least 2 for a motion, got {self.frames}")
        for name in ("train_per_class", "val_per_class", "fps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: at least 1, got {getattr(self, name)}")
        if not math.isfinite(self.noise) or self.noise < 0 or self.distractors < 0:
            raise ValueError(f"noise and distractors: >= 0 (a pixel std on the 0-255 scale; a count), got "
                             f"{self.noise} and {self.distractors}")

    @property
    def classes(self) -> list[str]:
        return [name for pair in MOTIONS[:self.pairs] for name in pair]


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour texture: a coarse random grid, bilinearly upsampled."""
    g = rng.integers(3, 7)
    coarse = rng.uniform(40, 160, size=(g, g, 3))
    idx = np.linspace(0, g - 1, size)
    i0 = np.floor(idx).astype(int).clip(0, g - 2)
    f = (idx - i0)[:, None]
    rows = coarse[i0] * (1 - f[..., None]) + coarse[i0 + 1] * f[..., None]
    cols = rows[:, i0] * (1 - f[None, :, :]) + rows[:, i0 + 1] * f[None, :, :]
    return cols


def _mask(shape: str, yy, xx, cy, cx, r, angle):
    c, s = np.cos(angle), np.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    if shape == "square":
        return np.maximum(abs(u), abs(v)) <= r * 0.8
    if shape == "disk":
        return u * u + v * v <= r * r
    if shape == "triangle":
        return (v <= r * 0.6) & (v >= -r + 1.7 * abs(u))
    if shape == "bar":
        return (abs(u) <= r) & (abs(v) <= r * 0.35)
    return ((abs(u) <= r) & (abs(v) <= r * 0.3)) | ((abs(v) <= r) & (abs(u) <= r * 0.3))


def render_clip(label: int, seed: int, cfg: SynthConfig) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of one clip. Class 2k+1 is exactly class 2k with the same seed, reversed."""
    pair, backwards = divmod(label, 2)
    rng = np.random.default_rng(seed)
    n, t = cfg.size, cfg.frames
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    tau = np.linspace(0.0, 1.0, t)
    speed = rng.uniform(0.6, 1.0)                        # fraction of the full travel covered in the clip
    shape = SHAPES[rng.integers(len(SHAPES))] if pair != 3 else ("square", "triangle", "bar", "cross")[rng.integers(4)]
    colour = rng.uniform(0, 255, 3)
    colour[rng.integers(3)] = rng.uniform(200, 255)      # one bright channel: visible on any background
    r0 = rng.uniform(cfg.radius[0], cfg.radius[1]) * n
    cy0, cx0 = rng.uniform(0.3, 0.7, 2) * n
    angle0 = rng.uniform(0, 2 * np.pi)
    lo, hi = 0.5 - speed / 2 * 0.7, 0.5 + speed / 2 * 0.7
    motion = {
        0: lambda a: (cy0, (lo + (hi - lo) * a) * n, r0, angle0, 1.0),
        1: lambda a: ((lo + (hi - lo) * a) * n, cx0, r0, angle0, 1.0),
        2: lambda a: (cy0, cx0, n * (0.06 + 0.16 * speed * a), angle0, 1.0),
        3: lambda a: (cy0, cx0, r0 * 1.2, angle0 + speed * np.pi * a, 1.0),
        4: lambda a: (cy0, cx0, r0 * 1.2, angle0, a),
    }[pair]
    background = _texture(rng, n) if cfg.texture else np.full((n, n, 3), 100.0)
    count = rng.integers(1, cfg.distractors + 1) if cfg.distractors > 0 else 0
    distractors = [(rng.uniform(0, n, 2), rng.uniform(-0.5, 0.5, 2) * n, rng.uniform(0.04, 0.07) * n,
                    rng.uniform(60, 255, 3)) for _ in range(count)]
    noise = rng.normal(0, cfg.noise, size=(t, n, n, 3)) if cfg.noise > 0 else np.zeros((t, n, n, 3))
    frames = np.empty((t, n, n, 3), dtype=np.uint8)
    for k, a in enumerate(tau):
        img = background.copy()
        for p0, vel, rad, col in distractors:
            py, px = (p0 + vel * a) % n
            img[(yy - py) ** 2 + (xx - px) ** 2 <= rad * rad] = col
        cy, cx, r, ang, alpha = motion(a)
        m = _mask(shape, yy, xx, cy, cx, r, ang)
        img[m] = (1 - alpha) * img[m] + alpha * colour
        frames[k] = np.clip(img + noise[k], 0, 255).astype(np.uint8)
    return frames[::-1].copy() if backwards else frames


# Why asm=0: x264's AVX-512 kernels read heap memory that was never written, so identical frames gave different
# bitstreams from run to run, intermittently (decoded pixels up to 25/255 apart) although x264 ran on one thread.
# Shown on this machine kind (AVX-512): with glibc's MALLOC_PERTURB_ filling fresh heap memory with a fixed byte,
# the AVX-512 encoder becomes repeatable and its output changes with the byte; restricted to kernels up to AVX2, or
# with none, the output is repeatable whatever the heap holds. Plain C kernels (asm=0) are chosen over "up to AVX2"
# because they give the same bytes on every CPU (the AVX2 and C paths differ from each other). 6 ms a 32-px clip
# instead of 2. tests/test_synthetic.py generates the study's set under three heap fills at once.
X264 = {"crf": "18", "preset": "fast", "x264-params": "asm=0"}


def write_video(frames: np.ndarray, path: str | Path, fps: int) -> None:
    """H.264 mp4 (yuv420p, crf 18) through PyAV, written atomically; the same frames give the same bytes."""
    import av

    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = dict(X264)
            stream.codec_context.thread_count = 1
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def clip_seed(seed: int, split: str, label: int, i: int) -> int:
    """One independent seed per video; a pair's two classes share seeds, so twins are exact reversals."""
    digest = hashlib.sha256(f"{seed}/{split}/{label // 2}/{i}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _make_one(args) -> str:
    out, rel, label, seed, cfg = args
    path = Path(out) / rel
    if not path.exists():
        write_video(render_clip(label, seed, cfg), path, cfg.fps)
    return rel


def generate(out: str | Path, cfg: SynthConfig = SynthConfig(), workers: int = 1) -> dict:
    """Write videos/, train.txt, val.txt, classes.txt and synth.json under ``out``.

    Nothing there that synth did not write, and no finished set of another config, is touched (refused, naming
    it). Videos of an unfinished run of this very config and encoder (recorded in videos/config.json before the
    first video) are kept, so an interrupted run resumes; an unfinished run of another config is rendered again.
    The first video is read back before the others are rendered: a size decord misreads leaves nothing behind.
    """
    out = Path(out)
    made = _claim(out, cfg)
    jobs, lists = [], {"train": [], "val": []}
    for split, per_class in (("train", cfg.train_per_class), ("val", cfg.val_per_class)):
        for label in range(2 * cfg.pairs):
            for i in range(per_class):
                rel = f"videos/{split}/{cfg.classes[label]}_{i:04d}.mp4"
                jobs.append((str(out), rel, label, clip_seed(cfg.seed, split, label, i), cfg))
                lists[split].append(Entry(rel, label))
    _check_own_lists(out, cfg, lists)
    first = out / jobs[0][1]
    earlier = first.exists()
    _make_one(jobs[0])
    try:
        _check_decodable(first, earlier)
    except ValueError:
        for path in made:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        raise
    if workers > 1:
        with worker_pool(workers) as pool:            # its workers end with this command, even when SIGKILLed
            list(pool.map(_make_one, jobs[1:], chunksize=8))
    else:
        for job in jobs[1:]:
            _make_one(job)
    write_classes(out / "classes.txt", cfg.classes)
    write_list(out / "train.txt", lists["train"])
    write_list(out / "val.txt", lists["val"])
    summary = {"config": asdict(cfg), "encoder": X264, "classes": cfg.classes, "train": len(lists["train"]),
               "val": len(lists["val"])}
    write_text(out / "synth.json", json.dumps(summary, indent=1) + "\n")
    return summary


OWN = ("videos", "classes.txt", "train.txt", "val.txt", "synth.json")   # what generate writes under its folder


def check_folder(out: str | Path) -> None:
    """A set's folder holds nothing but what synth writes: a run, the current folder or a user's own files are
    never added to."""
    if not str(out).strip():
        raise ValueError("--out: an empty path; name the folder for the set (e.g. data/synthetic)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file; name the folder for the set")
    check_not_inside(out)                               # never a set inside a run's or another set's folder
    other = sorted(p.name for p in out.iterdir() if p.name not in OWN and not p.name.startswith(".")) \
        if out.is_dir() else []
    if other:
        raise ValueError(f"--out {out}: a folder with other files ({other[0]}); choose an empty folder for the set")


def _claim(out: Path, cfg: SynthConfig) -> list[Path]:
    """Refuse a folder holding files synth did not write or a finished set of another config; clear an unfinished
    run of another config; record this config. Returns what this call created (removed if it fails early)."""
    check_folder(out)
    videos, marker = out / "videos", out / "videos" / "config.json"
    wanted = json.dumps({**asdict(cfg), "encoder": X264}, sort_keys=True)
    ours = marker.is_file()
    if not ours:
        foreign = [out / n for n in OWN if (out / n).exists()]
        if foreign:
            raise ValueError(f"{foreign[0]}: not written by pst data synth (no {marker}); choose an empty --out "
                             f"folder (nothing of yours is overwritten)")
    elif marker.read_text() != wanted:
        if (out / "synth.json").is_file():
            raise ValueError(f"{out}: holds a finished synthetic set of another config (synth.json); choose "
                             f"another --out, or remove the folder yourself to render this one there")
        print(f"{videos}: an unfinished set of another config; rendering again")
        shutil.rmtree(videos)
    made = [out] if not out.exists() else [videos] if not videos.exists() else []
    if not marker.exists():
        videos.mkdir(parents=True, exist_ok=True)
        write_text(marker, wanted)
    return made


def _check_own_lists(out: Path, cfg: SynthConfig, lists: dict) -> None:
    """A finished set's lists are the ones synth writes (they are rewritten with the same bytes): one a user
    edited is refused, not replaced."""
    if not (out / "synth.json").is_file():
        return
    wanted = {"classes.txt": classes_text(cfg.classes)}
    wanted.update({f"{split}.txt": list_text(entries) for split, entries in lists.items()})
    for name, text in wanted.items():
        path = out / name
        if path.is_file() and path.read_bytes() != text.encode():
            raise ValueError(f"{path}: not the list pst data synth wrote for this set (edited?); restore it, or "
                             "write the set into another --out (nothing was changed)")


def _check_decodable(path: Path, earlier: bool) -> None:
    """The first video reads back: one rendered now at a size decord misreads, or one left by an earlier run
    that was damaged since (each gets its own fix)."""
    from pst.data.dataset import read_video
    from pst.data.video import header

    try:
        header(path)                    # a file that is no video: said by PyAV, before decord logs its own line
        read_video(path)
    except Exception as err:  # noqa: BLE001
        fix = ("a video of an earlier run, damaged since: remove it (or the whole set) and run synth again" if earlier
               else "choose another --size (decord misreads some small widths, e.g. 48 px)")
        raise ValueError(f"{path}: decord cannot read the synthetic video ({err}); {fix}") from err
