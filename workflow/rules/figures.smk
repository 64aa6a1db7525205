# Figures and the results page: plots and GradCAM per study table, then results/README.md.


def table_finals(w, seeds=None):
    t = STUDY.table(w.table)
    return [f"{r.dir}/final.pt" for r in STUDY.table_runs(t) if seeds is None or r.seed in seeds]


rule plots:
    input:
        table="results/tables/{table}.json",
        finals=table_finals,
    output:
        multiext("results/figures/{table}_curves", ".png", ".svg"),
        multiext("results/figures/{table}_accuracy_vs_gflops", ".png", ".svg"),
    params:
        spec=table_spec_json,
    log:
        "results/logs/figures/{table}_plots.log",
    benchmark:
        "results/benchmarks/figures/{table}_plots.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "pst plot --spec {params.spec:q} --table {input.table} --out-dir results/figures > {log} 2>&1"


rule cam:
    # GradCAM of the first seed's run of every row, on the first validation video of two classes.
    input:
        finals=lambda w: table_finals(w, seeds=STUDY.seeds[:1]),
        videos=lambda w: f"data/{STUDY.table(w.table).dataset}/val.txt",
    output:
        "results/figures/{table}_cam.png",
    params:
        runs=lambda w, input: " ".join(os.path.dirname(f) for f in input.finals),
        names=lambda w: " ".join(f"--name {v}" for v in STUDY.table(w.table).rows),
    log:
        "results/logs/figures/{table}_cam.log",
    benchmark:
        "results/benchmarks/figures/{table}_cam.tsv"
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "pst cam {params.runs} {params.names} --videos-from {input.videos} --count 2 --out {output} > {log} 2>&1"


def study_figures():
    return [f"results/figures/{t.name}_{kind}.{ext}" for t in STUDY.tables
            for kind, exts in (("curves", ("png", "svg")), ("accuracy_vs_gflops", ("png", "svg")), ("cam", ("png",)))
            for ext in exts]


rule results_readme:
    input:
        tables=[f"results/tables/{t.name}.md" for t in STUDY.tables] + ["results/tables/flops.md"],
        figures=study_figures(),
    output:
        "results/README.md",
    params:
        profile=STUDY.profile,
    log:
        "results/logs/results_readme.log",
    shell:
        "pst report --out {output} --tables {input.tables} --figures {input.figures} --profile {params.profile} "
        "> {log} 2>&1"
