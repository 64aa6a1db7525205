"""A torch Dataset over internal lists: videos through the recipe's decoder (pst.data.video), JPG folders for frame
datasets (SSv1).

Training: a sample is one clip, or ``repeats`` clips of one decode (repeated augmentation); a video that cannot be
read is replaced by another sample; its path is warned about and returned in the
sample's ``failed`` list so the run can count it; videos `pst data validate` could not trust are left out (counted
in ``bad``). A partial video (fewer frames than its header promises: a truncated download) is used as it is and
returned in ``partial``, so training and test count it too. Test: a sample holds every view of one video,
(num_clips x crops, C, T, H, W), so evaluation can batch them; an unreadable or untrusted video comes back with
``valid=False``. A video shorter than the clip (read looping, as mmaction2 does) is returned in ``looped``.
"""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from pst.data.annotations import FRAME_START, FRAME_TEMPLATE, Entry, read_list
from pst.data.sampling import Sampling, clip_loops, frame_indices


class UnreadableVideosError(RuntimeError):
    """So many videos of a list failed to decode that the copy, not a file, is broken (validate it)."""


def claimed_frames(path: str | Path) -> int:
    """Frames a video's header promises: its index's count, or duration x rate where it stores none (WebM).
    Remembered per file version (path, size, modification time): reading the header again is a second open of
    the file per clip (3-6 ms of a K400 clip's ~110)."""
    st = os.stat(path)
    return _claimed_frames(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 18)
def _claimed_frames(path: str, size: int, mtime_ns: int) -> int:
    from pst.data.video import header

    return header(path).frames


def decode_video(path: str | Path, choose: Optional[Callable[[int], np.ndarray]] = None,
                 decoder: str = "decord") -> tuple[torch.Tensor, bool]:
    """uint8 frames (T, C, H, W) of a video (all of them, or ``choose(num_frames)`` indices) with ``decoder``
    (pst.data.video), and whether it is partial: a decoder sees only the frames that are there (a truncated WebM of
    90 frames opens as 27), so a video shorter than its header promises would otherwise train and test silently."""
    from pst.data.video import open_reader

    reader = open_reader(path, decoder)
    try:
        n = reader.num_frames
        if n == 0:
            raise RuntimeError("no frames")
        inds = np.arange(n) if choose is None else np.asarray(choose(n)).reshape(-1)
        frames = reader.get(inds.tolist())
    finally:
        getattr(reader, "close", lambda: None)()
    return frames, 0 < n < claimed_frames(path)


def read_video(path: str | Path, choose: Optional[Callable[[int], np.ndarray]] = None,
               decoder: str = "decord") -> torch.Tensor:
    """uint8 frames (T, C, H, W) of a video: all of them, or ``choose(num_frames)`` indices."""
    return decode_video(path, choose, decoder)[0]


def read_frame_dir(path: str | Path, indices: np.ndarray, tmpl: str = FRAME_TEMPLATE,
                   start: int = FRAME_START) -> torch.Tensor:
    """uint8 frames (T, C, H, W) of a JPG folder; file numbers are 1-based by default (SSv1's 00001.jpg)."""
    from PIL import Image

    cache: dict[int, np.ndarray] = {}
    out = []
    for i in np.asarray(indices).reshape(-1).tolist():
        if i not in cache:
            with Image.open(Path(path) / tmpl.format(i + start)) as img:
                cache[i] = np.asarray(img.convert("RGB"))
        out.append(cache[i])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def frame_count(folder: str | Path, tmpl: str = FRAME_TEMPLATE, start: int = FRAME_START) -> int:
    """The frames of a folder given by hand (a list entry states its count), counted as they are named; a folder
    with none so named is refused, naming the first name looked for."""
    n = 0
    while (Path(folder) / tmpl.format(start + n)).is_file():
        n += 1
    if not n:
        raise ValueError(f"{folder}: a folder without frames named as the run's are ({tmpl.format(start)}, ...); "
                         "give a video file or such a frame folder")
    return n


