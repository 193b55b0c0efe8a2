# Training (cmoe.training, `cmoe train`): every model a method trains (students, the generalist,
# the specialists, and the demo's warmed-up teachers) is one job of this rule; the plan says on
# which traces and how. Its outputs are keyed by the plan (`{job}`): each role has its own
# folder shape (models/student/<method>/<teacher>[/<intermediate>]/<student>/model,
# models/specialist/<teacher>/<intermediate>/<group>/model, models/warmup/<teacher>/<fp>, ...);
# the leaf `model` keeps one chain's folder from holding another's (cmoe.core.paths).


rule train:
    input:
        model=per_job(TRAIN, lambda job: job.model.inputs),
        data=per_job(TRAIN, lambda job: job.data),
        # what a method's own options read (a KD student's teacher scores, or teachers)
        extra=per_job(TRAIN, lambda job: job.extra_inputs),
    output:
        directory("results/{job}"),
    log:
        "results/logs/train/{job}.log",
    benchmark:
        "results/benchmarks/train/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(TRAIN),
    conda:
        CMOE_ENV
    threads: per_job(TRAIN, lambda job: job.resources["threads"])
    resources:
        **rule_resources(TRAIN),
    params:
        launcher=per_job(
            TRAIN, lambda job: train_launcher(job, ACCELERATE_CONFIGS, Path.cwd())
        ),
        source=per_job(TRAIN, lambda job: job.source),
        model=per_job(TRAIN, lambda job: job.model.path),
        settings=per_job(TRAIN, lambda job: js(job.settings)),
        prompt=per_job(TRAIN, lambda job: js(job.prompt)),
        run_name=per_job(TRAIN, lambda job: job.run_name),
        flags=per_job(TRAIN, train_flags),
    # exec: a SIGTERM reaches `cmoe train` with no shell between it and Snakemake (a shell
    # dies of it at once and Slurm then kills the step mid-save; cmoe.core.signals)
    shell:
        "exec {params.launcher} train --source {params.source} --model {params.model:q}"
        " --data {input.data:q} --settings {params.settings:q} --prompt {params.prompt:q}"
        " --run-name {params.run_name:q} --threads {threads} {params.flags} --out {output:q}"
        " > {log:q} 2>&1"
