# Tables and figures. `cmoe table` rebuilds the plan from the tables' resolved config (a file
# named by its digest), so its command line stays short for any sweep and no label is parsed
# back out of a path. Figures are for `snakemake --report results/report.html`.


rule table:
    input:
        **PLAN.table_inputs(),
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
        f"{NS}/logs/table.log",
    conda:
        "../../envs/cmoe.yaml"
    resources:
        **stage_resources("table"),
    params:
        config=RESOLVED_CONFIG,
        protocol="generative",
        comparison=lambda wc, output: f"--comparison {shlex.quote(output.comparison)}",
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
        models=[path for _, path in PLAN.size_models],
        traces=[p for files in PLAN.teacher_traces.values() for p in files],
    output:
        report(
            expand(f"{NS}/plots/{{name}}.svg", name=PLOTS),
            caption="../report/plots.rst",
            category="Plots",
        ),
        expand(f"{NS}/plots/{{name}}.png", name=PLOTS),
    log:
        f"{NS}/logs/plots.log",
    conda:
        "../../envs/cmoe.yaml"
    params:
        models=" ".join(f"{n}={shlex.quote(p)}" for n, p in PLAN.size_models),
        traces=" ".join(
            f"{t}={shlex.quote(p)}"
            for t, files in PLAN.teacher_traces.items()
            for p in files
        ),
        outdir=lambda wc, output: Path(output[0]).parent,
    shell:
        "python -m cmoe plots --scores-csv {input.scores:q} --model {params.models}"
        " --traces {params.traces} --outdir {params.outdir:q} > {log:q} 2>&1"
