# Training and multi-view testing of one run (its folder from pst.layout).
# The recipe's identity travels as params, one per section (data, model, optim, schedule, train), so changing it
# reruns exactly the runs it belongs to and Snakemake's "params changed" reason shows only the changed section, e.g.
# before: {"optim": {"lr": 0.001, ...}} now: {"optim": {"lr": 0.0005, ...}} (the old run is moved aside by
# `--restart-on-change`, a finished one kept whole); its execution settings (workers, caching, progress, checkpoint
# cadence, TensorBoard) travel as a resource, which Snakemake never reruns for. A killed or preempted job resumes
# from its last checkpoint. Snakemake replaces a job's log at each attempt; the run's own RUN/train.log keeps every
# attempt's start, resume, epochs and stop.


onstart:
    # Snakemake removes a job's output before it runs the job: for a training, the run's final weights. So a finished
    # run whose recipe or data changed is moved aside whole (RUN.archived/<stamp>/, evaluations included) here,
    # after planning and before any job; the training job then starts afresh in an empty folder. Not in dry runs.
    # A run another process holds (a hand-run evaluation) stops the workflow here, in one line, before any job.
    with planning():
        for job in workflow.dag.needrun_jobs():
            if job.rule.name in ("train", "train_nodes"):
                run = run_of(job.wildcards)
                moved = archive_changed(STUDY.run_dir(run), resolve(STUDY.recipe(run)))
                if moved:
                    print(f"{STUDY.run_dir(run)}: recipe or data changed; the finished run was moved to {moved}",
                          file=sys.stderr)


rule train:
    conda:
        CONDA_ENV
    # One node: `pst train` itself, or torchrun on the node's GPUs.
    wildcard_constraints:
        recipe=one_of([r for r in config["recipes"] if r not in STUDY.multi_node()]),
    input:
        lambda w: STUDY.run_inputs(run_of(w)),
    output:
        final_weights(RUN_DIR),
    params:
        run=run_dir,
        data=recipe_section("data"),
        model=recipe_section("model"),
        optim=recipe_section("optim"),
        schedule=recipe_section("schedule"),
        train=recipe_section("train"),
        launch=lambda w: launch_prefix(w.recipe),
    log:
        L.train_log("{dataset}", "{recipe}", "{variant}", "{seed}"),
    benchmark:
        L.benchmark(f"train/{RUN_NAME}")
    threads: job_resources("threads")
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        gpu=job_resources("gpu"),
        pst_execution=lambda w: execution_arg(STUDY.recipe(run_of(w))),
    shell:
        "OMP_NUM_THREADS={threads} {params.launch} train --config {params.data:q} --config {params.model:q} "
        "--config {params.optim:q} --config {params.schedule:q} --config {params.train:q} --out {params.run} "
        "--execution {resources.pst_execution} --restart-on-change > {log} 2>&1"


rule evaluate:
    conda:
        CONDA_ENV
    input:
        final_weights(RUN_DIR),
    output:
        eval_path(RUN_DIR, "{views}"),
    params:
        run=run_dir,
        out=lambda w: eval_dir(run_dir(w), w.views),
        code=CODE["evaluate"],
    log:
        L.log(f"evaluate/{RUN_NAME}_{{views}}"),
    benchmark:
        L.benchmark(f"evaluate/{RUN_NAME}_{{views}}")
    threads: job_resources("threads")
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        gpu=lambda w: min(1, STUDY.resources(w.recipe)["gpu"]),
    shell:
        "OMP_NUM_THREADS={threads} pst evaluate {params.run} --views {wildcards.views} --out {params.out} "
        "--batch-videos 8 --quiet > {log} 2>&1"


rule record:
    conda:
        CONDA_ENV
    # A finished run's small files (recipe, env, metrics, its evaluations and predictions), copied where git versions
    # them beside the tables: the run folder itself lives in the DVC cache (pst.report.records).
    input:
        final_weights(RUN_DIR),
        evals=lambda w: [eval_path(run_dir(w), v) for v in STUDY.run_views(run_of(w))],
    output:
        L.record("{dataset}", "{recipe}", "{variant}", "{seed}"),
    params:
        run=run_dir,
        out=lambda w, output: os.path.dirname(output[0]),
        views=lambda w: " ".join(STUDY.run_views(run_of(w))),
        code=CODE["report"],
    log:
        L.log(f"records/{RUN_NAME}"),
    shell:
        "pst record {params.run} --views {params.views} --out {params.out} > {log} 2>&1"


use rule train as train_nodes with:
    # Several nodes (params.yaml resources: nodes, gpu per node): the job's command calls srun itself, one torchrun
    # per node meeting at a c10d rendezvous on the first node (pst launch; pst.engine.launch). For the SLURM plugin
    # that is an "MPI" job: `mpi` makes it leave the command to us, `tasks` one task per node; GPUs are asked per
    # node (gres), not per task. Run without SLURM, the same processes start on this machine.
    wildcard_constraints:
        recipe=one_of(STUDY.multi_node()),
    resources:
        mem_mb=job_resources("mem_mb"),
        runtime=job_resources("runtime"),
        nodes=job_resources("nodes"),
        tasks=job_resources("nodes"),
        mpi="srun",
        gres=lambda w: f"gpu:{STUDY.resources(w.recipe)['gpu']}" if STUDY.resources(w.recipe)["gpu"] else "",
        tasks_per_gpu=0,
        pst_execution=lambda w: execution_arg(STUDY.recipe(run_of(w))),
