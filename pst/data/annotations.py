"""The one internal annotation format (mmaction2 style) that every dataset is converted to.

Video lists: ``relative/path.mp4 label``. Frame-folder lists: ``relative/frame_dir num_frames label``.
Classes: ``classes.txt``, one name a line, the class id is the line number (0-based).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from pst.io import write_text


@dataclass(frozen=True)
class Entry:
    path: str                      # relative to the data root
    label: int
    num_frames: Optional[int] = None   # frame folders only

    def line(self) -> str:
        if self.num_frames is None:
            return f"{self.path} {self.label}"
        return f"{self.path} {self.num_frames} {self.label}"


def read_list(path: str | Path, num_classes: Optional[int] = None) -> list[Entry]:
    """Parse a list file; a malformed line stops with the file, the line number and the expected form, and (with
    ``num_classes``) so does a label outside 0..num_classes-1 — before any step, not at a random one."""
    entries = []
    for no, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            if len(parts) == 2:
                entries.append(Entry(parts[0], int(parts[1])))
            elif len(parts) == 3:
                entries.append(Entry(parts[0], int(parts[2]), int(parts[1])))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{path}:{no}: expected 'relative/path label' or 'frame_dir num_frames label', "
                             f"got {raw!r}") from None
        label = entries[-1].label
        if num_classes is not None and not 0 <= label < num_classes:
            raise ValueError(f"{path}:{no}: label {label} is outside 0..{num_classes - 1} (the classes file has "
                             f"{num_classes} classes); fix the line or the classes file")
    return entries


def write_list(path: str | Path, entries: Iterable[Entry]) -> Path:
    return write_text(path, "".join(e.line() + "\n" for e in entries))


def read_classes(path: str | Path) -> list[str]:
    return [ln.rstrip("\n") for ln in Path(path).read_text().splitlines() if ln.strip()]


def write_classes(path: str | Path, names: Iterable[str]) -> Path:
    names = list(names)
    bad = [n for n in names if "\n" in n]
    if bad:
        raise ValueError(f"class names may not contain newlines: {bad[:3]}")
    return write_text(path, "".join(n + "\n" for n in names))
