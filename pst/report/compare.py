"""`pst compare REV_A REV_B`: one result table at two git revisions, side by side with the difference.

Reads only the versioned artifacts (a profile's ``tables/NAME.json``, or the shared FLOPs table, as committed at
each revision; paths from pst.layout); nothing reruns.
Rows are matched on their non-numeric columns (model, dataset, pattern, views, ...); every numeric column shows
the value at A, at B and B - A.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional

import pandas as pd

from pst.layout import FLOPS_TABLE, Layout


def table_file(name: str, profile: str = "synthetic") -> str:
    """The JSON of table ``name`` of ``profile`` ("flops": the FLOPs table every profile shares)."""
    return f"{FLOPS_TABLE}.json" if name == "flops" else f"{Layout(profile).table(name)}.json"


def table_at(rev: str, name: str, repo: str | Path = ".", profile: str = "synthetic") -> pd.DataFrame:
    """The table ``name`` as committed at ``rev``; a clear error when the revision or the table is missing."""
    path = table_file(name, profile)
    tables_dir = str(Path(path).parent)
    show = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True)
    if show.returncode != 0:
        known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo,
                               capture_output=True, text=True)
        if known.returncode != 0:
            raise ValueError(f"revision {rev!r}: not a commit of this repository")
        listing = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{tables_dir}"], cwd=repo,
                                 capture_output=True, text=True).stdout.split()
        tables = sorted({Path(f).stem for f in listing if f.endswith(".json")})
        raise ValueError(f"revision {rev}: has no table {name!r} ({path}); tables there: "
                         f"{', '.join(tables) if tables else 'none'}")
    data = json.loads(show.stdout)
    return pd.DataFrame(data["rows"] if isinstance(data, dict) else data)


def compare(rev_a: str, rev_b: str, name: str, repo: str | Path = ".", profile: str = "synthetic") -> pd.DataFrame:
    a, b = table_at(rev_a, name, repo, profile), table_at(rev_b, name, repo, profile)
    keys = [c for c in a.columns if c in b.columns and not pd.api.types.is_numeric_dtype(a[c])
            and not pd.api.types.is_numeric_dtype(b[c])]
    numeric = [c for c in a.columns if c in b.columns and c not in keys]
    if not keys:                       # all-numeric tables: match rows by position
        a, b = a.reset_index(), b.reset_index()
        keys = ["index"]
    merged = a[keys + numeric].merge(b[keys + numeric], on=keys, how="outer", suffixes=(" @A", " @B"))
    out = merged[keys].copy()
    for c in numeric:
        va = pd.to_numeric(merged[f"{c} @A"], errors="coerce")
        vb = pd.to_numeric(merged[f"{c} @B"], errors="coerce")
        out[f"{c} @{rev_a}"] = va
        out[f"{c} @{rev_b}"] = vb
        out[f"Δ {c}"] = (vb - va).round(4)
    return out


def render(df: pd.DataFrame, fmt: str = "md", title: Optional[str] = None) -> str:
    shown = df.astype(object).where(df.notna(), "n/a")
    if fmt == "csv":
        return df.to_csv(index=False)
    body = shown.to_markdown(index=False, floatfmt=".2f")
    return f"# {title}\n\n{body}\n" if title else body + "\n"
