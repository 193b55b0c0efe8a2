# cmoe: cascade mixture-of-experts reasoning distillation on ruMMLU.
# The real study is config/config.yaml; `--configfile config/demo.yaml` runs the same graph on CPU.
# Which jobs exist is decided by the plan (cmoe.plan); the rules wire its files to `cmoe` stages.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

# The workflow imports its own package (config validation, the plan), installed or not.
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

min_version("9.0")


# The real study unless --configfile is given (a demo config must replace it, not extend it).
# It is read strictly first: Snakemake's own loader names neither the file nor the line of a
# YAML error. (Files given with --configfile Snakemake reads before this file runs:
# `cmoe check FILE...` names the line.)
if not config:
    from cmoe.config import check_files
    from cmoe.core.errors import CmoeError

    try:
        check_files(["config/config.yaml"])
    except CmoeError as exc:
        raise WorkflowError(f"Invalid workflow config: {exc}") from None

    configfile: "config/config.yaml"


# One rule file per stage (the stage's CLI module and library folder share its name).
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/generation.smk"
include: "workflow/rules/traces.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/reporting.smk"


# Each registered method's own job kinds (src/cmoe/methods/<name>/rules.smk).
for method_rules in METHOD_RULES:

    include: method_rules


# The report opens on the run's summary (rule `summary`), or the workflow's description before it.
report: landing_text(SUMMARY, workflow.configfiles, "workflow/report/workflow.rst")


rule all:
    input:
        PLAN.targets,
