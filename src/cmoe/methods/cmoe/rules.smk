# CMoE's own job kinds: the learned router, and the routed mixture of specialists. (Its
# trainings, generations and evaluations are jobs of the shared rules; see
# cmoe.methods.cmoe.plan.)
from cmoe.methods.cmoe.jobs import mixture_key_of
from cmoe.methods.cmoe.plan import ROUTINGS
from cmoe.methods.cmoe.settings import (
    misroutes_file,
    router_settings,
    routes_file,
    specialist_groups,
)

MIXTURE = PLAN.jobs_of("mixture")

# the plan's key of a mixture from its wildcards
mixture_key = mixture_key_of(PLAN.namespace)


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


rule mixture:
    input:
        predictions=per_job(
            MIXTURE, lambda job: list(job.predictions.values()), mixture_key
        ),
        questions=per_job(MIXTURE, lambda job: job.questions, mixture_key),
        routes=per_job(
            MIXTURE, lambda job: [job.routes] if job.routes else [], mixture_key
        ),
    output:
        predictions=f"{NS}/eval/mixture/{{teacher}}/{{intermediate}}/{{routing}}/predictions.jsonl",
        scores=f"{NS}/eval/mixture/{{teacher}}/{{intermediate}}/{{routing}}/scores.json",
    log:
        f"{NS}/logs/mixture/{{teacher}}/{{intermediate}}/{{routing}}.log",
    wildcard_constraints:
        teacher=key_pattern(config["teachers"]),
        intermediate=key_pattern(config.get("intermediates", {})),
        routing="|".join(ROUTINGS),
    conda:
        CMOE_ENV
    params:
        pairs=per_job(
            MIXTURE,
            lambda job: " ".join(
                f"{g}={shlex.quote(p)}" for g, p in job.predictions.items()
            ),
            mixture_key,
        ),
        groups=per_job(MIXTURE, lambda job: js(job.groups), mixture_key),
        routes=lambda wc, input: f"--routes {input.routes}" if input.routes else "",
    shell:
        "python -m cmoe mixture --questions {input.questions:q} --predictions {params.pairs}"
        " --groups {params.groups:q} {params.routes} --routing {wildcards.routing}"
        " --predictions-out {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"
