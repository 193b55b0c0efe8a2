# Generation (cmoe.generation, `cmoe generate`, `cmoe gather`): teachers answer the train split
# per domain, each domain split into `shards` jobs gathered afterwards (each resumable: see
# cmoe.generation.runner); methods add their own generations (the cascade's generalist, CMoE's
# specialists).


# A generation's output is keyed by the plan (`{job}`): a teacher's shards
# (traces/teacher/<teacher>/<fingerprint>/shards/<domain>/<i>-of-<n>, shared by every run that
# generates them alike) and an intermediate's traces
# (<ns>/traces/<generalist|specialist>/<teacher>/<intermediate>/<domain|group>) differ in shape.
rule generate:
    input:
        model=per_job(GENERATE, lambda job: job.model.inputs),
        questions=per_job(GENERATE, lambda job: job.questions),
    output:
        raw="results/{job}.raw.jsonl",
        cost="results/{job}.cost.json",
    log:
        "results/logs/generate/{job}.log",
    benchmark:
        "results/benchmarks/generate/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(GENERATE),
    conda:
        per_job(GENERATE, lambda job: conda_env(job.generation, ENVS))
    threads: per_job(GENERATE, lambda job: job.resources["threads"])
    resources:
        **rule_resources(GENERATE),
    params:
        model=per_job(GENERATE, lambda job: job.model.path),
        domains=per_job(GENERATE, lambda job: " ".join(job.domains)),
        shard=per_job(GENERATE, lambda job: "{}/{}".format(*job.shard)),
        generation=per_job(GENERATE, lambda job: js(job.generation)),
        prompt=per_job(GENERATE, lambda job: js(job.prompt)),
        flags=per_job(GENERATE, lambda job: model_flags(job.model)),
    # exec: a SIGTERM reaches `cmoe generate` with no shell between it and Snakemake (a shell
    # dies of it at once and Slurm then kills the step mid-save; cmoe.core.signals)
    shell:
        "exec python -m cmoe generate --model {params.model:q} --questions {input.questions:q}"
        " --domain {params.domains} --shard {params.shard} --generation {params.generation:q}"
        " --prompt {params.prompt:q} --threads {threads} {params.flags}"
        " --out {output.raw:q} --cost-out {output.cost:q} > {log:q} 2>&1"


# A teacher's domain: its shards, in order (traces/teacher/<teacher>/<fingerprint>/<domain>).
rule gather:
    input:
        per_job(GATHER, lambda job: job.shards),
    output:
        "results/{job}.raw.jsonl",
    log:
        "results/logs/gather/{job}.log",
    wildcard_constraints:
        job=key_pattern(GATHER),
    conda:
        CMOE_ENV
    shell:
        "python -m cmoe gather --shards {input:q} --out {output:q} > {log:q} 2>&1"
