"""`pst data prepare`: extract, convert the official annotations, re-encode the videos; resumable and parallel.

Layout under the dataset root: raw/ (downloads or placed files) -> extracted/ -> processed/ with videos/ (short
side re-encoded H.264 mp4), train.txt, val.txt, classes.txt, missing_{split}.txt (clips the annotations name but
this copy lacks: counted, never fatal), preprocess_failures.tsv and prepare.json (the counts). On a cluster the
re-encoding scatters over N jobs: plan.json (what to do), shards/I-of-N.tsv (each job's record), then one gather
writes the lists (`pst data prepare NAME --plan | --shard I/N | --gather N`; the workflow's `shards`).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
from tqdm import tqdm

from pst.data.annotations import Entry, write_classes, write_list
from pst.datasets import convert
from pst.datasets.catalog import dataset_info
from pst.datasets.extract import extract, extract_parts, is_archive
from pst.datasets.fetch import check_fetched, check_manual_files
from pst.datasets.synthetic import DECORD_MISREADS
from pst.io import atomic_path, locked, made_folder, read_record, worker_pool, write_text
from pst.layout import PLAN, processed_dir, shard_file

if TYPE_CHECKING:
    from pst.data.video import Header


def _even(v: float) -> int:
    return max(2, int(round(v / 2)) * 2)


def _source_plan(path: str | Path) -> tuple[Header, list[float], bool]:
    """(header, presentation times of the frames in order, variable rate?) from a demux-only pass; files whose
    packets carry no times (AVI) are constant-rate by construction."""
    import av

    from pst.data.video import header, packet_index

    head = header(path)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [float(t * s.time_base) for t in packet_index(c, s).pts]
    if head.format == "avi" or len(times) < 3:
        return head, [], False
    gaps = np.diff(times)
    return head, times, bool(gaps.max() - gaps.min() > 0.25 * np.median(gaps))


def _x264_cpu() -> dict:
    """x264's kernels capped at AVX2 on a CPU with AVX-512: there its AVX-512 kernels read heap memory never
    written, so the same video re-encoded twice gave other bytes (seen here: three heap fills, three outputs; capped,
    one). A CPU without AVX-512 keeps x264's own choice, the same kernels."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    if "avx512" not in flags:
        return {}
    return {"x264-params": "asm=MMX2,SSE,SSE2,SSE2Fast,SSE3,SSSE3,SSE4.1,SSE4.2,AVX,FMA3,BMI1,BMI2,AVX2,LZCNT"}


X264_CPU = _x264_cpu()


MIN_SOURCE_SIDE = 16   # pixels: a source with a shorter side is refused (no clip of the four datasets is that small)