def read_clips(path: str | Path, num_frames: Optional[int], sampling: Sampling, test: bool,
               rng: Optional[np.random.Generator] = None, tmpl: str = FRAME_TEMPLATE,
               start: int = FRAME_START, decoder: str = "decord") -> tuple[torch.Tensor, bool, int]:
    """uint8 frames (clips x T, C, H, W) that ``sampling`` takes from a video file, or from a frame folder of
    ``num_frames`` JPGs (a frame-folder list entry), whether the video is partial (see decode_video) and the frames
    the sampling chose from — one reader for the dataset, `pst predict` and the figures."""
    if num_frames is not None:
        return read_frame_dir(path, frame_indices(num_frames, sampling, test, rng), tmpl, start), False, num_frames
    seen = []

    def choose(n: int) -> np.ndarray:
        seen.append(n)
        return frame_indices(n, sampling, test, rng)

    frames, partial = decode_video(path, choose, decoder)
    return frames, partial, seen[0]


def test_views(frames: torch.Tensor, transform: Callable, sampling: Sampling) -> torch.Tensor:
    """(clips x crops, C, T, H, W) test views of the frames read_clips took, clip-major (view k * crops + c): what
    an evaluation scores and stores, and what `pst predict` feeds the model."""
    t = sampling.clip_len
    return torch.cat([transform(frames[k * t:(k + 1) * t]) for k in range(sampling.num_clips)])


def _check_present(list_file: str | Path, root: Path, entries: list[Entry]) -> None:
    """Refuse, before any compute, a list naming videos (or frame folders) that are not under the root: a missing
    file is bad input, not a video that failed to decode (prepare lists only the clips it made; missing_*.txt
    names the others)."""
    absent = [e for e in entries if not (os.path.isdir if e.num_frames is not None else os.path.isfile)(root / e.path)]
    if absent:
        first = absent[0]
        no = next((i for i, raw in enumerate(Path(list_file).read_text(errors="replace").splitlines(), 1)
                   if raw.split()[:1] == [first.path]), "?")
        found = root / first.path
        what = ("a file, where a line with a frame count names a frame folder" if first.num_frames is not None else
                "a folder, where a line of two columns names a video file (a frame folder's line gives its frame "
                "count: PATH FRAMES LABEL)") if found.exists() else f"not under the data root {root}"
        raise ValueError(f"{list_file}:{no}: {first.path} is {what} ({len(absent)} of the list's {len(entries)} "
                         "entries are missing or of the other kind); fetch or prepare them there, or remove their "
                         "lines")


