"""The published numbers (shared/paper/published.yaml, carried into the package) to print beside ours."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load(resources.files("pst.report").joinpath("published.yaml").read_text())


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
