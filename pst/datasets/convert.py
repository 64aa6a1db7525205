"""Official annotation formats -> the internal lists + classes (see annotations.py and ../shared/datasets.md)."""
from __future__ import annotations

import csv
import filecmp
import functools
import json
import os
from pathlib import Path

from pst.data.annotations import Entry
from pst.io import first_repeat
from pst.datasets.download import RECORD, load_record


def _annotation(read):
    """A reader of one official annotation file (its first argument): a file of another shape is refused in one
    line naming it, not a KeyError or TypeError from deep inside."""
    @functools.wraps(read)
    def wrapped(path, *args):
        try:
            return read(path, *args)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError, csv.Error) as err:
            if isinstance(err, ValueError) and str(err).startswith(str(path)):
                raise ValueError(f"{err}{_recorded(path)}") from None      # already says which file and what
            raise ValueError(f"{path}: not the annotation file the dataset ships ({type(err).__name__}: {err}); "
                             f"fetch it again, or place the original file{_recorded(path)}") from None
    return wrapped


def _split(read):
    """A reader of one split's annotation file (an `_annotation`): a file that names no clip (empty, a header row
    only, ``[]``) is refused naming it, before anything is extracted."""
    @_annotation
    @functools.wraps(read)
    def wrapped(path, *args):
        entries, missing = read(path, *args)
        if not entries and not missing:
            raise ValueError(f"{path}: names no clip; fetch the dataset's annotations again, or place the original "
                             "file")
        return entries, missing
    return wrapped


def _classes(read):
    """A reader of one dataset's class file (an `_annotation`): a file that names no class (empty, ``{}``, ``[]``)
    is refused naming it, not later as a label "outside the 0 classes" of a split file."""
    @_annotation
    @functools.wraps(read)
    def wrapped(path, *args):
        classes = read(path, *args)
        if not classes:
            raise ValueError(f"{path}: names no class; fetch the dataset's annotations again, or place the original "
                             "file")
        return classes
    return wrapped


def _recorded(path: Path) -> str:
    """What a fetch again needs first when ``path`` was recorded at its download (fetch then only checks it against
    that record): its removal, and its entry's."""
    try:
        known = Path(path).name in load_record(Path(path).parent)
    except (OSError, ValueError):               # a damaged record: fetch refuses it with its own fix
        known = False
    return f" (it was recorded when fetched: first remove it and its entry in {Path(path).parent / RECORD})" \
        if known else ""


def index_files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    """basename -> path relative to ``folder`` for every file with one of ``suffixes`` (layouts vary by copy). A
    name found twice is one clip only if both files hold the same bytes (the first path in sorted order is taken);
    two different videos of one name are refused: which one the annotations mean is unknown."""
    out: dict[str, str] = {}
    for dirpath, _, names in sorted(os.walk(folder)):
        for n in sorted(names):
            if not n.endswith(suffixes):
                continue
            path = os.path.relpath(os.path.join(dirpath, n), folder)
            if n in out and not filecmp.cmp(folder / out[n], folder / path, shallow=False):
                raise ValueError(f"{folder}: two different videos named {n} ({out[n]}, {path}); which one the "
                                 "annotations mean is unknown: remove the other from this copy, then prepare again")
            out.setdefault(n, path)
    return out


@_annotation
def k400_classes(train_csv: Path) -> list[str]:
    """The sorted training labels; an empty label (it would become class 0 and shift every other) or a file without
    clips is refused."""
    labels = set()
    with open(train_csv, newline="", encoding="utf-8-sig") as fh:     # a BOM (a spreadsheet's save)
        reader = csv.DictReader(fh)
        if "label" not in (reader.fieldnames or []):
            raise ValueError(f"{train_csv}: expected a header with a label column (label,youtube_id,time_start,"
                             f"time_end,split), got {', '.join(reader.fieldnames or [])[:80]!r}; fetch the file again")
        for row in reader:
            if not (row["label"] or "").strip():
                raise ValueError(f"{train_csv}:{reader.line_num}: an empty label (every clip names its class); "
                                 "fetch the file again")
            labels.add(row["label"])
    if not labels:
        raise ValueError(f"{train_csv}: no clips (a header only, or empty); fetch the file again")
    return sorted(labels)


