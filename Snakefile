# cmoe: cascade mixture-of-experts reasoning distillation on ruMMLU.
# The real study is config/config.yaml; `--configfile config/demo.yaml` runs the same graph on CPU.
# Which jobs exist is decided by the plan (cmoe.plan); the rules wire its files to `cmoe` stages.
import sys
from pathlib import Path

from snakemake.utils import min_version

# The workflow imports its own package (config validation, the plan), installed or not.
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

min_version("9.0")


# The real study unless --configfile is given (a demo config must replace it, not extend it).
if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/methods/cmoe.smk"
include: "workflow/rules/methods/kard.smk"
include: "workflow/rules/methods/kd.smk"
include: "workflow/rules/report.smk"


# The report opens on the run's summary (rule `summary`), or the workflow's description before it.
report: landing_text(SUMMARY, workflow.configfiles, "workflow/report/workflow.rst")


rule all:
    input:
        rules.table.output,
        rules.plots.output,
        rules.study_comparison.output,
        rules.summary.output,
        rules.loglik_table.output if PLAN.logliks else [],
        rules.benchmark_table.output if PLAN.benchmarks else [],
        (
            rules.mera_gen_table.output
            if any(j.protocol == "mera_gen" for j in PLAN.logliks.values())
            else []
        ),
        [f"results/{key}.svg" for key in KB_SIZE_PLOT],
        expand(
            "results/traces/teacher/{teacher}/stats.json", teacher=PLAN.teacher_traces
        ),
        rules.data_card.output,
        rules.teacher_economics.output,
        expand(
            "results/traces/teacher/{teacher}/contamination.json",
            teacher=PLAN.teacher_traces,
        ),
