# Tables and figures. `cmoe table` rebuilds the plan from the tables' resolved config (a file
# named by its digest), so its command line stays short for any sweep and no label is parsed
# back out of a path. Figures are for `snakemake --report results/report.html`.


rule table:
    input:
        **PLAN.table_inputs(),
        claims=STUDY_CLAIMS,
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
        differences=report(
            f"{NS}/tables/differences.csv",
            caption="../report/differences.rst",
            category="Tables",
        ),
        claims_csv=f"{NS}/tables/claims.csv",
        claims_md=report(
            f"{NS}/tables/claims.md",
            caption="../report/claims.rst",
            category="Tables",
        ),
    log:
        f"{NS}/logs/table.log",
    conda:
        CMOE_ENV
    resources:
        **stage_resources("table"),
    params:
        config=RESOLVED_CONFIG,
        protocol="generative",
        comparison=lambda wc, input, output: (
            f"--comparison {shlex.quote(output.comparison)}"
            f" --differences {shlex.quote(output.differences)}"
            f" --claims {shlex.quote(input.claims)}"
            f" --claims-csv {shlex.quote(output.claims_csv)}"
            f" --claims-md {shlex.quote(output.claims_md)}"
        ),
    shell:
        "python -m cmoe table --config {params.config:q} --protocol {params.protocol}"
        " --csv {output.csv:q} --md {output.md:q} {params.comparison} > {log:q} 2>&1"


use rule table as loglik_table with:
    input:
        **PLAN.table_inputs(loglik=True),
    output:
        csv=report(
            f"{NS}/tables/scores_loglik.csv",
            caption="../report/scores_loglik.rst",
            category="Tables",
        ),
        md=f"{NS}/tables/scores_loglik.md",
    log:
        f"{NS}/logs/loglik_table.log",
    params:
        config=RESOLVED_CONFIG,
        protocol="loglik",
        comparison="",


rule benchmark_table:
    input:
        [f"results/{key}/scores.json" for key in BENCHMARK],
    output:
        csv=report(
            f"{NS}/tables/benchmarks.csv",
            caption="../report/benchmarks.rst",
            category="Tables",
        ),
        md=f"{NS}/tables/benchmarks.md",
    log:
        f"{NS}/logs/benchmark_table.log",
    conda:
        CMOE_ENV
    resources:
        **stage_resources("table"),
    params:
        jobs=BENCHMARK_JOBS,
    shell:
        "python -m cmoe benchmark-table --jobs {params.jobs:q}"
        " --csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"


use rule table as mera_gen_table with:
    input:
        **PLAN.table_inputs(loglik="mera_gen"),
    output:
        csv=report(
            f"{NS}/tables/scores_mera_gen.csv",
            caption="../report/scores_mera_gen.rst",
            category="Tables",
        ),
        md=f"{NS}/tables/scores_mera_gen.md",
    log:
        f"{NS}/logs/mera_gen_table.log",
    params:
        config=RESOLVED_CONFIG,
        protocol="mera_gen",
        comparison="",


rule plots:
    input:
        scores=f"{NS}/tables/scores.csv",
        differences=f"{NS}/tables/differences.csv",
        models=[path for _, path in PLAN.size_models],
        traces=[p for files in PLAN.teacher_traces.values() for p in files],
    output:
        [
            report(
                f"{NS}/plots/{name}.svg",
                caption=f"../report/plots/{name}.rst",
                category="Figures",
            )
            for name in PLOTS
        ],
        expand(f"{NS}/plots/{{name}}.png", name=PLOTS),
        layout=f"{NS}/plots/layout.json",
    log:
        f"{NS}/logs/plots.log",
    conda:
        CMOE_ENV
    params:
        methods=" ".join(REGISTRY),
        models=" ".join(f"{n}={shlex.quote(p)}" for n, p in PLAN.size_models),
        traces=" ".join(
            f"{t}={shlex.quote(p)}"
            for t, files in PLAN.teacher_traces.items()
            for p in files
        ),
        outdir=lambda wc, output: Path(output[0]).parent,
    shell:
        "python -m cmoe plots --scores-csv {input.scores:q} --differences {input.differences:q}"
        " --model {params.models} --traces {params.traces} --methods {params.methods}"
        " --outdir {params.outdir:q}"
        " > {log:q} 2>&1"


