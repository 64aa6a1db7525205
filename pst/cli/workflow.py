"""The workflow's steps (the Snakemake rules call them; rarely typed by hand): table, plot, report, launch, record."""
from __future__ import annotations

import argparse

from pst.cli.options import at_least_zero, defaults, positive


def add(command) -> None:
    """table, plot, report, launch, record."""
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
    p.add_argument("--nodes", type=positive, default=1, help="nodes of the job")
    p.add_argument("--procs", type=positive, default=1, help="training processes per node (its GPUs; 1 on CPU)")
    p.add_argument("--gpus", type=at_least_zero, default=defaults("pst.engine.launch", "launch")["gpus"],
                   help="GPUs per node the job holds (handed to srun)")
    p.add_argument("--agent", action="store_true", help=argparse.SUPPRESS)    # what srun runs on each node
    p.add_argument("args", nargs=argparse.REMAINDER, help="-- then the pst command, e.g. -- train --config ...")

    p = command("record", "(workflow step) copy a finished run's small files (recipe, env, metrics, evaluations, "
                "predictions) where git versions them", cmd_record)
    p.add_argument("run_dir", help="a finished run directory")
    p.add_argument("--views", nargs="+", required=True, help="the evaluations to copy (CROPSxCLIPS)")
    p.add_argument("--out", required=True, help="the record's folder")


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


def cmd_plot(args: argparse.Namespace) -> int:
    from pst.report.jobs import draw
    from pst.study import read_spec

    print("\n".join(map(str, draw(read_spec(args.spec), args.table, args.out_dir))))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pst.report.readme import report

    print(report(args.out, args.tables, args.figures, args.profile))
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from pst.cli import build_parser
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


def cmd_record(args: argparse.Namespace) -> int:
    from pst.io import first_repeat
    from pst.report.records import record

    twice = first_repeat(args.views)
    if twice:
        raise ValueError(f"--views: {twice} given twice; name each evaluation once")
    written = record(args.run_dir, args.views, args.out)
    print(f"{args.out}: {len(written)} files of {args.run_dir}")
    return 0
