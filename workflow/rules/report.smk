# Report rules: each is wiring around one `pst` command. FLOPs records and their table are shared by every
# profile (a model's cost does not depend on it); study tables and metrics are the profile's.

FLOPS_VIEWS = config["flops"]["views"]


rule flops:
    output:
        flops_record("{model}", "{frames}", "{size}"),
    params:
        code=CODE["flops"],
    log:
        f"{FLOPS_DIR}/logs/{{model}}_{{frames}}x{{size}}.log",
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "pst flops {wildcards.model} --frames {wildcards.frames} --size {wildcards.size} --json "
        "> {output}.part 2> {log} && mv {output}.part {output}"


rule memory:
    # Training memory of one step at the paper's input and per-device batch, accounted on the meta device (seconds).
    output:
        memory_record("{model}", "{frames}", "{size}", "{batch}"),
    params:
        code=CODE["memory"],
    log:
        f"{MEMORY_DIR}/logs/{{model}}_{{frames}}x{{size}}_b{{batch}}.log",
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "pst memory {wildcards.model} --frames {wildcards.frames} --size {wildcards.size} --batch {wildcards.batch} "
        "--json > {output}.part 2> {log} && mv {output}.part {output}"


rule flops_table:
    input:
        [flops_record(m, f, s) for m, (f, s) in FLOPS_VIEWS.items()],
    output:
        multiext(FLOPS_TABLE, ".md", ".csv", ".json"),
    params:
        out=lambda w, output: os.path.splitext(output[0])[0],
        code=CODE["report"],
    log:
        f"{FLOPS_DIR}/logs/flops_table.log",
    shell:
        "pst table flops {input} --out {params.out} > {log} 2>&1"


rule table:
    # A study table: every run's evaluation (mean ± std over seeds) and the models' cost at the paper's input.
    # `pst table study` refuses, naming them, if any evaluation is missing; it writes all three files or none.
    input:
        evals=lambda w: STUDY.table_evaluations(STUDY.table(w.table)),
        flops=lambda w: STUDY.paper_flops(STUDY.table(w.table)),
        memory=lambda w: STUDY.paper_memory(STUDY.table(w.table)),
    output:
        multiext(L.table("{table}"), ".md", ".csv", ".json"),
    params:
        spec=table_spec_json,
        out=lambda w: L.table(w.table),
        code=CODE["report"],
    log:
        L.log("tables/{table}"),
    benchmark:
        L.benchmark("tables/{table}")
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "pst table study {input.flops} --memory {input.memory} --spec {params.spec:q} --out {params.out} > {log} 2>&1"


rule metrics:
    # Every table's numbers in one file per profile, what `dvc metrics show/diff` reads.
    input:
        [f"{L.table(t.name)}.json" for t in STUDY.tables],
    output:
        L.metrics,
    params:
        code=CODE["report"],
    log:
        L.log("metrics"),
    shell:
        "pst table metrics {input} --out {output} > {log} 2>&1"
