# The study plan of the chosen profile, its paths (pst.layout), and the helpers the rules share.
import json
import os
import re
import sys

from pst.layout import FLOPS_DIR, FLOPS_TABLE, MEMORY_DIR, eval_dir, eval_path, final_weights, flops_record, memory_record
from pst.engine.config import resolve
from pst.engine.run import archive_changed, execution_arg, identity
from pst.provenance import CODE as CODE_PARTS, git_revision, job_fingerprint
from pst.study import Run, Study, planning
from pst.weights_2d import PAPER_2D

with planning():                           # a refusal: one line, exit 2
    STUDY = Study(config, config.get("profile"))
    STUDY.check_recipes(cache=".snakemake")   # what a job would refuse (runs, released checkpoints), before any job
for _line in STUDY.released_missing():     # evaluated once placed; until then the table says where to put them
    print(f"pst: {_line}", file=sys.stderr)
L = STUDY.layout
# Every rule's software: the project's one environment (`snakemake --sdm conda` builds it once, shared by all rules,
# then runs environment.post-deploy.sh to install this package into it; without --sdm conda it is `make setup`'s).
CONDA_ENV = os.path.join(workflow.basedir, "environment.yml")
SOURCES = {d: STUDY.dataset(d)["source"] for d in config["datasets"]}
SYNTH = [d for d, s in SOURCES.items() if s == "synth"] or ["__none__"]
FETCHED = [d for d, s in SOURCES.items() if s == "fetch"] or ["__none__"]
# Rules that carry their code's fingerprint as a param rerun when that code changes (training never does).
CODE = {kind: job_fingerprint(kind) for kind in CODE_PARTS}
REVISION = git_revision()   # the last commit that changed code (pst.provenance)


wildcard_constraints:
    seed=r"\d+",
    views=r"\d+x\d+",
    batch=r"\d+",
    synth="|".join(SYNTH),
    fetched="|".join(FETCHED),
    table="|".join(config["tables"]),
    released="|".join(re.escape(n) for n in config.get("released", {})) or "(?!)",
    weights="|".join(re.escape(w) for w in sorted(set(PAPER_2D.values()))),


def run_of(w) -> Run:
    return Run(w.dataset, w.recipe, w.variant, int(w.seed))


def run_dir(w) -> str:
    return STUDY.run_dir(run_of(w))


RUN_DIR = L.run_dir("{dataset}", "{recipe}", "{variant}", "{seed}")
RUN_NAME = L.run_name("{dataset}", "{recipe}", "{variant}", "{seed}")     # logs and benchmarks of one run


def one_of(names) -> str:
    """A wildcard constraint matching exactly these names (none: nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def launch_prefix(recipe: str) -> str:
    """How a recipe's training job starts its processes: `pst` (one), torchrun on one node's GPUs, or pst launch
    across nodes."""
    nodes, procs = STUDY.processes(recipe)
    if nodes > 1:
        return f"pst launch --nodes {nodes} --procs {procs} --gpus {STUDY.resources(recipe)['gpu']} --"
    return f"torchrun --standalone --nproc_per_node {procs} -m pst.cli" if procs > 1 else "pst"


def recipe_section(key):
    """One section of a run's recipe identity as JSON, {key: {...}} (a train rule param per section)."""
    return lambda w: json.dumps({key: identity(STUDY.recipe(run_of(w))).get(key, {})}, sort_keys=True)


def table_spec_json(w) -> str:
    """The spec of table `w.table` that `pst table study` and `pst plot` read (keys sorted: stable params)."""
    return json.dumps(STUDY.table_spec(STUDY.table(w.table)), sort_keys=True)


def job_resources(key):
    """A recipe's training resources (params.yaml resources:, then the profile's), looked up per job."""
    return lambda w: STUDY.resources(w.recipe)[key]


def study_tables():
    """Every file of the profile's result tables and of their per-class results."""
    return [f"{stem}.{ext}" for t in STUDY.tables for stem in (L.table(t.name), L.per_class(t.name))
            for ext in ("md", "csv", "json")]


def table_finals(w, seeds=None):
    """The final weights of a table's runs (of ``seeds`` only, when given)."""
    t = STUDY.table(w.table)
    return [final_weights(STUDY.run_dir(r)) for r in STUDY.table_runs(t) if seeds is None or r.seed in seeds]


def table_val_list(w) -> str:
    """The validation list of a table's dataset (the videos GradCAM draws from)."""
    t = STUDY.table(w.table)
    return L.lists(t.dataset, SOURCES[t.dataset])[1]


def released_tables():
    """The profile's "released weights on this data copy" table (none when it lists no released checkpoint)."""
    return [f"{L.table(L.RELEASED_TABLE)}.{ext}" for ext in ("md", "csv", "json")] if STUDY.released else []


def study_curves():
    """Every table row's curves (a CSV each): the DVC plots of the profile."""
    return [L.curve(t.name, v) for t in STUDY.tables for v in t.rows]


def study_figures():
    """Every figure of the profile's tables: curves and accuracy vs GFLOPs (PNG + SVG), confusions, and GradCAM
    (PNG) where the table asks for it (params.yaml tables: cam)."""
    return [L.figure(t.name, kind, ext) for t in STUDY.tables
            for kind, exts in (("curves", ("png", "svg")), ("accuracy_vs_gflops", ("png", "svg")),
                               ("confusion", ("png",)), *((("cam", ("png",)),) if t.cam else ()))
            for ext in exts]


def shard_count(dataset):
    """The cluster jobs a dataset's re-encoding and validation are scattered over (params.yaml datasets: shards)."""
    return STUDY.dataset(dataset).get("shards", 1)


# How the validate rules read a dataset's lists: its root, modality and frame files, the decoders the recipes use.
VALIDATE_ARGS = dict(
    root=lambda w: L.lists_root(w.fetched, "fetch"),
    frames=lambda w: "--modality {modality} --frame-template '{frame_template}' --frame-start {frame_start}".format(
        **{"frame_template": "{:05d}.jpg", "frame_start": 1, **STUDY.frames(w.fetched)}),
    decoders=lambda w: " ".join(f"--decoder {d}" for d in STUDY.decoders(w.fetched)),
)