rule study_comparison:
    input:
        scores=f"{NS}/tables/scores.csv",
        reference=STUDY_REFERENCE,
    output:
        report(
            f"{NS}/tables/study_comparison.md",
            caption="../report/study_comparison.rst",
            category="Tables",
        ),
    log:
        f"{NS}/logs/study_comparison.log",
    conda:
        CMOE_ENV
    params:
        config=RESOLVED_CONFIG,
    shell:
        "python -m cmoe study-comparison --config {params.config:q} --scores-csv {input.scores:q}"
        " --reference {input.reference:q} --out {output:q} > {log:q} 2>&1"


# The report's opening page (the Snakefile's `report:` text once it exists).
rule summary:
    input:
        data="results/data/summary.json",
        scores=f"{NS}/tables/scores.csv",
        differences=f"{NS}/tables/differences.csv",
        comparison=f"{NS}/tables/comparison.md",
        claims=f"{NS}/tables/claims.csv",
        study=f"{NS}/tables/study_comparison.md",
    output:
        SUMMARY,
    log:
        f"{NS}/logs/summary.log",
    conda:
        CMOE_ENV
    params:
        config=RESOLVED_CONFIG,
        headline=write_spec([asdict(p) for p in PLAN.comparisons.headline]),
    shell:
        "python -m cmoe summary --config {params.config:q} --data-summary {input.data:q}"
        " --headline {params.headline:q}"
        " --scores-csv {input.scores:q} --differences {input.differences:q}"
        " --study {input.study:q} --comparison {input.comparison:q}"
        " --claims {input.claims:q}"
        " --out {output:q} > {log:q} 2>&1"


# The golden dataset: its sources, licences and what each curation step removed.
rule data_card:
    input:
        teachers=[spec["stats"] for spec in PLAN.economics.values()],
        extra=(
            [PLAN.extra_traces.replace(".jsonl", ".stats.json")]
            if PLAN.extra_traces
            else []
        ),
        index=[PLAN.contamination_index] if PLAN.contamination_index else [],
    output:
        report(PLAN.data_card, caption="../report/data_card.rst", category="Data"),
    log:
        f"{NS}/logs/data_card.log",
    conda:
        CMOE_ENV
    params:
        teachers=" ".join(
            f"{t}={shlex.quote(spec['stats'])}" for t, spec in PLAN.economics.items()
        ),
        extra=lambda wc, input: (
            f"--extra {shlex.quote(input.extra[0])}" if input.extra else ""
        ),
        index=lambda wc, input: (
            f"--contamination {shlex.quote(input.index[0])}" if input.index else ""
        ),
    shell:
        "python -m cmoe data-card --teacher {params.teachers} {params.extra} {params.index}"
        " --out {output:q} > {log:q} 2>&1"


# What a correct trace cost, per teacher (API bill or device-hours).
rule teacher_economics:
    input:
        [spec["stats"] for spec in PLAN.economics.values()],
        [c for spec in PLAN.economics.values() for c in spec["costs"]],
    output:
        csv=report(
            f"{NS}/tables/teacher_economics.csv",
            caption="../report/teacher_economics.rst",
            category="Tables",
        ),
        md=f"{NS}/tables/teacher_economics.md",
    log:
        f"{NS}/logs/teacher_economics.log",
    conda:
        CMOE_ENV
    resources:
        **stage_resources("table"),
    params:
        teachers=write_spec(PLAN.economics),
    shell:
        "python -m cmoe teacher-economics --teachers {params.teachers:q}"
        " --csv {output.csv:q} --md {output.md:q} > {log:q} 2>&1"
