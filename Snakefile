# cmoe: cascade mixture-of-experts reasoning distillation on ruMMLU.
# The real study is config/config.yaml; `--configfile config/demo.yaml` runs the same graph on CPU.
import sys
from pathlib import Path

from snakemake.utils import min_version

# The workflow imports its own package (config validation), installed or not.
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

min_version("9.0")


# The real study unless --configfile is given (a demo config must replace it, not extend it).
if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/traces.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        f"{NS}/tables/scores.csv",
        f"{NS}/tables/scores.md",
        f"{NS}/tables/comparison.md",
        expand(f"{NS}/plots/{{name}}.{{ext}}", name=PLOTS, ext=["svg", "png"]),
        [f"{NS}/tables/scores_loglik.csv"] if LOGLIK.get("enabled") else [],
        expand("results/traces/teacher/{teacher}/stats.json", teacher=TEACHERS),
        expand("results/traces/teacher/{teacher}/contamination.json", teacher=TEACHERS),
