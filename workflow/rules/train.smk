# Training and multi-view testing of one run: results/runs/<dataset>/<recipe>/<variant>/seed<seed>/.
# The recipe travels as params, so changing it reruns exactly the runs it belongs to (and `--restart-on-change`
# throws away that run's stale checkpoints); a killed job resumes from its last checkpoint.
RUN_DIR = RUNS + "/{dataset}/{recipe}/{variant}/seed{seed}"
RUN_DIR_SH = RUNS + "/{wildcards.dataset}/{wildcards.recipe}/{wildcards.variant}/seed{wildcards.seed}"   # in shell:


rule train:
    input:
        lambda w: STUDY.run_inputs(run_of(w)),
    output:
        RUN_DIR + "/final.pt",
    params:
        recipe=lambda w: json.dumps(STUDY.recipe(run_of(w)), sort_keys=True),
        launch=lambda w, resources: (f"torchrun --standalone --nproc_per_node {resources.gpu} -m pst.cli"
                                     if resources.gpu > 1 else "pst"),
    log:
        "results/logs/train/{dataset}/{recipe}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{recipe}/{variant}/seed{seed}.tsv"
    threads: job_resources("threads")
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        gpu=job_resources("gpu"),
    shell:
        "OMP_NUM_THREADS={threads} {params.launch} train --config {params.recipe:q} --out " + RUN_DIR_SH +
        " --restart-on-change > {log} 2>&1"


rule evaluate:
    input:
        RUN_DIR + "/final.pt",
    output:
        RUN_DIR + "/eval_{views}/eval.json",
    log:
        "results/logs/evaluate/{dataset}/{recipe}/{variant}/seed{seed}_{views}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{recipe}/{variant}/seed{seed}_{views}.tsv"
    threads: job_resources("threads")
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        gpu=lambda w: min(1, STUDY.resources(w.recipe)["gpu"]),
    shell:
        "OMP_NUM_THREADS={threads} pst evaluate " + RUN_DIR_SH + " --views {wildcards.views} --batch-videos 8 "
        "--quiet > {log} 2>&1"