def reencode(src: str | Path, dst: str | Path, short_side: int, keyint: Optional[int] = None) -> str:
    """Re-encode to H.264 mp4 (closed GOPs: x264's defaults; a key frame at most every ``keyint`` frames, x264's
    250 by default) with the short side ``short_side`` (aspect kept, even sizes), from a front-to-back decode of the source, upright (the display rotation applied), at a constant rate:
    the source's, or for a variable-rate source its average rounded, taking frames as FFmpeg's fps filter does. A
    source that ends before its header says (a cut download) is refused, and so is an output that does not read
    back, by seeking (PyAV), as it was written (pst.datasets.validate). Returns what was done beyond resizing ("" if
    nothing)."""
    import av

    from pst.data.video import (  # torch with them: plan and gather jobs start without it
        fps_map,
        upright,
    )
    from pst.datasets.validate import check_video

    head, times, vfr = _source_plan(src)
    rate = Fraction(round(head.rate)) if vfr else Fraction(head.rate).limit_denominator(1001)
    tolerance = 0.5 / float(head.rate) if head.rate else 0.0
    notes = []

    def cut(end: float, decoded: int, why: str = "") -> ValueError:
        return ValueError(f"truncated at {end:.2f} of {head.duration:.2f} seconds ({decoded} frames decode{why}); "
                          "fetch it again (a cut download keeps its header)")

    with atomic_path(dst) as tmp:
        written, end, decoded, turned = 0, 0.0, 0, 0
        with av.open(str(src)) as inp, av.open(str(tmp), mode="w", format="mp4") as out:
            vs = inp.streams.video[0]
            stream = None
            counts = np.bincount(fps_map(times, rate), minlength=len(times)) if vfr else None
            try:
                for frame in inp.decode(vs):
                    i, decoded = decoded, decoded + 1
                    if frame.pts is not None and frame.time_base:
                        length = float(frame.duration * frame.time_base) if frame.duration else 1 / float(head.rate)
                        end = max(end, float(frame.pts * frame.time_base) + length)
                    repeat = int(counts[i]) if vfr and i < len(counts) else (0 if vfr else 1)
                    if frame.rotation:
                        turned = frame.rotation
                        frame = av.VideoFrame.from_ndarray(upright(frame).permute(1, 2, 0).contiguous().numpy(),
                                                           format="rgb24")
                    if stream is None:
                        w, h = frame.width, frame.height
                        if min(w, h) < MIN_SOURCE_SIDE:      # a placeholder or a broken file, not a clip
                            raise ValueError(f"{w}x{h} pixels: too small to be a clip of the dataset (a short side "
                                             f"under {MIN_SOURCE_SIDE}); fetch it again")
                        scale = short_side / min(w, h)
                        nw, nh = _even(w * scale), _even(h * scale)
                        stream = out.add_stream("libx264", rate=rate)
                        stream.width, stream.height, stream.pix_fmt = nw, nh, "yuv420p"
                        stream.options = {"crf": "20", "preset": "fast", **X264_CPU,
                                          **({"g": str(keyint)} if keyint else {})}
                    small = frame.reformat(width=nw, height=nh, format="yuv420p")
                    for _ in range(repeat):
                        small.pts, small.time_base = written, Fraction(1) / rate     # constant-rate ticks
                        for packet in stream.encode(small):
                            out.mux(packet)
                        written += 1
            except (av.error.FFmpegError, OSError) as err:
                why = f"{type(err).__name__}: {err}"
                if decoded and head.duration and end < head.duration - tolerance:     # a cut file: counted as one
                    raise cut(end, decoded, f", then {why}") from None
                raise ValueError(f"decoder error at frame {decoded} ({why}); fetch it again") from None
            if stream is not None:
                for packet in stream.encode():
                    out.mux(packet)
        if decoded == 0:
            raise ValueError("no decodable frames")
        if head.duration and end and end < head.duration - tolerance:
            raise cut(end, decoded)
        verdict = check_video(Path(tmp), ("pyav",))     # the recipes' decoders are checked by `pst data validate`
        if not verdict.ok or verdict.frames_decoded != written:
            raise ValueError(f"the re-encoded copy does not read back ({verdict.reason or 'frame count'}); "
                             "report this file")
    if turned:
        notes.append(f"rotated {int(turned)} degrees (display matrix) to upright")
    if vfr:
        notes.append(f"variable frame rate: {decoded} frames to {written} at {rate} fps (FFmpeg's fps filter: "
                     f"{int((counts == 0).sum())} dropped, {int(np.clip(counts - 1, 0, None).sum())} duplicated)")
    if scale > 1:                                        # said: its detail is the source's, not the short side's
        notes.append(f"upscaled from a short side of {min(w, h)} px")
    return "; ".join(notes)


KEPT = "kept"          # a job's result: its copy was made before, from the source as it is now


def _reencode_job(job) -> str | tuple[Optional[tuple[str, str]], Optional[tuple[str, str]]]:
    """(failure, note) of one source: (path, reason) if refused, (path, what was done) if more than a resize; KEPT
    if its copy exists and is newer than the source (a source replaced since, by hand or by extracting its archive
    again, is re-encoded)."""
    src, dst, short, keyint = job
    if Path(dst).exists() and not (Path(src).exists() and os.stat(src).st_mtime_ns > os.stat(dst).st_mtime_ns):
        return KEPT
    try:
        note = reencode(src, dst, short, keyint)
        return None, (str(src), note) if note else None
    except Exception as err:  # noqa: BLE001 - any decoder/encoder error is a bad source video
        return (str(src), f"{type(err).__name__}: {err}".replace("\t", " ").replace("\n", " ")), None


