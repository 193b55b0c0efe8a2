# Teacher traces per teacher x domain, then the correct-only filter and the teacher's stats.


rule generate_teacher:
    input:
        model=lambda wc: teacher_inputs(wc.teacher),
        questions="results/data/train.jsonl",
    output:
        raw="results/traces/teacher/{teacher}/{domain}.raw.jsonl",
        cost="results/traces/teacher/{teacher}/{domain}.cost.json",
    log:
        "results/logs/generate_teacher/{teacher}/{domain}.log",
    benchmark:
        "results/benchmarks/generate_teacher/{teacher}/{domain}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("generate", config["teachers"][wc.teacher])
    resources:
        mem_mb=lambda wc: mem_for("generate", config["teachers"][wc.teacher]),
        runtime=lambda wc: runtime_for("generate", config["teachers"][wc.teacher]),
        gpu=lambda wc: gpu_for("generate", config["teachers"][wc.teacher]),
    params:
        model=lambda wc: teacher_path(wc.teacher),
        generation=lambda wc: js(config["teachers"][wc.teacher].get("generation", {})),
        prompt=lambda wc: js(prompt_settings(config, wc.teacher)),
        trust=lambda wc: trust_flag(teacher_model(wc.teacher)),
    shell:
        "python -m cmoe generate --model {params.model:q} --questions {input.questions:q}"
        " --domain {wildcards.domain} --generation {params.generation:q}"
        " --prompt {params.prompt:q} --threads {threads} {params.trust}"
        " --out {output.raw:q} --cost-out {output.cost:q} > {log:q} 2>&1"


rule filter_teacher:
    input:
        "results/traces/teacher/{teacher}/{domain}.raw.jsonl",
    output:
        traces="results/traces/teacher/{teacher}/{domain}.jsonl",
        stats="results/traces/teacher/{teacher}/{domain}.stats.json",
    log:
        "results/logs/filter_teacher/{teacher}/{domain}.log",
    conda:
        "../../envs/cmoe.yaml"
    resources:
        mem_mb=mem_for("filter"),
        runtime=runtime_for("filter"),
    params:
        max_length=filter_max_length(),
    shell:
        "python -m cmoe filter --raw {input:q} --out {output.traces:q} --stats {output.stats:q}"
        " --max-length {params.max_length} > {log:q} 2>&1"


rule teacher_stats:
    input:
        expand(
            "results/traces/teacher/{{teacher}}/{domain}.stats.json",
            domain=DOMAIN_KEYS,
        ),
    output:
        "results/traces/teacher/{teacher}/stats.json",
    log:
        "results/logs/teacher_stats/{teacher}.log",
    conda:
        "../../envs/cmoe.yaml"
    params:
        pairs=lambda wc, input: " ".join(f"{d}={p}" for d, p in zip(DOMAIN_KEYS, input)),
    shell:
        "python -m cmoe merge-stats --stats {params.pairs} --out {output:q} > {log:q} 2>&1"
