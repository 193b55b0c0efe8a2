# Every trained model and every untrained base student answers the held-out test split. CMoE
# specialists answer the test questions of their own domains plus those the learned router sends
# them, and the routed mixture is scored under oracle and learned routing.


rule evaluate_model:
    input:
        model=f"{NS}/models/{{what}}",
        questions="results/data/test.jsonl",
    output:
        predictions=f"{NS}/eval/{{what}}/predictions.jsonl",
        scores=f"{NS}/eval/{{what}}/scores.json",
    log:
        f"{NS}/logs/evaluate/{{what}}.log",
    benchmark:
        f"{NS}/benchmarks/evaluate/{{what}}.tsv"
    wildcard_constraints:
        what=r"(?:student/direct/[^/]+|student/(?:cascade|cmoe)/[^/]+/[^/]+|generalist/[^/]+)/[^/]+",
    conda:
        lambda wc: generation_env(config["evaluation"])
    threads: threads_for("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        model=lambda wc, input: input.model,
        subset="",
        generation=lambda wc: js(generation_settings(config["evaluation"], "evaluate")),
        bootstrap=lambda wc: bootstrap_settings(),
        prompt=lambda wc: js(prompt_settings(config)),
        labels=lambda wc: labels(**row_labels(wc.what)),
        trust=lambda wc: trust_flag(evaluated_model_key(wc.what)),
    shell:
        EVALUATE_CMD


rule evaluate_base:
    input:
        model=lambda wc: model_inputs(wc.base),
        questions="results/data/test.jsonl",
    output:
        predictions=f"{NS}/eval/base/{{base}}/predictions.jsonl",
        scores=f"{NS}/eval/base/{{base}}/scores.json",
    log:
        f"{NS}/logs/evaluate/base/{{base}}.log",
    benchmark:
        f"{NS}/benchmarks/evaluate/base/{{base}}.tsv"
    conda:
        lambda wc: generation_env(config["evaluation"])
    threads: threads_for("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        model=lambda wc: model_path(wc.base),
        subset="",
        generation=lambda wc: js(generation_settings(config["evaluation"], "evaluate")),
        bootstrap=lambda wc: bootstrap_settings(),
        prompt=lambda wc: js(prompt_settings(config)),
        labels=lambda wc: labels(method="base", teacher="-", via="-", model=wc.base),
        trust=lambda wc: trust_flag(wc.base),
    shell:
        EVALUATE_CMD


rule evaluate_specialist:
    input:
        model=f"{NS}/models/specialist/{{teacher}}/{{intermediate}}/{{group}}",
        questions="results/data/test.jsonl",
        routes=f"{NS}/router/routes.json",
    output:
        predictions=f"{NS}/eval/specialist/{{teacher}}/{{intermediate}}/{{group}}/predictions.jsonl",
        scores=f"{NS}/eval/specialist/{{teacher}}/{{intermediate}}/{{group}}/scores.json",
    log:
        f"{NS}/logs/evaluate/specialist/{{teacher}}/{{intermediate}}/{{group}}.log",
    benchmark:
        f"{NS}/benchmarks/evaluate/specialist/{{teacher}}/{{intermediate}}/{{group}}.tsv"
    conda:
        lambda wc: generation_env(config["evaluation"])
    threads: threads_for("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        model=lambda wc, input: input.model,
        subset=lambda wc, input: (
            f"--specialist {wc.group} --groups {shlex.quote(js(GROUPS))} --routes {input.routes}"
        ),
        generation=lambda wc: js(generation_settings(config["evaluation"], "evaluate")),
        bootstrap=lambda wc: bootstrap_settings(),
        prompt=lambda wc: js(prompt_settings(config)),
        labels=lambda wc: labels(
            method="cmoe",
            teacher=wc.teacher,
            via=wc.intermediate,
            model=f"specialist:{wc.group}",
        ),
        trust=lambda wc: trust_flag(intermediate_model(wc.intermediate)),
    shell:
        EVALUATE_CMD


rule score_mixture:
    input:
        predictions=lambda wc: [
            f"{NS}/eval/specialist/{wc.teacher}/{wc.intermediate}/{g}/predictions.jsonl"
            for g in GROUPS
        ],
        questions="results/data/test.jsonl",
        routes=f"{NS}/router/routes.json",
    output:
        predictions=f"{NS}/eval/mixture/{{teacher}}/{{intermediate}}/{{routing}}/predictions.jsonl",
        scores=f"{NS}/eval/mixture/{{teacher}}/{{intermediate}}/{{routing}}/scores.json",
    log:
        f"{NS}/logs/score_mixture/{{teacher}}/{{intermediate}}/{{routing}}.log",
    conda:
        "../../envs/cmoe.yaml"
    params:
        pairs=lambda wc, input: " ".join(
            f"{g}={p}" for g, p in zip(GROUPS, input.predictions)
        ),
        groups=lambda wc: js(GROUPS),
        bootstrap=lambda wc: bootstrap_settings(),
        routes=lambda wc, input: (
            f"--routes {input.routes}" if wc.routing == "learned" else ""
        ),
        labels=lambda wc: labels(
            method="cmoe",
            teacher=wc.teacher,
            via=wc.intermediate,
            model=f"mixture:{wc.routing}",
        ),
    shell:
        "python -m cmoe mixture --questions {input.questions:q} --predictions {params.pairs}"
        " --groups {params.groups:q} {params.routes} {params.labels}"
        " --bootstrap {params.bootstrap:q}"
        " --predictions-out {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"


rule score_table:
    input:
        scores=score_files(),
        costs=cost_inputs(),
        routes=[f"{NS}/router/routes.json"] if "cmoe" in METHODS else [],
    output:
        csv=report(
            f"{NS}/tables/scores.csv",
            caption="../report/scores.rst",
            category="Tables",
        ),
        md=f"{NS}/tables/scores.md",
        comparison=report(
            f"{NS}/tables/comparison.md",
            caption="../report/comparison.rst",
            category="Tables",
        ),
    log:
        f"{NS}/logs/score_table.log",
    conda:
        "../../envs/cmoe.yaml"
    params:
        chains=lambda wc: js(cost_chains()),
        namespace=config.get("namespace", "main"),
        routes=lambda wc, input: f"--routes {input.routes}" if input.routes else "",
        wandb=lambda wc: js(wandb_settings()),
        config=lambda wc: js(config),
    shell:
        "python -m cmoe table --scores {input.scores:q} --chains {params.chains:q}"
        " --namespace {params.namespace} {params.routes} --wandb {params.wandb:q}"
        " --config {params.config:q} --csv {output.csv:q}"
        " --md {output.md:q} --comparison {output.comparison:q} > {log:q} 2>&1"


rule evaluate_loglik:
    input:
        model=lambda wc: (
            model_inputs(wc.what.split("/", 1)[1])
            if wc.what.startswith("base/")
            else [f"{NS}/models/{wc.what}"]
        ),
        questions="results/data/test.jsonl",
        pool="results/data/train.jsonl",
    output:
        predictions=f"{NS}/eval_loglik/{{what}}/predictions.jsonl",
        scores=f"{NS}/eval_loglik/{{what}}/scores.json",
    log:
        f"{NS}/logs/evaluate_loglik/{{what}}.log",
    benchmark:
        f"{NS}/benchmarks/evaluate_loglik/{{what}}.tsv"
    wildcard_constraints:
        what=r"(?:base|student/direct/[^/]+|student/(?:cascade|cmoe)/[^/]+/[^/]+|generalist/[^/]+)/[^/]+",
    conda:
        "../../envs/cmoe.yaml"
    threads: threads_for("evaluate")
    resources:
        **job_resources("evaluate"),
    params:
        model=lambda wc: (
            model_path(wc.what.split("/", 1)[1])
            if wc.what.startswith("base/")
            else f"{NS}/models/{wc.what}"
        ),
        settings=lambda wc: loglik_args(),
        labels=lambda wc: labels(**row_labels(wc.what)),
        bootstrap=lambda wc: bootstrap_settings(),
        trust=lambda wc: trust_flag(evaluated_model_key(wc.what)),
    shell:
        "python -m cmoe evaluate-loglik --model {params.model:q} --questions {input.questions:q}"
        " --pool {input.pool:q} {params.settings} {params.labels} --bootstrap {params.bootstrap:q}"
        " --threads {threads} {params.trust} --predictions {output.predictions:q}"
        " --scores {output.scores:q} > {log:q} 2>&1"


rule loglik_table:
    input:
        lambda wc: loglik_score_files(),
    output:
        csv=report(
            f"{NS}/tables/scores_loglik.csv",
            caption="../report/scores_loglik.rst",
            category="Tables",
        ),
        md=f"{NS}/tables/scores_loglik.md",
    log:
        f"{NS}/logs/loglik_table.log",
    conda:
        "../../envs/cmoe.yaml"
    params:
        namespace=config.get("namespace", "main"),
    shell:
        "python -m cmoe table --scores {input:q} --namespace {params.namespace}"
        " --csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"
