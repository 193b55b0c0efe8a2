# Every row of the score table is a model answering the held-out test split: trained models,
# untrained base students and (CMoE) each specialist on the questions it serves. Scores here
# are accuracies and counts; intervals are the tables' work, so statistics settings re-run only
# the tables.


# Outputs keyed by the plan (`{job}`): bases, students of each method (with or without an
# intermediate, a KARD variant), generalists and specialists each have their own folder shape,
# each ending in the leaf `eval` (cmoe.core.paths).
rule evaluate:
    input:
        model=per_job(EVALUATE, lambda job: job.model.inputs),
        questions=per_job(EVALUATE, lambda job: job.questions),
        routes=per_job(EVALUATE, lambda job: job.subset.routes if job.subset else []),
    output:
        predictions="results/{job}/predictions.jsonl",
        scores="results/{job}/scores.json",
    log:
        "results/logs/evaluate/{job}.log",
    benchmark:
        "results/benchmarks/evaluate/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(EVALUATE),
    conda:
        per_job(EVALUATE, lambda job: conda_env(job.generation, ENVS))
    threads: per_job(EVALUATE, lambda job: job.resources["threads"])
    resources:
        **rule_resources(EVALUATE),
    params:
        model=per_job(EVALUATE, lambda job: job.model.path),
        subset=per_job(
            EVALUATE,
            lambda job: (
                f"--specialist {s.group} --groups {shlex.quote(js(s.groups))}"
                f" --routes {' '.join(s.routes)}"
                if (s := job.subset)
                else ""
            ),
        ),
        generation=per_job(EVALUATE, lambda job: js(job.generation)),
        prompt=per_job(EVALUATE, lambda job: js(job.prompt)),
        flags=per_job(EVALUATE, lambda job: model_flags(job.model)),
        # KARD: retrieved passages are cut so that prompt + answer fit the student's max_length
        max_length=per_job(
            EVALUATE,
            lambda job: f"--max-length {job.max_length}" if job.max_length else "",
        ),
        samples=per_job(
            EVALUATE, lambda job: f"--samples {job.samples}" if job.samples > 1 else ""
        ),
    shell:
        "python -m cmoe evaluate --model {params.model:q} --questions {input.questions:q}"
        " {params.subset} {params.max_length} --generation {params.generation:q}"
        " --prompt {params.prompt:q} --threads {threads} {params.flags} {params.samples}"
        " --predictions {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"


# The same folders as `evaluate`'s, under eval_loglik/ or eval_mera_gen/ (`{job}`, as there).
rule evaluate_loglik:
    input:
        model=per_job(LOGLIK, lambda job: job.model.inputs),
        questions=per_job(LOGLIK, lambda job: job.questions),
        pool=per_job(LOGLIK, lambda job: job.pool),
    output:
        predictions="results/{job}/predictions.jsonl",
        scores="results/{job}/scores.json",
    log:
        "results/logs/evaluate_loglik/{job}.log",
    benchmark:
        "results/benchmarks/evaluate_loglik/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(LOGLIK),
    conda:
        CMOE_ENV
    threads: per_job(LOGLIK, lambda job: job.resources["threads"])
    resources:
        **rule_resources(LOGLIK),
    params:
        model=per_job(LOGLIK, lambda job: job.model.path),
        protocol=per_job(LOGLIK, lambda job: job.protocol),
        settings=per_job(LOGLIK, lambda job: js(job.settings)),
        flags=per_job(LOGLIK, lambda job: model_flags(job.model)),
    shell:
        "python -m cmoe evaluate-loglik --model {params.model:q} --questions {input.questions:q}"
        " --pool {input.pool:q} --protocol {params.protocol}"
        " --settings {params.settings:q} --threads {threads}"
        " {params.flags} --predictions {output.predictions:q} --scores {output.scores:q}"
        " > {log:q} 2>&1"


# Benchmarks beyond ruMMLU (`evaluation.benchmarks`): one lm-eval task on one trained or base
# model per job, offline. A task whose data is missing fails its own job with the path; with
# --keep-going (both profiles) the other jobs still run, and only the benchmark table waits.
# Keyed by the plan (`{job}`: <ns>/eval_bench/<task>/<model label>/eval, as deep as the model's).
rule evaluate_benchmark:
    input:
        model=per_job(BENCHMARK, lambda job: job.model.inputs),
    output:
        predictions="results/{job}/predictions.jsonl",
        scores="results/{job}/scores.json",
    log:
        "results/logs/evaluate_benchmark/{job}.log",
    benchmark:
        "results/benchmarks/evaluate_benchmark/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(BENCHMARK),
    conda:
        CMOE_ENV
    threads: per_job(BENCHMARK, lambda job: job.resources["threads"])
    resources:
        **rule_resources(BENCHMARK),
    params:
        model=per_job(BENCHMARK, lambda job: job.model.path),
        settings=per_job(BENCHMARK, lambda job: js(job.settings)),
        flags=per_job(BENCHMARK, lambda job: model_flags(job.model)),
    shell:
        "python -m cmoe evaluate-benchmark --model {params.model:q} --settings {params.settings:q}"
        " --threads {threads} {params.flags} --predictions {output.predictions:q}"
        " --scores {output.scores:q} > {log:q} 2>&1"
