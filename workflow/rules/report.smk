# Report rules: each is wiring around one `pst` command. FLOPs records and their table are shared by every
# profile (a model's cost does not depend on it); study tables and metrics are the profile's.

FLOPS_VIEWS = config["flops"]["views"]


rule flops:
    conda:
        CONDA_ENV
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
    conda:
        CONDA_ENV
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
    conda:
        CONDA_ENV
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
    conda:
        CONDA_ENV
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


rule per_class:
    conda:
        CONDA_ENV
    # Where a table's models differ: per-class top-1 and the confusions, from the runs' predictions.csv.
    input:
        evals=lambda w: STUDY.table_evaluations(STUDY.table(w.table)),
    output:
        multiext(L.per_class("{table}"), ".md", ".csv", ".json"),
    params:
        spec=table_spec_json,
        out=lambda w: L.per_class(w.table),
        code=CODE["report"],
    log:
        L.log("per_class/{table}"),
    shell:
        "pst table per-class --spec {params.spec:q} --out {params.out} > {log} 2>&1"


rule metrics:
    conda:
        CONDA_ENV
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


rule released_eval:
    conda:
        CONDA_ENV
    # An authors' released checkpoint (placed by the user) on this profile's copy of its dataset, with the paper's
    # test views: the first check of a data copy, before any training.
    input:
        checkpoint=L.released("{released}"),
        data=lambda w: STUDY.data_inputs(config["released"][w.released]["dataset"]),   # validated first
    output:
        L.released_eval("{released}", "{views}"),
    params:
        config=lambda w: json.dumps(STUDY.released_recipe(w.released), sort_keys=True),
        out=lambda w, output: os.path.dirname(output[0]),
        code=CODE["evaluate"],
    log:
        L.log("released/{released}_{views}"),
    benchmark:
        L.benchmark("released/{released}_{views}")
    threads: lambda w: STUDY.resources(config["released"][w.released]["recipe"])["threads"]
    resources:
        mem_mb=lambda w: STUDY.resources(config["released"][w.released]["recipe"])["mem_mb"],
        runtime=lambda w: STUDY.resources(config["released"][w.released]["recipe"])["runtime"],
        gpu=lambda w: min(1, STUDY.resources(config["released"][w.released]["recipe"])["gpu"]),
    shell:
        "OMP_NUM_THREADS={threads} pst evaluate --checkpoint {input.checkpoint} --config {params.config:q} "
        "--views {wildcards.views} --out {params.out} --quiet > {log} 2>&1"


rule released_table:
    conda:
        CONDA_ENV
    # Released weights on this data copy: each placed checkpoint's evaluation beside the published numbers, with
    # the clips the copy lacks; a checkpoint not placed yet is a row saying where to put it.
    input:
        evals=[L.released_eval(n, STUDY.released_views(n)) for n in STUDY.released
               if os.path.isfile(L.released(n))],
    output:
        multiext(L.table(L.RELEASED_TABLE), ".md", ".csv", ".json"),
    params:
        spec=lambda w: json.dumps(STUDY.released_spec(), sort_keys=True),
        out=lambda w, output: os.path.splitext(output[0])[0],
        code=CODE["report"],
    log:
        L.log("tables/released"),
    shell:
        "pst table released --spec {params.spec:q} --out {params.out} > {log} 2>&1"
