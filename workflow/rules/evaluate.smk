# Every trained student and every untrained base student answers the held-out test split.


rule evaluate_student:
    input:
        model="results/models/student/{method}/{teacher}/{student}",
        questions="results/data/test.jsonl",
    output:
        predictions="results/eval/student/{method}/{teacher}/{student}/predictions.jsonl",
        scores="results/eval/student/{method}/{teacher}/{student}/scores.json",
    log:
        "results/logs/evaluate/student/{method}/{teacher}/{student}.log",
    benchmark:
        "results/benchmarks/evaluate/student/{method}/{teacher}/{student}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("evaluate", config["students"][wc.student])
    resources:
        mem_mb=lambda wc: mem_for("evaluate", config["students"][wc.student]),
        runtime=lambda wc: runtime_for("evaluate", config["students"][wc.student]),
        gpu=lambda wc: gpu_for("evaluate", config["students"][wc.student]),
    params:
        generation=lambda wc: js(config["evaluation"].get("generation", {})),
        prompt=lambda wc: js(prompt_settings(config)),
        trust=lambda wc: trust_flag(student_model(wc.student)),
    shell:
        "python -m cmoe evaluate --model {input.model:q} --questions {input.questions:q}"
        " --generation {params.generation:q} --prompt {params.prompt:q} {params.trust}"
        " --label method={wildcards.method} --label teacher={wildcards.teacher}"
        " --label model={wildcards.student} --threads {threads}"
        " --predictions {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"


rule evaluate_base:
    input:
        model=lambda wc: model_inputs(student_model(wc.student)),
        questions="results/data/test.jsonl",
    output:
        predictions="results/eval/base/{student}/predictions.jsonl",
        scores="results/eval/base/{student}/scores.json",
    log:
        "results/logs/evaluate/base/{student}.log",
    benchmark:
        "results/benchmarks/evaluate/base/{student}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("evaluate", config["students"][wc.student])
    resources:
        mem_mb=lambda wc: mem_for("evaluate", config["students"][wc.student]),
        runtime=lambda wc: runtime_for("evaluate", config["students"][wc.student]),
        gpu=lambda wc: gpu_for("evaluate", config["students"][wc.student]),
    params:
        model=lambda wc: model_path(student_model(wc.student)),
        generation=lambda wc: js(config["evaluation"].get("generation", {})),
        prompt=lambda wc: js(prompt_settings(config)),
        trust=lambda wc: trust_flag(student_model(wc.student)),
    shell:
        "python -m cmoe evaluate --model {params.model:q} --questions {input.questions:q}"
        " --generation {params.generation:q} --prompt {params.prompt:q} {params.trust}"
        " --label method=base --label teacher=- --label model={wildcards.student}"
        " --threads {threads} --predictions {output.predictions:q}"
        " --scores {output.scores:q} > {log:q} 2>&1"


rule score_table:
    input:
        score_files(),
    output:
        csv="results/tables/scores.csv",
        md="results/tables/scores.md",
    log:
        "results/logs/score_table.log",
    conda:
        "../../envs/cmoe.yaml"
    shell:
        "python -m cmoe table --scores {input:q} --csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"
