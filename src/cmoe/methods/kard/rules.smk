# KARD's own job kinds: the knowledge base, its Qdrant index, retrieval (rationale as the query
# for training, question for inference) and the reranker. Its students and evaluations are jobs
# of the shared rules; see cmoe.methods.kard.plan.
KNOWLEDGE = PLAN.jobs_of("knowledge")
INDEX = PLAN.jobs_of("index")
RETRIEVE = PLAN.jobs_of("retrieve")
RERANKER = PLAN.jobs_of("reranker")
KB_SIZE_PLOT = PLAN.jobs_of("kb_size_plot")  # with `kard.sweep` only


rule knowledge:
    input:
        per_job(KNOWLEDGE, lambda job: [job.source_file] if job.source_file else []),
    output:
        "results/{job}.jsonl",
    log:
        "results/logs/knowledge/{job}.log",
    wildcard_constraints:
        job=key_pattern(KNOWLEDGE),
    conda:
        CMOE_ENV
    params:
        settings=per_job(KNOWLEDGE, lambda job: js(job.settings)),
    shell:
        "python -m cmoe knowledge --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule index:
    input:
        passages=per_job(INDEX, lambda job: job.passages),
        encoder=per_job(INDEX, lambda job: job.encoder.inputs if job.encoder else []),
    output:
        index=directory("results/{job}"),
        cost="results/{job}.cost.json",
    log:
        "results/logs/index/{job}.log",
    benchmark:
        "results/benchmarks/index/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(INDEX),
    conda:
        CMOE_ENV
    threads: per_job(INDEX, lambda job: job.resources["threads"])
    resources:
        **rule_resources(INDEX),
    params:
        settings=per_job(INDEX, lambda job: js(job.settings)),
        encoder=per_job(
            INDEX,
            lambda job: (
                f"--encoder {job.encoder.path}"
                + revision_flag(job.encoder, "--encoder-revision")
                if job.encoder
                else ""
            ),
        ),
    shell:
        "python -m cmoe index --passages {input.passages:q} --settings {params.settings:q}"
        " {params.encoder} --threads {threads} --out {output.index:q} --cost {output.cost:q}"
        " > {log:q} 2>&1"


rule retrieve:
    input:
        records=per_job(RETRIEVE, lambda job: job.records),
        index=per_job(RETRIEVE, lambda job: job.index),
        reranker=per_job(RETRIEVE, lambda job: [job.reranker] if job.reranker else []),
    output:
        records="results/{job}.jsonl",
        cost="results/{job}.cost.json",
    log:
        "results/logs/retrieve/{job}.log",
    wildcard_constraints:
        job=key_pattern(RETRIEVE),
    conda:
        CMOE_ENV
    threads: per_job(RETRIEVE, lambda job: job.resources["threads"])
    resources:
        **rule_resources(RETRIEVE),
    params:
        query=per_job(RETRIEVE, lambda job: job.query),
        settings=per_job(RETRIEVE, lambda job: js(job.settings)),
        kard=per_job(RETRIEVE, lambda job: js(job.kard)),
        reranker=lambda wc, input: (
            f"--reranker {input.reranker}" if input.reranker else ""
        ),
        shuffle=per_job(
            RETRIEVE,
            lambda job: f"--shuffle {job.shuffle}" if job.shuffle is not None else "",
        ),
    shell:
        "python -m cmoe retrieve --records {input.records:q} --index {input.index:q}"
        " --query {params.query} --settings {params.settings:q} --kard {params.kard:q}"
        " {params.reranker} {params.shuffle} --threads {threads}"
        " --out {output.records:q} > {log:q} 2>&1"


rule train_reranker:
    input:
        traces=per_job(RERANKER, lambda job: job.traces),
        passages=per_job(RERANKER, lambda job: job.passages),
        index=per_job(RERANKER, lambda job: job.index),
        model=per_job(RERANKER, lambda job: job.model.inputs),
    output:
        directory("results/{job}"),
    log:
        "results/logs/train_reranker/{job}.log",
    benchmark:
        "results/benchmarks/train_reranker/{job}.tsv"
    wildcard_constraints:
        job=key_pattern(RERANKER),
    conda:
        CMOE_ENV
    threads: per_job(RERANKER, lambda job: job.resources["threads"])
    resources:
        **rule_resources(RERANKER),
    params:
        # a function, not a constant: the path is a hub id or a folder (not an input prefix)
        model=lambda wc: RERANKER[wc.job].model.path,
        flags=per_job(RERANKER, lambda job: revision_flag(job.model).strip()),
        settings=per_job(RERANKER, lambda job: js(job.settings)),
        kard=per_job(RERANKER, lambda job: js(job.kard)),
    shell:
        "python -m cmoe train-reranker --traces {input.traces:q} --passages {input.passages:q}"
        " --index {input.index:q} --model {params.model:q} --settings {params.settings:q}"
        " --kard {params.kard:q} {params.flags} --threads {threads} --out {output:q}"
        " > {log:q} 2>&1"


rule kb_size_plot:
    input:
        scores=per_job(KB_SIZE_PLOT, lambda job: [p["scores"] for p in job.points]),
        index=per_job(
            KB_SIZE_PLOT, lambda job: sorted({p["index"] for p in job.points})
        ),
    output:
        svg=report(
            "results/{job}.svg",
            caption=str(REPORT / "plots" / "kard_kb_size.rst"),
            category="Plots",
        ),
        png="results/{job}.png",
    log:
        "results/logs/kb_size_plot/{job}.log",
    wildcard_constraints:
        job=key_pattern(KB_SIZE_PLOT),
    conda:
        CMOE_ENV
    resources:
        **stage_resources("table"),
    params:
        points=per_job(KB_SIZE_PLOT, lambda job: js({"points": list(job.points)})),
    shell:
        "python -m cmoe kb-size-plot --points {params.points:q} --out {output.svg:q} > {log:q} 2>&1"
