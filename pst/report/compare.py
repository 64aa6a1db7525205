"""`pst compare REV_A REV_B`: one result table at two git revisions, row by row in table order.

Reads only the versioned artifacts (a profile's ``tables/NAME.json``, or the shared FLOPs table, as committed at
each revision; paths from pst.layout); nothing reruns. Rows are matched on model and views (FLOPs: model, frames,
size). The default view is what a reader compares: per row top-1 at A and at B (mean ± std), Δ = B − A and whether Δ
stands out of the seeds' spread (the 95% Welch interval of the difference of the two means excludes 0); a table
without top-1 (FLOPs) shows the columns that changed. ``wide`` shows every column: those equal at both revisions
once, the others at A, at B and Δ. ``seeds`` adds each seed's top-1 at A and B.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Optional

import pandas as pd

from pst.layout import FLOPS_TABLE, Layout
from pst.report.study_table import mean_std_text

KEYS = ("model", "views", "frames", "size")
RENAMED = {"crops x clips": "views"}               # column names of tables written before the current format


def table_file(name: str, profile: str) -> str:
    """The JSON of table ``name`` of ``profile`` ("flops": the FLOPs table every profile shares)."""
    return f"{FLOPS_TABLE}.json" if name == "flops" else f"{Layout(profile).table(name)}.json"


def check_revision(rev: str, repo: str | Path = ".") -> str:
    """The commit ``rev`` names; refuse what is not one commit of ``repo`` ('' would read git's index, A..B is a
    range)."""
    known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo,
                           capture_output=True, text=True)
    if not rev.strip() or known.returncode != 0:
        raise ValueError(f"revision {rev!r}: not a commit of this repository (one revision: HEAD, HEAD~1, a hash, "
                         f"a tag)")
    return known.stdout.strip()


def table_at(rev: str, name: str, repo: str | Path = ".", *, profile: str) -> pd.DataFrame:
    """The table ``name`` as committed at ``rev``; a clear error when the revision or the table is missing."""
    path = table_file(name, profile)
    tables_dir = str(Path(path).parent)
    check_revision(rev, repo)
    show = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True)
    if show.returncode != 0:
        listing = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{tables_dir}"], cwd=repo,
                                 capture_output=True, text=True).stdout.split()
        tables = sorted({Path(f).stem for f in listing if f.endswith(".json")})
        raise ValueError(f"revision {rev}: has no table {name!r} ({path}); tables there: "
                         f"{', '.join(tables) if tables else 'none'}")
    try:
        data = json.loads(show.stdout)
    except json.JSONDecodeError as err:
        raise ValueError(f"revision {rev}: {path} is not a table record ({err})") from None
    return pd.DataFrame(data["rows"] if isinstance(data, dict) else data).rename(columns=RENAMED)


def curves_at(rev: str, name: str, repo: str | Path = ".", *, profile: str) -> dict[str, pd.DataFrame]:
    """Table ``name``'s curves as committed at ``rev`` ({row: epoch, loss, val_top1 and their ranges})."""
    import io

    folder = Layout(profile).curves(name)
    check_revision(rev, repo)
    listing = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{folder}"], cwd=repo, capture_output=True,
                             text=True)
    files = sorted(f for f in listing.stdout.split() if f.endswith(".csv"))
    if listing.returncode != 0 or not files:
        raise ValueError(f"revision {rev}: no curves of table {name!r} ({folder}/*.csv; results committed before "
                         "curves were kept have none); compare a later revision")
    return {Path(f).stem: pd.read_csv(io.StringIO(subprocess.run(["git", "show", f"{rev}:{folder}/{f}"], cwd=repo,
                                                                 capture_output=True, text=True).stdout))
            for f in files}


