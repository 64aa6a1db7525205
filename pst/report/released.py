"""The table "released weights on this data copy": the authors' checkpoints evaluated on the user's own copy of a
dataset with the paper's test views, beside the published numbers, with the videos the copy lacks or cannot decode.

A copy that matches the authors' gives their number: this is the first check of a data copy, before any training.
Clips the annotations name but the copy lacks (``missing_val.txt`` from `pst data prepare`) and videos that fail to
decode are counted; "top-1 (all listed)" counts both as wrong, the bound a missing clip can cost.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pst.report.published import published
from pst.report.tables import paper_delta, write_table


def _published(key: str) -> dict:
    table, row = key.split("/", 1)
    return ((published().get(table) or {}).get("rows") or {}).get(row) or {}


def released_table(spec: dict) -> pd.DataFrame:
    """One row per released checkpoint of the profile (``pst.study.Study.released_spec``)."""
    rows = []
    for r in spec["rows"]:
        pub = _published(r["published"])
        missing_file = Path(r["missing"])
        missing = len(missing_file.read_text().split()) if missing_file.is_file() else None
        rec = None
        if r["placed"]:
            try:
                rec = json.loads(Path(r["eval"]).read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise ValueError(f"{r['eval']}: the evaluation of {r['checkpoint']} is missing or unreadable "
                                 f"({err}); run it first (snakemake builds it), nothing was written") from None
        top1 = rec.get("top1") if rec else None
        listed = rec["videos_listed"] if rec else None
        comparable = spec["comparable"] and r["views"] == r["paper_views"] and top1 is not None
        rows.append({
            "checkpoint": r["name"], "dataset": r["dataset"], "views": r["views"],
            "top-1": top1, "top-5": rec.get("top5") if rec else None,
            "top-1 paper": pub.get("top1"), "top-5 paper": pub.get("top5"),
            "Δ top-1": paper_delta(top1, pub.get("top1")) if comparable else None,
            "videos evaluated": rec["videos_evaluated"] if rec else None,
            "videos unreadable": rec["videos_failed"] if rec else None,
            "videos partial": rec["videos_partial"] if rec else None,
            "videos looped": rec.get("videos_looped") if rec else None,     # shorter than the test clip
            "videos missing from this copy": missing,
            "top-1 (all listed)": None if top1 is None or not listed else
            top1 * rec["videos_evaluated"] / (listed + (missing or 0)),
            "status": "evaluated" if rec else f"not placed: {r['checkpoint']}",
            "title": r["title"],
        })
    return pd.DataFrame(rows, columns=["checkpoint", "dataset", "views", "top-1", "top-5", "top-1 paper",
                                       "top-5 paper", "Δ top-1", "videos evaluated", "videos unreadable",
                                       "videos partial", "videos looped", "videos missing from this copy",
                                       "top-1 (all listed)", "status", "title"])


def write(spec: dict, out: str | Path) -> pd.DataFrame:
    df = released_table(spec)
    notes = ("The authors' released checkpoints on this copy of each dataset, with the paper's test views, before "
             "any training: a copy that matches the authors' gives their number. Missing: clips the annotations "
             "name but the copy lacks; unreadable: videos that fail to decode; top-1 (all listed) counts both as "
             "wrong." + ("" if spec["comparable"] else " This profile changes the recipe or input (not the paper's "
                                                       "setting): no Δ to the paper."))
    write_table(df, out, "Released weights on this data copy", {"kind": "released", "profile": spec["profile"]},
                notes=notes,
                extra={"profile": spec["profile"], "checkpoints": {r["name"]: r["checkpoint"] for r in spec["rows"]}})
    return df
