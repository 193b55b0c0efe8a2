# Figures for `snakemake --report results/report.html`; the tables are flagged in evaluate.smk.
import os


rule plots:
    input:
        scores=f"{NS}/tables/scores.csv",
        models=lambda wc: [m for _, m in size_models()],
        traces=lambda wc: [p for t in TEACHERS for p in teacher_traces(t)],
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
        models=lambda wc: " ".join(f"{n}={m}" for n, m in size_models()),
        traces=lambda wc: " ".join(
            f"{t}={p}" for t in TEACHERS for p in teacher_traces(t)
        ),
        outdir=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "python -m cmoe plots --scores-csv {input.scores:q} --model {params.models}"
        " --traces {params.traces} --outdir {params.outdir:q} > {log:q} 2>&1"
