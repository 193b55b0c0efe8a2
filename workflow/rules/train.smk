# Student fine-tuning. `direct`: the student learns from all of one teacher's correct traces.


rule train_direct_student:
    input:
        model=lambda wc: model_inputs(student_model(wc.student)),
        traces=expand(
            "results/traces/teacher/{{teacher}}/{domain}.jsonl", domain=DOMAIN_KEYS
        ),
    output:
        directory("results/models/student/direct/{teacher}/{student}"),
    log:
        "results/logs/train_student/direct/{teacher}/{student}.log",
    benchmark:
        "results/benchmarks/train_student/direct/{teacher}/{student}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("train", config["students"][wc.student])
    resources:
        mem_mb=lambda wc: mem_for("train", config["students"][wc.student]),
        runtime=lambda wc: runtime_for("train", config["students"][wc.student]),
        gpu=lambda wc: gpu_for("train", config["students"][wc.student]),
    params:
        model=lambda wc: model_path(student_model(wc.student)),
        settings=lambda wc: js(student_train(wc.student)),
        prompt=lambda wc: js(prompt_settings(config)),
        wandb=lambda wc: js(config.get("wandb", {})),
        trust=lambda wc: trust_flag(student_model(wc.student)),
    shell:
        "python -m cmoe train --source traces --model {params.model:q} --data {input.traces:q}"
        " --settings {params.settings:q} --prompt {params.prompt:q} --wandb {params.wandb:q}"
        " --run-name direct-{wildcards.teacher}-{wildcards.student} --threads {threads}"
        " {params.trust} --out {output:q} > {log:q} 2>&1"
