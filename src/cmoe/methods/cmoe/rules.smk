# CMoE's own job kinds: the learned router, and the routed mixture of specialists. (Its
# trainings, generations and evaluations are jobs of the shared rules; see
# cmoe.methods.cmoe.plan.)
from cmoe.core.paths import EVAL
from cmoe.methods.cmoe.settings import misroutes_file, router_settings, routes_file
from cmoe.methods.roles.jobs import engine_job
from cmoe.methods.roles.specialists import specialist_groups

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


# The specialists' evaluation on one vLLM engine (cmoe.methods.roles.specialists.one_engine),
# each answering the test questions it serves; the sibling of the roles' `specialist_traces`
# rule (cmoe/methods/roles/rules.smk), whose GROUPS it shares.
SPECIALIST_EVALUATIONS = PLAN.jobs_of("specialist_evaluations")


# `{folder}`: <namespace>[/seed-<s>]/eval/specialist/<teacher>/<intermediate>
rule specialist_evaluations:
    input:
        models=per_job(SPECIALIST_EVALUATIONS, lambda job: job.inputs, engine_job),
        questions=per_job(SPECIALIST_EVALUATIONS, lambda job: job.questions, engine_job),
        routes=per_job(SPECIALIST_EVALUATIONS, lambda job: list(job.routes), engine_job),
    output:
        predictions=expand(
            "results/{{folder}}/{group}/{leaf}/predictions.jsonl",
            group=GROUPS,
            leaf=EVAL,
        ),
        scores=expand(
            "results/{{folder}}/{group}/{leaf}/scores.json", group=GROUPS, leaf=EVAL
        ),
    log:
        "results/logs/specialist_evaluations/{folder}.log",
    benchmark:
        "results/benchmarks/specialist_evaluations/{folder}.tsv"
    wildcard_constraints:
        folder=key_pattern(job.folder for job in SPECIALIST_EVALUATIONS.values()),
    conda:
        per_job(
            SPECIALIST_EVALUATIONS,
            lambda job: conda_env(job.generation, ENVS),
            engine_job,
        )
    threads: per_job(SPECIALIST_EVALUATIONS, lambda job: job.resources["threads"], engine_job)
    resources:
        **rule_resources(SPECIALIST_EVALUATIONS, engine_job),
    params:
        model=per_job(SPECIALIST_EVALUATIONS, lambda job: job.base.path, engine_job),
        adapters=per_job(
            SPECIALIST_EVALUATIONS, lambda job: js(job.adapter_folders), engine_job
        ),
        groups=per_job(SPECIALIST_EVALUATIONS, lambda job: js(job.groups), engine_job),
        routes=lambda wc, input: f"--routes {input.routes}" if input.routes else "",
        generation=per_job(
            SPECIALIST_EVALUATIONS, lambda job: js(job.generation), engine_job
        ),
        prompt=per_job(SPECIALIST_EVALUATIONS, lambda job: js(job.prompt), engine_job),
        flags=per_job(
            SPECIALIST_EVALUATIONS, lambda job: model_flags(job.base), engine_job
        ),
        samples=per_job(
            SPECIALIST_EVALUATIONS,
            lambda job: f"--samples {job.samples}" if job.samples > 1 else "",
            engine_job,
        ),
        out_dir=lambda wc: f"results/{wc.folder}/{{group}}/{EVAL}",
    shell:
        "python -m cmoe evaluate --model {params.model:q} --questions {input.questions:q}"
        " --adapters {params.adapters:q} --groups {params.groups:q} {params.routes}"
        " --generation {params.generation:q} --prompt {params.prompt:q} --threads {threads}"
        " {params.flags} {params.samples} --out-dir {params.out_dir:q} > {log:q} 2>&1"
