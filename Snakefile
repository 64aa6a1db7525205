# Thin by design: load params.yaml, include the rule files, and name the artifacts of the study.
from snakemake.utils import validate


configfile: "params.yaml"


validate(config, "workflow/schemas/params.schema.yaml")


include: "workflow/rules/report.smk"


rule all:
    input:
        expand("results/tables/flops.{ext}", ext=["md", "csv", "json"]),
