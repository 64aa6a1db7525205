# Figures and the results page: plots and GradCAM per study table, then the profile's README.md.


rule plots:
    conda:
        CONDA_ENV
    input:
        table=L.table("{table}") + ".json",
        finals=table_finals,
        evals=lambda w: STUDY.table_evaluations(STUDY.table(w.table)),
    output:
        [L.figure("{table}", kind, ext) for kind in ("curves", "accuracy_vs_gflops") for ext in ("png", "svg")],
        L.figure("{table}", "confusion", "png"),
    params:
        spec=table_spec_json,
        out=lambda w, output: os.path.dirname(output[0]),
        code=CODE["report"],
    log:
        L.log("figures/{table}_plots"),
    benchmark:
        L.benchmark("figures/{table}_plots")
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "pst plot --spec {params.spec:q} --table {input.table} --out-dir {params.out} > {log} 2>&1"


# Each table's training curves as data, one CSV per row (mean and range over seeds): the profile's DVC plots
# (dvc.yaml). One job per table, its outputs named per row, so a rule is defined for each table.
for _table in STUDY.tables:

    rule:
        name:
            f"curves_{_table.name}"
        localrule: True
        conda:
            CONDA_ENV
        input:
            [final_weights(STUDY.run_dir(r)) for r in STUDY.table_runs(_table)],
        output:
            [L.curve(_table.name, v) for v in _table.rows],
        params:
            spec=json.dumps(STUDY.table_spec(_table), sort_keys=True),
            out=lambda w, output: os.path.dirname(output[0]),
            code=CODE["report"],
        log:
            L.log(f"curves/{_table.name}"),
        shell:
            "pst table curve --spec {params.spec:q} --out {params.out} > {log} 2>&1"


rule cam:
    conda:
        CONDA_ENV
    # GradCAM of the first seed's run of every row, on the first validation video of two classes.
    input:
        finals=lambda w: table_finals(w, seeds=STUDY.table(w.table).seeds[:1]),
        videos=table_val_list,
    output:
        L.figure("{table}", "cam", "png"),
    params:
        runs=lambda w, input: " ".join(os.path.dirname(f) for f in input.finals),
        names=lambda w: " ".join(f"--name {v}" for v in STUDY.table(w.table).rows),
        videos_per_figure=STUDY.settings.get("cam_videos", 2),
        code=CODE["report"],
    log:
        L.log("figures/{table}_cam"),
    benchmark:
        L.benchmark("figures/{table}_cam")
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "pst cam {params.runs} {params.names} --videos-from {input.videos} --count {params.videos_per_figure} --out {output} > {log} 2>&1"


rule results_readme:
    conda:
        CONDA_ENV
    input:
        tables=released_tables()[:1] + [f"{stem}.md" for t in STUDY.tables for stem in (L.table(t.name),
                                        L.per_class(t.name))] + [f"{FLOPS_TABLE}.md"],
        figures=study_figures(),
    output:
        L.readme,
    params:
        profile=STUDY.profile,
        code=CODE["report"],
        revision=REVISION,  # the page names the code revision: a new one rewrites it (seconds)
    log:
        L.log("results_readme"),
    shell:
        "pst report --out {output} --tables {input.tables} --figures {input.figures} --profile {params.profile} "
        "> {log} 2>&1"
