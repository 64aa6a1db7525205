# Training and multi-view testing of one run (its folder from pst.layout).
# The recipe's identity travels as params, so changing it reruns exactly the runs it belongs to (the old run is
# moved aside by `--restart-on-change`, a finished one kept whole); its execution settings (workers, caching,
# progress, checkpoint cadence, TensorBoard) travel as a resource, which Snakemake never reruns for. A killed or
# preempted job resumes from its last checkpoint. Snakemake replaces a job's log at each attempt; the run's own
# RUN/train.log keeps every attempt's start, resume and stop.


rule train:
    input:
        lambda w: STUDY.run_inputs(run_of(w)),
    output:
        final_weights(RUN_DIR),
    params:
        run=run_dir,
        recipe=lambda w: json.dumps(identity(STUDY.recipe(run_of(w))), sort_keys=True),
        launch=lambda w, resources: (f"torchrun --standalone --nproc_per_node {resources.gpu} -m pst.cli"
                                     if resources.gpu > 1 else "pst"),
    log:
        L.train_log("{dataset}", "{recipe}", "{variant}", "{seed}"),
    benchmark:
        L.benchmark("train/" + RUN_NAME)
    threads: job_resources("threads")
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        gpu=job_resources("gpu"),
        pst_execution=lambda w: execution_arg(STUDY.recipe(run_of(w))),
    shell:
        "OMP_NUM_THREADS={threads} {params.launch} train --config {params.recipe:q} --out {params.run} "
        "--execution {resources.pst_execution} --restart-on-change > {log} 2>&1"


rule evaluate:
    input:
        final_weights(RUN_DIR),
    output:
        eval_dir(RUN_DIR, "{views}") + "/eval.json",
    params:
        run=run_dir,
        out=lambda w: eval_dir(run_dir(w), w.views),
        code=CODE["evaluate"],
    log:
        L.log("evaluate/" + RUN_NAME + "_{views}"),
    benchmark:
        L.benchmark("evaluate/" + RUN_NAME + "_{views}")
    threads: job_resources("threads")
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        gpu=lambda w: min(1, STUDY.resources(w.recipe)["gpu"]),
    shell:
        "OMP_NUM_THREADS={threads} pst evaluate {params.run} --views {wildcards.views} --out {params.out} "
        "--batch-videos 8 --quiet > {log} 2>&1"
