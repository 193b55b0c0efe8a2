# Logit distillation's own job kind: a teacher scores training traces once (top-k log-probs per
# completion token, stored), so KD students train without loading it. The students themselves
# are jobs of the shared `train` rule; see cmoe.methods.kd.plan.
SCORE_TEACHER = PLAN.jobs_of("score_teacher")


rule score_teacher:
    input:
        model=per_job(SCORE_TEACHER, lambda job: job.inputs),
        data=per_job(SCORE_TEACHER, lambda job: job.data),
    output:
        scores=directory("results/{job}"),
        cost="results/{job}.cost.json",
    log:
        "results/logs/score_teacher/{job}.log",
    benchmark:
        "results/benchmarks/score_teacher/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(SCORE_TEACHER),
    conda:
        CMOE_ENV
    threads: per_job(SCORE_TEACHER, lambda job: job.resources["threads"])
    resources:
        **rule_resources(SCORE_TEACHER),
    params:
        # a function, not a constant: the path is a hub id or a folder (not an input prefix)
        model=lambda wc: SCORE_TEACHER[wc.job].model.path,
        settings=per_job(SCORE_TEACHER, lambda job: js(job.settings)),
        prompt=per_job(SCORE_TEACHER, lambda job: js(job.prompt)),
        flags=per_job(
            SCORE_TEACHER,
            lambda job: f"{model_flags(job.model)} {job.score_flags}".strip(),
        ),
    shell:
        "python -m cmoe score-teacher --model {params.model:q} --data {input.data:q}"
        " --settings {params.settings:q} --prompt {params.prompt:q} --threads {threads}"
        " {params.flags} --out {output.scores:q} --cost {output.cost:q} > {log:q} 2>&1"
