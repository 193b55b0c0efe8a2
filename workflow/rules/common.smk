# Validation, the plan, and the few helpers every rule uses. Which jobs and rows exist, and each
# job's inputs, settings and resources, come from the plan (cmoe.plan), a tested pure function
# of the config; rules only wire its files to `cmoe` subcommands.
import shlex
from dataclasses import asdict

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from cmoe.core.domains import DOMAINS
from cmoe.core.errors import CmoeError
from cmoe.core.io import canonical_json as js
from cmoe.core.paths import FEWSHOT_POOL
from cmoe.core.resources import startup_exports
from cmoe.config import (
    check_files,
    check_runtime,
    preflight,
    section,
    validate_config,
)
from cmoe.methods import REGISTRY
from cmoe.plan import build_plan
from cmoe.reporting.benchmarks import table_jobs
from cmoe.reporting.plots import PLOTS as PLOT_NAMES
from cmoe.reporting.summary import landing_text
from cmoe.plan.rules import (
    conda_env,
    curation_args,
    job_resources,
    key_pattern,
    per_job,
    rule_resources,
    train_launcher,
    model_flags,
    revision_flag,
    train_flags,
    wandb_exports,
    write_resolved_config,
    write_spec,
)

# The config files are read again, strictly: Snakemake's own loader accepts duplicate keys.
try:
    check_files(workflow.configfiles)
    validate_config(config)
except CmoeError as exc:
    raise WorkflowError(
        f"Invalid workflow config: {exc}\n(`cmoe check CONFIG...` runs these checks alone)"
    ) from None

# Rules run `python -m cmoe` with this checkout's source first on the path, so the same
# commands work in the installed virtualenv and in the `--sdm conda` environments of envs/.
# wandb settings travel as wandb's own variables, never as params: logging re-runs nothing.
# (Snakemake formats the prefix like a shell command, hence the doubled braces.)
shell.prefix(
    "export PYTHONPATH="
    + shlex.quote(str(SRC))
    + "${{PYTHONPATH:+:$PYTHONPATH}}; "
    + wandb_exports(config).replace("{", "{{").replace("}", "}}")
    + startup_exports(config)
)


def uses_conda(workflow):
    from snakemake.settings.types import DeploymentMethod

    return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method


# What would otherwise fail hours in (vLLM missing, an API key's variable unset, a scheduler
# name, a LoRA target, a hub id or an endpoint that does not resolve) stops a real run before
# its first job. Dry runs skip it, so plans can be read on a laptop without GPUs.
onstart:
    try:
        for warning in check_runtime(config, uses_conda=uses_conda(workflow)):
            logger.warning(f"Config: {warning}")
        preflight(
            config
        )  # schedulers, LoRA targets, hub ids, endpoints, methods' own
    except CmoeError as exc:
        raise WorkflowError(f"Cannot run this config here: {exc}") from None


# The plan checks its own layout (no output inside another) before the first job.
try:
    PLAN = build_plan(config)
except CmoeError as exc:
    raise WorkflowError(f"Invalid workflow config: {exc}") from None
# Everything trained, evaluated or curated lives under the namespace, so ablations never
# overwrite each other. Data, tiny models, warm-ups and teachers' generated traces are shared,
# each in a folder named by the fingerprint of what makes it: ablations reuse them where alike.
NS = PLAN.ns
TRAIN, GENERATE, GATHER = PLAN.trains, PLAN.generations, PLAN.gathers
EVALUATE, LOGLIK, BENCHMARK = PLAN.evaluations, PLAN.logliks, PLAN.benchmarks
# The tables' view of the config, in a file named by its digest (see cmoe.plan.rules).
RESOLVED_CONFIG = write_resolved_config(config)
# The benchmark table reads only its jobs' keys and labels: no other setting re-runs it.
BENCHMARK_JOBS = write_resolved_config({"benchmarks": table_jobs(BENCHMARK.values())})
ACCELERATE_CONFIGS = Path(workflow.basedir) / "config" / "accelerate"
# Environments and report captions by absolute path: rules live in workflow/rules/ and in
# each method's folder.
ENVS = Path(workflow.basedir) / "envs"
CMOE_ENV = str(ENVS / "cmoe.yaml")
REPORT = Path(workflow.basedir) / "workflow" / "report"
# The rule files of the registered methods' own job kinds (each included once).
METHOD_RULES = list(dict.fromkeys(str(p) for m in REGISTRY.values() for p in m.rules))
PLOTS = PLOT_NAMES  # cmoe.reporting.plots.PLOTS
# The study's numbers (data/study_reference.csv) and the report's opening page.
STUDY_REFERENCE = str(Path(workflow.basedir) / "data" / "study_reference.csv")
STUDY_CLAIMS = str(Path(workflow.basedir) / "data" / "study_claims.csv")
SUMMARY = f"{NS}/report/summary.rst"


def stage_resources(stage):
    """Resources of a rule whose jobs have no model entry (data, filter, tables)."""
    return job_resources(PLAN.stage_resources[stage])


wildcard_constraints:
    tiny=key_pattern(n for n, m in config["models"].items() if "tiny" in m),
