# Report rules: each is wiring around one `pst` command.

FLOPS_VIEWS = config["flops"]["views"]


rule flops:
    output:
        "results/flops/{model}_{frames}x{size}.json",
    log:
        "results/logs/flops/{model}_{frames}x{size}.log",
    benchmark:
        "results/benchmarks/flops/{model}_{frames}x{size}.tsv"
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "pst flops {wildcards.model} --frames {wildcards.frames} --size {wildcards.size} --json "
        "> {output}.part 2> {log} && mv {output}.part {output}"


rule flops_table:
    input:
        [f"results/flops/{m}_{f}x{s}.json" for m, (f, s) in FLOPS_VIEWS.items()],
    output:
        multiext("results/tables/flops", ".md", ".csv", ".json"),
    log:
        "results/logs/flops_table.log",
    shell:
        "pst table flops {input} --out results/tables/flops > {log} 2>&1"


rule table:
    # A study table: every run's evaluation (mean ± std over seeds) and the models' cost at the paper's input.
    # `pst table study` refuses, naming them, if any evaluation is missing; it writes all three files or none.
    input:
        evals=lambda w: STUDY.table_evaluations(STUDY.table(w.table)),
        flops=lambda w: STUDY.paper_flops(STUDY.table(w.table)),
    output:
        multiext("results/tables/{table}", ".md", ".csv", ".json"),
    params:
        spec=table_spec_json,
    log:
        "results/logs/tables/{table}.log",
    benchmark:
        "results/benchmarks/tables/{table}.tsv"
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "pst table study {input.flops} --spec {params.spec:q} --out results/tables/{wildcards.table} > {log} 2>&1"