def _convert(name: str, root: Path) -> tuple[Path, list[str], dict[str, list[Entry]], dict[str, list[str]]]:
    """Read the annotations, then extract what is needed and convert them. Returns (source dir, classes, entries,
    missing). The annotations are read once against every video they name before anything is extracted: a bad
    annotation file or a label outside the classes stops here, not after hours of extraction (frame folders,
    SSv1's, are not extracted: read once)."""
    if dataset_info(name).modality == "frames":
        source, classes, out = _convert_splits(name, root)
    else:
        _checked(name, _convert_splits(name, root, every=True)[1:])
        with made_folder(root / "extracted"):          # a refused extraction leaves no empty folder
            source, classes, out = _convert_splits(name, root)
    for split, (entries, missing) in out.items():   # attrition loses some clips, never a whole split
        if not entries:                             # (a file that names no clip: refused as it is read)
            raise ValueError(f"{name} {split}: none of the {len(missing)} clips its annotations name is in this copy "
                             f"({source}); the fetch is incomplete or its archives are not the dataset's: fetch it "
                             f"again (`pst data fetch {name} --root {root}`), or place its files")
    return source, classes, {s: v[0] for s, v in out.items()}, {s: v[1] for s, v in out.items()}


class _Every(dict):
    """A video index that holds every name (``name in index``, ``index[name] == name``): the annotations
    converted as if every clip they name were there, to check them before extracting."""
    def __contains__(self, name) -> bool:
        return True

    def __getitem__(self, name) -> str:
        return name


def _checked(name: str, converted: tuple[list[str], dict]) -> None:
    """Refuse a label outside the classes (it is never written into a list) and a clip whose name has a space (a
    list line is PATH LABEL: the lists' readers refuse it), before anything is extracted or re-encoded."""
    classes, out = converted
    for split, (entries, _) in out.items():
        spaced = next((e for e in entries if any(c.isspace() for c in e.path)), None)
        if spaced is not None:
            raise ValueError(f"{name} {split}: clip {spaced.path!r} has a space in its name, which a list line (PATH "
                             "LABEL) cannot hold; fetch the annotations again, or rename that clip in them and in "
                             "the videos")
        bad = next((e for e in entries if not 0 <= e.label < len(classes)), None)
        if bad is not None:
            raise ValueError(f"{name} {split}: {bad.path} has label {bad.label}, outside the {len(classes)} classes "
                             f"of its annotation files (0..{len(classes) - 1}); fetch them again")


def _convert_splits(name: str, root: Path, every: bool = False
                    ) -> tuple[Path, list[str], dict[str, tuple[list[Entry], list[str]]]]:
    """Per dataset: (source dir, classes, {split: (entries, missing clips)}). ``every``: read the annotations only,
    as if every clip they name were there; nothing is extracted."""
    raw, ext = root / "raw", root / "extracted"

    def index(folder: Path, suffix: str, prefix: str = "") -> dict[str, str]:
        return _Every() if every else {k: prefix + v for k, v in convert.index_files(folder, (suffix,)).items()}

    if name == "kinetics400":
        for split in ("train", "val"):
            for archive in [] if every else sorted(a for a in (raw / split).iterdir() if is_archive(a.name)):
                extract(archive, ext / split)
        classes = convert.k400_classes(raw / "annotations" / "train.csv")
        out = {}
        for split in ("train", "val"):
            out[split] = convert.convert_k400(raw / "annotations" / f"{split}.csv", classes,
                                              index(ext / split, ".mp4", f"{split}/"))
        return ext, classes, out
    if name == "sthv2":
        if not every:
            extract_parts([raw / f"20bn-something-something-v2-{i:02d}" for i in range(20)], ext,
                          "20bn-something-something-v2")
        videos = index(ext, ".webm")
        classes = convert.sthv2_classes(raw / "something-something-v2-labels.json")
        out = {s: convert.convert_sthv2(raw / f"something-something-v2-{f}.json", classes, videos)
               for s, f in (("train", "train"), ("val", "validation"))}
        return ext, classes, out
    if name == "sthv1":                      # frame folders as shipped: nothing to extract
        classes = convert.sthv1_classes(raw / "something-something-v1-labels.csv")
        frames = raw / "20bn-something-something-v1"
        out = {s: convert.convert_sthv1(raw / f"something-something-v1-{f}.csv", classes, frames, "frames")
               for s, f in (("train", "train"), ("val", "validation"))}
        return raw, classes, out
    if name == "diving48":
        if not every:
            extract(raw / "Diving48_rgb.tar.gz", ext)
        videos = index(ext, ".mp4")
        classes = convert.diving48_classes(raw / "Diving48_vocab.json")
        out = {s: convert.convert_diving48(raw / f"Diving48_V2_{f}.json", videos)
               for s, f in (("train", "train"), ("val", "test"))}
        return ext, classes, out
    raise ValueError(f"dataset: no preparation for {name!r}")


