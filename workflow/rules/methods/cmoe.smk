# CMoE's own job kinds: the learned router, and the routed mixture of specialists. (Its
# trainings, generations and evaluations are jobs of the shared rules; see cmoe.methods.cmoe.)


rule route:
    input:
        train="results/data/train.jsonl",
        test="results/data/test.jsonl",
    output:
        f"{NS}/router/routes.json",
    log:
        f"{NS}/logs/route.log",
    conda:
        "../../../envs/cmoe.yaml"
    params:
        seed=config["router"]["seed"],
    shell:
        "python -m cmoe route --train {input.train:q} --test {input.test:q}"
        " --seed {params.seed} --out {output:q} > {log:q} 2>&1"


rule mixture:
    input:
        predictions=per_job(MIXTURE, lambda job: list(job.predictions.values())),
        questions=per_job(MIXTURE, lambda job: job.questions),
        routes=per_job(MIXTURE, lambda job: [job.routes] if job.routes else []),
    output:
        predictions="results/{job}/predictions.jsonl",
        scores="results/{job}/scores.json",
    log:
        "results/logs/mixture/{job}.log",
    wildcard_constraints:
        job=key_pattern(MIXTURE),
    conda:
        "../../../envs/cmoe.yaml"
    params:
        pairs=per_job(
            MIXTURE,
            lambda job: " ".join(
                f"{g}={shlex.quote(p)}" for g, p in job.predictions.items()
            ),
        ),
        groups=per_job(MIXTURE, lambda job: js(job.groups)),
        routes=lambda wc, input: f"--routes {input.routes}" if input.routes else "",
    shell:
        "python -m cmoe mixture --questions {input.questions:q} --predictions {params.pairs}"
        " --groups {params.groups:q} {params.routes}"
        " --predictions-out {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"
