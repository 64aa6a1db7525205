"""`pst train|evaluate|predict|cam`: a run's life, from its recipe to its scores and what its model looks at."""
from __future__ import annotations

import argparse
from pathlib import Path

from pst.cli.options import Once, at_least_zero, defaults, positive


def add(command) -> None:
    """train, evaluate, predict, cam."""
    p = command("train", "train one recipe into a run directory (resumes when restarted)", cmd_train)
    p.add_argument("--config", action="append", metavar="RECIPE",
                   help="recipe file (YAML or JSON) or inline JSON; repeat to merge several (later over earlier); "
                        "defaults fill what they leave out")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. --set train.seed=1")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--execution", default="none", metavar="KEY=VALUE,...",
                   help="execution settings over the recipe's, as dotted keys (data.workers, data.cache_videos, "
                        "train.progress, train.checkpoint_every, train.tensorboard, ...); they never make it another "
                        "run")
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
    p.add_argument("--config", action=Once, help="with --checkpoint: the recipe (YAML/JSON file or inline JSON)")
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
    tested = defaults("pst.engine.evaluate", "evaluate_run")
    p.add_argument("--batch-videos", type=positive, default=tested["batch_videos"],
                   help="videos per forward (all their views together)")
    p.add_argument("--max-views", type=positive, default=tested["max_views"],
                   help="views per forward chunk (memory bound)")
    p.add_argument("--average", choices=["prob", "score"], default=tested["average"],
                   help="per video: mean of the views' softmax probabilities (prob, the paper's) or softmax of "
                        "the mean logit (score)")
    p.add_argument("--workers", type=at_least_zero, default=tested["workers"], help="loader processes decoding videos")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("predict", "a finished run's top-5 classes (with probabilities) for any video file or frame folder",
                cmd_predict)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or frame folders (frames named as the "
                                                              "run's data.frame_template)")
    p.add_argument("--run", required=True, help="a finished run directory (its recipe, classes and final weights)")
    p.add_argument("--views", help="CROPSxCLIPS (default: the views of the run's own evaluation with the most, "
                                   "else 1x1)")
    predicted = defaults("pst.engine.predict", "predict_videos")
    p.add_argument("--average", choices=["prob", "score"], default=predicted["average"],
                   help="as pst evaluate --average")
    p.add_argument("--cam", metavar="OUT.png", help="also write the GradCAM overlay of these videos (.png or .svg)")

    p = command("cam", "GradCAM figure (supplement Fig. 2): frames, then each run's map overlaid", cmd_cam)
    p.add_argument("runs", nargs="+", help="finished run directories, one column each")
    p.add_argument("--name", action="append", help="column title per run (default: the variant folder name)")
    p.add_argument("--video", action="append", help="a video path (repeatable)")
    p.add_argument("--videos-from", help="a list file (its entries under the runs' data root, as evaluate --list): "
                   "take the first video of --count different classes")
    p.add_argument("--count", type=positive, default=2, help="videos taken from --videos-from")
    p.add_argument("--frames", type=positive, default=4, help="consecutive frames shown per video")
    p.add_argument("--out", required=True, help="image file (.png or .svg)")


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

        tested = defaults("pst.engine.evaluate", "evaluate_run")
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
    args.views = args.views or defaults("pst.engine.evaluate", "evaluate_run")["views"]
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
              f"{r['mean_class_accuracy']:.2f} over {r['denominator']} videos ({failed}, {r['videos_partial']} "
              "partial)")
    if r.get("videos_looped"):                     # as mmaction2 0.x reads them, so said, not hidden
        print(f"{r['videos_looped']} videos are shorter than the test clip (e.g. {r['looped'][0]}): their clips loop "
              "back to the first frame (uniform: repeat frames); all in eval.json")
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
        note += " (looped: shorter than the test clip)" if v["looped"] else ""
        print(f"{v['video']}{note}: " + ", ".join(f"{name} {100 * p:.1f}%" for name, p in v["top"]))
    print(f"{r['views']} views ({r['average']}) of {args.run}, {r['classes']} classes")
    if args.cam:
        from pst.report.cam import figure

        print(figure({Path(args.run).name: args.run}, list(args.videos), args.cam))
    return 0


def cmd_cam(args: argparse.Namespace) -> int:
    from pst.report.cam import figure_of_runs

    print(figure_of_runs(args.runs, args.name, list(args.video or []), args.videos_from, args.count, args.frames,
                         args.out))
    return 0