class VideoDataset(Dataset):
    """Clips from the videos (or frame folders) of one list file.

    ``transform``: training, ``(frames, label) -> (clip, label)``; test, ``frames -> views`` (see transforms).
    """

    def __init__(self, root: str | Path, list_file: str | Path, sampling: Sampling, transform: Callable,
                 test: bool = False, frame_tmpl: str = FRAME_TEMPLATE, frame_start: int = FRAME_START,
                 max_retries: int = 20, cache: bool = False, num_classes: Optional[int] = None, modality: str = "video",
                 decoder: str = "decord", bad: Optional[dict[str, str]] = None, repeats: int = 1):
        self.root = Path(root)
        entries: list[Entry] = read_list(list_file, num_classes, modality)
        if not entries:
            raise ValueError(f"{list_file}: no entries; is this the right list?")
        # ``bad``: videos `pst data validate` could not trust ({path: reason}); training leaves them out, a test
        # keeps them listed and counts them as failed, so no wrong frame is ever trained on or scored
        self.bad = {e.path: bad[e.path] for e in entries if bad and e.path in bad}
        self.entries = [e for e in entries if e.path not in self.bad] if not test else entries
        if not self.entries:
            raise ValueError(f"{list_file}: every entry failed validation (bad_videos.tsv); repair the copy")
        _check_present(list_file, self.root, [e for e in self.entries if e.path not in self.bad])
        self.decoder = decoder
        self.sampling, self.transform, self.test = sampling, transform, test
        self.frame_tmpl, self.frame_start, self.max_retries = frame_tmpl, frame_start, max_retries
        # cache: keep every decoded video in memory (per worker process). For small sets such as the synthetic one
        # (49 MB), where decoding would otherwise cost as much as a tiny model's training step.
        self.cache: Optional[dict[str, tuple[torch.Tensor, bool]]] = {} if cache else None
        # repeats: training clips made from one decode (repeated augmentation, data.train.repeated_augmentation)
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def labels(self) -> list[int]:
        return [e.label for e in self.entries]

    def read(self, entry: Entry, rng: np.random.Generator) -> tuple[torch.Tensor, bool, int]:
        path = self.root / entry.path
        if entry.path in self.bad:
            raise RuntimeError(f"failed validation: {self.bad[entry.path]}")
        if entry.num_frames is not None or self.cache is None:
            return read_clips(path, entry.num_frames, self.sampling, self.test, rng, self.frame_tmpl,
                              self.frame_start, self.decoder)
        if entry.path not in self.cache:
            self.cache[entry.path] = decode_video(path, decoder=self.decoder)
        frames, partial = self.cache[entry.path]
        inds = np.asarray(frame_indices(len(frames), self.sampling, self.test, rng)).reshape(-1)
        return frames[torch.from_numpy(inds)], partial, len(frames)

    def __getitem__(self, index) -> dict:
        """``index`` or ``(index, seed)``: with a seed every random choice of the sample (frames, crop, flip,
        augmentation) is drawn from it, so a sample is the same whatever process or worker loads it."""
        if isinstance(index, (tuple, list)):
            index, seed = index
            with torch.random.fork_rng(devices=[]):
                # the CPU generator only: torch.manual_seed also queues a seed for every accelerator not yet
                # initialised, formatting the call's stack each time (~2 ms a sample: ~20 % of a tiny run's epoch),
                # and would reseed an initialised GPU's generator, which fork_rng(devices=[]) does not restore
                torch.default_generator.manual_seed(seed)
                return self._get(int(index), np.random.default_rng(seed))
        return self._get(int(index), np.random.default_rng(int(torch.randint(2**62, (1,)))))

    def _get(self, index: int, rng: np.random.Generator) -> dict:
        failed: list[str] = []
        for _ in range(self.max_retries + 1):
            entry = self.entries[index]
            try:
                frames, partial, num_frames = self.read(entry, rng)
                break
            except Exception as err:  # noqa: BLE001 - any decoder error means "unreadable video"
                failed.append(entry.path)
                if self.test:
                    return {"clips": None, "label": entry.label, "index": index, "valid": False, "failed": failed,
                            "partial": [], "looped": [], "error": f"{type(err).__name__}: {err}"}
                warnings.warn(f"unreadable video {self.root / entry.path} ({type(err).__name__}: {err}); "
                              "replaced by another sample", RuntimeWarning, stacklevel=2)
                index = int(rng.integers(len(self.entries)))
        else:
            raise UnreadableVideosError(f"{self.max_retries + 1} unreadable videos in a row under {self.root} "
                               f"(last: {failed[-1]}); run `pst data validate` on this list")
        cut = [entry.path] if partial else []
        looped = [entry.path] if clip_loops(num_frames, self.sampling) else []   # training's one clip: as a test's
        if self.test:
            views = test_views(frames, self.transform, self.sampling)
            return {"clips": views, "label": entry.label, "index": index, "valid": True, "failed": failed,
                    "partial": cut, "looped": looped}
        made = [self.transform(frames, entry.label) for _ in range(self.repeats)]
        clips = [c[0] if isinstance(c, tuple) else c for c, _ in made]
        keep = [c[1] for c, _ in made if isinstance(c, tuple)] or None     # uint8 clips' erasing masks
        labels = [label for _, label in made]
        if self.repeats == 1:
            return {"clips": clips[0], "label": labels[0], "index": index, "valid": True, "failed": failed,
                    "partial": cut, "looped": looped, "keep": None if keep is None else keep[0]}
        return {"clips": torch.stack(clips), "label": labels, "index": index, "valid": True, "failed": failed,
                "partial": cut, "looped": looped, "keep": None if keep is None else torch.stack(keep)}


def collate(batch: list[dict]) -> dict:
    """Stack the clips of valid samples (a repeated sample's clips one after the other); keep the indices and
    failures of all (for counting and reporting)."""
    valid = [b for b in batch if b["valid"]]
    repeated = bool(valid) and isinstance(valid[0]["label"], list)
    join = torch.cat if repeated else torch.stack
    labels = [b["label"] if repeated else [b["label"]] for b in valid]
    masks = [b["keep"] for b in valid if b.get("keep") is not None]
    return {
        "clips": join([b["clips"] for b in valid]) if valid else None,
        "keep": join(masks) if masks else None,
        "label": torch.tensor([y for ys in labels for y in ys], dtype=torch.long),
        "index": torch.tensor([b["index"] for b, ys in zip(valid, labels) for _ in ys], dtype=torch.long),
        "invalid_index": [b["index"] for b in batch if not b["valid"]],
        "failed": [p for b in batch for p in b["failed"]],
        "partial": [p for b in batch for p in b["partial"]],
        "looped": [p for b in batch for p in b["looped"]],
    }
