"""Run the benchmarks and write their JSON reports to benchmarks/results/. `--quick` is a seconds-long smoke run."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core  # noqa: E402
import data  # noqa: E402
import decoders  # noqa: E402
import engine  # noqa: E402
import kernels  # noqa: E402
import memory  # noqa: E402
import workflow  # noqa: E402

BENCHMARKS = {"core": core, "data": data, "decoders": decoders, "engine": engine, "kernels": kernels, "memory": memory, "workflow": workflow}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", default="benchmarks/results")
    parser.add_argument("--only", choices=list(BENCHMARKS), help="run one benchmark")
    args = parser.parse_args()
    for name, module in BENCHMARKS.items():
        if args.only in (None, name):
            module.main(quick=args.quick, out=str(Path(args.out_dir) / f"{name}{'_quick' if args.quick else ''}.json"))
