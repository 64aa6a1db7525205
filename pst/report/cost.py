"""`pst cost`: what a profile's study costs, per table, from its recipes and the models' FLOPs.

Counted, not measured (no GPU was lent to this project yet): per run, training = 3 x the forward multiply-adds of
one clip (forward + backward) x training clips x epochs, validation = one view per validation clip per epoch, test
= the table's views per validation clip. Clip counts are those of a full copy (pst.datasets.catalog). GPU-hours divide
the FLOPs (2 per multiply-add) by a sustained rate per GPU: the GPU probe's measured TFLOP/s of each run's model
(benchmarks/gpu.py's file, where it has run on a GPU) or an assumed ``tflops``; data loading is not counted.
"""
from __future__ import annotations

import pandas as pd

from pst.datasets.catalog import dataset_info
from pst.engine.config import parse_views, resolve
from pst.report.flops import count
from pst.study import Study


def _clips(settings: dict, name: str) -> tuple[int, int]:
    if settings["source"] == "synth":
        s = settings["synth"]
        return 2 * s["pairs"] * s["train_per_class"], 2 * s["pairs"] * s["val_per_class"]
    return dataset_info(name).clips


ASSUMED_TFLOPS = 25.0


def study_cost(study: Study, tflops: float | None = None, probe: dict | None = None) -> pd.DataFrame:
    """One row per table: its runs, their training and test PFLOP (multiply-adds), and GPU-hours at the probe's
    measured TFLOP/s of each run's model (``probe``: pst.engine.bench.gpu_probe), else at ``tflops``."""
    measured = {} if probe is None or tflops is not None else {m: r["tflops"] for m, r in probe["models"].items()}
    assumed = tflops or ASSUMED_TFLOPS
    rows, seen = [], set()
    for table in study.tables:
        train_p = test_p = hours = 0.0
        fresh = [r for r in study.table_runs(table) if r not in seen]       # a run shared by tables counts once
        for run in study.table_runs(table):
            cfg = resolve(study.recipe(run))
            d = cfg["data"]
            gmacs = count(cfg["model"]["name"], d["sampling"]["clip_len"], d["val"]["size"],
                          **cfg["model"]["kwargs"])["gflops"]
            train_clips, val_clips = _clips(study.dataset(run.dataset), run.dataset)
            epochs = cfg["schedule"]["epochs"]
            run_train = gmacs * (3 * train_clips + val_clips) * epochs / 1e6 if run in fresh else 0.0
            run_test = sum(gmacs * crops * clips * val_clips / 1e6
                           for crops, clips in map(parse_views, table.views))
            train_p, test_p = train_p + run_train, test_p + run_test
            hours += 2 * (run_train + run_test) * 1e15 / (measured.get(cfg["model"]["name"], assumed) * 1e12) / 3600
        seen.update(fresh)
        rows.append({"table": table.name, "runs": len(fresh), "train PMAC": round(train_p, 1),
                     "test PMAC": round(test_p, 2), "GPU-hours": round(hours)})
    return pd.DataFrame(rows)
