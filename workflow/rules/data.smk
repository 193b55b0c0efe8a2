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
        "../../envs/cmoe.yaml"
    threads: threads_for("prepare_data")
    resources:
        **job_resources("prepare_data"),
    params:
        settings=lambda wc: js(config["data"]),
    shell:
        "python -m cmoe prepare-data --settings {params.settings:q} --train {output.train:q}"
        " --test {output.test:q} --summary {output.summary:q} > {log:q} 2>&1"


rule route_test_questions:
    input:
        train="results/data/train.jsonl",
        test="results/data/test.jsonl",
    output:
        f"{NS}/router/routes.json",
    log:
        f"{NS}/logs/route_test_questions.log",
    conda:
        "../../envs/cmoe.yaml"
    params:
        seed=config.get("router", {}).get("seed", 0),
    shell:
        "python -m cmoe route --train {input.train:q} --test {input.test:q}"
        " --seed {params.seed} --out {output:q} > {log:q} 2>&1"
