"""`pst status|compare|verify|recipe|cost`: a profile's study as a whole, its committed results and its recipes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pst.cli.options import finite
from pst.layout import PARAMS


def add(command) -> None:
    """status, compare, verify, cost, recipe."""
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
    p.add_argument("--tflops", type=finite(0, above=True),
                   help="sustained TFLOP/s per GPU to assume (default: the GPU probe's measured rates, else 25)")
    p.add_argument("--gpu-probe", help="benchmarks/gpu.py's measurements (default: benchmarks/results/gpu.json, "
                                       "where it has run)")

    p = command("recipe", "a recipe's every resolved key and where its value comes from (paper, official config, "
                "or our choice and why)", cmd_recipe)
    p.add_argument("recipe_command", choices=["show", "differences"],
                   help="show NAME: the keys of a recipe or of a run's recipe; differences: where the paper and the "
                        "official code differ, as the README's table")
    p.add_argument("name", nargs="?", help="show: a recipe of params.yaml (pst_sthv1) or a run of the profile "
                                          "(sthv1/pst_sthv1/pst_t)")
    p.add_argument("--profile", help="profile of params.yaml, for a run (default: params.yaml's profile)")
    p.add_argument("--params", default=PARAMS, help="the experiment description")


def cmd_status(args: argparse.Namespace) -> int:
    from pst.status import format_status, study_status
    from pst.study import load

    status = study_status(load(args.params, args.profile))
    print(json.dumps(status, indent=1) if args.json else format_status(status))
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
