# Data rules: synth (embedded set) or fetch -> prepare -> validate (real sets), and the paper's 2D inits.


rule synth:
    output:
        lists=multiext("data/{synth}/", "train.txt", "val.txt", "classes.txt"),
        summary="data/{synth}/synth.json",
    params:
        args=lambda w: " ".join(
            f"--{k}" if v is True else f"--no-{k}" if v is False
            else f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in sorted(DATASETS[w.synth]["synth"].items())),
    log:
        "results/logs/data/{synth}_synth.log",
    benchmark:
        "results/benchmarks/data/{synth}_synth.tsv"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "pst data synth --out data/{wildcards.synth} {params.args} --workers {threads} > {log} 2>&1"


rule fetch:
    output:
        "data/{fetched}/raw/fetched.json",
    params:
        mirror=lambda w: f"--mirror {DATASETS[w.fetched]['mirror']}" if DATASETS[w.fetched].get("mirror") else "",
    log:
        "results/logs/data/{fetched}_fetch.log",
    benchmark:
        "results/benchmarks/data/{fetched}_fetch.tsv"
    resources:
        mem_mb=2000,
        runtime=24 * 60,
    shell:
        "pst data fetch {wildcards.fetched} --root data/{wildcards.fetched} {params.mirror} --quiet "
        "> {output}.part 2> {log} && mv {output}.part {output}"


rule prepare:
    input:
        "data/{fetched}/raw/fetched.json",
    output:
        multiext("data/{fetched}/", "train.txt", "val.txt", "classes.txt"),
    params:
        short_side=lambda w: DATASETS[w.fetched].get("short_side", 256),
    log:
        "results/logs/data/{fetched}_prepare.log",
    benchmark:
        "results/benchmarks/data/{fetched}_prepare.tsv"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=24 * 60,
    shell:
        "pst data prepare {wildcards.fetched} --root data/{wildcards.fetched} --short-side {params.short_side} "
        "--workers {threads} --quiet > {log} 2>&1"


rule validate:
    input:
        "data/{fetched}/train.txt",
        "data/{fetched}/val.txt",
    output:
        "data/{fetched}/bad_videos.tsv",
    log:
        "results/logs/data/{fetched}_validate.log",
    benchmark:
        "results/benchmarks/data/{fetched}_validate.tsv"
    resources:
        mem_mb=4000,
        runtime=12 * 60,
    shell:
        "(pst data validate data/{wildcards.fetched} data/{wildcards.fetched}/train.txt --out {output}.train --quiet && "
        " pst data validate data/{wildcards.fetched} data/{wildcards.fetched}/val.txt --out {output}.val --quiet && "
        " cat {output}.train > {output}.part && tail -n +2 {output}.val >> {output}.part && "
        " rm {output}.train {output}.val && mv {output}.part {output}) > {log} 2>&1"


rule pretrained:
    output:
        "data/pretrained/{key}.pt",
    params:
        name=lambda w: config["pretrained"][w.key],
    log:
        "results/logs/data/pretrained_{key}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "pst pretrained {params.name} --out {output} > {log} 2>&1"
