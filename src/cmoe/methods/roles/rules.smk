# The specialists' own traces, a role the methods share (cmoe, cmoe-kd, seq2seq; see
# cmoe.methods.roles.specialists). A specialist served alone answers in a job of the shared
# generation rule; this rule is for those served together.
from cmoe.methods.roles.jobs import engine_job
from cmoe.methods.roles.specialists import specialist_groups

# The specialists of one teacher and intermediate, LoRA adapters served by one vLLM engine
# (cmoe.methods.roles.specialists.one_engine), each answering its own group's questions into
# the files a job of its own would write; the groups are the config's (`specialist_groups`).
# The plan keys such a job <folder>/one-engine (cmoe.methods.roles.jobs.ENGINE), beside its
# groups' outputs.
SPECIALIST_TRACES = PLAN.jobs_of("specialist_traces")
GROUPS = list(specialist_groups(config))


# `{folder}`: <namespace>[/seed-<s>]/traces/specialist/<teacher>/<intermediate>
rule specialist_traces:
    input:
        models=per_job(SPECIALIST_TRACES, lambda job: job.inputs, engine_job),
        questions=per_job(SPECIALIST_TRACES, lambda job: job.questions, engine_job),
    output:
        raw=expand("results/{{folder}}/{group}.raw.jsonl", group=GROUPS),
        cost=expand("results/{{folder}}/{group}.cost.json", group=GROUPS),
    log:
        "results/logs/specialist_traces/{folder}.log",
    benchmark:
        "results/benchmarks/specialist_traces/{folder}.tsv"
    wildcard_constraints:
        folder=key_pattern(job.folder for job in SPECIALIST_TRACES.values()),
    conda:
        per_job(
            SPECIALIST_TRACES, lambda job: conda_env(job.generation, ENVS), engine_job
        )
    threads: per_job(SPECIALIST_TRACES, lambda job: job.resources["threads"], engine_job)
    resources:
        **rule_resources(SPECIALIST_TRACES, engine_job),
    params:
        model=per_job(SPECIALIST_TRACES, lambda job: job.base.path, engine_job),
        adapters=per_job(
            SPECIALIST_TRACES, lambda job: js(job.adapter_folders), engine_job
        ),
        groups=per_job(SPECIALIST_TRACES, lambda job: js(job.groups), engine_job),
        generation=per_job(
            SPECIALIST_TRACES, lambda job: js(job.generation), engine_job
        ),
        prompt=per_job(SPECIALIST_TRACES, lambda job: js(job.prompt), engine_job),
        flags=per_job(SPECIALIST_TRACES, lambda job: model_flags(job.base), engine_job),
        out_dir=lambda wc: f"results/{wc.folder}",
    # exec: a scheduler's SIGTERM reaches `cmoe generate` itself, which finishes the chunk in
    # hand and exits to be retried (workflow/rules/generation.smk; cmoe.core.signals)
    shell:
        "exec python -m cmoe generate --model {params.model:q} --questions {input.questions:q}"
        " --adapters {params.adapters:q} --groups {params.groups:q}"
        " --generation {params.generation:q} --prompt {params.prompt:q} --threads {threads}"
        " {params.flags} --out-dir {params.out_dir:q} > {log:q} 2>&1"
