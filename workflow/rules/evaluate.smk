# Every row of the score table is a model answering the held-out test split: trained models,
# untrained base students and (CMoE) each specialist on the questions it serves. Scores here
# are accuracies and counts; intervals are the tables' work, so statistics settings re-run only
# the tables.


rule evaluate:
    input:
        unpack(
            lambda wc: {
                "model": EVALUATE[wc.job].model.inputs,
                "questions": EVALUATE[wc.job].questions,
                "routes": (
                    [EVALUATE[wc.job].subset.routes] if EVALUATE[wc.job].subset else []
                ),
            }
        ),
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
        lambda wc: conda_env(EVALUATE[wc.job].generation)
    threads: threads_of(EVALUATE)
    resources:
        **resources_of(EVALUATE),
    params:
        model=lambda wc: EVALUATE[wc.job].model.path,
        subset=lambda wc: (
            f"--specialist {s.group} --groups {shlex.quote(js(s.groups))} --routes {s.routes}"
            if (s := EVALUATE[wc.job].subset)
            else ""
        ),
        generation=lambda wc: js(EVALUATE[wc.job].generation),
        prompt=lambda wc: js(EVALUATE[wc.job].prompt),
        trust=lambda wc: trust_flag(EVALUATE[wc.job].model),
    shell:
        "python -m cmoe evaluate --model {params.model:q} --questions {input.questions:q}"
        " {params.subset} --generation {params.generation:q} --prompt {params.prompt:q}"
        " --threads {threads} {params.trust}"
        " --predictions {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"


rule evaluate_loglik:
    input:
        model=lambda wc: LOGLIK[wc.job].model.inputs,
        questions=lambda wc: LOGLIK[wc.job].questions,
        pool=lambda wc: LOGLIK[wc.job].pool,
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
        "../../envs/cmoe.yaml"
    threads: threads_of(LOGLIK)
    resources:
        **resources_of(LOGLIK),
    params:
        model=lambda wc: LOGLIK[wc.job].model.path,
        settings=lambda wc: js(LOGLIK[wc.job].settings),
        trust=lambda wc: trust_flag(LOGLIK[wc.job].model),
    shell:
        "python -m cmoe evaluate-loglik --model {params.model:q} --questions {input.questions:q}"
        " --pool {input.pool:q} --settings {params.settings:q} --threads {threads}"
        " {params.trust} --predictions {output.predictions:q} --scores {output.scores:q}"
        " > {log:q} 2>&1"
