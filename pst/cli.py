"""The `pst` command: one subcommand per step of the study; each is a thin layer over the library."""
from __future__ import annotations

import argparse
import errno
import functools
import json
import re
import sys
import warnings
from dataclasses import fields
from pathlib import Path

from pst.layout import PARAMS

# Model options that flops and memory set from their own arguments.
_INPUT_OPTIONS = {"num_frames": "--frames", "img_size": "--size", "num_classes": "--classes"}


def _model_kwargs(pairs: list[str]) -> dict:
    from pst.engine.config import parse_assignment

    out = {}
    for pair in pairs or []:
        key, value = parse_assignment(pair, "pattern=D")
        if key in _INPUT_OPTIONS:
            raise ValueError(f"--set {key}: the input's option; use {_INPUT_OPTIONS[key]} instead")
        out[key] = value
    return out


def cmd_flops(args: argparse.Namespace) -> int:
    from pst.models import MODEL_NAMES
    from pst.report.flops import count

    if args.model not in MODEL_NAMES:
        raise ValueError(f"model: unknown {args.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    result = count(args.model, args.frames, args.size, num_classes=args.classes, **_model_kwargs(args.set))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['model']}: {args.frames} frames x {args.size}x{args.size}, {args.classes} classes: "
              f"{result['gflops']:.0f} GFLOPs / {result['params_m']:.0f} M params "
              f"(exact {result['gflops']:.2f} G, {result['params_m']:.2f} M; multiply-add = 1 FLOP, per view)")
    return 0


def cmd_memory(args: argparse.Namespace) -> int:
    from pst.models import MODEL_NAMES
    from pst.report.memory import training_memory

    if args.model not in MODEL_NAMES:
        raise ValueError(f"model: unknown {args.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    r = training_memory(args.model, args.frames, args.size, args.batch, device=args.device, num_classes=args.classes,
                        **_model_kwargs(args.set))
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['model']}: {args.batch} clip(s) of {args.frames} frames x {args.size}x{args.size}, fp32: peak "
              f"{r['peak_gib']:.2f} GiB per device (activations {r['activation_gib']:.2f}, parameters "
              f"{r['parameter_gib']:.2f}, AdamW state {r['optstate_gib']:.2f}, gradients {r['gradient_gib']:.2f}, "
              f"temporaries {r['temp_gib']:.2f}; {'accounted on the meta device' if args.device == 'meta' else 'measured'})")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from pst.report.jobs import tabulate

    takes = {"flops": ("inputs",), "metrics": ("inputs",), "study": ("inputs", "--spec", "--memory"),
             "per-class": ("--spec",), "curve": ("--spec",), "released": ("--spec",)}[args.kind]
    extra = [name for name, given in (("inputs", args.inputs), ("--spec", args.spec), ("--memory", args.memory))
             if given and name not in takes]
    if extra:                           # never silently ignored
        raise ValueError(f"table {args.kind}: {' and '.join(extra)} not taken (it reads {', '.join(takes)} only); "
                         "leave them out")
    print(tabulate(args.kind, args.out, args.inputs, args.spec, args.memory))
    return 0


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


