# Thin by design: load params.yaml, check it (structure here, every recipe in pst.study), include the rule files.
# Every rule names the project's one conda environment (environment.yml, CONDA_ENV in common.smk): used with
# `--sdm conda` (built once, shared), otherwise the workflow runs in the environment snakemake runs in (`make setup`).
#   snakemake --profile workflow/profiles/default                              the synthetic study (default profile)
#   snakemake --profile workflow/profiles/default --config profile=paper       the paper's study on the real data
#   snakemake --profile workflow/profiles/default --config profile=rehearsal   the paper's DAG on miniature data (CI)
# Every path comes from pst.layout; each profile writes under results/<profile>/.
import os

from snakemake.utils import validate

from pst.layout import PARAMS
from pst.study import check_params, planning, read_params

with planning():                               # a refusal: one line, exit 2
    if not os.path.exists(PARAMS):
        raise FileNotFoundError(f"{PARAMS}: not found; run snakemake in the project's folder, or restore the file")
    if not isinstance(read_params(PARAMS), dict):   # invalid YAML: its line and column, not a parser dump
        raise ValueError(f"{PARAMS}: not a mapping of sections (profiles:, datasets:, variants:, recipes:, ...); "
                         "restore the file")


configfile: PARAMS


with planning():
    check_params(config, "workflow/schemas/params.schema.yaml")   # one line naming the key
validate(config, "workflow/schemas/params.schema.yaml")           # fills the schema's defaults


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/figures.smk"


# On a cluster these run where snakemake runs, not through the queue: each is seconds of work (queueing would cost
# more), or a download (compute nodes often have no internet). Run locally, the directive changes nothing.
localrules:
    all,
    study,
    fetch,
    pretrained,
    flops,
    memory,
    flops_table,
    table,
    per_class,
    released_table,
    metrics,
    plots,
    results_readme,
    record,


rule all:
    input:
        released_tables(),
        study_tables(),
        study_figures(),
        study_curves(),
        L.metrics,
        L.readme,
        STUDY.records(),


rule study:
    # The profile's result tables, metrics, figures and run records.
    input:
        released_tables(),
        study_tables(),
        study_figures(),
        study_curves(),
        L.metrics,
        STUDY.records(),


rule released:
    # The released checkpoints of the profile on its data copy, alone: `snakemake released --config profile=paper`
    # before spending GPU days (the checkpoints are placed by hand; pst.layout says where).
    input:
        released_tables(),
