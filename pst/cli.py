"""The `pst` command: one subcommand per step of the study; each is a thin layer over the library."""
from __future__ import annotations

import argparse
import json
import sys


def _parse_value(text: str):
    """Model options from the command line: JSON when it parses (numbers, lists, booleans), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _model_kwargs(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--set: expected KEY=VALUE (e.g. --set pattern=D), got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = _parse_value(value)
    return out


def cmd_flops(args: argparse.Namespace) -> int:
    from pst.models import MODEL_NAMES
    from pst.report.flops import count

    if args.model not in MODEL_NAMES:
        raise SystemExit(f"model: unknown {args.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    result = count(args.model, args.frames, args.size, num_classes=args.classes, **_model_kwargs(args.set))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['model']}: {args.frames} frames x {args.size}x{args.size}, {args.classes} classes: "
              f"{result['gflops']:.0f} GFLOPs / {result['params_m']:.0f} M params "
              f"(exact {result['gflops']:.2f} G, {result['params_m']:.2f} M; multiply-add = 1 FLOP, per view)")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from pst.report.tables import flops_table, load_counts, write_table

    if args.kind == "flops":
        df = flops_table(load_counts(args.inputs))
        for path in write_table(df, args.out, "FLOPs and params per view (multiply-add = 1 FLOP), ours vs paper"):
            print(path)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pst.models import MODEL_NAMES
    print("\n".join(MODEL_NAMES))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pst", description="Temporal Patch Shift (ECCV 2022), reproduced.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("flops", help="FLOPs and params of one view, counted on the meta device")
    p.add_argument("model")
    p.add_argument("--frames", type=int, default=16, help="input frames of one view (default 16)")
    p.add_argument("--size", type=int, default=224, help="crop size in pixels (default 224)")
    p.add_argument("--classes", type=int, default=400, help="classifier size, counted in params (default 400)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set pattern=D")
    p.add_argument("--json", action="store_true", help='print {"model", "frames", "size", "gflops", "params_m"}')
    p.set_defaults(func=cmd_flops)

    p = sub.add_parser("table", help="build a result table (md, csv, json) from per-job records")
    p.add_argument("kind", choices=["flops"])
    p.add_argument("inputs", nargs="+", help="records written by the jobs (e.g. `pst flops --json` files)")
    p.add_argument("--out", required=True, help="output path without suffix; .md, .csv and .json are written")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("models", help="list the registered video models")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"pst {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
