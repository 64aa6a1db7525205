# Thin by design: load params.yaml, check it (structure here, every recipe in pst.study), include the rule files.
#   snakemake --cores all                              the synthetic study (default profile)
#   snakemake --cores all --config profile=paper       the paper's study on the real datasets
#   snakemake --cores all --config profile=rehearsal   the paper's DAG on miniature real-format data (CI)
# Every path comes from pst.layout; each profile writes under results/<profile>/.
from snakemake.utils import validate


configfile: "params.yaml"


validate(config, "workflow/schemas/params.schema.yaml")


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
    metrics,
    plots,
    results_readme,


rule all:
    input:
        study_tables(),
        study_figures(),
        L.metrics,
        L.readme,


rule study:
    # The profile's result tables, metrics and figures (what the DVC `study` stage runs).
    input:
        study_tables(),
        study_figures(),
        L.metrics,
