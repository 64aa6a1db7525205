# Data rules: synth (embedded set) or fetch -> prepare -> validate (real sets), and the paper's 2D inits.
# Paths from pst.layout: the profile's data folder holds <dataset>/raw, <dataset>/processed and pretrained/.


rule synth:
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


rule prepare:
    input:
        L.fetched("{fetched}"),
    output:
        L.lists("{fetched}", "fetch"),
    params:
        root=lambda w: L.dataset_dir(w.fetched),
        short_side=lambda w: STUDY.dataset(w.fetched).get("short_side", 256),
        keyint=lambda w: f"--keyint {k}" if (k := STUDY.dataset(w.fetched).get("keyint")) else "",
    log:
        L.log("data/{fetched}_prepare"),
    benchmark:
        L.benchmark("data/{fetched}_prepare")
    threads: 8
    resources:
        mem_mb=16000,
        runtime=24 * 60,
    shell:
        "pst data prepare {wildcards.fetched} --root {params.root} --short-side {params.short_side} "
        "{params.keyint} --workers {threads} --quiet > {log} 2>&1"


rule validate:
    input:
        train=L.lists("{fetched}", "fetch")[0],
        val=L.lists("{fetched}", "fetch")[1],
    output:
        L.bad_videos("{fetched}"),
    params:
        root=lambda w: L.lists_root(w.fetched, "fetch"),
        frames=lambda w: "--modality {modality} --frame-template '{frame_template}' --frame-start {frame_start}".format(
            **{"frame_template": "{:05d}.jpg", "frame_start": 1, **STUDY.frames(w.fetched)}),
        decoders=lambda w: " ".join(f"--decoder {d}" for d in STUDY.decoders(w.fetched)),
    log:
        L.log("data/{fetched}_validate"),
    benchmark:
        L.benchmark("data/{fetched}_validate")
    resources:
        mem_mb=4000,
        runtime=12 * 60,
    shell:
        "(pst data validate {params.root} {input.train} {params.frames} {params.decoders} --out {output}.train --exit-zero --quiet && "
        " pst data validate {params.root} {input.val} {params.frames} {params.decoders} --out {output}.val --exit-zero --quiet && "
        " cat {output}.train > {output}.part && tail -n +2 {output}.val >> {output}.part && "
        " rm {output}.train {output}.val && mv {output}.part {output}) > {log} 2>&1"


rule pretrained:
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
