"""Result tables as versioned artifacts: one DataFrame written as Markdown (tabulate), CSV and JSON, atomically."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from pst.io import read_record, write_text, write_texts
from pst.report.published import published_cost
from pst.weights_2d import PAPER_2D


def metrics_view(df: pd.DataFrame) -> dict:
    """{row key: {numeric column: value}}: the nested numbers `dvc metrics show/diff` can read (it skips lists).
    The row key joins the text columns (e.g. the model name)."""
    records = json.loads(df.to_json(orient="records"))
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    out = {}
    for i, rec in enumerate(records):
        key = "/".join(str(rec[c]) for c in text if rec[c] is not None) or str(i)
        out[key] = {c: v for c, v in rec.items() if c not in text and isinstance(v, (int, float))}
    return out


def write_table(df: pd.DataFrame, stem: str | Path, title: str, table: dict, display: pd.DataFrame | None = None,
                extra: dict | None = None, notes: str | None = None, metrics: dict | None = None) -> list[Path]:
    """Write ``stem``.md / .csv / .json; missing values print as n/a. The JSON holds the rows (for
    `pst compare`) and the numbers keyed by row (``metrics``, default: by the text columns; for DVC metrics);
    ``table`` says which table this is ({kind, name, profile}): files at ``stem`` that hold another table are
    refused, never replaced; ``display`` (default ``df``) is what the Markdown shows, under ``notes``; ``extra``
    goes into the JSON as it is (e.g. the code the numbers came from)."""
    stem = Path(stem)
    there = stem.with_suffix(".json")
    if there.is_file():                    # (`pst table` checked that a file there is one it wrote)
        held = read_record(there, "a table written by `pst table`", "remove it")
        if held.get("table", table) != table or ("table" not in held and held.get("title") != title):
            raise ValueError(f"--out {stem}: {there} holds another table ({_named(held.get('table'), held)}), not "
                             f"this one ({_named(table)}); a table is replaced only by itself: choose another --out")
    shown = df if display is None else display
    shown = shown.astype(object).where(shown.notna(), "n/a")
    # A display's cells are text already formatted (the paper's 75.3 as printed): tabulate must not read "73.0"
    # back as a number and print it as 73.00.
    body = shown.to_markdown(index=False, floatfmt=".2f", disable_numparse=display is not None)
    md = f"# {title}\n\n" + (f"{notes}\n\n" if notes else "") + f"{body}\n"
    data = {"title": title, "table": table, "rows": json.loads(df.to_json(orient="records")),
            "metrics": metrics_view(df) if metrics is None else metrics, **(extra or {})}
    # all or none, the JSON first: it is what proves a table's files are `pst table`'s
    write_texts({stem.with_suffix(".json"): json.dumps(data, indent=1) + "\n", stem.with_suffix(".md"): md,
                 stem.with_suffix(".csv"): df.to_csv(index=False)})
    return [stem.with_suffix(ext) for ext in (".md", ".csv", ".json")]


def _named(table, record: dict | None = None) -> str:
    """A table's identity in words (a table written before tables recorded one: its title)."""
    if not isinstance(table, dict):
        return f"titled {(record or {}).get('title')!r}"
    return ", ".join(f"{k} {v}" for k, v in table.items())


def write_metrics(tables: Iterable[str | Path], out: str | Path) -> Path:
    """One metrics file for a profile, {table name: its metrics view}: what `dvc metrics show/diff` reads."""
    merged = {}
    for t in tables:
        if Path(t).stem in merged:                   # one table's numbers, never another's taken over them
            raise ValueError(f"{t}: a second table named {Path(t).stem!r}; give each table once")
        merged[Path(t).stem] = read_record(t, "a table written by `pst table`", "rerun its table job",
                                           {"metrics": dict})["metrics"]
    return write_text(out, json.dumps(merged, indent=1, sort_keys=True) + "\n")


def paper_delta(ours: float, paper: float | None) -> float | None:
    """ours - paper after rounding ours as the paper prints that number (22 -> integer, 28.5 -> one decimal)."""
    if paper is None:
        return None
    decimals = 0 if float(paper).is_integer() else 1
    return round(round(ours, decimals) - paper, 2)


def flops_table(counts: Iterable[dict]) -> pd.DataFrame:
    """FLOPs / params per view, ours beside the paper's (rounded as the paper prints them) and the difference."""
    rows = []
    for c in counts:
        pub_g, pub_p = published_cost(c["model"])
        rows.append({"model": c["model"], "frames": c["frames"], "size": c["size"],
                     "GFLOPs": round(c["gflops"], 2), "GFLOPs paper": pub_g,
                     "Δ GFLOPs": paper_delta(c["gflops"], pub_g),
                     "params M": round(c["params_m"], 2), "params M paper": pub_p,
                     "Δ params M": paper_delta(c["params_m"], pub_p)})
    return pd.DataFrame(rows)


NUMBER = (int, float)
COUNT = {"model": str, "frames": int, "size": int, "gflops": NUMBER, "params_m": NUMBER}   # `pst flops --json`


MEMORY = {"model": str, "frames": int, "size": int, "batch": int, "peak_gib": NUMBER}       # `pst memory --json`


def _model_record(path: str | Path, what: str, keys: dict) -> dict:
    """A per-model record of one of our models (a row named after no model of ours is refused, not printed)."""
    record = read_record(path, what, "rerun that job", keys)
    if record["model"] not in PAPER_2D:
        raise ValueError(f"{path}: not {what} (model {record['model']!r} is none of {', '.join(PAPER_2D)}); "
                         "rerun that job")
    for key, kind in keys.items():                  # counts >= 1, amounts >= 0 (NaN is neither)
        low = 1 if kind is int else 0
        if kind is not str and not record[key] >= low:
            raise ValueError(f"{path}: not {what} ({key} {record[key]!r} is not >= {low}); rerun that job")
    return record


def load_counts(paths: Iterable[str | Path]) -> list[dict]:
    counts, seen = [], {}
    for p in paths:
        c = _model_record(p, "a FLOPs record from `pst flops --json`", COUNT)
        key = (c["model"], c["frames"], c["size"])
        if key in seen and seen[key][1] != c:
            raise ValueError(f"{p}: counts {c['model']} at {c['frames']}x{c['size']} otherwise than {seen[key][0]}; "
                             "rerun both jobs")
        if key not in seen:
            seen[key] = (p, c)
            counts.append(c)
    return counts


def load_memory(paths: Iterable[str | Path]) -> list[dict]:
    return [_model_record(p, "a memory record from `pst memory --json`", MEMORY) for p in paths]
