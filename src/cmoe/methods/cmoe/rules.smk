# CMoE's own job kinds: the learned router, and the routed mixture of specialists. (Its
# trainings, generations and evaluations are jobs of the shared rules; see
# cmoe.methods.cmoe.plan.)
from cmoe.methods.cmoe.settings import (
    misroutes_file,
    router_settings,
    routes_file,
    specialist_groups,
)

MIXTURE = PLAN.jobs_of("mixture")


rule route:
    input:
        train="results/data/train.jsonl",
        test="results/data/test.jsonl",
    output:
        routes_file(PLAN.namespace),
    log:
        f"{NS}/logs/route.log",
    conda:
        CMOE_ENV
    params:
        seed=router_settings(config).seed,
    shell:
        "python -m cmoe route --train {input.train:q} --test {input.test:q}"
        " --seed {params.seed} --out {output:q} > {log:q} 2>&1"


# A negative control (router.misrouted_control): no model, a fixed rule over the domains.
rule misroute:
    input:
        test="results/data/test.jsonl",
    output:
        misroutes_file(PLAN.namespace),
    log:
        f"{NS}/logs/misroute.log",
    conda:
        CMOE_ENV
    params:
        groups=js(specialist_groups(config)),
    shell:
        "python -m cmoe misroute --test {input.test:q} --groups {params.groups:q}"
        " --out {output:q} > {log:q} 2>&1"


# Keyed by the plan (`{job}`): <namespace>[/seed-<s>]/eval/mixture/<teacher>/<intermediate>/<routing>/eval
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
        CMOE_ENV
    params:
        pairs=per_job(
            MIXTURE,
            lambda job: " ".join(
                f"{g}={shlex.quote(p)}" for g, p in job.predictions.items()
            ),
        ),
        groups=per_job(MIXTURE, lambda job: js(job.groups)),
        routing=per_job(MIXTURE, lambda job: job.routing),
        routes=lambda wc, input: f"--routes {input.routes}" if input.routes else "",
    shell:
        "python -m cmoe mixture --questions {input.questions:q} --predictions {params.pairs}"
        " --groups {params.groups:q} {params.routes} --routing {params.routing}"
        " --predictions-out {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"
