# The data split, and (demo and tests only) tiny random models built from the demo corpus.


rule prepare_data:
    input:
        [config["data"]["source"]["file"]] if "file" in config["data"]["source"] else [],
    output:
        train="results/data/train.jsonl",
        test="results/data/test.jsonl",
        summary="results/data/summary.json",
    log:
        "results/logs/prepare_data.log",
    conda:
        CMOE_ENV
    threads: PLAN.stage_resources["prepare_data"]["threads"]
    resources:
        **stage_resources("prepare_data"),
    params:
        # the split's own settings: the few-shot pool and the MERA version never re-split
        settings=js(section(config, "data").split_settings),
    shell:
        "python -m cmoe prepare-data --settings {params.settings:q} --train {output.train:q}"
        " --test {output.test:q} --summary {output.summary:q} > {log:q} 2>&1"


rule prepare_fewshot:
    input:
        [config["data"]["fewshot_source"]["file"]]
        if "file" in (config["data"]["fewshot_source"] or {})
        else [],
    output:
        FEWSHOT_POOL,
    log:
        "results/logs/prepare_fewshot.log",
    conda:
        CMOE_ENV
    threads: PLAN.stage_resources["prepare_data"]["threads"]
    resources:
        **stage_resources("prepare_data"),
    params:
        settings=js(section(config, "data").fewshot_settings),
    shell:
        "python -m cmoe prepare-fewshot --settings {params.settings:q} --out {output:q}"
        " > {log:q} 2>&1"


# A tiny model's folder is keyed by the plan: models/tiny/<name>/<fingerprint of its spec>.
rule make_tiny_model:
    input:
        corpus=lambda wc: config["tiny_models"]["corpus"],
    output:
        directory("results/{job}"),
    log:
        "results/logs/make_tiny_model/{job}.log",
    wildcard_constraints:
        job=key_pattern(PLAN.tiny_models),
    conda:
        CMOE_ENV
    threads: PLAN.stage_resources["make_tiny_model"]["threads"]
    resources:
        **stage_resources("make_tiny_model"),
    params:
        spec=lambda wc: js(
            config["tiny_models"]["specs"][
                config["models"][PLAN.tiny_models[wc.job]]["tiny"]
            ]
        ),
        vocab=lambda wc: config["tiny_models"]["vocab_size"],
    shell:
        "python -m cmoe make-tiny-model --corpus {input.corpus:q} --spec {params.spec:q}"
        " --vocab-size {params.vocab} --out {output:q} > {log:q} 2>&1"