def prepare(name: str, root: str | Path, short_side: Optional[int] = None, workers: int = 1,
            progress: bool = True, keyint: Optional[int] = None) -> dict:
    """Extract, convert the annotations into the internal lists, and re-encode every video (short side
    ``short_side``; a key frame at most every ``keyint`` frames, None: x264's 250, what the paper's copies had):
    resumable (a re-encoded video is kept), and never two encodings in one copy. One job's form of the three steps
    a cluster scatters: `plan`, `reencode_shard` over N jobs, `gather` (the same files, byte for byte)."""
    plan(name, root, short_side, keyint)
    reencode_shard(root, 0, 1, workers, progress)
    return gather(root, 1)


def plan(name: str, root: str | Path, short_side: Optional[int] = None, keyint: Optional[int] = None) -> dict:
    """Check, extract and convert the annotations; write what re-encoding has to do (``processed/plan.json``):
    the dataset's classes, lists, missing clips and the videos to re-encode, in order."""
    info = dataset_info(name)
    if not str(root).strip():
        raise ValueError("--root: an empty path; name the dataset's folder (raw/ inside)")
    root = Path(root)
    short = info.short_side if short_side is None else short_side
    if short < 16:
        raise ValueError(f"--short-side {short}: the re-encoded videos' short side in pixels, at least 16 "
                         f"(the paper's: {info.short_side})")
    if keyint is not None and keyint < 1:
        raise ValueError(f"--keyint {keyint}: frames between key frames, at least 1 (x264's default: 250)")
    if short in DECORD_MISREADS:                     # the loader's default decoder would read the copies wrongly
        raise ValueError(f"--short-side {short}: decord (the loader's default decoder) misreads H.264 frames of "
                         f"{', '.join(map(str, DECORD_MISREADS))} px; choose another size")
    if info.manual_files:
        check_manual_files(info, root / "raw")
    else:
        check_fetched(info, root / "raw", name, root)
    proc = processed_dir(root)
    # re-encoded videos are reused, so never at another encoding: the finished copy's settings, or those of the
    # plan whose shards (some of them, or a killed prepare) have re-encoded videos already
    made = proc / "prepare.json" if (proc / "prepare.json").is_file() else \
        proc / PLAN if (proc / PLAN).is_file() and any((proc / "videos").rglob("*.mp4")) else None
    if made is not None:
        before = json.loads(made.read_text())
        was = {"short_side": before.get("short_side") or short,     # not recorded by the oldest copies
               "keyint": before.get("keyint")}                        # absent or null: x264's default
        for key, now, what in (("short_side", short, "short side"), ("keyint", keyint, "key-frame interval")):
            if was[key] != now:
                raise ValueError(f"{proc}: its videos were re-encoded at {what} {was[key]} ({made.name}), not {now}; "
                                 f"prepare into another --root, or move {proc} aside first")
    source, classes, lists, missing = _convert(name, root)
    _checked(name, (classes, {s: (lists[s], missing[s]) for s in lists}))
    proc.mkdir(parents=True, exist_ok=True)
    here = (lambda p: os.path.relpath(p, root))        # the plan's paths: from the dataset's folder
    jobs = [] if info.modality == "frames" else [    # a source named twice (in both splits): re-encoded once
        list(job) for job in dict.fromkeys((here(source / e.path), here(_copy(proc, e.path)))
                                           for entries in lists.values() for e in entries)]
    the_plan = {"dataset": name, "modality": info.modality, "short_side": short, "keyint": keyint,
                "source": here(source), "classes": classes, "missing": missing,
                "lists": {s: [[e.path, e.label, e.num_frames] for e in es] for s, es in lists.items()},
                "repeats": _repeats(lists), "jobs": jobs}
    with locked(proc, f"pst data prepare {name} --plan"):     # not while shards re-encode by the plan it replaces
        write_text(proc / PLAN, json.dumps(the_plan, indent=1) + "\n")
    return the_plan


