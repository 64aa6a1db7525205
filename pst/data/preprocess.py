"""`pst data prepare`: extract, convert the official annotations, re-encode the videos; resumable and parallel.

Layout under the dataset root: raw/ (downloads or placed files) -> extracted/ -> processed/ with videos/ (short
side re-encoded H.264 mp4), train.txt, val.txt, classes.txt, missing_{split}.txt (clips the annotations name but
this copy lacks: counted, never fatal), preprocess_failures.tsv and prepare.json (the counts).
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from pst.data import convert
from pst.data.annotations import Entry, write_classes, write_list
from pst.data.catalog import dataset_info
from pst.data.extract import extract, extract_parts
from pst.data.fetch import check_manual_files
from pst.io import atomic_path, write_text
from pst.layout import processed_dir


def _even(v: float) -> int:
    return max(2, int(round(v / 2)) * 2)


def reencode(src: str | Path, dst: str | Path, short_side: int) -> None:
    """Re-encode to H.264 mp4 with the short side ``short_side`` (aspect kept, even sizes), same frame rate."""
    import av

    with av.open(str(src)) as inp:
        vs = inp.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or 25
        w, h = vs.codec_context.width, vs.codec_context.height
        if not w or not h:
            raise ValueError("no video size")
        scale = short_side / min(w, h)
        nw, nh = _even(w * scale), _even(h * scale)
        frames = 0
        with atomic_path(dst) as tmp:
            with av.open(str(tmp), mode="w", format="mp4") as out:
                stream = out.add_stream("libx264", rate=rate)
                stream.width, stream.height, stream.pix_fmt = nw, nh, "yuv420p"
                stream.options = {"crf": "20", "preset": "fast"}
                for frame in inp.decode(vs):
                    for packet in stream.encode(frame.reformat(width=nw, height=nh, format="yuv420p")):
                        out.mux(packet)
                    frames += 1
                for packet in stream.encode():
                    out.mux(packet)
            if frames == 0:
                raise ValueError("no decodable frames")


def _reencode_job(job) -> Optional[tuple[str, str]]:
    src, dst, short = job
    if Path(dst).exists():
        return None
    try:
        reencode(src, dst, short)
        return None
    except Exception as err:  # noqa: BLE001 - any decoder/encoder error is a bad source video
        return str(src), f"{type(err).__name__}: {err}".replace("\t", " ").replace("\n", " ")


def _convert(name: str, root: Path) -> tuple[Path, list[str], dict[str, list[Entry]], dict[str, list[str]]]:
    """Extract what is needed and convert the annotations. Returns (source dir, classes, entries, missing)."""
    source, classes, out = _convert_splits(name, root)
    return source, classes, {s: v[0] for s, v in out.items()}, {s: v[1] for s, v in out.items()}


def _convert_splits(name: str, root: Path) -> tuple[Path, list[str], dict[str, tuple[list[Entry], list[str]]]]:
    """Per dataset: (source dir, classes, {split: (entries, missing clips)})."""
    raw, ext = root / "raw", root / "extracted"
    if name == "kinetics400":
        for split in ("train", "val"):
            for archive in sorted((raw / split).glob("*.tar.gz")):
                extract(archive, ext / split)
        classes = convert.k400_classes(raw / "annotations" / "train.csv")
        out = {}
        for split in ("train", "val"):
            videos = {k: f"{split}/{v}" for k, v in convert.index_files(ext / split, (".mp4",)).items()}
            out[split] = convert.convert_k400(raw / "annotations" / f"{split}.csv", classes, videos)
        return ext, classes, out
    if name == "sthv2":
        parts = [raw / f"20bn-something-something-v2-{i:02d}" for i in range(20)]
        extract_parts(parts, ext, "20bn-something-something-v2")
        videos = convert.index_files(ext, (".webm",))
        classes = convert.sthv2_classes(raw / "something-something-v2-labels.json")
        out = {s: convert.convert_sthv2(raw / f"something-something-v2-{f}.json", classes, videos)
               for s, f in (("train", "train"), ("val", "validation"))}
        return ext, classes, out
    if name == "sthv1":
        classes = convert.sthv1_classes(raw / "something-something-v1-labels.csv")
        frames = raw / "20bn-something-something-v1"
        out = {s: convert.convert_sthv1(raw / f"something-something-v1-{f}.csv", classes, frames, "frames")
               for s, f in (("train", "train"), ("val", "validation"))}
        return raw, classes, out
    if name == "diving48":
        extract(raw / "Diving48_rgb.tar.gz", ext)
        videos = convert.index_files(ext, (".mp4",))
        classes = convert.diving48_classes(raw / "Diving48_vocab.json")
        out = {s: convert.convert_diving48(raw / f"Diving48_V2_{f}.json", videos)
               for s, f in (("train", "train"), ("val", "test"))}
        return ext, classes, out
    raise ValueError(f"dataset: no preparation for {name!r}")


def prepare(name: str, root: str | Path, short_side: Optional[int] = None, workers: int = 1,
            progress: bool = True) -> dict:
    info = dataset_info(name)
    root = Path(root)
    if info.manual_files:
        check_manual_files(info, root / "raw")
    short = short_side or info.short_side
    source, classes, lists, missing = _convert(name, root)
    proc = processed_dir(root)
    proc.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    out_lists: dict[str, list[Entry]] = {}
    if info.modality == "frames":
        link = proc / "frames"
        if not link.exists():
            os.symlink(os.path.relpath(source / "20bn-something-something-v1", proc), link)
        out_lists = lists
    else:
        jobs, target = [], {}
        for split, entries in lists.items():
            for e in entries:
                dst = proc / "videos" / Path(e.path).with_suffix(".mp4")
                target[e.path] = dst
                jobs.append((str(source / e.path), str(dst), short))
        results = []
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                results = list(tqdm(pool.map(_reencode_job, jobs, chunksize=4), total=len(jobs),
                                    desc=f"re-encode {name}", disable=not progress))
        else:
            results = [_reencode_job(j) for j in tqdm(jobs, desc=f"re-encode {name}", disable=not progress)]
        failures = [r for r in results if r is not None]
        failed = {os.path.relpath(src, source) for src, _ in failures}
        out_lists = {s: [Entry(os.path.relpath(target[e.path], proc), e.label) for e in es if e.path not in failed]
                     for s, es in lists.items()}
    write_classes(proc / "classes.txt", classes)
    for split, entries in out_lists.items():
        write_list(proc / f"{split}.txt", entries)
        write_text(proc / f"missing_{split}.txt", "".join(m + "\n" for m in missing[split]))
    write_text(proc / "preprocess_failures.tsv",
               "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in failures))
    summary = {"dataset": name, "classes": len(classes), "short_side": short,
               **{f"{s}_videos": len(v) for s, v in out_lists.items()},
               **{f"{s}_missing": len(v) for s, v in missing.items()}, "failed": len(failures)}
    write_text(proc / "prepare.json", json.dumps(summary, indent=1) + "\n")
    return summary
