"""The published numbers (shared/paper/published.yaml, carried into the package) to print beside ours."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load(resources.files("pst.report").joinpath("published.yaml").read_text())


def missing_row(table: str | None, key: str | None) -> str | None:
    """What is wrong with a table row's published key (None: it names a row): a row of the published ``table``,
    or "table/row" of another; a row with no published key (None) names nothing and is not wrong, and with
    ``key`` None only the table is looked up. A key with "{views}" (params.yaml's) names a row at some views: at
    views the paper did not publish, the numbers are n/a."""
    if key is not None and "/" in str(key):
        table, key = str(key).split("/", 1)
    if table is None:
        return None if key is None else (f"published row {key!r} of no published table (give the table's "
                                         "published:, or name it table/row)")
    if table not in published():
        return f"published table {table!r} is no table of pst/report/published.yaml"
    if published()[table] is None or key is None:   # None: known, its numbers not available to us (n/a)
        return None
    rows = published()[table].get("rows", {})
    views = re.escape(str(key)).replace(re.escape("{views}"), r"[0-9]+x[0-9]+")
    if not any(re.fullmatch(views, row) for row in rows):
        return f"{key!r} is no row of published table {table} (rows: {', '.join(rows)})"
    return None


# FLOPs (G, per view) and params (M) the paper gives for each model at its own input, for the FLOPs table.
def published_cost(model: str) -> tuple[float | None, float | None]:
    pub = published()
    rows = pub["supp_table1_k400_deit"]["rows"]
    if model in rows:
        return rows[model]["flops_g"], rows[model]["params_m"]
    k400 = pub["table4_k400"]["rows"]
    if model in k400:
        return k400[model]["flops_g"], k400[model]["params_m"]
    if model == "swin_t_2d":
        return pub["table2e_attention"]["rows"]["avgpool"]["flops_g"], None
    if model == "swin3d_t":
        return pub["table2e_attention"]["rows"]["local"]["flops_g"], None
    if model == "swin_joint_t":
        return pub["table2e_attention"]["rows"]["joint"]["flops_g"], None
    return None, None
