# Thin by design: load params.yaml, include the rule files, and name the artifacts of the study.
configfile: "params.yaml"


include: "workflow/rules/report.smk"


rule all:
    input:
        expand("results/tables/flops.{ext}", ext=["md", "csv", "json"]),
