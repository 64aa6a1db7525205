# Thin by design: load params.yaml, check it, plan the study (pst.study), include the rule files.
#   snakemake --cores all                          the synthetic study (default profile)
#   snakemake --cores all --config profile=paper   the paper's study on the real datasets
from snakemake.utils import validate


configfile: "params.yaml"


validate(config, "workflow/schemas/params.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        study_tables(),
        study_figures(),
        "results/README.md",


rule study:
    # The profile's result tables and figures (what the DVC `study` stage runs; the FLOPs table is its own stage).
    input:
        study_tables(),
        study_figures(),