def cmd_train(args: argparse.Namespace) -> int:
    import os

    import yaml

    from pst.engine.run import compose
    from pst.layout import final_weights

    cfg = compose(args.config, args.set, args.execution)     # a refused key or value: before torch is imported
    if args.print_config:
        print(yaml.safe_dump(cfg, sort_keys=False), end="")
        return 0
    if not args.out.strip():
        raise ValueError("--out: an empty path; name the run's folder (e.g. runs/my_run)")
    weights = Path(final_weights(args.out))

    def stamp():                                              # which final weights are there: none, or which file
        return (weights.stat().st_ino, weights.stat().st_mtime_ns) if weights.is_file() else None

    from pst.engine.train import train

    before = stamp()
    summary = train(cfg, args.out, restart_on_change=args.restart_on_change)
    if os.environ.get("RANK", "0") != "0":                    # one summary per run, from the main process
        return 0
    final = summary.get("final") or {}
    print(f"trained {summary['epochs']} epochs ({summary['steps']} steps) into {args.out}: "
          f"val top-1 {final.get('val_top1')}, loss {final.get('loss')}")
    print("nothing written: it was trained before" if before is not None and stamp() == before else
          f"wrote {weights}, train.json, metrics.csv, config.yaml")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pst.engine.evaluate import evaluate_checkpoint, evaluate_run
    from pst.io import check_not_inside

    if args.rescore:
        from pst.engine.evaluate import rescore_run

        tested = _defaults("pst.engine.evaluate", "evaluate_run")
        given = [o for o, v in (("--checkpoint", args.checkpoint), ("--config", args.config), ("--list", args.list),
                                ("--out", args.out), *((f"--{k.replace('_', '-')}", getattr(args, k) != tested[k])
                                                       for k in ("batch_videos", "max_views", "workers"))) if v]
        if given or not args.run_dir:
            raise ValueError(f"--rescore takes a run directory and --views/--average/--from only"
                             f"{' (not ' + ', '.join(given) + ')' if given else ''}: it rescores that run's kept "
                             "view scores")
        r = rescore_run(args.run_dir, views=args.views, average=args.average, source=args.source)
        if r.get("already"):
            print(f"{r['out']}: already rescored ({r['views']}, {r['average']}, from {r['rescored_from']}); nothing "
                  "written")
            return 0
        print(f"{r['views']} views ({r['average']}) rescored from {r['rescored_from']}, no forward pass: top-1 "
              f"{r['top1']:.2f}, top-5 {r['top5']:.2f}, mean class {r['mean_class_accuracy']:.2f} over "
              f"{r['denominator']} videos; wrote {r['out']}/eval.json")
        return 0
    if args.source:
        raise ValueError("--from goes with --rescore (the evaluation whose view scores are rescored)")
    args.views = args.views or _defaults("pst.engine.evaluate", "evaluate_run")["views"]
    opts = dict(batch_videos=args.batch_videos, max_views=args.max_views, average=args.average,
                workers=args.workers, progress=not args.quiet)
    if args.checkpoint:
        from pst.engine.config import load_recipe, resolve

        if args.run_dir or not args.config or not args.out:
            raise ValueError("--checkpoint FILE takes --config RECIPE and --out FOLDER, and no run directory")
        check_not_inside(args.out)
        r = evaluate_checkpoint(args.checkpoint, resolve(load_recipe(args.config)), args.views, args.out,
                                list_file=args.list, **opts)
    elif not args.run_dir:
        raise ValueError("name a finished run directory, or --checkpoint FILE --config RECIPE --out FOLDER")
    elif args.config:
        raise ValueError(f"--config {args.config}: a run is evaluated with its own recipe (RUN/config.yaml); "
                         "--config goes with --checkpoint only")
    elif args.out and Path(args.out).resolve() == Path(args.run_dir).resolve():
        raise ValueError(f"--out {args.out}: the run's own folder; an evaluation gets a folder of its own (default: "
                         "RUN/eval_VIEWS)")
    else:
        if args.out:
            check_not_inside(args.out, own=args.run_dir)    # its own run's folder, or one of the user's
        r = evaluate_run(args.run_dir, views=args.views, list_file=args.list, out=args.out, **opts)
    failed = f"{r['videos_failed']} failed to decode"
    if r["videos_failed"]:
        failed += f", e.g. {r['failed'][0]}: all in eval.json"
    if r["top1"] is None:
        print(f"no video could be evaluated ({failed})")
    else:
        print(f"{r['views']} views: top-1 {r['top1']:.2f}, top-5 {r['top5']:.2f}, mean class "
              f"{r['mean_class_accuracy']:.2f} over {r['denominator']} videos ({failed}, {r['videos_partial']} partial)")
    if r.get("entries_repeated"):                  # as mmaction2 0.x: each entry is scored, so said, not hidden
        print(f"{r['entries_repeated']} list entries name a video listed before (e.g. {r['repeated'][0]}): each is "
              "evaluated and counted again; all in eval.json")
    if r.get("already"):
        print(f"{r['out']}: already evaluated (this run's weights, list, views and averaging); nothing written")
        return 0
    speed = "n/a" if r["views_per_s"] is None else f"{r['views_per_s']:.1f}"
    print(f"{speed} views/s; code {r['git']}; wrote {r['out']}/eval.json, predictions.csv and scores.npz")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pst.engine.predict import predict_videos
    from pst.report.plots import check_figure

    if args.cam:
        check_figure(args.cam)              # never a user's image, and before any model is loaded
    r = predict_videos(args.run, args.videos, views=args.views, average=args.average)
    for v in r["videos"]:
        note = " (partial: fewer frames than its header says)" if v["partial"] else ""
        print(f"{v['video']}{note}: " + ", ".join(f"{name} {100 * p:.1f}%" for name, p in v["top"]))
    print(f"{r['views']} views ({r['average']}) of {args.run}, {r['classes']} classes")
    if args.cam:
        from pst.report.cam import figure

        print(figure({Path(args.run).name: args.run}, list(args.videos), args.cam))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pst.io import check_not_inside
    from pst.report.compare import check_revision, compare, render

    if args.rev_a == args.rev_b:
        raise ValueError(f"{args.rev_a} twice: name two revisions to compare, e.g. HEAD~1 HEAD")
    if check_revision(args.rev_a) == check_revision(args.rev_b):
        raise ValueError(f"{args.rev_a} and {args.rev_b} are one commit; name two revisions to compare, e.g. "
                         "HEAD~1 HEAD")
    from pst.study import first_table, profile_of

    args.profile = profile_of(args.params, args.profile)
    table = args.table or first_table(args.params, args.profile)
    if table == "flops" and args.seeds:
        raise ValueError("--seeds: the FLOPs table has no seeds (a count per model); name a study table")
    if args.curves:
        from pst.report.plots import check_figure

        if table == "flops":
            raise ValueError("--curves: the FLOPs table has no training curves; name a study table")
        if Path(args.curves).suffix not in ("", ".png", ".svg"):      # never a .jpg quietly written as .png
            raise ValueError(f"--curves {args.curves}: the figure is written as .png and .svg; name it FILE, "
                             "FILE.png or FILE.svg")
        stem = Path(args.curves).with_suffix("")
        for ext in (".png", ".svg"):
            check_figure(stem.with_suffix(ext))        # never a user's image, and before anything is read
            check_not_inside(stem.with_suffix(ext), "--curves", study=True)    # nor among a study's results
    df = compare(args.rev_a, args.rev_b, table, profile=args.profile, wide=args.wide, seeds=args.seeds)
    print(render(df, args.format, f"{table} ({args.profile}): {args.rev_a} vs {args.rev_b}", args.rev_a, args.rev_b),
          end="")
    if args.curves:
        from pst.report.compare import curves_at
        from pst.report.plots import curves

        before, after = (curves_at(rev, table, profile=args.profile) for rev in (args.rev_a, args.rev_b))
        paths = curves(after, stem, f"{table} ({args.profile}): {args.rev_b} (solid) vs {args.rev_a} (dashed)",
                       before=before, labels=(args.rev_a, args.rev_b))
        print("curves: " + ", ".join(map(str, paths)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from pst.report.verify import render, verify
    from pst.study import profile_of

    profile = profile_of(PARAMS, args.profile)
    v = verify(args.rev, profile)
    print(render(v, args.rev, profile), end="")
    return v.exit_code


def cmd_recipe(args: argparse.Namespace) -> int:
    from pst.engine.config import differences_markdown
    from pst.study import load

    if args.recipe_command == "differences":
        if args.name:
            raise ValueError(f"recipe differences takes no name ({args.name!r}): it lists every paper/code "
                             "difference; `pst recipe show NAME` shows one recipe")
        print(differences_markdown(), end="")
        return 0
    if not args.name:
        raise ValueError("recipe show NAME: name a recipe of params.yaml (e.g. pst_sthv1) or a run "
                         "(dataset/recipe/variant)")
    for key, value, source in load(args.params, args.profile).explain(args.name):
        print(f"{key} = {json.dumps(value)}  # {source}")
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    """Save a timm ImageNet checkpoint's state dict (the paper's 2D init) where the recipes point."""
    from pst.weights_2d import download

    print(download(args.name, args.out))
    return 0


def cmd_cam(args: argparse.Namespace) -> int:
    from pst.report.cam import figure_of_runs

    print(figure_of_runs(args.runs, args.name, list(args.video or []), args.videos_from, args.count, args.frames,
                         args.out))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from pst.report.jobs import draw
    from pst.study import read_spec

    print("\n".join(map(str, draw(read_spec(args.spec), args.table, args.out_dir))))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pst.report.readme import report

    print(report(args.out, args.tables, args.figures, args.profile))
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    from pst.engine.bench import GPU_PROBE, gpu_probe
    from pst.report.cost import ASSUMED_TFLOPS, study_cost
    from pst.study import load

    probe = None if args.tflops else gpu_probe(args.gpu_probe)
    df = study_cost(load(args.params, args.profile), args.tflops, probe)
    if probe:
        rates = ", ".join(f"{m} {r['tflops']:.0f}" for m, r in probe["models"].items())
        rate = (f"the TFLOP/s measured on {probe['device']} by the GPU probe ({probe['file']}: {rates}; "
                f"{ASSUMED_TFLOPS:g} assumed for other models)")
    else:
        rate = f"an assumed {args.tflops or ASSUMED_TFLOPS:g} TFLOP/s sustained per GPU" + (
            "" if args.tflops else f" (no GPU probe in {args.gpu_probe or GPU_PROBE}: run benchmarks/gpu.py on a "
                                   "GPU node)")
    print(f"profile {args.profile}: FLOPs counted (multiply-adds; training = 3 x forward), GPU-hours at {rate}, "
          "data loading not counted\n")
    print(df.to_markdown(index=False))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pst.status import format_status, study_status
    from pst.study import load

    status = study_status(load(args.params, args.profile))
    print(json.dumps(status, indent=1) if args.json else format_status(status))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from pst.io import first_repeat
    from pst.report.records import record

    twice = first_repeat(args.views)
    if twice:
        raise ValueError(f"--views: {twice} given twice; name each evaluation once")
    written = record(args.run_dir, args.views, args.out)
    print(f"{args.out}: {len(written)} files of {args.run_dir}")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from pst.engine.launch import launch

    rest = args.args[1:] if args.args[:1] == ["--"] else args.args
    if not rest:
        raise ValueError("launch: give the pst command to run after --, e.g. -- train --config R --out RUN")
    if not args.agent:          # a wrong command or recipe stops here, once, before N processes start and fail
        job = build_parser().parse_args(rest)
        if job.command != "train":      # only training runs as one process per GPU; others would race each other
            raise ValueError(f"launch -- {job.command}: launch starts a training's processes; run `pst "
                             f"{job.command}` directly")
        from pst.engine.config import accumulation
        from pst.engine.run import compose

        cfg = compose(job.config, job.set, job.execution)
        accumulation(cfg, args.nodes * args.procs)          # the global batch splits over the processes
    launch(args.nodes, args.procs, rest, agent=args.agent, gpus=args.gpus)      # replaces this process
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pst.engine.bench import bench_recipe, cores_per_gpu, gpu_probe, gpu_rate, sample_costs
    from pst.engine.build import train_dataset
    from pst.weights_2d import PAPER_2D

    if args.model not in PAPER_2D:
        raise ValueError(f"--model {args.model!r}: not a registered model; choose one of {', '.join(PAPER_2D)}")
    cfg = bench_recipe(args.recipe, args.list, args.root, args.classes, args.params,
                       [f"data.train.repeated_augmentation={args.repeats}", *(args.set or [])])
    rate, source = (args.gpu_rate, "given") if args.gpu_rate else gpu_rate(gpu_probe(args.gpu_probe), args.model)
    costs = sample_costs(train_dataset(cfg), args.clips, clips_per_decode=args.repeats)
    result = {"recipe": args.recipe, **costs, "gpu_clips_per_s": rate, "gpu_rate": source,
              "cores_per_gpu": cores_per_gpu(costs["clips_per_s"], rate)}
    if args.json:
        print(json.dumps(result))
        return 0
    decoded = costs["frames_decoded_per_clip"]
    print(f"{args.recipe} on {args.list}: {costs['clips_per_s']:.1f} clips/s per loader process "
          f"(read {costs['read_ms']:.0f} ms a decode, transform {costs['transform_ms']:.0f} ms a clip, "
          f"{args.repeats} clip(s) a decode); {costs['frames_per_clip']} frames a clip, "
          + (f"{decoded:.0f} decoded" if decoded is not None else "frame files") +
          f"; {result['cores_per_gpu']:.1f} cores per GPU at {rate:.0f} clips/s ({source})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pst.models import MODEL_NAMES
    print("\n".join(MODEL_NAMES))
    return 0


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help line, unless there is none (None) or the help states it in words
    ("(default ..." or "default: ...")."""

    def _get_help_string(self, action):
        help = action.help or ""
        stated = re.search(r"\(default\b|default:", help)
        return help if action.default is None or stated else super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A usage error is one line, as every other refusal is (exit 2); --help shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; `{self.prog} --help` shows the options\n")


def build_parser() -> argparse.ArgumentParser:
    import pst
    from pst.engine.config import DECODERS

    parser = _Parser(
        prog="pst", formatter_class=_Help,
        description="Temporal Patch Shift (ECCV 2022), reproduced. The study itself runs through Snakemake/DVC "
                    "(`make reproduce`, README); these commands are its steps, usable on their own.",
        epilog="workflow steps (the Snakemake rules call them; rarely typed by hand): table, plot, report, launch, "
               "record")
    parser.add_argument("--version", action="version", version=f"pst {pst.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also PST_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, func) -> argparse.ArgumentParser:
        # argparse %-formats a help, not a description: one text for both, its % doubled in the help
        p = sub.add_parser(name, help=text.replace("%", "%%"), description=text, formatter_class=_Help)
        p.set_defaults(func=func)
        return p

    data = command("data", "datasets: synth, fetch, prepare, validate", cmd_data)
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="STEP")

    def step(name: str, text: str) -> argparse.ArgumentParser:
        return dsub.add_parser(name, help=text.replace("%", "%%"), description=text, formatter_class=_Help)

    p = step("synth", "write the embedded synthetic motion set (real H.264 mp4 + lists)")
    p.add_argument("--out", required=True, help="folder for videos/, train.txt, val.txt, classes.txt, synth.json")
    from pst.datasets.synthetic import SynthConfig

    _config_options(p, SynthConfig)
    p.add_argument("--workers", type=_positive, default=_defaults("pst.datasets.synthetic", "generate")["workers"],
                   help="processes rendering videos (the bytes do not change)")
    from pst.datasets.catalog import CATALOG           # the datasets and their facts: one owner

    k400_classes = CATALOG["kinetics400"].num_classes

    p = step("fetch", "download a dataset into ROOT/raw (or list the licence-gated files to place)")
    p.add_argument("name", choices=list(CATALOG), help="dataset")
    p.add_argument("--root", required=True, help="the dataset's folder (raw/ goes inside)")
    p.add_argument("--mirror", help="base URL replacing the dataset's official host (a local mirror)")
    fetched = _defaults("pst.datasets.fetch", "fetch")
    p.add_argument("--retries", type=_positive, default=fetched["retries"], help="attempts per file")
    p.add_argument("--backoff", type=_finite(0), default=fetched["backoff"],
                   help="seconds before the first retry, doubled each time")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p = step("prepare", "extract, convert annotations to the internal lists, re-encode videos")
    p.add_argument("name", choices=list(CATALOG), help="dataset")
    p.add_argument("--root", required=True, help="the dataset's folder (raw/ inside, processed/ written)")
    p.add_argument("--short-side", type=int, help="re-encode short side (default: the dataset's, " + ", ".join(
        f"{d.label} {d.short_side}" for d in CATALOG.values()) + ")")
    p.add_argument("--workers", type=_positive, default=_defaults("pst.datasets.preprocess", "prepare")["workers"],
                   help="videos re-encoded in parallel")
    scatter = p.add_mutually_exclusive_group()
    scatter.add_argument("--plan", action="store_true",
                         help="scattered over cluster jobs, step 1: extract, convert, write processed/plan.json")
    scatter.add_argument("--shard", metavar="I/N", help="step 2, one job per I in 0..N-1: re-encode every N-th video "
                                                        "from the I-th")
    scatter.add_argument("--gather", type=_positive, metavar="N",
                         help="step 3: the lists and counts from the N shards (the same files as one job)")
    p.add_argument("--keyint", type=_positive,
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
                   default=_defaults("pst.datasets.validate", "validate")["modality"],
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

    p = command("train", "train one recipe into a run directory (resumes when restarted)", cmd_train)
    p.add_argument("--config", action="append", metavar="RECIPE",
                   help="recipe file (YAML or JSON) or inline JSON; repeat to merge several (later over earlier); "
                        "defaults fill what they leave out")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. --set train.seed=1")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--execution", default="none", metavar="KEY=VALUE,...",
                   help="execution settings over the recipe's, as dotted keys (data.workers, data.cache_videos, "
                        "train.progress, train.checkpoint_every, train.tensorboard, ...); they never make it another run")
    p.add_argument("--restart-on-change", action="store_true",
                   help="if RUN_DIR holds a run of another recipe, move it aside (a finished run is kept whole in "
                        "RUN.archived/) and start afresh (else refused)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved recipe (defaults <- --config <- --set <- --execution) and exit; writes "
                        "nothing")

    p = command("evaluate", "multi-crop x multi-clip test of a finished run", cmd_evaluate)
    p.add_argument("run_dir", nargs="?", help="a finished run directory")
    p.add_argument("--checkpoint", help="instead of a run: a video checkpoint in the official layout (an authors' "
                                        "release), evaluated with --config's model, data and views")
    p.add_argument("--config", action=_Once, help="with --checkpoint: the recipe (YAML/JSON file or inline JSON)")
    p.add_argument("--views", help="CROPSxCLIPS, e.g. 3x4 (K400) or 3x1 (SS, Diving48); default 1x1 (with "
                                   "--rescore: the source's views)")
    p.add_argument("--rescore", action="store_true",
                   help="no forward pass: recompute from the view scores an evaluation kept (scores.npz), with "
                        "another --average and/or a subset of its views (all or the centre crop, clips evenly spread)")
    p.add_argument("--from", dest="source", metavar="CxK",
                   help="with --rescore: the evaluation (its views) to rescore; default the run's with the most views")
    p.add_argument("--list", help="list file, a path from the current folder; its entries are relative to the "
                                  "recipe's data root (default: the recipe's val list)")
    p.add_argument("--out", help="output folder, never replaced (default RUN_DIR/eval_CxK, or "
                                 "eval_CxK_<list stem>-<8 hex of its SHA-256> for another list)")
    tested = _defaults("pst.engine.evaluate", "evaluate_run")
    p.add_argument("--batch-videos", type=_positive, default=tested["batch_videos"],
                   help="videos per forward (all their views together)")
    p.add_argument("--max-views", type=_positive, default=tested["max_views"],
                   help="views per forward chunk (memory bound)")
    p.add_argument("--average", choices=["prob", "score"], default=tested["average"],
                   help="per video: mean of the views' softmax probabilities (prob, the paper's) or softmax of "
                        "the mean logit (score)")
    p.add_argument("--workers", type=_at_least_zero, default=tested["workers"], help="loader processes decoding videos")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("predict", "a finished run's top-5 classes (with probabilities) for any video file or frame folder",
                cmd_predict)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or frame folders (frames named as the "
                                                              "run's data.frame_template)")
    p.add_argument("--run", required=True, help="a finished run directory (its recipe, classes and final weights)")
    p.add_argument("--views", help="CROPSxCLIPS (default: the views of the run's own evaluation with the most, "
                                   "else 1x1)")
    predicted = _defaults("pst.engine.predict", "predict_videos")
    p.add_argument("--average", choices=["prob", "score"], default=predicted["average"],
                   help="as pst evaluate --average")
    p.add_argument("--cam", metavar="OUT.png", help="also write the GradCAM overlay of these videos (.png or .svg)")

    p = command("status", "each table's runs of a profile: done, running (epoch, ETA), failed (the log's last "
                "error), missing; the runs moved aside, and those no table names", cmd_status)
    p.add_argument("--profile", help="profile of params.yaml (default: params.yaml's profile)")
    p.add_argument("--params", default=PARAMS, help="the experiment description")
    p.add_argument("--json", action="store_true", help="the same as JSON")

    p = command("compare", "one committed result table at two git revisions, row by row: top-1 at each, the "
                "difference and whether it stands out of the seeds' spread", cmd_compare)
    p.add_argument("rev_a", help="a git revision (commit, tag, HEAD~3)")
    p.add_argument("rev_b", help="another revision")
    p.add_argument("--table", help="a table of --profile, or flops (the FLOPs table); default: the profile's first")
    p.add_argument("--profile", help="the profile whose table it is (default: params.yaml's profile)")
    p.add_argument("--params", default=PARAMS, help="where the profile's tables are listed")
    p.add_argument("--wide", action="store_true", help="every column: those equal at both revisions once, the "
                                                     "others at each and B - A")
    p.add_argument("--seeds", action="store_true", help="also each seed's top-1 at each revision")
    p.add_argument("--curves", metavar="OUT.png", help="also draw the table's training curves at both revisions "
                                                      "(B solid, A dashed) into OUT.png and OUT.svg")
    p.add_argument("--format", choices=["md", "csv"], default="md", help="md for people, csv for every number")

    p = command("verify", "did the regenerated results reproduce the committed ones? identical (bytes), reproduced "
                "within tolerance (every cell within the committed seeds' 95% interval), or not reproduced (exit 1, "
                "the cells named)", cmd_verify)
    p.add_argument("rev", nargs="?", default="HEAD", help="the revision whose results are the reference")
    p.add_argument("--profile", help="the profile whose results/<profile>/ to verify (default: params.yaml's "
                   "profile)")

    p = command("cost", "what a profile's study costs per table (FLOPs, GPU-hours), from its recipes", cmd_cost)
    p.add_argument("--profile", default="paper", help="profile of params.yaml")
    p.add_argument("--params", default=PARAMS, help="the experiment description")
    p.add_argument("--tflops", type=_finite(0, above=True),
                   help="sustained TFLOP/s per GPU to assume (default: the GPU probe's measured rates, else 25)")
    p.add_argument("--gpu-probe", help="benchmarks/gpu.py's measurements (default: benchmarks/results/gpu.json, "
                                       "where it has run)")

    p = command("flops", "FLOPs and params of one view, counted on the meta device", cmd_flops)
    p.add_argument("model", help="a registered model (pst models)")
    p.add_argument("--frames", type=_FRAMES, default=16, help="input frames of one view")
    p.add_argument("--size", type=_PIXELS, default=224, help="crop size in pixels")
    p.add_argument("--classes", type=_positive, default=k400_classes, help="classifier size, counted in params (the "
                                                                          "paper's FLOPs: K400's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set pattern=D")
    p.add_argument("--json", action="store_true", help='print {"model", "frames", "size", "gflops", "params_m"}')

    p = command("memory", "training memory of one step (parameters, gradients, AdamW state, activations), "
                "accounted on the meta device", cmd_memory)
    p.add_argument("model", help="a registered model (pst models)")
    p.add_argument("--frames", type=_FRAMES, default=32, help="input frames of one clip")
    p.add_argument("--size", type=_PIXELS, default=224, help="crop size in pixels")
    p.add_argument("--batch", type=_positive, default=8, help="clips per device (the paper's: 8)")
    p.add_argument("--classes", type=_positive, default=k400_classes, help="classifier size (K400's)")
    accounted = _defaults("pst.report.memory", "training_memory")
    p.add_argument("--device", choices=["meta", "cpu"], default=accounted["device"],
                   help="meta: account without allocating; cpu: run the step for real")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set pattern=D")
    p.add_argument("--json", action="store_true", help="print the account as JSON")

    command("models", "list the registered video models", cmd_models)

    p = command("bench", "measure: `bench loader`, a recipe's training clips/s per loader process on a prepared "
                "list, and the CPU cores one GPU needs", cmd_bench)
    p.add_argument("what", choices=["loader"], help="what to measure")
    p.add_argument("--recipe", required=True, help="a recipe of params.yaml (pst_k400, pst_sthv1, pst_diving48)")
    p.add_argument("--list", required=True, help="a prepared training list (paths relative to --root)")
    p.add_argument("--root", help="the folder the list's paths are relative to (default: the list's folder)")
    p.add_argument("--classes", help="the dataset's classes file (default: classes.txt beside the list)")
    p.add_argument("--clips", type=_positive, default=30, help="training clips to time")
    p.add_argument("--repeats", type=_positive, default=1,
                   help="clips made from one decode (data.train.repeated_augmentation)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a data.* key of the recipe, e.g. data.decoder=pyav")
    p.add_argument("--gpu-rate", type=_finite(0, above=True),
                   help="clips/s one GPU trains (default: the GPU probe's for --model, else 150, an estimate)")
    p.add_argument("--model", default="pst_t", help="the model whose measured GPU rate to use")
    p.add_argument("--gpu-probe", help="benchmarks/gpu.py's measurements (default: benchmarks/results/gpu.json, "
                                       "where it has run)")
    p.add_argument("--params", default=PARAMS, help="the experiment description")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")

    p = command("recipe", "a recipe's every resolved key and where its value comes from (paper, official config, "
                "or our choice and why)", cmd_recipe)
    p.add_argument("recipe_command", choices=["show", "differences"],
                   help="show NAME: the keys of a recipe or of a run's recipe; differences: where the paper and the "
                        "official code differ, as the README's table")
    p.add_argument("name", nargs="?", help="show: a recipe of params.yaml (pst_sthv1) or a run of the profile "
                                          "(sthv1/pst_sthv1/pst_t)")
    p.add_argument("--profile", help="profile of params.yaml, for a run (default: params.yaml's profile)")
    p.add_argument("--params", default=PARAMS, help="the experiment description")

    p = command("pretrained", "save a timm ImageNet checkpoint (2D init) to a file", cmd_pretrained)
    p.add_argument("name", help="timm name with tag (e.g. swin_base_patch4_window7_224.ms_in22k), or one of our "
                                "models (pst_b): the paper's 2D weights of it")
    p.add_argument("--out", required=True, help="file to write (a state dict)")

    p = command("cam", "GradCAM figure (supplement Fig. 2): frames, then each run's map overlaid", cmd_cam)
    p.add_argument("runs", nargs="+", help="finished run directories, one column each")
    p.add_argument("--name", action="append", help="column title per run (default: the variant folder name)")
    p.add_argument("--video", action="append", help="a video path (repeatable)")
    p.add_argument("--videos-from", help="a list file (its entries under the runs' data root, as evaluate --list): "
                   "take the first video of --count different classes")
    p.add_argument("--count", type=_positive, default=2, help="videos taken from --videos-from")
    p.add_argument("--frames", type=_positive, default=4, help="consecutive frames shown per video")
    p.add_argument("--out", required=True, help="image file (.png or .svg)")

    # workflow steps: the Snakemake rules call them
    p = command("table", "(workflow step) build a result table (md, csv, json) from per-job records", cmd_table)
    p.add_argument("kind", choices=["flops", "study", "per-class", "curve", "released", "metrics"],
                   help="which table (per-class: a study table's per-class top-1 and confusions; curve: each row's "
                        "training curves, mean and range over seeds, as the CSVs DVC plots, in the folder --out)")
    p.add_argument("inputs", nargs="*", help="`pst flops --json` records (flops: the rows; study: the models' cost "
                                             "at the paper's input)")
    p.add_argument("--spec", help="study: the table's spec as JSON (inline or a file), written by the workflow")
    p.add_argument("--memory", nargs="*", default=[], help="study: `pst memory --json` records of the table's models")
    p.add_argument("--out", required=True, help="output path without suffix; .md, .csv and .json are written "
                                                "(metrics: the JSON file that merges the tables' metrics)")

    p = command("plot", "(workflow step) training curves and accuracy vs GFLOPs of one study table (PNG + SVG), and "
                "its confusion matrix (PNG)",
                cmd_plot)
    p.add_argument("--spec", required=True, help="the table's spec (JSON inline or a file), as for `pst table study`")
    p.add_argument("--table", required=True, help="the table's .json")
    p.add_argument("--out-dir", required=True, help="folder of the figures")

    p = command("report", "(workflow step) write a profile's results page (README.md): tables, figures, "
                "environment", cmd_report)
    p.add_argument("--out", required=True, help="the page to write")
    p.add_argument("--tables", nargs="+", required=True, help="table .md files")
    p.add_argument("--figures", nargs="*", default=[], help="figure files (PNG shown, SVG linked)")
    p.add_argument("--profile", required=True, help="the profile the page is about")

    p = command("launch", "(workflow step) start a training job's processes: itself, torchrun on one node, or one "
                "torchrun per node of a SLURM allocation meeting at a c10d rendezvous", cmd_launch)
    p.add_argument("--nodes", type=_positive, default=1, help="nodes of the job")
    p.add_argument("--procs", type=_positive, default=1, help="training processes per node (its GPUs; 1 on CPU)")
    p.add_argument("--gpus", type=_at_least_zero, default=_defaults("pst.engine.launch", "launch")["gpus"],
                   help="GPUs per node the job holds (handed to srun)")
    p.add_argument("--agent", action="store_true", help=argparse.SUPPRESS)    # what srun runs on each node
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then the pst command, e.g. -- train --config ...")

    p = command("record", "(workflow step) copy a finished run's small files (recipe, env, metrics, evaluations, "
                "predictions) where git versions them", cmd_record)
    p.add_argument("run_dir", help="a finished run directory")
    p.add_argument("--views", nargs="+", required=True, help="the evaluations to copy (CROPSxCLIPS)")
    p.add_argument("--out", required=True, help="the record's folder")
    return parser


@functools.lru_cache(maxsize=None)
def _defaults(module: str, function: str) -> dict:
    """A library function's keyword defaults that are plain constants, read from its source: an option's default
    lives once, in the function the command calls, and building the parser imports no torch."""
    import ast
    import importlib.util

    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    args = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function).args
    named = list(zip(args.args[len(args.args) - len(args.defaults):], args.defaults))
    named += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: d.value for a, d in named if isinstance(d, ast.Constant)}


def _config_options(p: argparse.ArgumentParser, config) -> None:
    """One option per field of a library's config dataclass, with its default and help: the default lives there."""
    kinds = {"int": int, "float": float}
    for f in fields(config):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        elif f.type == "tuple":
            p.add_argument(flag, type=float, nargs=len(f.default), default=list(f.default),
                           metavar=("LOW", "HIGH")[:len(f.default)], help=f.metadata["help"])
        else:
            p.add_argument(flag, type=kinds[f.type], default=f.default, help=f.metadata["help"])


class _Once(argparse.Action):
    """An option given at most once: a second value is refused, not silently taken over the first."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice ({getattr(namespace, self.dest)!r}, {values!r}); give one")
        setattr(namespace, self.dest, values)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _input_side(high: int, why: str):
    """An argparse type for an input's frames or pixels counted on the host: 1..high (index tables grow with it)."""
    def parse(text: str) -> int:
        value = _positive(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high} ({why}), got {value}")
        return value
    return parse


_FRAMES = _input_side(1024, "the paper's clips have 8-32 frames; 1024 already needs ~1.5 GB here")
_PIXELS = _input_side(2048, "the paper's crops are 224 px")


def _shard(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N), 0 <= I < N."""
    try:
        index, count = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 0/8") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: expected I/N with 0 <= I < N")
    return index, count


def _at_least_zero(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _finite(low: float, above: bool = False):
    """An argparse type: a finite number >= low (> low with ``above``)."""
    def parse(text: str) -> float:
        import math

        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (above and value == low):
            raise argparse.ArgumentTypeError(f"must be a finite number {'>' if above else '>='} {low:g}, got {text}")
        return value
    return parse


def _expected_errors() -> tuple:
    """Failures a user can fix (bad input, missing or unwritable files, a busy run, a download that failed):
    one line naming the file, key or fix; anything else is a bug and keeps its traceback."""
    import yaml

    from pst.datasets.download import ChecksumError, DownloadError
    from pst.io import FolderInUseError

    dataset = sys.modules.get("pst.data.dataset")    # its error is raised only where it was imported: a refusal
    loader = (dataset.UnreadableVideosError,) if dataset else ()      # before any model does not import torch
    return ValueError, OSError, yaml.YAMLError, ChecksumError, DownloadError, FolderInUseError, *loader


def main(argv: list[str] | None = None) -> int:
    """Expected failures print ``pst <command>: error: <what and the fix>`` and exit 2 (a preempted training 75,
    retryable; Ctrl-C 130); ``--debug`` or PST_DEBUG=1 shows the traceback instead."""
    import os

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("PST_DEBUG", "") not in ("", "0")
    where = f"pst {args.command}" + (f" {args.data_command}" if args.command == "data" else "")
    shown = warnings.formatwarning          # a warning is one line too, naming what it is about (not our source)
    warnings.formatwarning = lambda message, category, *_, **__: f"{where}: {category.__name__}: {message}\n"
    from pst.engine.run import Preempted, Terminated, terminate_raises

    try:
        with terminate_raises():
            return args.func(args)
    except (KeyboardInterrupt, Terminated) as err:
        if debug:
            raise
        how = "Ctrl-C" if isinstance(err, KeyboardInterrupt) else (err.args or ("SIGTERM",))[0]
        then = ("a training resumes from its last checkpoint" if args.command in ("train", "launch") else
                "nothing half-written is left")
        print(f"{where}: interrupted ({how}); finished work is kept and {then}: run the same command again",
              file=sys.stderr)
        return 130 if isinstance(err, KeyboardInterrupt) else err.exit_code
    except BrokenPipeError:             # the reader of the output went (`pst recipe show NAME | head`): no message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                      # as a process that SIGPIPE ended
    except Exception as err:  # noqa: BLE001 - sorted into expected (one line) and unexpected (traceback) below
        if debug:
            raise
        if isinstance(err, Preempted):
            print(f"{where}: {err}", file=sys.stderr)
            return err.exit_code
        if not isinstance(err, _expected_errors()):
            raise
        message = str(err) if not isinstance(err, OSError) or not err.filename else \
            f"{err.filename}: {err.strerror or err}"
        if isinstance(err, UnicodeEncodeError):           # a name made of bytes that are not UTF-8 (ValueError)
            snippet = err.object[max(0, err.start - 30):err.end + 10] if isinstance(err.object, str) else err.object
            message = (f"...{snippet!r}...: a name with bytes that are not UTF-8; give that path or value a UTF-8 "
                       "name")
        if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and \
                "choose" not in message:
            message += "; check that folder's permissions, or choose another output"
        if type(err).__name__ != "MissingFilesError":     # a file name with a newline stays on one line
            message = message.replace("\n", "\\n")
        print(f"{where}: error: {message}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = shown


def run() -> None:
    """The `pst` console script: main(), then an exit that a late Ctrl-C does not turn into a traceback (the work
    is done or refused by then; the libraries' exit hooks, torch's among them, finish undisturbed)."""
    import signal

    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run()