def _repeats(lists: dict[str, list[Entry]]) -> dict[str, int]:
    """Clips the annotations name more than once, counted, not changed (the lists stay as the dataset ships them, as
    mmaction2 reads them): ``{split}_listed_twice`` (rows naming a clip named before in that split) and
    ``val_also_in_train`` (evaluated clips that are also trained on), so a copy's summary says where they are."""
    out = {f"{split}_listed_twice": len(es) - len({e.path for e in es}) for split, es in lists.items()}
    train = {Path(e.path).name for e in lists.get("train", [])}      # by clip: K400's splits are two folders
    out["val_also_in_train"] = len({Path(e.path).name for e in lists.get("val", [])} & train)
    return out


def _copy(proc: Path, path: str) -> Path:
    """Where the re-encoded copy of a source video (``path`` from the extracted folder) goes."""
    return proc / "videos" / Path(path).with_suffix(".mp4")


def _read_plan(root: Path) -> tuple[dict, str]:
    path = processed_dir(root) / PLAN
    if not path.is_file():
        raise ValueError(f"{path}: no plan; run `pst data prepare NAME --root {root} --plan` first")
    plan = read_record(path, "a plan written by `pst data prepare --plan`", f"run `pst data prepare NAME --root "
                       f"{root} --plan` again", {"jobs": list, "lists": dict})
    return plan, hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def reencode_shard(root: str | Path, index: int, count: int, workers: int = 1, progress: bool = True) -> Path:
    """Re-encode shard ``index`` of ``count`` of the plan's videos (every count-th, from the index-th) and write
    what failed or needed more than a resize to ``processed/shards/INDEX-of-COUNT.tsv`` (written last, whole: a
    rerun re-encodes only what is missing)."""
    root = Path(root)
    if not 0 <= index < count:
        raise ValueError(f"--shard {index}/{count}: expected INDEX/COUNT with 0 <= INDEX < COUNT")
    p, digest = _read_plan(root)
    mine = list(range(index, len(p["jobs"]), count))
    jobs = [(str(root / p["jobs"][j][0]), str(root / p["jobs"][j][1]), p["short_side"], p["keyint"]) for j in mine]
    desc = f"re-encode {p['dataset']} {index + 1}/{count}"
    with locked(processed_dir(root), f"pst data prepare --shard {index}/{count}", shared=True):   # shards at once
        if workers > 1:
            # forkserver: a process forked from one whose other threads hold locks (torch's, a progress bar's) can hang
            with worker_pool(workers, multiprocessing.get_context("forkserver")) as pool:
                results = list(tqdm(pool.map(_reencode_job, jobs, chunksize=4), total=len(jobs), desc=desc,
                                    disable=not progress))
        else:
            results = [_reencode_job(j) for j in tqdm(jobs, desc=desc, disable=not progress)]
        shard = processed_dir(root) / shard_file(index, count)
        earlier = _earlier_notes(processed_dir(root), digest)   # a copy kept keeps its note, whichever plan made it
        rows = [row for (j, job), result in zip(zip(mine, jobs), results) for row in (
            [(j, "note", job[0], text) for text in earlier.get(job[0], [])] if result == KEPT else
            [(j, kind, *pair) for kind, pair in zip(("failed", "note"), result) if pair])]
        return write_text(shard, f"# plan {digest}\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows))


def _earlier_notes(proc: Path, digest: str) -> dict[str, list[str]]:
    """What earlier runs noted of the copies they made (rotated, resampled, upscaled), by source video, so a new
    plan (annotations edited) loses none: a source's notes from the shard records of this plan, else from the last
    gathered notes, else from another plan's shard records (an older record never adds to a newer one's)."""
    this_plan, other_plans = [], []
    for shard in sorted((proc / Path(shard_file(0, 1)).parent).glob("*.tsv")):
        head, rows = _parse_shard(shard)
        (this_plan if head == f"# plan {digest}" else other_plans).extend(
            (src, text) for _, kind, src, text in rows if kind == "note")
    notes = proc / "preprocess_notes.tsv"
    gathered = [line.split("\t", 1) for line in notes.read_text().splitlines()[1:]] if notes.is_file() else []
    found: dict[str, list[str]] = {}
    for rows in (this_plan, gathered, other_plans):
        layer: dict[str, list[str]] = {}
        for src, text in rows:
            if text not in layer.setdefault(src, []):
                layer[src].append(text)
        for src, texts in layer.items():
            found.setdefault(src, texts)
    return found


def _read_shard(path: Path, digest: str) -> Optional[list[tuple[int, str, str, str]]]:
    """A shard's record: its (job, "failed" or "note", source, text) rows; None when made by another plan."""
    head, rows = _parse_shard(path)
    return rows if head == f"# plan {digest}" else None


def _parse_shard(path: Path) -> tuple[str, list[tuple[int, str, str, str]]]:
    """A shard record's first line (the plan it was made by) and its rows."""
    head, *rows = path.read_text().splitlines()
    return head, [(int(j), kind, src, text) for j, kind, src, text in (row.split("\t", 3) for row in rows)]


def gather(root: str | Path, count: int) -> dict:
    """The lists, classes, missing clips, failures, notes and summary from the plan and its ``count`` shards:
    the files one job writes, when no shard is at work (what a killed shard left half-written is removed)."""
    with locked(processed_dir(Path(root)), f"pst data prepare --gather {count}"):
        return _gather(Path(root), count)


def _gather(root: Path, count: int) -> dict:
    p, digest = _read_plan(root)
    proc = processed_dir(root)
    failures: list[tuple[int, str, str]] = []
    notes: list[tuple[int, str, str]] = []
    for i in range(count):
        path = proc / shard_file(i, count)
        if not path.is_file():
            raise ValueError(f"{path}: shard {i} of {count} has not run; run `pst data prepare {p['dataset']} --root "
                             f"{root} --shard {i}/{count}`")
        rows = _read_shard(path, digest)
        if rows is None:
            raise ValueError(f"{path}: made for another plan than {proc / PLAN}; run its shard again")
        for j, kind, src, text in rows:
            (failures if kind == "failed" else notes).append((j, src, text))
    failures.sort()
    notes.sort()
    source = root / p["source"]
    lists = {s: [Entry(path, label, frames) for path, label, frames in es] for s, es in p["lists"].items()}
    if p["modality"] == "frames":
        link = proc / "frames"
        if not link.exists():
            os.symlink(os.path.relpath(source / "20bn-something-something-v1", proc), link)
        out_lists = lists
    else:
        failed = {os.path.relpath(src, source) for _, src, _ in failures}
        out_lists = {s: [Entry(os.path.relpath(_copy(proc, e.path), proc), e.label)
                         for e in es if e.path not in failed] for s, es in lists.items()}
    write_text(proc / "preprocess_failures.tsv",
               "path\treason\n" + "".join(f"{src}\t{r}\n" for _, src, r in failures))
    unusable = next((s for s, entries in out_lists.items() if not entries), None)
    if unusable is not None:                         # a list of no videos is no dataset: said, not trained on
        raise ValueError(f"{p['dataset']} {unusable}: none of its {len(lists[unusable])} videos could be re-encoded "
                         f"(each refused with its reason in {proc / 'preprocess_failures.tsv'}); fetch the dataset "
                         "again, or place good copies of its files")
    write_classes(proc / "classes.txt", p["classes"])
    for split, entries in out_lists.items():
        write_list(proc / f"{split}.txt", entries)
        write_text(proc / f"missing_{split}.txt", "".join(m + "\n" for m in p["missing"][split]))
    write_text(proc / "preprocess_notes.tsv", "path\tnote\n" + "".join(f"{src}\t{n}\n" for _, src, n in notes))
    summary = {"dataset": p["dataset"], "classes": len(p["classes"]), "short_side": p["short_side"],
               "keyint": p["keyint"], **{f"{s}_videos": len(v) for s, v in out_lists.items()},
               **{f"{s}_missing": len(v) for s, v in p["missing"].items()}, "failed": len(failures),
               "truncated": sum("truncated" in r for _, _, r in failures),
               "rotated": sum("rotated" in n for _, _, n in notes),
               "resampled": sum("variable" in n for _, _, n in notes),
               "upscaled": sum("upscaled" in n for _, _, n in notes), **p.get("repeats", {})}
    write_text(proc / "prepare.json", json.dumps(summary, indent=1) + "\n")
    return summary
