# Traces (cmoe.traces, cli/traces.py): one filter rule curates the traces of any teacher or
# intermediate (the `curation` chain) and writes their statistics; the extra sources, the
# texts decontamination compares with, a teacher's merged statistics and contamination check.


# A teacher's traces are curated into the run's namespace from the shared generated ones.
rule filter:
    input:
        raw=lambda wc: PLAN.raw_of(wc.traces),
        curation=PLAN.curation_inputs,
    output:
        traces="{traces}.jsonl",
        stats="{traces}.stats.json",
    log:
        "{traces}.filter.log",
    wildcard_constraints:
        traces=r"results/(?:.+/)?traces/(?:teacher|generalist|specialist)/[^/]+(?:/[^/]+)*(?<!\.raw)",
    conda:
        CMOE_ENV
    resources:
        **stage_resources("filter"),
    params:
        max_length=PLAN.filter_max_length,
        curation=lambda wc: js(PLAN.curation_for(wc.traces)),
        # a function: braces in the prompt stay as they are
        inputs=lambda wc: curation_args(PLAN, PLAN.curation_for(wc.traces)["steps"]),
    shell:
        "python -m cmoe filter --raw {input.raw:q} --out {output.traces:q} --stats {output.stats:q}"
        " --max-length {params.max_length} --curation {params.curation:q} {params.inputs}"
        " > {log:q} 2>&1"


# The texts every student is evaluated on (test split, benchmark tasks), that curation's
# `decontaminate` step removes overlapping training data against.
rule contamination_index:
    input:
        test="results/data/test.jsonl",
    output:
        PLAN.contamination_index or "results/data/contamination/none.json",
    log:
        "results/logs/contamination_index.log",
    conda:
        CMOE_ENV
    resources:
        **stage_resources("filter"),
    params:
        n=config["curation"]["decontaminate_n"],
        benchmarks=lambda wc: js(PLAN.contamination_benchmarks),
    shell:
        "python -m cmoe contamination-index --test {input.test:q} --n {params.n}"
        " --benchmarks {params.benchmarks:q} --out {output:q} > {log:q} 2>&1"


# `data.extra_sources`, curated together and weighted: one file every student learns from.
rule curate_extra:
    input:
        [s["file"] for s in PLAN.extra_sources if "file" in s],
        curation=PLAN.curation_inputs,
    output:
        traces=PLAN.extra_traces or "results/data/extra/none.jsonl",
        stats=(PLAN.extra_traces or "results/data/extra/none.jsonl").replace(
            ".jsonl", ".stats.json"
        ),
    log:
        "results/logs/curate_extra.log",
    conda:
        CMOE_ENV
    resources:
        **stage_resources("filter"),
    params:
        sources=lambda wc: js(PLAN.extra_sources),
        curation=lambda wc: js(config["curation"]),
        max_length=PLAN.extra_max_length,
        seed=config["data"]["seed"],
        # a function: braces in the prompt stay as they are
        inputs=lambda wc: curation_args(PLAN, config["curation"]["steps"]),
    shell:
        "python -m cmoe curate-extra --sources {params.sources:q} --curation {params.curation:q}"
        " --max-length {params.max_length} --seed {params.seed} {params.inputs}"
        " --out {output.traces:q} --stats {output.stats:q} > {log:q} 2>&1"


rule merge_stats:
    input:
        lambda wc: [
            t.replace(".jsonl", ".stats.json") for t in PLAN.teacher_traces[wc.teacher]
        ],
    output:
        f"{NS}/traces/teacher/{{teacher}}/stats.json",
    log:
        f"{NS}/logs/merge_stats/{{teacher}}.log",
    wildcard_constraints:
        teacher=key_pattern(PLAN.teacher_traces),
    conda:
        CMOE_ENV
    params:
        pairs=lambda wc, input: " ".join(f"{d}={p}" for d, p in zip(DOMAINS, input)),
    shell:
        "python -m cmoe merge-stats --stats {params.pairs} --out {output:q} > {log:q} 2>&1"


rule contamination:
    input:
        traces=lambda wc: PLAN.teacher_traces[wc.teacher],
        test="results/data/test.jsonl",
    output:
        report(
            f"{NS}/traces/teacher/{{teacher}}/contamination.json",
            caption="../report/contamination.rst",
            category="Data",
            subcategory="{teacher}",
        ),
    log:
        f"{NS}/logs/contamination/{{teacher}}.log",
    wildcard_constraints:
        teacher=key_pattern(PLAN.teacher_traces),
    conda:
        CMOE_ENV
    shell:
        "python -m cmoe contamination --traces {input.traces:q} --test {input.test:q}"
        " --out {output:q} > {log:q} 2>&1"