@_split
def convert_k400(split_csv: Path, classes: list[str], videos: dict[str, str]) -> tuple[list[Entry], list[str]]:
    """K400 CSV (label,youtube_id,time_start,time_end,split[,is_cc]) -> entries; clips missing from this copy
    (YouTube attrition) are returned, not fatal."""
    ids = {c: i for i, c in enumerate(classes)}
    entries, missing = [], []
    with open(split_csv, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        need = {"label", "youtube_id", "time_start", "time_end"}
        if not need <= set(reader.fieldnames or []):
            raise ValueError(f"{split_csv}: expected columns {sorted(need)}, got {reader.fieldnames}")
        for row in reader:
            try:
                name = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4"
            except ValueError:
                raise ValueError(f"{split_csv}:{reader.line_num}: time_start {row['time_start']!r} / time_end "
                                 f"{row['time_end']!r} are not whole seconds; fetch the file again") from None
            if row["label"] not in ids:
                raise ValueError(f"{split_csv}:{reader.line_num}: label {row['label']!r} is not one of the "
                                 f"{len(classes)} classes of the training annotations; fetch both files again")
            if name in videos:
                entries.append(Entry(videos[name], ids[row["label"]]))
            else:
                missing.append(name)
    return entries, missing


def _template_class(template: str) -> str:
    return template.replace("[", "").replace("]", "")


@_classes
def sthv2_classes(labels_json: Path) -> list[str]:
    labels = json.loads(Path(labels_json).read_text(encoding="utf-8-sig"))
    by_id = sorted((int(i), name) for name, i in labels.items())
    if [i for i, _ in by_id] != list(range(len(by_id))):
        raise ValueError(f"{labels_json}: ids are not 0..{len(by_id) - 1}")
    return [name for _, name in by_id]


@_split
def convert_sthv2(split_json: Path, classes: list[str], videos: dict[str, str]) -> tuple[list[Entry], list[str]]:
    """SSv2 JSON list of {id, label, template, placeholders}; the class is the template without brackets."""
    ids = {c: i for i, c in enumerate(classes)}
    entries, missing = [], []
    for item in json.loads(Path(split_json).read_text(encoding="utf-8-sig")):
        cls = _template_class(item["template"])
        if cls not in ids:
            raise ValueError(f"{split_json}: template {item['template']!r} (id {item['id']}) not in the labels file")
        name = f"{item['id']}.webm"
        if name in videos:
            entries.append(Entry(videos[name], ids[cls]))
        else:
            missing.append(name)
    return entries, missing


@_classes
def sthv1_classes(labels_csv: Path) -> list[str]:
    """SSv1 classes numbered as the official lists number them: sorted by name (TSM's gen_label_sthv1.py, which
    wrote the lists the official config reads), not in the labels file's order (mmaction2's own script's)."""
    names = [ln.strip() for ln in Path(labels_csv).read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    twice = first_repeat(names)
    if twice is not None:
        raise ValueError(f"{labels_csv}: class {twice!r} is listed twice; fix the labels file")
    return sorted(names)


@_split
def convert_sthv1(split_csv: Path, classes: list[str], frames_root: Path, prefix: str) -> tuple[list[Entry], list[str]]:
    """SSv1 'id;label text' lines -> frame-folder entries (dir, number of JPGs, label)."""
    ids = {c: i for i, c in enumerate(classes)}
    entries, missing = [], []
    for no, line in enumerate(Path(split_csv).read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        vid, _, label = line.partition(";")
        if label.strip() not in ids:
            raise ValueError(f"{split_csv}:{no}: label {label.strip()!r} is not in the labels file")
        folder = frames_root / vid.strip()
        n = len([f for f in os.listdir(folder) if f.endswith(".jpg")]) if folder.is_dir() else 0
        if n:
            entries.append(Entry(f"{prefix}/{vid.strip()}", ids[label.strip()], n))
        else:
            missing.append(vid.strip())
    return entries, missing


@_classes
def diving48_classes(vocab_json: Path) -> list[str]:
    """Diving48_vocab.json: a list of classes, each a list of its four attributes; a class named twice is refused."""
    vocab = json.loads(Path(vocab_json).read_text(encoding="utf-8-sig"))
    if not isinstance(vocab, list):
        raise ValueError(f"{vocab_json}: expected a list of classes, got a {type(vocab).__name__}; fetch the file "
                         "again")
    classes = [" ".join(map(str, v)) if isinstance(v, list) else str(v) for v in vocab]
    twice = first_repeat(classes)
    if twice is not None:
        raise ValueError(f"{vocab_json}: class {twice!r} is named twice; fetch the file again")
    return classes


@_split
def convert_diving48(split_json: Path, videos: dict[str, str]) -> tuple[list[Entry], list[str]]:
    """Diving48 V2 JSON list of {vid_name, label, start_frame, end_frame}."""
    entries, missing = [], []
    for i, item in enumerate(json.loads(Path(split_json).read_text(encoding="utf-8-sig"))):
        name = f"{item['vid_name']}.mp4"
        label = item["label"]
        if type(label) is not int:                  # not 1.7 or true read as class 1
            raise ValueError(f"{split_json}: item {i} ({item['vid_name']}): label {label!r} is not a class index; "
                             "fetch the file again")
        if name in videos:
            entries.append(Entry(videos[name], label))
        else:
            missing.append(name)
    return entries, missing
