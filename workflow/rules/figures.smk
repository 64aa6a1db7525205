# Figures and the results page: plots and GradCAM per study table, then the profile's README.md.


def table_finals(w, seeds=None):
    t = STUDY.table(w.table)
    return [final_weights(STUDY.run_dir(r)) for r in STUDY.table_runs(t) if seeds is None or r.seed in seeds]


rule plots:
    input:
        table=L.table("{table}") + ".json",
        finals=table_finals,
    output:
        multiext(L.figures + "/{table}_curves", ".png", ".svg"),
        multiext(L.figures + "/{table}_accuracy_vs_gflops", ".png", ".svg"),
    params:
        spec=table_spec_json,
        code=CODE["report"],
    log:
        L.log("figures/{table}_plots"),
    benchmark:
        L.benchmark("figures/{table}_plots")
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "pst plot --spec {params.spec:q} --table {input.table} --out-dir " + L.figures + " > {log} 2>&1"


rule cam:
    # GradCAM of the first seed's run of every row, on the first validation video of two classes.
    input:
        finals=lambda w: table_finals(w, seeds=STUDY.table(w.table).seeds[:1]),
        videos=lambda w: STUDY.recipe(STUDY.table_runs(STUDY.table(w.table))[0])["data"]["root"] + "/val.txt",
    output:
        L.figures + "/{table}_cam.png",
    params:
        runs=lambda w, input: " ".join(os.path.dirname(f) for f in input.finals),
        names=lambda w: " ".join(f"--name {v}" for v in STUDY.table(w.table).rows),
        code=CODE["report"],
    log:
        L.log("figures/{table}_cam"),
    benchmark:
        L.benchmark("figures/{table}_cam")
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "pst cam {params.runs} {params.names} --videos-from {input.videos} --count 2 --out {output} > {log} 2>&1"


def study_figures():
    return [L.figure(t.name, kind, ext) for t in STUDY.tables
            for kind, exts in (("curves", ("png", "svg")), ("accuracy_vs_gflops", ("png", "svg")), ("cam", ("png",)))
            for ext in exts]


rule results_readme:
    input:
        tables=[f"{L.table(t.name)}.md" for t in STUDY.tables] + [f"{FLOPS_TABLE}.md"],
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
