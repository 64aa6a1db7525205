"""`pst data synth|fetch|prepare|validate`: getting a dataset; the options beside what each step prints."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from pst.cli.options import Help, config_options, defaults, finite, positive


def add(command) -> None:
    """The data command and its four steps."""
    from pst.datasets.catalog import CATALOG           # the datasets and their facts: one owner
    from pst.datasets.synthetic import SynthConfig
    from pst.engine.config import DECODERS

    data = command("data", "datasets: synth, fetch, prepare, validate", cmd_data)
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="STEP")

    def step(name: str, text: str) -> argparse.ArgumentParser:
        return dsub.add_parser(name, help=text.replace("%", "%%"), description=text, formatter_class=Help)

    p = step("synth", "write the embedded synthetic motion set (real H.264 mp4 + lists)")
    p.add_argument("--out", required=True, help="folder for videos/, train.txt, val.txt, classes.txt, synth.json")
    config_options(p, SynthConfig)
    p.add_argument("--workers", type=positive, default=defaults("pst.datasets.synthetic", "generate")["workers"],
                   help="processes rendering videos (the bytes do not change)")

    p = step("fetch", "download a dataset into ROOT/raw (or list the licence-gated files to place)")
    p.add_argument("name", choices=list(CATALOG), help="dataset")
    p.add_argument("--root", required=True, help="the dataset's folder (raw/ goes inside)")
    p.add_argument("--mirror", help="base URL replacing the dataset's official host (a local mirror)")
    fetched = defaults("pst.datasets.fetch", "fetch")
    p.add_argument("--retries", type=positive, default=fetched["retries"], help="attempts per file")
    p.add_argument("--backoff", type=finite(0), default=fetched["backoff"],
                   help="seconds before the first retry, doubled each time")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p = step("prepare", "extract, convert annotations to the internal lists, re-encode videos")
    p.add_argument("name", choices=list(CATALOG), help="dataset")
    p.add_argument("--root", required=True, help="the dataset's folder (raw/ inside, processed/ written)")
    p.add_argument("--short-side", type=int, help="re-encode short side (default: the dataset's, " + ", ".join(
        f"{d.label} {d.short_side}" for d in CATALOG.values()) + ")")
    p.add_argument("--workers", type=positive, default=defaults("pst.datasets.preprocess", "prepare")["workers"],
                   help="videos re-encoded in parallel")
    scatter = p.add_mutually_exclusive_group()
    scatter.add_argument("--plan", action="store_true",
                         help="scattered over cluster jobs, step 1: extract, convert, write processed/plan.json")
    scatter.add_argument("--shard", metavar="I/N", help="step 2, one job per I in 0..N-1: re-encode every N-th video "
                                                        "from the I-th")
    scatter.add_argument("--gather", type=positive, metavar="N",
                         help="step 3: the lists and counts from the N shards (the same files as one job)")
    p.add_argument("--keyint", type=positive,
                   help="a key frame at most every KEYINT frames (default: x264's 250, as the paper's copies; 32 "
                        "halves a K400 clip's decode for about a third more disk, README)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p = step("validate", "read every listed video as the loader does and compare with a front-to-back decode; "
                         "bad ones go to bad_videos.tsv with the reason")
    p.add_argument("root", help="the folder the list's paths are relative to")
    p.add_argument("list", help="a list file (train.txt, val.txt)")
    p.add_argument("--out", help="TSV path (default: bad_videos.tsv beside the list)")
    p.add_argument("--classes", help="classes file the labels are checked against (default: classes.txt beside the "
                                     "list, else in ROOT)")
    p.add_argument("--modality", choices=["video", "frames"],
                   default=defaults("pst.datasets.validate", "validate")["modality"],
                   help="what the list names: video files ('path label') or frame folders ('dir num_frames label')")
    p.add_argument("--frame-template",
                   help="frame folders: file name of a frame (default SSv1's {:05d}.jpg; mmaction2's extraction: "
                        "img_{:05d}.jpg)")
    p.add_argument("--frame-start", type=int, help="frame folders: number of the first file (default 1)")
    p.add_argument("--decoder", action="append", choices=DECODERS,
                   help="the decoder(s) whose random access is checked, as the recipes read (default: decord)")
    p.add_argument("--report", help="also write every file's verdict as CSV (path, verdict, reason, frames "
                                    "claimed/decoded, seconds)")
    scatter = p.add_mutually_exclusive_group()
    scatter.add_argument("--shard", metavar="I/N", help="one job of a scattered validation: every N-th entry from "
                                                        "the I-th")
    scatter.add_argument("--gather", nargs="+", metavar="TSV",
                         help="join the shards' TSVs into --out, in the list's order (the file one job writes)")
    p.add_argument("--exit-zero", action="store_true",
                   help="exit 0 when bad videos are found (default: 1); the workflow's validate rule leaves them "
                        "out of training instead")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        from pst.datasets.synthetic import SynthConfig, check_folder, generate
        from pst.io import locked

        cfg = SynthConfig(**{f.name: getattr(args, f.name) for f in fields(SynthConfig)})
        check_folder(args.out)                           # before its lock is made beside it
        with locked(args.out, "pst data synth"):        # two renderings into one folder would mix their videos
            summary = generate(args.out, cfg, workers=args.workers)
        print(f"synthetic set in {args.out}: {summary['train']} train / {summary['val']} val videos, "
              f"{len(summary['classes'])} classes ({cfg.pairs} time-reversed twin pairs)")
    elif args.data_command == "fetch":
        from pst.datasets.fetch import fetch

        summary = fetch(args.name, args.root, mirror=args.mirror, retries=args.retries, backoff=args.backoff,
                        progress=not args.quiet)
        print(json.dumps(summary))
    elif args.data_command == "prepare":
        from pst.datasets import preprocess

        if args.plan:
            p = preprocess.plan(args.name, args.root, short_side=args.short_side, keyint=args.keyint)
            print(f"{args.root}: {len(p['jobs'])} videos to re-encode; next --shard I/N for every I, then --gather N")
            repeats = ", ".join(f"{k.replace('_', ' ')}: {n}" for k, n in p["repeats"].items() if n)
            if repeats:                    # kept as the dataset lists them, and said (also in prepare.json)
                print(f"{args.root}: clips named more than once in the annotations ({repeats})", file=sys.stderr)
        elif args.shard:
            index, count = _shard(args.shard)
            print(preprocess.reencode_shard(args.root, index, count, args.workers, progress=not args.quiet))
        elif args.gather:
            print(json.dumps(preprocess.gather(args.root, args.gather)))
        else:
            print(json.dumps(preprocess.prepare(args.name, args.root, short_side=args.short_side,
                                                workers=args.workers, progress=not args.quiet, keyint=args.keyint)))
    elif args.data_command == "validate":
        from pst.data.annotations import FRAME_START, FRAME_TEMPLATE
        from pst.datasets.validate import gather, validate

        if args.gather:
            g = gather(args.list, args.gather, args.out or Path(args.list).parent / "bad_videos.tsv", args.modality)
            print(f"gathered {len(args.gather)} shards of {g['list']}: {g['bad']} bad -> {g['tsv']}")
            return 0
        frames = {"frame_template": (args.frame_template, FRAME_TEMPLATE),
                  "frame_start": (args.frame_start, FRAME_START)}
        given = [f"--{k.replace('_', '-')}" for k, (v, default) in frames.items() if v not in (None, default)]
        if given and args.modality != "frames":          # never silently ignored (the defaults, as the workflow
            #                                              passes them for every dataset, change nothing)
            raise ValueError(f"{' and '.join(given)}: for frame folders; add --modality frames, or leave them out")
        s = validate(args.root, args.list, out=args.out, progress=not args.quiet, classes=args.classes,
                     modality=args.modality, frame_template=args.frame_template or FRAME_TEMPLATE,
                     frame_start=FRAME_START if args.frame_start is None else args.frame_start,
                     decoders=args.decoder or ["decord"], report=args.report,
                     shard=_shard(args.shard) if args.shard else None)
        print(f"validated {s['videos']} videos of {s['list']}: {s['ok']} ok, {s['bad']} bad "
              f"({s['truncated']} truncated) -> {s['tsv']}" + (f", {s['report']}" if s["report"] else ""))
        if s["first_bad"]:
            print(f"first bad: {s['first_bad']}")
        if not s["labels_checked"]:                       # said, not skipped silently: 99 may be no class
            print(f"labels not checked against classes: no {s['classes']}; give --classes FILE to check them",
                  file=sys.stderr)
        if s["bad"] and not args.exit_zero:
            return 1                  # found problems (a linter's 1); refused input is 2
    return 0


def _shard(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N), 0 <= I < N."""
    try:
        index, count = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 0/8") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: expected I/N with 0 <= I < N")
    return index, count
