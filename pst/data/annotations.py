"""The one internal annotation format (mmaction2 style) that every dataset is converted to.

Video lists: ``relative/path.mp4 label``. Frame-folder lists: ``relative/frame_dir num_frames label``.
Classes: ``classes.txt``, one name a line, the class id is the line number (0-based).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from pst.io import read_utf8, write_text


@dataclass(frozen=True)
class Entry:
    path: str                      # relative to the data root
    label: int
    num_frames: Optional[int] = None   # frame folders only

    def line(self) -> str:
        if self.num_frames is None:
            return f"{self.path} {self.label}"
        return f"{self.path} {self.num_frames} {self.label}"


MODALITIES = {"video": "relative/path.mp4 label", "frames": "relative/frame_dir num_frames label"}
# A frame folder's file names: frame i is FRAME_TEMPLATE.format(i + FRAME_START) (SSv1 ships 00001.jpg, 1-based;
# mmaction2's own extraction writes img_00001.jpg); a dataset or a recipe may name others.
FRAME_TEMPLATE = "{:05d}.jpg"
FRAME_START = 1


def read_list(path: str | Path, num_classes: Optional[int] = None, modality: str = "video") -> list[Entry]:
    """Parse a list file of the dataset's declared ``modality`` (video files or frame folders, never guessed from
    the columns: ``test.mp4 0 3`` is not a frame folder of a video list). A line that does not fit stops with the
    file, the line number and the expected form, and (with ``num_classes``) so does a label outside
    0..num_classes-1 — before any step, not at a random one."""
    if modality not in MODALITIES:
        raise ValueError(f"data.modality: expected one of {', '.join(MODALITIES)}, got {modality!r}")
    columns = 2 if modality == "video" else 3
    entries = []
    for no, raw in enumerate(read_utf8(path, "list or classes file").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            if len(parts) != columns:
                raise ValueError
            numbers = [int(v) for v in parts[1:]]
            if modality == "frames" and numbers[0] < 1:
                raise ValueError
        except ValueError:
            spaced = (len(parts) > columns and all(v.lstrip("-").isdigit() for v in parts[-(columns - 1):])
                      and not all(v.isdigit() for v in parts[1:]))          # (not another modality's numbers)
            fix = ("its path holds a space, which the list's format (mmaction2's: fields split on spaces) cannot "
                   "carry; rename the file" if spaced else
                   "fix the line, or declare the other modality (data.modality)")
            raise ValueError(f"{path}:{no}: expected '{MODALITIES[modality]}' (a list of {modality}), got {raw!r}; "
                             f"{fix}") from None
        entries.append(Entry(parts[0], numbers[-1], numbers[0] if modality == "frames" else None))
        label = entries[-1].label
        if label < 0:                                   # never a class, whatever the classes file holds
            raise ValueError(f"{path}:{no}: label {label} is negative (labels count classes from 0); fix the line")
        if num_classes is not None and not label < num_classes:
            raise ValueError(f"{path}:{no}: label {label} is outside 0..{num_classes - 1} (the classes file has "
                             f"{num_classes} classes); fix the line or the classes file")
    return entries


def list_text(entries: Iterable[Entry]) -> str:
    """A list file's text, one entry a line: what write_list writes."""
    return "".join(e.line() + "\n" for e in entries)


def write_list(path: str | Path, entries: Iterable[Entry]) -> Path:
    return write_text(path, list_text(entries))


def read_classes(path: str | Path) -> list[str]:
    """A classes file, one name per line (line n+1 is label n); a name twice would make two labels one class (names
    that differ only in spaces around them too), and a blank line between names would renumber the labels after it
    (blank lines at the end are nothing)."""
    names, seen = [], {}
    lines = read_utf8(path, "list or classes file").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for no, line in enumerate(lines, 1):
        if not line.strip():
            raise ValueError(f"{path}:{no}: a blank line (line n+1 names label n: the names after it would take "
                             "other labels); remove it, or name that class")
        if line.strip() in seen:
            raise ValueError(f"{path}:{no}: class {line!r} again (first on line {seen[line.strip()]}); each class "
                             "once (names are compared without the spaces around them)")
        seen[line.strip()] = no
        names.append(line)
    return names


def classes_text(names: Iterable[str]) -> str:
    """A classes file's text, one name a line: what write_classes writes."""
    names = list(names)
    bad = [n for n in names if "\n" in n]
    if bad:
        raise ValueError(f"class names may not contain newlines: {bad[:3]}")
    return "".join(n + "\n" for n in names)


def write_classes(path: str | Path, names: Iterable[str]) -> Path:
    return write_text(path, classes_text(names))
