# The study plan of the chosen profile, and the helpers the rules share.
import json
import os

from pst.study import RUNS, Run, Study

STUDY = Study(config, config.get("profile"))
DATASETS = config["datasets"]
SYNTH = [d for d, v in DATASETS.items() if v["source"] == "synth"] or ["__none__"]
FETCHED = [d for d, v in DATASETS.items() if v["source"] == "fetch"] or ["__none__"]


wildcard_constraints:
    seed=r"\d+",
    views=r"\d+x\d+",
    synth="|".join(SYNTH),
    fetched="|".join(FETCHED),
    table="|".join(config["tables"]),


def run_of(w) -> Run:
    return Run(w.dataset, w.recipe, w.variant, int(w.seed))


def table_spec_json(w) -> str:
    """The spec of table `w.table` that `pst table study` and `pst plot` read (keys sorted: stable params)."""
    return json.dumps(STUDY.table_spec(STUDY.table(w.table)), sort_keys=True)


def job_resources(key):
    """A recipe's training resources (params.yaml resources:), looked up per job."""
    return lambda w: STUDY.resources(w.recipe)[key]


def study_tables():
    """Every file of the profile's result tables."""
    return expand("results/tables/{table}.{ext}", table=[t.name for t in STUDY.tables], ext=["md", "csv", "json"])
