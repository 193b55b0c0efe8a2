# Fine-tuning: every model a method trains (students, the generalist, the specialists, and the
# demo's warmed-up teachers) is one job of this rule; the plan says on which traces and how.


rule train:
    input:
        model=lambda wc: TRAIN[wc.job].model.inputs,
        data=lambda wc: TRAIN[wc.job].data,
    output:
        directory("results/{job}"),
    log:
        "results/logs/train/{job}.log",
    benchmark:
        "results/benchmarks/train/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(TRAIN),
    conda:
        "../../envs/cmoe.yaml"
    threads: threads_of(TRAIN)
    resources:
        **resources_of(TRAIN),
    params:
        launcher=lambda wc: train_launcher(
            TRAIN[wc.job], ACCELERATE_CONFIGS, Path.cwd()
        ),
        source=lambda wc: TRAIN[wc.job].source,
        model=lambda wc: TRAIN[wc.job].model.path,
        settings=lambda wc: js(TRAIN[wc.job].settings),
        prompt=lambda wc: js(TRAIN[wc.job].prompt),
        run_name=lambda wc: TRAIN[wc.job].run_name,
        trust=lambda wc: trust_flag(TRAIN[wc.job].model),
    shell:
        "{params.launcher} train --source {params.source} --model {params.model:q}"
        " --data {input.data:q} --settings {params.settings:q} --prompt {params.prompt:q}"
        " --run-name {params.run_name:q} --threads {threads} {params.trust} --out {output:q}"
        " > {log:q} 2>&1"
