# Fine-tuning. direct: a student learns from all of a teacher's correct traces; the generalist is
# the intermediate trained the same way (the study's "one model on undivided data" baseline).
# cascade: a student learns from the generalist's traces. cmoe: one specialist per domain group
# learns from that group's teacher traces, and a student learns from the union of their traces.


rule train_direct_student:
    input:
        model=lambda wc: model_inputs(student_model(wc.student)),
        data=lambda wc: teacher_traces(wc.teacher),
    output:
        directory(f"{NS}/models/student/direct/{{teacher}}/{{student}}"),
    log:
        f"{NS}/logs/train/student/direct/{{teacher}}/{{student}}.log",
    benchmark:
        f"{NS}/benchmarks/train/student/direct/{{teacher}}/{{student}}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("train", config["students"][wc.student])
    resources:
        **job_resources("train", lambda wc: config["students"][wc.student]),
    params:
        source="traces",
        model=lambda wc: model_path(student_model(wc.student)),
        settings=lambda wc: js(student_train(wc.student)),
        launcher=lambda wc: train_launcher(
            student_train(wc.student), config["students"][wc.student]
        ),
        prompt=lambda wc: js(prompt_settings(config)),
        wandb=lambda wc: js(wandb_settings()),
        trust=lambda wc: trust_flag(student_model(wc.student)),
        run_name=lambda wc: f"direct-{wc.teacher}-{wc.student}",
    shell:
        TRAIN_CMD


rule train_generalist:
    input:
        model=lambda wc: model_inputs(intermediate_model(wc.intermediate)),
        data=lambda wc: teacher_traces(wc.teacher),
    output:
        directory(f"{NS}/models/generalist/{{teacher}}/{{intermediate}}"),
    log:
        f"{NS}/logs/train/generalist/{{teacher}}/{{intermediate}}.log",
    benchmark:
        f"{NS}/benchmarks/train/generalist/{{teacher}}/{{intermediate}}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("train", config["intermediates"][wc.intermediate])
    resources:
        **job_resources("train", lambda wc: config["intermediates"][wc.intermediate]),
    params:
        source="traces",
        model=lambda wc: model_path(intermediate_model(wc.intermediate)),
        settings=lambda wc: js(generalist_train(wc.intermediate)),
        launcher=lambda wc: train_launcher(
            generalist_train(wc.intermediate), config["intermediates"][wc.intermediate]
        ),
        prompt=lambda wc: js(prompt_settings(config)),
        wandb=lambda wc: js(wandb_settings()),
        trust=lambda wc: trust_flag(intermediate_model(wc.intermediate)),
        run_name=lambda wc: f"generalist-{wc.teacher}-{wc.intermediate}",
    shell:
        TRAIN_CMD


rule train_specialist:
    input:
        model=lambda wc: model_inputs(intermediate_model(wc.intermediate)),
        data=lambda wc: teacher_traces(wc.teacher, GROUPS[wc.group]),
    output:
        directory(f"{NS}/models/specialist/{{teacher}}/{{intermediate}}/{{group}}"),
    log:
        f"{NS}/logs/train/specialist/{{teacher}}/{{intermediate}}/{{group}}.log",
    benchmark:
        f"{NS}/benchmarks/train/specialist/{{teacher}}/{{intermediate}}/{{group}}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("train", config["intermediates"][wc.intermediate])
    resources:
        **job_resources("train", lambda wc: config["intermediates"][wc.intermediate]),
    params:
        source="traces",
        model=lambda wc: model_path(intermediate_model(wc.intermediate)),
        settings=lambda wc: js(specialist_train(wc.intermediate, wc.group)),
        launcher=lambda wc: train_launcher(
            specialist_train(wc.intermediate, wc.group),
            config["intermediates"][wc.intermediate],
        ),
        prompt=lambda wc: js(prompt_settings(config)),
        wandb=lambda wc: js(wandb_settings()),
        trust=lambda wc: trust_flag(intermediate_model(wc.intermediate)),
        run_name=lambda wc: f"specialist-{wc.teacher}-{wc.intermediate}-{wc.group}",
    shell:
        TRAIN_CMD


rule train_chained_student:
    input:
        model=lambda wc: model_inputs(student_model(wc.student)),
        data=lambda wc: (
            generalist_traces(wc.teacher, wc.intermediate)
            if wc.chained == "cascade"
            else specialist_traces(wc.teacher, wc.intermediate)
        ),
    output:
        directory(
            f"{NS}/models/student/{{chained}}/{{teacher}}/{{intermediate}}/{{student}}"
        ),
    log:
        f"{NS}/logs/train/student/{{chained}}/{{teacher}}/{{intermediate}}/{{student}}.log",
    benchmark:
        f"{NS}/benchmarks/train/student/{{chained}}/{{teacher}}/{{intermediate}}/{{student}}.tsv"
    conda:
        "../../envs/cmoe.yaml"
    threads: lambda wc: threads_for("train", config["students"][wc.student])
    resources:
        **job_resources("train", lambda wc: config["students"][wc.student]),
    params:
        source="traces",
        model=lambda wc: model_path(student_model(wc.student)),
        settings=lambda wc: js(student_train(wc.student)),
        launcher=lambda wc: train_launcher(
            student_train(wc.student), config["students"][wc.student]
        ),
        prompt=lambda wc: js(prompt_settings(config)),
        wandb=lambda wc: js(wandb_settings()),
        trust=lambda wc: trust_flag(student_model(wc.student)),
        run_name=lambda wc: f"{wc.chained}-{wc.teacher}-{wc.intermediate}-{wc.student}",
    shell:
        TRAIN_CMD
