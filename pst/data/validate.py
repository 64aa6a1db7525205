"""`pst data validate`: decode every listed video (or every JPG of a frame folder); bad ones go to a TSV."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from pst.data.annotations import Entry, read_classes, read_list
from pst.data.dataset import claimed_frames, read_frame_dir
from pst.io import write_text


class PartialVideo(ValueError):
    """A video that decodes fewer frames than its container claims (e.g. a truncated download)."""


def decodable_frames(path: Path) -> tuple[int, int]:
    """(frames PyAV actually decodes, frames the container claims; 0 if it claims none)."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        decoded = 0
        try:
            for _ in c.decode(stream):
                decoded += 1
        except av.error.FFmpegError:
            pass                                    # a truncated stream ends here: what decoded so far counts
    return decoded, claimed_frames(path)


def check_entry(root: Path, entry: Entry, chunk: int = 64, frame_template: str = "{:05d}.jpg",
                frame_start: int = 1) -> None:
    """Raise if any frame of the entry cannot be decoded, or (PartialVideo) if the video decodes fewer frames
    than its container claims."""
    path = root / entry.path
    if entry.num_frames is not None:
        read_frame_dir(path, np.arange(entry.num_frames), frame_template, frame_start)
        return
    if not path.is_file():
        raise FileNotFoundError("missing file")
    if path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    import decord

    vr = decord.VideoReader(str(path), num_threads=1)
    if len(vr) == 0:
        raise ValueError("no frames")
    for start in range(0, len(vr), chunk):
        vr.get_batch(list(range(start, min(start + chunk, len(vr)))))
    decoded, claimed = decodable_frames(path)
    if claimed and decoded < claimed:
        raise PartialVideo(f"partial: decodes {decoded} of the {claimed} frames its container claims")


def validate(root: str | Path, list_file: str | Path, out: Optional[str | Path] = None,
             progress: bool = True, classes: Optional[str | Path] = None, modality: str = "video",
             frame_template: str = "{:05d}.jpg", frame_start: int = 1) -> dict:
    """Decode every entry of ``list_file``, a list of ``modality`` (labels checked against ``classes``, default
    classes.txt beside the list, before any decoding); undecodable and partial videos go to the TSV with their
    reason. Frame folders are read as the recipes read them (``frame_template`` from ``frame_start``)."""
    root, list_file = Path(root), Path(list_file)
    classes = Path(classes) if classes else list_file.parent / "classes.txt"
    entries = read_list(list_file, len(read_classes(classes)) if classes.is_file() else None, modality)
    bad, partial = [], 0
    for e in tqdm(entries, desc=f"validate {list_file.name}", disable=not progress):
        try:
            check_entry(root, e, frame_template=frame_template, frame_start=frame_start)
        except PartialVideo as err:
            partial += 1
            bad.append((e.path, str(err)))
        except Exception as err:  # noqa: BLE001 - every decoder failure is a bad video, never a crash
            bad.append((e.path, f"{type(err).__name__}: {err}".replace("\t", " ").replace("\n", " ")[:300]))
    tsv = Path(out) if out else list_file.parent / "bad_videos.tsv"
    write_text(tsv, "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in bad))
    return {"list": str(list_file), "videos": len(entries), "bad": len(bad), "partial": partial,
            "ok": len(entries) - len(bad), "tsv": str(tsv)}
