"""A study table (supplement Table 1, Table 2(b), the main tables): runs' test results, mean ± std over seeds,
FLOPs/params of our view and of the paper's input, and the published numbers beside them with Δ.

Built only from finished artifacts (eval.json, config.yaml, `pst flops` records); a missing or unreadable run
fails the whole table and names every such run, so a partial table is never written as done.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd

from pst.report.published import published
from pst.report.tables import load_counts, paper_delta, write_table
from pst.layout import eval_path
from pst.provenance import CODE, code_fingerprint


class MissingRunsError(RuntimeError):
    pass


def collect(spec: dict) -> dict:
    """{(variant, views): [eval records]}; raises MissingRunsError listing every missing/unreadable evaluation."""
    found, missing = {}, []
    for row in spec["rows"]:
        for run in row["runs"]:
            path = Path(eval_path(run, row["views"]))
            try:
                rec = json.loads(path.read_text())
                if rec.get("top1") is None:
                    raise ValueError("no video was evaluated")
            except (OSError, ValueError) as err:
                missing.append(f"{path} ({err.__class__.__name__}: {err})" if path.exists() else f"{path} (missing)")
                continue
            found.setdefault((row["variant"], row["views"]), []).append(rec)
    if missing:
        raise MissingRunsError(f"table {spec['name']}: {len(missing)} of "
                               f"{sum(len(r['runs']) for r in spec['rows'])} evaluations missing or unreadable; "
                               "run them first (snakemake builds them), nothing was written:\n  " + "\n  ".join(missing))
    return found


def published_row(table: str | None, key: str | None, dataset_hint: str | None = None) -> dict:
    """{top1, top5, flops_g, params_m} of one published row; absent values are None (printed n/a).
    ``key`` may name another published table as "table/row" (e.g. Table 2(b)'s 2D row is in Table 2(e))."""
    out = {"top1": None, "top5": None, "flops_g": None, "params_m": None}
    if key is not None and "/" in str(key):
        table, key = str(key).split("/", 1)
    block = published().get(table) if table else None
    row = (block or {}).get("rows", {}).get(key) if key is not None else None
    if not row:
        return out
    out.update({k: row.get(k) for k in out if k in row})
    if dataset_hint and isinstance(row.get(dataset_hint), list):
        out["top1"], out["top5"] = row[dataset_hint]
    return out


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _run_cost(run: str) -> dict:
    """FLOPs/params of one view as the run was trained (frames, crop size and model options of its config)."""
    from pst.data.annotations import read_classes
    from pst.engine.config import resolve_path
    from pst.engine.run import load_config
    from pst.report.flops import count

    cfg = load_config(run)
    d = cfg["data"]
    classes = len(read_classes(resolve_path(d["root"], d["classes"])))
    return count(cfg["model"]["name"], d["sampling"]["clip_len"], d["val"]["size"], num_classes=classes,
                 **cfg["model"]["kwargs"])


def code_of(found: dict) -> dict:
    """The code a table came from: this report code, and every evaluation code fingerprint its records name."""
    evals = sorted({(r.get("code") or {}).get("fingerprint") or "unrecorded" for recs in found.values() for r in recs})
    return {"report": code_fingerprint(*CODE["report"]), "evaluate": evals}


def build(spec: dict, paper_flops: list[str], found: dict | None = None) -> pd.DataFrame:
    found = collect(spec) if found is None else found
    paper_cost = {rec["model"]: rec for rec in load_counts(paper_flops)}
    costs: dict[str, dict] = {}                 # one count per run, shared by its rows of other views
    rows = []
    for row in spec["rows"]:
        recs = found[(row["variant"], row["views"])]
        pub = published_row(spec["published"], row["published_row"], spec.get("paper_dataset"))
        run = row["runs"][0]
        if run not in costs:
            costs[run] = _run_cost(run)
        cost = costs[run]
        at_paper = paper_cost.get(row["model"], {})
        t1, t1s = _mean_std([r["top1"] for r in recs])
        t5, t5s = _mean_std([r["top5"] for r in recs])
        twin, twin_s = _mean_std([r.get("twin_top1") for r in recs])
        rows.append({
            "model": row["variant"], "pretrain": spec["pretrain"], "crops x clips": row["views"],
            "input": f"{cost['frames']}x{cost['size']}²", "GFLOPs": round(cost["gflops"], 4),
            "params M": round(cost["params_m"], 3),
            "GFLOPs @paper input": None if not at_paper else round(at_paper["gflops"], 2),
            "params M @paper input": None if not at_paper else round(at_paper["params_m"], 2),
            "seeds": len(recs), "top-1": t1, "top-1 std": t1s, "top-5": t5, "top-5 std": t5s,
            "twin top-1": twin, "twin top-1 std": twin_s,
            "top-1 paper": pub["top1"], "Δ top-1": None if t1 is None else paper_delta(t1, pub["top1"]),
            "top-5 paper": pub["top5"], "Δ top-5": None if t5 is None else paper_delta(t5, pub["top5"]),
            "GFLOPs paper": pub["flops_g"], "params M paper": pub["params_m"]})
    df = pd.DataFrame(rows)
    if df["twin top-1"].isna().all():
        df = df.drop(columns=["twin top-1", "twin top-1 std"])
    return df


def display(df: pd.DataFrame) -> pd.DataFrame:
    """The Markdown view: 'mean ± std' per metric, one decimal as the paper prints."""
    out = df.copy()
    for col in ("top-1", "top-5", "twin top-1"):
        if col in out:
            out[col] = [None if pd.isna(m) else (f"{m:.1f} ± {s:.1f}" if n > 1 else f"{m:.1f}")
                        for m, s, n in zip(out[col], out[f"{col} std"], out["seeds"])]
            out = out.drop(columns=[f"{col} std"])
    return out


def write(spec: dict, paper_flops: list[str], out: str | Path) -> pd.DataFrame:
    found = collect(spec)
    df = build(spec, paper_flops, found)
    seeds = max(df["seeds"]) if len(df) else 0
    title = f"{spec['title']} — profile {spec['profile']}, mean ± std over {seeds} seed(s)"
    write_table(df, out, title, display=display(df), extra={"code": code_of(found)})
    return df
