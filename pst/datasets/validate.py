"""`pst data validate`: read every listed video the way the loader reads it and compare with a front-to-back decode.

Front to back (PyAV) is the reference: it counts the frames that decode and notes where the stream ends. The
loader reads by seeking, with a fresh reader per clip, so each decoder the recipes use is asked for frames at n/3,
n/2, 2n/3, around the second key frame and the last two frames, each from a fresh reader, and must return the
reference's pixels. A file fails, with one reason naming what and what to do, when it cannot be opened, has no
video stream, ends before its header says (truncated at s of S seconds), decodes fewer frames than its index lists,
or a decoder returns other frames on random access (seek mismatch at frame n). Frame folders: every JPG is read.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from pst.data.annotations import FRAME_START, FRAME_TEMPLATE, Entry, read_classes, read_list
from pst.io import check_output, first_repeat, sha256sum, write_text, write_texts

MISMATCH = 3.0          # mean |difference| (of 255) above which a random access did not return the reference frame
FIX = ("training leaves it out (data.bad_videos); `pst data prepare` re-encodes a raw video from a front-to-back decode, "
       "and a copy prepare made that still fails needs another decoder (data.decoder) or --short-side")


@dataclass
class Verdict:
    path: str
    ok: bool = True
    reason: str = ""
    frames_claimed: Optional[int] = None
    frames_decoded: Optional[int] = None
    duration_s: Optional[float] = None
    decoded_s: Optional[float] = None
    decoders: list = field(default_factory=list)

    def fail(self, reason: str) -> "Verdict":
        self.ok, self.reason = False, reason.replace("\t", " ").replace("\n", " ")[:400]
        return self


def probe_positions(n: int, keys: Sequence[int]) -> list[int]:
    """Where the loader's reads are checked: n/3, n/2, 2n/3, either side of the second key frame, the last two."""
    near = [keys[1] - 1, keys[1] + 1] if len(keys) > 1 else []
    return sorted({p for p in [n // 3, n // 2, 2 * n // 3, *near, n - 2, n - 1] if 0 <= p < n})


def _index(path: Path) -> tuple[int, list[int]]:
    """(packets with data, presentation ranks of the key frames): a demux-only pass."""
    import av

    from pst.data.video import packet_index

    with av.open(str(path)) as c:
        index = packet_index(c, c.streams.video[0])
    rank = {t: i for i, t in enumerate(index.pts)}
    return len(index.pts), [rank[k] for k in index.keys]


def check_video(path: Path, decoders: Sequence[str] = ("decord",)) -> Verdict:
    """The verdict on one video file (see the module doc)."""
    import av

    from pst.data.video import header, open_reader, reference_frames

    v = Verdict(str(path), decoders=list(decoders))
    if not path.is_file():
        return v.fail("missing file; fetch or place it again (`pst data fetch`)")
    if path.stat().st_size == 0:
        return v.fail("empty file (0 bytes); fetch it again")
    try:
        head = header(path)
    except (av.error.FFmpegError, OSError) as err:
        return v.fail(f"cannot open ({type(err).__name__}: {err}); fetch it again or drop it from the list")
    except ValueError as err:
        return v.fail(f"{err}; drop it from the list")
    v.frames_claimed, v.duration_s = head.frames, round(head.duration, 3)
    indexed, keys = _index(path)
    positions = probe_positions(indexed, keys)
    ref: dict[int, np.ndarray] = {}
    decoded, end = 0, 0.0
    for i, (img, t, d) in enumerate(reference_frames(path)):
        if i in positions:
            ref[i] = img
        decoded, end = i + 1, max(end, t + d if t == t else end)
    v.frames_decoded, v.decoded_s = decoded, round(end, 3)
    if decoded == 0:
        return v.fail("no frame decodes; fetch it again or drop it from the list")
    tolerance = 0.5 / float(head.rate) if head.rate else 0.0
    if head.duration and end < head.duration - tolerance:
        return v.fail(f"truncated at {end:.2f} of {head.duration:.2f} seconds ({decoded} frames decode); "
                      "fetch it again (a cut download keeps its header)")
    if decoded < indexed:
        return v.fail(f"decodes {decoded} of the {indexed} frames its index lists (corrupt from frame {decoded}); "
                      "fetch it again")
    for name in decoders:
        for pos in [p for p in positions if p < decoded]:
            try:
                reader = open_reader(path, name)
                if reader.num_frames > decoded:
                    return v.fail(f"{name} counts {reader.num_frames} frames, {decoded} decode; {FIX}")
                got = reader.get([pos])[0].permute(1, 2, 0).numpy()
            except Exception as err:  # noqa: BLE001 - any decoder failure is a verdict, never a crash
                message = re.sub(r"^\[[\d:]+\] \S+: ", "", str(err).splitlines()[0])[:120]   # decord's prefix
                return v.fail(f"{name} cannot read frame {pos} ({type(err).__name__}: {message}); {FIX}")
            diff = float(np.abs(got.astype(np.int16) - ref[pos].astype(np.int16)).mean()) \
                if got.shape == ref[pos].shape else 255.0
            if diff > MISMATCH:
                return v.fail(f"seek mismatch at frame {pos} ({name}: mean |d| {diff:.0f} of 255 from the "
                              f"front-to-back decode); {FIX}")
    return v


def check_entry(root: Path, entry: Entry, decoders: Sequence[str] = ("decord",),
                frame_template: str = FRAME_TEMPLATE, frame_start: int = FRAME_START) -> Verdict:
    """The verdict on one list entry: a video (check_video) or a frame folder (every JPG read)."""
    path = root / entry.path
    if entry.num_frames is None:
        return check_video(path, decoders)
    from pst.data.dataset import read_frame_dir          # torch with it: a gather job starts without it

    v = Verdict(str(path), frames_claimed=entry.num_frames)
    try:
        read_frame_dir(path, np.arange(entry.num_frames), frame_template, frame_start)
    except Exception as err:  # noqa: BLE001
        return v.fail(f"frame folder unreadable ({type(err).__name__}: {str(err).splitlines()[0][:160]}); "
                      "extract it again")
    v.frames_decoded = entry.num_frames
    return v


BAD_HEADER = "path\treason"            # bad_videos.tsv's first line
SHARD_MARK = "# shard"                  # a shard's last line: "# shard I/N of <list digest>" (gather checks them all)


def read_bad(path: str | Path) -> dict[str, str]:
    """{list path: reason} of a bad_videos.tsv (empty if there is none): what training and evaluation skip."""
    p = Path(path)
    if not p.is_file():
        return {}
    rows = p.read_text().splitlines()
    if not rows or rows[0] != BAD_HEADER:
        raise ValueError(f"{p}: not a list of bad videos written by `pst data validate` (its first line is not "
                         f"{BAD_HEADER!r}); run the validation again to write it")
    if any(r.startswith(SHARD_MARK) for r in rows):
        raise ValueError(f"{p}: one shard's bad videos, not the list's; gather the shards (`pst data validate LIST "
                         "--gather SHARD...`) and name what it writes")
    return dict(r.split("\t", 1) for r in rows[1:] if "\t" in r)


REPORT_FIELDS = ["path", "verdict", "reason", "frames_claimed", "frames_decoded", "duration_s", "decoded_s", "decoders"]


def validate(root: str | Path, list_file: str | Path, out: Optional[str | Path] = None,
             progress: bool = True, classes: Optional[str | Path] = None, modality: str = "video",
             frame_template: str = FRAME_TEMPLATE, frame_start: int = FRAME_START,
             decoders: Sequence[str] = ("decord",),
             report: Optional[str | Path] = None, shard: Optional[tuple[int, int]] = None) -> dict:
    """Check every entry of ``list_file``, a list of ``modality`` (labels checked against ``classes``, default
    classes.txt beside the list, else in ``root``, before any decoding): bad ones go to the TSV with their reason,
    and ``report`` (CSV) gets every file's verdict and counts. Frame folders are read as the recipes read them.
    ``shard`` (I, N): only every N-th entry from the I-th (one job of a scattered validation; `gather` joins the N
    TSVs)."""
    root, list_file = Path(root), Path(list_file)
    if classes and not Path(classes).is_file():
        raise ValueError(f"--classes {classes}: no such file (the dataset's classes.txt, one name per line)")
    beside = [list_file.parent / "classes.txt", Path(root) / "classes.txt"]     # the list's folder, then the root's
    classes = Path(classes) if classes else next((c for c in beside if c.is_file()), beside[0])
    if shard is not None and not out:
        raise ValueError("--shard: give --out for the shard's file (the default, the list's bad_videos.tsv, is the "
                         "whole list's, which --gather writes)")
    tsv = check_output(out or list_file.parent / "bad_videos.tsv", (list_file, classes), BAD_HEADER)
    if report:
        if Path(report).resolve() == tsv.resolve():
            raise ValueError(f"--report {report}: also the list of bad videos (--out); give the two other names")
        check_output(report, (list_file, classes, tsv), ",".join(REPORT_FIELDS), "--report")
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder (the folder the list's paths are relative to); give the "
                         "dataset's folder")
    if modality == "frames":
        from pst.engine.config import keys

        for key, value in (("data.frame_template", frame_template), ("data.frame_start", frame_start)):
            check = keys()[key].check
            if not check.ok(value):
                raise ValueError(f"--{key[5:].replace('_', '-')} {value!r}: expected {check.accepts}")
    entries = read_list(list_file, len(read_classes(classes)) if classes.is_file() else None, modality)
    if not entries:
        raise ValueError(f"{list_file}: no entries, nothing to validate; is this the right list?")
    if shard is not None:
        if report:
            raise ValueError("--report goes with a whole list, not --shard")
        entries = entries[shard[0]::shard[1]]
    verdicts = []
    for e in tqdm(entries, desc=f"validate {list_file.name}", disable=not progress):
        try:
            v = check_entry(root, e, decoders, frame_template, frame_start)
        except Exception as err:  # noqa: BLE001 - every decoder failure is a bad video, never a crash
            v = Verdict(str(root / e.path)).fail(f"{type(err).__name__}: {err}")
        v.path = e.path
        verdicts.append(v)
    bad = [v for v in verdicts if not v.ok]
    mark = "" if shard is None else f"{SHARD_MARK} {shard[0]}/{shard[1]} of {_list_digest(list_file)}\n"
    files = {tsv: BAD_HEADER + "\n" + "".join(f"{v.path}\t{v.reason}\n" for v in bad) + mark}
    if report:
        buf = io.StringIO()
        w = csv.DictWriter(buf, REPORT_FIELDS)
        w.writeheader()
        for v in verdicts:
            row = asdict(v)
            row["verdict"] = "ok" if row.pop("ok") else "bad"
            row["decoders"] = " ".join(row["decoders"])
            w.writerow(row)
        files[Path(report)] = buf.getvalue()
    write_texts(files)                               # both or neither: a failed report leaves no list either
    truncated = sum("truncated" in v.reason for v in bad)
    return {"list": str(list_file), "videos": len(entries), "bad": len(bad), "truncated": truncated,
            "ok": len(entries) - len(bad), "tsv": str(tsv), "report": str(report) if report else None,
            "first_bad": f"{bad[0].path}: {bad[0].reason}" if bad else None,
            "classes": str(classes), "labels_checked": classes.is_file()}


def gather(list_file: str | Path, shards: Sequence[str | Path], out: str | Path,
           modality: str = "video") -> dict:
    """One TSV from the TSVs of a scattered validation of ``list_file``, in the list's order: the file one job
    writes."""
    position = {e.path: i for i, e in enumerate(read_list(list_file, modality=modality))}
    tsv = check_output(out, (list_file, *shards), BAD_HEADER)
    twice = first_repeat(shards, key=lambda s: Path(s).resolve())
    if twice is not None:
        raise ValueError(f"--gather: {twice} given twice; give each shard's file once")
    absent_shard = next((s for s in shards if not Path(s).is_file()), None)
    if absent_shard is not None:
        raise ValueError(f"--gather: {absent_shard}: no such file; validate that shard first (`pst data validate "
                         "ROOT LIST --shard I/N`), or check the path")
    rows, seen, digest = [], {}, _list_digest(list_file)
    for path in shards:
        head, *lines = Path(path).read_text().splitlines() or [""]
        if head != BAD_HEADER:
            raise ValueError(f"{path}: not a shard of `pst data validate --shard` (no path/reason header)")
        marks = [line[len(SHARD_MARK):].split() for line in lines if line.startswith(SHARD_MARK)]
        if len(marks) != 1 or len(marks[0]) != 3 or marks[0][1] != "of":
            raise ValueError(f"{path}: no '{SHARD_MARK} I/N of LIST' line (a shard's last); validate that shard "
                             "again")
        which, _, of = marks[0]
        if of != digest:
            raise ValueError(f"{path}: a shard of another version of {list_file}; validate that shard again")
        seen.setdefault(which, path)
        for line in lines:
            if line.startswith(SHARD_MARK):
                continue
            name = line.split("\t", 1)[0]
            if name not in position:
                raise ValueError(f"{path}: {name} is not in {list_file}; the shard is of another list")
            rows.append((position[name], line))
    counts = {w.split("/")[1] for w in seen}
    n = int(next(iter(counts))) if len(counts) == 1 else None
    if n is None or len(seen) != len(shards) or set(seen) != {f"{i}/{n}" for i in range(n)}:
        have = ", ".join(sorted(seen))
        raise ValueError(f"--gather: the shards given are {have}, not each of 0/N .. N-1/N once: a shard's bad "
                         "videos would be lost; give every shard's file (run the missing ones first)")
    write_text(tsv, BAD_HEADER + "\n" + "".join(f"{line}\n" for _, line in sorted(rows)))
    return {"list": str(list_file), "bad": len(rows), "tsv": str(tsv)}


def _list_digest(list_file: str | Path) -> str:
    """Which list (and which version of it) a shard validated: the gather refuses shards of another."""
    return sha256sum(list_file)[:16]
