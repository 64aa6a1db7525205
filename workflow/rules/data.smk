# Data rules: synth (embedded set) or fetch -> prepare -> validate (real sets), and the paper's 2D inits.
# Paths from pst.layout: the profile's data folder holds <dataset>/raw, <dataset>/processed and pretrained/.


rule synth:
    conda:
        CONDA_ENV
    output:
        lists=L.lists("{synth}", "synth"),
        summary=L.synth_summary("{synth}"),
    params:
        out=lambda w: L.dataset_dir(w.synth),
        args=lambda w: " ".join(
            f"--{k}" if v is True else f"--no-{k}" if v is False
            else f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in sorted(STUDY.dataset(w.synth)["synth"].items())),
        code=CODE["synth"],            # a changed generator or encoder renders the set again
    log:
        L.log("data/{synth}_synth"),
    benchmark:
        L.benchmark("data/{synth}_synth")
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "pst data synth --out {params.out} {params.args} --workers {threads} > {log} 2>&1"


rule fetch:
    conda:
        CONDA_ENV
    output:
        L.fetched("{fetched}"),
    params:
        root=lambda w: L.dataset_dir(w.fetched),
        mirror=lambda w: f"--mirror {STUDY.dataset(w.fetched)['mirror']}" if STUDY.dataset(w.fetched).get("mirror") else "",
    log:
        L.log("data/{fetched}_fetch"),
    benchmark:
        L.benchmark("data/{fetched}_fetch")
    resources:
        mem_mb=2000,
        runtime=24 * 60,
    shell:
        "pst data fetch {wildcards.fetched} --root {params.root} {params.mirror} --quiet "
        "> {output}.part 2> {log} && mv {output}.part {output}"


rule prepare_plan:
    conda:
        CONDA_ENV
    # Extract, convert the annotations, write what re-encoding has to do (processed/plan.json).
    input:
        L.fetched("{fetched}"),
    output:
        L.prepare_plan("{fetched}"),
    params:
        root=lambda w: L.dataset_dir(w.fetched),
        short_side=lambda w: STUDY.dataset(w.fetched).get("short_side", 256),
        keyint=lambda w: f"--keyint {k}" if (k := STUDY.dataset(w.fetched).get("keyint")) else "",
    log:
        L.log("data/{fetched}_prepare_plan"),
    benchmark:
        L.benchmark("data/{fetched}_prepare_plan")
    resources:
        mem_mb=8000,
        runtime=24 * 60,
    shell:
        "pst data prepare {wildcards.fetched} --root {params.root} --short-side {params.short_side} "
        "{params.keyint} --plan --quiet > {log} 2>&1"


rule prepare_shard:
    conda:
        CONDA_ENV
    # One of N re-encoding jobs: every N-th video of the plan from the I-th (resumable: a re-encoded video is kept).
    input:
        L.prepare_plan("{fetched}"),
    output:
        L.prepare_shard("{fetched}", "{index}", "{shards}"),
    params:
        root=lambda w: L.dataset_dir(w.fetched),
    wildcard_constraints:
        index=r"\d+",
        shards=r"\d+",
    log:
        L.log("data/{fetched}_prepare_{index}-of-{shards}"),
    benchmark:
        L.benchmark("data/{fetched}_prepare_{index}-of-{shards}")
    threads: 8
    resources:
        mem_mb=16000,
        runtime=24 * 60,
    shell:
        "pst data prepare {wildcards.fetched} --root {params.root} --shard {wildcards.index}/{wildcards.shards} "
        "--workers {threads} --quiet > {log} 2>&1"


rule prepare:
    conda:
        CONDA_ENV
    # The lists and counts from the plan and its shards: the files one job writes.
    input:
        lambda w: [L.prepare_shard(w.fetched, i, shard_count(w.fetched)) for i in range(shard_count(w.fetched))],
    output:
        L.lists("{fetched}", "fetch"),
    params:
        root=lambda w: L.dataset_dir(w.fetched),
        shards=lambda w: shard_count(w.fetched),
    log:
        L.log("data/{fetched}_prepare"),
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "pst data prepare {wildcards.fetched} --root {params.root} --gather {params.shards} --quiet > {log} 2>&1"


rule validate_shard:
    conda:
        CONDA_ENV
    # One of N validation jobs over a list: every N-th entry from the I-th.
    input:
        lists=L.lists("{fetched}", "fetch"),
    output:
        L.validate_shard("{fetched}", "{split}", "{index}", "{shards}"),
    params:
        **VALIDATE_ARGS,
        list=lambda w, input: input.lists[0 if w.split == "train" else 1],
    wildcard_constraints:
        split="train|val",
        index=r"\d+",
        shards=r"\d+",
    log:
        L.log("data/{fetched}_validate_{split}_{index}-of-{shards}"),
    benchmark:
        L.benchmark("data/{fetched}_validate_{split}_{index}-of-{shards}")
    resources:
        mem_mb=4000,
        runtime=12 * 60,
    shell:
        "pst data validate {params.root} {params.list} {params.frames} {params.decoders} "
        "--shard {wildcards.index}/{wildcards.shards} --out {output} --exit-zero --quiet > {log} 2>&1"


rule validate:
    conda:
        CONDA_ENV
    # The shards' verdicts in the lists' order, train's then val's: the file one job writes.
    input:
        lists=L.lists("{fetched}", "fetch"),
        train=lambda w: [L.validate_shard(w.fetched, "train", i, shard_count(w.fetched)) for i in range(shard_count(w.fetched))],
        val=lambda w: [L.validate_shard(w.fetched, "val", i, shard_count(w.fetched)) for i in range(shard_count(w.fetched))],
    output:
        L.bad_videos("{fetched}"),
    params:
        modality=lambda w: STUDY.frames(w.fetched)["modality"],
    log:
        L.log("data/{fetched}_validate"),
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "(pst data validate . {input.lists[0]} --modality {params.modality} --gather {input.train} "
        "--out {output}.train && "
        " pst data validate . {input.lists[1]} --modality {params.modality} --gather {input.val} --out {output}.val && "
        " cat {output}.train > {output}.part && tail -n +2 {output}.val >> {output}.part && "
        " rm {output}.train {output}.val && mv {output}.part {output}) > {log} 2>&1"


rule pretrained:
    conda:
        CONDA_ENV
    # The 2D ImageNet weights a model starts from, by timm name (pst/weights_2d.py: the one list of them).
    output:
        L.pretrained("{weights}"),
    log:
        L.log("data/pretrained_{weights}"),
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "pst pretrained {wildcards.weights} --out {output} > {log} 2>&1"
