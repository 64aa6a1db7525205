# Report rules: each is wiring around one `pst` command.

FLOPS_VIEWS = config["flops"]["views"]


rule flops:
    output:
        "results/flops/{model}_{frames}x{size}.json",
    log:
        "results/logs/flops/{model}_{frames}x{size}.log",
    benchmark:
        "results/benchmarks/flops/{model}_{frames}x{size}.tsv"
    resources:
        mem_mb=2000,
        runtime=5,
    shell:
        "pst flops {wildcards.model} --frames {wildcards.frames} --size {wildcards.size} --json "
        "> {output}.part 2> {log} && mv {output}.part {output}"


rule flops_table:
    input:
        [f"results/flops/{m}_{f}x{s}.json" for m, (f, s) in FLOPS_VIEWS.items()],
    output:
        multiext("results/tables/flops", ".md", ".csv", ".json"),
    log:
        "results/logs/flops_table.log",
    shell:
        "pst table flops {input} --out results/tables/flops > {log} 2>&1"
