"""`pst data validate`: decode every listed video (or every JPG of a frame folder); bad ones go to a TSV."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from pst.data.annotations import Entry, read_list
from pst.data.dataset import read_frame_dir
from pst.io import write_text


def check_entry(root: Path, entry: Entry, chunk: int = 64) -> None:
    """Raise if any frame of the entry cannot be decoded."""
    path = root / entry.path
    if entry.num_frames is not None:
        read_frame_dir(path, np.arange(entry.num_frames))
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


def validate(root: str | Path, list_file: str | Path, out: Optional[str | Path] = None,
             progress: bool = True) -> dict:
    root, list_file = Path(root), Path(list_file)
    entries = read_list(list_file)
    bad = []
    for e in tqdm(entries, desc=f"validate {list_file.name}", disable=not progress):
        try:
            check_entry(root, e)
        except Exception as err:  # noqa: BLE001 - every decoder failure is a bad video, never a crash
            bad.append((e.path, f"{type(err).__name__}: {err}".replace("\t", " ").replace("\n", " ")[:300]))
    tsv = Path(out) if out else list_file.parent / "bad_videos.tsv"
    write_text(tsv, "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in bad))
    return {"list": str(list_file), "videos": len(entries), "bad": len(bad), "ok": len(entries) - len(bad),
            "tsv": str(tsv)}