def _merge(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Outer join on the key columns, rows in B's order then those only in A."""
    keys = [k for k in KEYS if k in a.columns and k in b.columns] or ["row"]
    if keys == ["row"]:
        a, b = a.assign(row=range(len(a))), b.assign(row=range(len(b)))
    merged = b.assign(_order=range(len(b))).merge(a.assign(_order_a=range(len(a))), on=keys, how="outer",
                                                  suffixes=(" @B", " @A"))
    merged["_order"] = merged["_order"].fillna(len(b) + merged["_order_a"])
    return merged.sort_values("_order").reset_index(drop=True), keys


def _get(merged: pd.DataFrame, col: str, side: str) -> pd.Series:
    name = f"{col} @{side}"
    return merged[name] if name in merged else pd.Series([None] * len(merged), dtype=object)


def _spread(merged: pd.DataFrame) -> list[Optional[str]]:
    """Does Δ top-1 stand out of the seeds' spread? The 95% Welch interval of the difference of the two means."""
    from scipy.stats import t

    out = []
    for _, r in merged.iterrows():
        ma, mb = r.get("top-1 @A"), r.get("top-1 @B")
        sa, sb = r.get("top-1 std @A"), r.get("top-1 std @B")
        na, nb = r.get("seeds @A"), r.get("seeds @B")
        if any(v is None or pd.isna(v) for v in (ma, mb, sa, sb, na, nb)) or min(na, nb) < 2:
            out.append(None)
            continue
        va, vb = sa ** 2 / na, sb ** 2 / nb
        if va + vb == 0:
            out.append("beyond" if ma != mb else "within")
            continue
        dof = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
        half = float(t.ppf(0.975, dof)) * math.sqrt(va + vb)
        out.append("beyond" if abs(mb - ma) > half else "within")
    return out


def compare(rev_a: str, rev_b: str, name: str, repo: str | Path = ".", *, profile: str,
            wide: bool = False, seeds: bool = False) -> pd.DataFrame:
    """The comparison as a DataFrame of numbers (what --format csv prints); ``render`` formats it."""
    a, b = table_at(rev_a, name, repo, profile=profile), table_at(rev_b, name, repo, profile=profile)
    merged, keys = _merge(a, b)
    out = merged[keys].copy()
    shared = [c for c in b.columns if c in a.columns and c not in keys]
    if "top-1" in shared and not wide:
        for side, rev in (("A", rev_a), ("B", rev_b)):
            out[f"top-1 @{rev}"] = _get(merged, "top-1", side)
            out[f"top-1 std @{rev}"] = _get(merged, "top-1 std", side)
            out[f"seeds @{rev}"] = _get(merged, "seeds", side)
        out["top-1 B − A"] = (pd.to_numeric(_get(merged, "top-1", "B")) -
                              pd.to_numeric(_get(merged, "top-1", "A"))).round(4)
        out["B − A vs seeds' spread"] = _spread(merged)
    else:
        for c in shared:
            va, vb = _get(merged, c, "A"), _get(merged, c, "B")
            if all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(va, vb)):
                if wide:                               # the same at both revisions: once
                    out[c] = vb
                continue
            out[f"{c} @{rev_a}"], out[f"{c} @{rev_b}"] = va, vb
            numeric = pd.to_numeric(va, errors="coerce").notna() | pd.to_numeric(vb, errors="coerce").notna()
            if numeric.any():
                out[f"{c} B − A"] = (pd.to_numeric(vb, errors="coerce") - pd.to_numeric(va, errors="coerce")).round(4)
    if seeds:
        for s in sorted({m.group(1) for c in shared if (m := re.fullmatch(r"top-1 seed(\d+)", c))}, key=int):
            va, vb = _get(merged, f"top-1 seed{s}", "A"), _get(merged, f"top-1 seed{s}", "B")
            out[f"seed{s} @{rev_a}"], out[f"seed{s} @{rev_b}"] = va, vb
            out[f"seed{s} B − A"] = (pd.to_numeric(vb) - pd.to_numeric(va)).round(4)
    return out


def render(df: pd.DataFrame, fmt: str = "md", title: Optional[str] = None, rev_a: str = "A",
           rev_b: str = "B") -> str:
    if fmt == "csv":
        return df.to_csv(index=False)
    shown = df.copy()
    if f"top-1 @{rev_a}" in shown:                 # mean ± std per revision, one column each
        for rev in (rev_a, rev_b):
            columns = (df[f"top-1 @{rev}"], df[f"top-1 std @{rev}"], df[f"seeds @{rev}"])
            shown[f"top-1 @{rev}"] = [mean_std_text(m, s, n is not None and not pd.isna(n) and n > 1 and not pd.isna(s))
                                      for m, s, n in zip(*columns)]
            shown = shown.drop(columns=[f"top-1 std @{rev}", f"seeds @{rev}"])
    shown = shown.astype(object).where(shown.notna(), "n/a")
    body = shown.to_markdown(index=False, floatfmt=".2f")
    if not any("@" in c for c in df.columns):
        body += f"\n\nno column changed between {rev_a} and {rev_b}"
    return f"# {title}\n\n{body}\n" if title else body + "\n"
