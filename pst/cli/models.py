"""`pst models|flops|memory|bench|pretrained`: what a model costs (FLOPs, memory, loader cores) and its 2D weights."""
from __future__ import annotations

import argparse
import json

from pst.cli.options import defaults, finite, positive
from pst.layout import PARAMS


def add(command) -> None:
    """flops, memory, models, bench, pretrained."""
    from pst.datasets.catalog import CATALOG

    k400_classes = CATALOG["kinetics400"].num_classes     # the paper counts FLOPs with K400's classifier
    p = command("flops", "FLOPs and params of one view, counted on the meta device", cmd_flops)
    p.add_argument("model", help="a registered model (pst models)")
    p.add_argument("--frames", type=_FRAMES, default=16, help="input frames of one view")
    p.add_argument("--size", type=_PIXELS, default=224, help="crop size in pixels")
    p.add_argument("--classes", type=positive, default=k400_classes, help="classifier size, counted in params (the "
                                                                          "paper's FLOPs: K400's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set pattern=D")
    p.add_argument("--json", action="store_true", help='print {"model", "frames", "size", "gflops", "params_m"}')

    p = command("memory", "training memory of one step (parameters, gradients, AdamW state, activations), "
                "accounted on the meta device", cmd_memory)
    p.add_argument("model", help="a registered model (pst models)")
    p.add_argument("--frames", type=_FRAMES, default=32, help="input frames of one clip")
    p.add_argument("--size", type=_PIXELS, default=224, help="crop size in pixels")
    p.add_argument("--batch", type=positive, default=8, help="clips per device (the paper's: 8)")
    p.add_argument("--classes", type=positive, default=k400_classes, help="classifier size (K400's)")
    accounted = defaults("pst.report.memory", "training_memory")
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
    p.add_argument("--clips", type=positive, default=30, help="training clips to time")
    p.add_argument("--repeats", type=positive, default=1,
                   help="clips made from one decode (data.train.repeated_augmentation)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a data.* key of the recipe, e.g. data.decoder=pyav")
    p.add_argument("--gpu-rate", type=finite(0, above=True),
                   help="clips/s one GPU trains (default: the GPU probe's for --model, else 150, an estimate)")
    p.add_argument("--model", default="pst_t", help="the model whose measured GPU rate to use")
    p.add_argument("--gpu-probe", help="benchmarks/gpu.py's measurements (default: benchmarks/results/gpu.json, "
                                       "where it has run)")
    p.add_argument("--params", default=PARAMS, help="the experiment description")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")

    p = command("pretrained", "save a timm ImageNet checkpoint (2D init) to a file", cmd_pretrained)
    p.add_argument("name", help="timm name with tag (e.g. swin_base_patch4_window7_224.ms_in22k), or one of our "
                                "models (pst_b): the paper's 2D weights of it")
    p.add_argument("--out", required=True, help="file to write (a state dict)")


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
              f"temporaries {r['temp_gib']:.2f}; "
              f"{'accounted on the meta device' if args.device == 'meta' else 'measured'})")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pst.models import MODEL_NAMES
    print("\n".join(MODEL_NAMES))
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


def cmd_pretrained(args: argparse.Namespace) -> int:
    """Save a timm ImageNet checkpoint's state dict (the paper's 2D init) where the recipes point."""
    from pst.weights_2d import download

    print(download(args.name, args.out))
    return 0


def _input_side(high: int, why: str):
    """An argparse type for an input's frames or pixels counted on the host: 1..high (index tables grow with it)."""
    def parse(text: str) -> int:
        value = positive(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high} ({why}), got {value}")
        return value
    return parse


_FRAMES = _input_side(1024, "the paper's clips have 8-32 frames; 1024 already needs ~1.5 GB here")


_PIXELS = _input_side(2048, "the paper's crops are 224 px")
