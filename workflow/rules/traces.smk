# Reasoning traces: teachers answer the train split per domain, each domain split into
# `shards` jobs that are gathered afterwards (each resumable: see cmoe.traces); in the cascade
# the generalist answers it too, and in CMoE each specialist answers its own domains' questions. One filter
# rule keeps the correct traces of any of them and writes their statistics.


rule generate_teacher:
    input:
        model=lambda wc: teacher_inputs(wc.teacher),
        questions="results/data/train.jsonl",
    output:
        raw="results/traces/teacher/{teacher}/shards/{domain}/{shard}.raw.jsonl",
        cost="results/traces/teacher/{teacher}/shards/{domain}/{shard}.cost.json",
    log:
        "results/logs/generate_teacher/{teacher}/{domain}/{shard}.log",
    benchmark:
        "results/benchmarks/generate_teacher/{teacher}/{domain}/{shard}.tsv"
    conda:
        lambda wc: generation_env(config["teachers"][wc.teacher])
    threads: lambda wc: threads_for("generate", config["teachers"][wc.teacher])
    resources:
        **job_resources("generate", lambda wc: config["teachers"][wc.teacher]),
    params:
        model=lambda wc: teacher_path(wc.teacher),
        domains=lambda wc: wc.domain,
        shard=lambda wc: wc.shard.replace("-of-", "/"),
        generation=lambda wc: js(generation_settings(config["teachers"][wc.teacher])),
        prompt=lambda wc: js(prompt_settings(config, wc.teacher)),
        trust=lambda wc: trust_flag(teacher_model(wc.teacher)),
    shell:
        GENERATE_CMD


rule gather_teacher_traces:
    input:
        lambda wc: teacher_shards(wc.teacher, wc.domain),
    output:
        "results/traces/teacher/{teacher}/{domain}.raw.jsonl",
    log:
        "results/logs/gather_teacher_traces/{teacher}/{domain}.log",
    conda:
        "../../envs/cmoe.yaml"
    shell:
        "python -m cmoe gather --shards {input:q} --out {output:q} > {log:q} 2>&1"


rule generate_generalist:
    input:
        model=f"{NS}/models/generalist/{{teacher}}/{{intermediate}}",
        questions="results/data/train.jsonl",
    output:
        raw=f"{NS}/traces/generalist/{{teacher}}/{{intermediate}}/{{domain}}.raw.jsonl",
        cost=f"{NS}/traces/generalist/{{teacher}}/{{intermediate}}/{{domain}}.cost.json",
    log:
        f"{NS}/logs/generate_generalist/{{teacher}}/{{intermediate}}/{{domain}}.log",
    benchmark:
        f"{NS}/benchmarks/generate_generalist/{{teacher}}/{{intermediate}}/{{domain}}.tsv"
    conda:
        lambda wc: generation_env(config["intermediates"][wc.intermediate])
    threads: lambda wc: threads_for("generate", config["intermediates"][wc.intermediate])
    resources:
        **job_resources("generate", lambda wc: config["intermediates"][wc.intermediate]),
    params:
        model=lambda wc, input: input.model,
        domains=lambda wc: wc.domain,
        shard="0/1",
        generation=lambda wc: js(
            generation_settings(config["intermediates"][wc.intermediate])
        ),
        prompt=lambda wc: js(prompt_settings(config)),
        trust=lambda wc: trust_flag(intermediate_model(wc.intermediate)),
    shell:
        GENERATE_CMD


rule generate_specialist:
    input:
        model=f"{NS}/models/specialist/{{teacher}}/{{intermediate}}/{{group}}",
        questions="results/data/train.jsonl",
    output:
        raw=f"{NS}/traces/specialist/{{teacher}}/{{intermediate}}/{{group}}.raw.jsonl",
        cost=f"{NS}/traces/specialist/{{teacher}}/{{intermediate}}/{{group}}.cost.json",
    log:
        f"{NS}/logs/generate_specialist/{{teacher}}/{{intermediate}}/{{group}}.log",
    benchmark:
        f"{NS}/benchmarks/generate_specialist/{{teacher}}/{{intermediate}}/{{group}}.tsv"
    conda:
        lambda wc: generation_env(config["intermediates"][wc.intermediate])
    threads: lambda wc: threads_for("generate", config["intermediates"][wc.intermediate])
    resources:
        **job_resources("generate", lambda wc: config["intermediates"][wc.intermediate]),
    params:
        model=lambda wc, input: input.model,
        domains=lambda wc: " ".join(GROUPS[wc.group]),  # a specialist answers its own domains
        shard="0/1",
        generation=lambda wc: js(
            generation_settings(config["intermediates"][wc.intermediate])
        ),
        prompt=lambda wc: js(prompt_settings(config)),
        trust=lambda wc: trust_flag(intermediate_model(wc.intermediate)),
    shell:
        GENERATE_CMD


rule filter_traces:
    input:
        "{traces}.raw.jsonl",
    output:
        traces="{traces}.jsonl",
        stats="{traces}.stats.json",
    log:
        "{traces}.filter.log",
    wildcard_constraints:
        traces=r"results/(?:.+/)?traces/(?:teacher|generalist|specialist)/[^/]+(?:/[^/]+)*(?<!\.raw)",
    conda:
        "../../envs/cmoe.yaml"
    resources:
        **job_resources("filter"),
    params:
        max_length=filter_max_length(),
    shell:
        "python -m cmoe filter --raw {input:q} --out {output.traces:q} --stats {output.stats:q}"
        " --max-length {params.max_length} > {log:q} 2>&1"


rule teacher_stats:
    input:
        lambda wc: teacher_traces(wc.teacher, suffix=".stats.json"),
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


rule contamination_check:
    input:
        traces=lambda wc: teacher_traces(wc.teacher),
        test="results/data/test.jsonl",
    output:
        report(
            "results/traces/teacher/{teacher}/contamination.json",
            caption="../report/contamination.rst",
            category="Data",
            subcategory="{teacher}",
        ),
    log:
        "results/logs/contamination_check/{teacher}.log",
    conda:
        "../../envs/cmoe.yaml"
    shell:
        "python -m cmoe contamination --traces {input.traces:q} --test {input.test:q}"
        " --out {output:q} > {log:q} 2>&1"
