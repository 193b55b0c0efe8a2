# Demo-only rules: tiny random models, and the teacher warm-up on reference explanations.


rule make_tiny_model:
    input:
        corpus=config.get("tiny_models", {}).get("corpus", []),
    output:
        directory("results/models/tiny/{tiny}"),
    log:
        "results/logs/make_tiny_model/{tiny}.log",
    conda:
        "../../envs/cmoe.yaml"
    threads: threads_for("make_tiny_model")
    resources:
        **job_resources("make_tiny_model"),
    params:
        spec=lambda wc: js(
            config["tiny_models"]["specs"][config["models"][wc.tiny]["tiny"]]
        ),
        vocab=config.get("tiny_models", {}).get("vocab_size", 2048),
    shell:
        "python -m cmoe make-tiny-model --corpus {input.corpus:q} --spec {params.spec:q}"
        " --vocab-size {params.vocab} --out {output:q} > {log:q} 2>&1"


rule warmup_teacher:
    input:
        model=lambda wc: model_inputs(teacher_model(wc.teacher)),
        data="results/data/train.jsonl",
    output:
        directory("results/models/warmup/{teacher}"),
    log:
        "results/logs/warmup_teacher/{teacher}.log",
    benchmark:
        "results/benchmarks/warmup_teacher/{teacher}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("warmup", config["teachers"][wc.teacher])
    resources:
        **job_resources("warmup", lambda wc: config["teachers"][wc.teacher]),
    params:
        source="reference",
        model=lambda wc: model_path(teacher_model(wc.teacher)),
        settings=lambda wc: js(
            train_settings(config, config["teachers"][wc.teacher]["warmup"])
        ),
        launcher=lambda wc: train_launcher(
            train_settings(config, config["teachers"][wc.teacher]["warmup"]),
            config["teachers"][wc.teacher],
            "warmup",
        ),
        prompt=lambda wc: js(prompt_settings(config, wc.teacher)),
        wandb=lambda wc: js({"mode": "disabled"}),
        trust=lambda wc: trust_flag(teacher_model(wc.teacher)),
        run_name=lambda wc: f"warmup-{wc.teacher}",
    shell:
        TRAIN_CMD
