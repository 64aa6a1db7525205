"""`pst cost`: what a profile's study costs, per table, from its recipes and the models' FLOPs.

Counted, not measured (no GPU was lent to this project yet): per run, training = 3 x the forward multiply-adds of
one clip (forward + backward) x training clips x epochs, validation = one view per validation clip per epoch, test
= the table's views per validation clip. Clip counts are those of a full copy (pst.data.catalog). GPU-hours divide
the FLOPs (2 per multiply-add) by an assumed sustained rate per GPU (``tflops``); data loading is not counted.
"""
from __future__ import annotations

import pandas as pd

from pst.data.catalog import dataset_info
from pst.engine.config import parse_views, resolve
from pst.report.flops import count
from pst.study import Study


def _clips(settings: dict, name: str) -> tuple[int, int]:
    if settings["source"] == "synth":
        s = settings["synth"]
        return 2 * s["pairs"] * s["train_per_class"], 2 * s["pairs"] * s["val_per_class"]
    return dataset_info(name).clips


def study_cost(study: Study, tflops: float = 25.0) -> pd.DataFrame:
    """One row per table: its runs, their training and test PFLOP (multiply-adds), and GPU-hours at ``tflops``."""
    rows, seen, gmacs = [], set(), {}
    for table in study.tables:
        train_p = test_p = 0.0
        fresh = [r for r in study.table_runs(table) if r not in seen]       # a run shared by tables counts once
        for run in study.table_runs(table):
            cfg = resolve(study.recipe(run))
            d = cfg["data"]
            key = (cfg["model"]["name"], d["sampling"]["clip_len"], d["val"]["size"], repr(cfg["model"]["kwargs"]))
            if key not in gmacs:
                gmacs[key] = count(key[0], key[1], key[2], **cfg["model"]["kwargs"])["gflops"]
            train_clips, val_clips = _clips(study.dataset(run.dataset), run.dataset)
            epochs = cfg["schedule"]["epochs"]
            if run in fresh:
                train_p += gmacs[key] * (3 * train_clips + val_clips) * epochs / 1e6
            for views in table.views:
                crops, clips = parse_views(views)
                test_p += gmacs[key] * crops * clips * val_clips / 1e6
        seen.update(fresh)
        pflop = train_p + test_p
        rows.append({"table": table.name, "runs": len(fresh), "train PMAC": round(train_p, 1),
                     "test PMAC": round(test_p, 2), f"GPU-hours @{tflops:g} TFLOP/s": round(2 * pflop * 1e15 /
                                                                                          (tflops * 1e12) / 3600)})
    return pd.DataFrame(rows)
