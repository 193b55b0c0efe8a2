# Helpers shared by the rules: config validation, wildcard constraints, and the small functions
# that turn config entries into paths, JSON settings, resources and cost chains.
# All stage logic lives in the `cmoe` package; rules only wire files to its subcommands.
import json
import re
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from cmoe.config import (
    ConfigError,
    check_runtime,
    prompt_settings,
    specialist_groups,
    stage_resources,
    train_settings,
    validate_config,
)
from cmoe.domains import DOMAINS
from cmoe.scoring import BOOTSTRAP_DEFAULTS

# Rules run `python -m cmoe` with this checkout's source first on the path, so the same
# commands work in the installed virtualenv and in the `--sdm conda` environments of envs/.
# (Snakemake formats the prefix like a shell command, hence the doubled braces.)
shell.prefix(
    "export PYTHONPATH=" + shlex.quote(str(SRC)) + "${{PYTHONPATH:+:$PYTHONPATH}}; "
)

try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"Invalid workflow config: {exc}") from None


def uses_conda(workflow):
    from snakemake.settings.types import DeploymentMethod

    return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method


# What would otherwise fail hours in (vLLM missing, an API key's variable unset) stops a real
# run before its first job. Dry runs skip it, so plans can be read on a laptop without GPUs.
onstart:
    try:
        for warning in check_runtime(config, uses_conda=uses_conda(workflow)):
            logger.warning(f"Config: {warning}")
    except ConfigError as exc:
        raise WorkflowError(f"Cannot run this config here: {exc}") from None


TEACHERS = list(config["teachers"])
STUDENTS = list(config["students"])
INTERMEDIATES = list(config.get("intermediates", {}))
METHODS = config["methods"]
DOMAIN_KEYS = list(DOMAINS)
GROUPS = specialist_groups(config)
TINY_MODELS = [m for m, spec in config["models"].items() if "tiny" in spec]
BASE_MODELS = sorted({config["students"][s]["model"] for s in STUDENTS})
# Everything trained or evaluated lives under the namespace, so ablations never overwrite each
# other. Data, tiny models and teacher traces are shared: ablations reuse them.
NS = f"results/{config.get('namespace', 'main')}"


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    teacher=_alternatives(TEACHERS),
    student=_alternatives(STUDENTS),
    intermediate=_alternatives(INTERMEDIATES),
    domain=_alternatives(DOMAIN_KEYS),
    group=_alternatives(GROUPS),
    tiny=_alternatives(TINY_MODELS),
    base=_alternatives(BASE_MODELS),
    chained="cascade|cmoe",
    routing="oracle|learned",
    shard=r"\d+-of-\d+",


def js(obj):
    """Settings as canonical JSON: passed to the CLI, and tracked by Snakemake as params."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


# --- models -------------------------------------------------------------------------------------


def model_path(name):
    """Where `from_pretrained` finds a model: a built tiny model, a hub id or a local folder."""
    spec = config["models"][name]
    return f"results/models/tiny/{name}" if "tiny" in spec else spec["path"]


def model_inputs(name):
    """Models built by this workflow are inputs; hub ids and user folders are not."""
    return [model_path(name)] if "tiny" in config["models"][name] else []


def trust_flag(name):
    # trust_remote_code stays off unless the config asks for it, per model.
    return (
        "--trust-remote-code" if config["models"][name].get("trust_remote_code") else ""
    )


def teacher_model(teacher):
    return config["teachers"][teacher]["model"]


def teacher_path(teacher):
    """A teacher with a `warmup` (demo only) answers with its warmed-up weights."""
    if "warmup" in config["teachers"][teacher]:
        return f"results/models/warmup/{teacher}"
    return model_path(teacher_model(teacher))


def teacher_inputs(teacher):
    if "warmup" in config["teachers"][teacher]:
        return [teacher_path(teacher)]
    return model_inputs(teacher_model(teacher))


def student_model(student):
    return config["students"][student]["model"]


def intermediate_model(intermediate):
    return config["intermediates"][intermediate]["model"]


def student_train(student):
    return train_settings(config, config["students"][student].get("train"))


def generalist_train(intermediate):
    return train_settings(config, config["intermediates"][intermediate].get("train"))


def specialist_train(intermediate, group):
    """Intermediate defaults, then this one specialist's overrides: editing one specialist's
    settings changes only that specialist's params, so only its branch re-runs."""
    entry = config["intermediates"][intermediate]
    own = entry.get("specialists", {}).get(group, {}).get("train", {})
    return train_settings(config, entry.get("train"), own)


def filter_max_length():
    """Traces longer than the shortest training max_length get counted as over-length."""
    lengths = [student_train(s).get("max_length", 4096) for s in STUDENTS]
    lengths += [generalist_train(i).get("max_length", 4096) for i in INTERMEDIATES]
    return min(lengths)


# --- trace files ----------------------------------------------------------------------------------


def teacher_traces(teacher, domains=DOMAIN_KEYS, suffix=".jsonl"):
    return [f"results/traces/teacher/{teacher}/{d}{suffix}" for d in domains]


def teacher_shards(teacher, domain, suffix=".raw.jsonl"):
    """A teacher's generation for one domain runs as `shards` jobs (scatter), gathered after."""
    n = config["teachers"][teacher].get("shards", 1)
    return [
        f"results/traces/teacher/{teacher}/shards/{domain}/{i}-of-{n}{suffix}"
        for i in range(n)
    ]


def teacher_costs(teacher, domains=DOMAIN_KEYS):
    return [f for d in domains for f in teacher_shards(teacher, d, ".cost.json")]


def generalist_traces(teacher, intermediate, suffix=".jsonl"):
    return [
        f"{NS}/traces/generalist/{teacher}/{intermediate}/{d}{suffix}"
        for d in DOMAIN_KEYS
    ]


def specialist_traces(teacher, intermediate, groups=None, suffix=".jsonl"):
    groups = list(GROUPS) if groups is None else groups
    return [
        f"{NS}/traces/specialist/{teacher}/{intermediate}/{g}{suffix}" for g in groups
    ]


# --- resources ------------------------------------------------------------------------------------


def resources_for(stage, entry=None):
    return stage_resources(config, stage, entry)


def threads_for(stage, entry=None):
    return resources_for(stage, entry)["threads"]


def job_resources(stage, entry=None):
    """A rule's resources from config, so a 235B teacher asks for 8 GPUs and a student for 1.

    `entry` maps a job's wildcards to its model entry (a teacher, student or intermediate), whose
    own `resources` override the stage's. Slurm reads cpus_per_task, gpu (--gpus), gpu_model,
    mem_mb, runtime and slurm_partition; locally `gpu` limits how many GPU jobs run at once.
    """

    def value(key):
        return lambda wc: resources_for(stage, entry(wc) if entry else None)[key]

    keys = ("mem_mb", "runtime", "gpu", "gpu_model", "slurm_partition")
    return {**{k: value(k) for k in keys}, "cpus_per_task": value("threads")}


def generation_settings(entry, stage="generate"):
    """An entry's generation settings; vLLM shards the model over the GPUs its job asks for."""
    settings = dict(entry.get("generation", {}))
    if settings.get("backend") == "vllm":
        vllm = dict(settings.get("vllm", {}))
        vllm.setdefault(
            "tensor_parallel_size", max(1, resources_for(stage, entry)["gpu"])
        )
        settings["vllm"] = vllm
    return settings


def generation_env(entry):
    """vLLM generation runs in its own conda env (with `--sdm conda`); the rest shares one."""
    if entry.get("generation", {}).get("backend") == "vllm":
        return "../../envs/generate-vllm.yaml"
    return "../../envs/cmoe.yaml"


# --- what to build, and what each result cost ---------------------------------------------------


def evaluated_models():
    """{eval folder: cost chain} for every row of the score table (see cmoe.costs)."""
    rows = {}
    if config["evaluation"].get("evaluate_base", True):
        rows.update({f"{NS}/eval/base/{m}": None for m in BASE_MODELS})
    for t in TEACHERS:
        teacher_gen = {"par": teacher_costs(t)}
        if "direct" in METHODS:
            for s in STUDENTS:
                model = f"{NS}/models/student/direct/{t}/{s}"
                rows[f"{NS}/eval/student/direct/{t}/{s}"] = {
                    "seq": [teacher_gen, model]
                }
        for i in INTERMEDIATES:
            generalist = f"{NS}/models/generalist/{t}/{i}"
            generalist_chain = {"seq": [teacher_gen, generalist]}
            if "direct" in METHODS or "cascade" in METHODS:
                rows[f"{NS}/eval/generalist/{t}/{i}"] = generalist_chain
            if "cascade" in METHODS:
                generalist_gen = {"par": generalist_traces(t, i, suffix=".cost.json")}
                for s in STUDENTS:
                    model = f"{NS}/models/student/cascade/{t}/{i}/{s}"
                    rows[f"{NS}/eval/student/cascade/{t}/{i}/{s}"] = {
                        "seq": [generalist_chain, generalist_gen, model]
                    }
            if "cmoe" in METHODS:
                branches = []
                for g, domains in GROUPS.items():
                    branches.append(
                        [
                            {"par": teacher_costs(t, domains)},
                            f"{NS}/models/specialist/{t}/{i}/{g}",
                            specialist_traces(t, i, [g], ".cost.json")[0],
                        ]
                    )
                mixture = {"par": [{"seq": b[:2]} for b in branches]}
                for routing in ("oracle", "learned"):
                    rows[f"{NS}/eval/mixture/{t}/{i}/{routing}"] = mixture
                specialists_with_traces = {"par": [{"seq": b} for b in branches]}
                for s in STUDENTS:
                    model = f"{NS}/models/student/cmoe/{t}/{i}/{s}"
                    rows[f"{NS}/eval/student/cmoe/{t}/{i}/{s}"] = {
                        "seq": [specialists_with_traces, model]
                    }
    return rows


def score_files():
    return [f"{row}/scores.json" for row in evaluated_models()]


def cost_inputs():
    from cmoe.costs import chain_files

    return sorted({f for c in evaluated_models().values() if c for f in chain_files(c)})


def cost_chains():
    return {f"{row}/scores.json": c for row, c in evaluated_models().items() if c}


# --- the CLI calls shared by rules of one kind ------------------------------------------------

GENERATE_CMD = (
    "python -m cmoe generate --model {params.model:q} --questions {input.questions:q}"
    " --domain {params.domains} --shard {params.shard} --generation {params.generation:q}"
    " --prompt {params.prompt:q} --threads {threads} {params.trust}"
    " --out {output.raw:q} --cost-out {output.cost:q}"
    " > {log:q} 2>&1"
)
TRAIN_CMD = (
    "{params.launcher} train --source {params.source} --model {params.model:q}"
    " --data {input.data:q}"
    " --settings {params.settings:q} --prompt {params.prompt:q} --wandb {params.wandb:q}"
    " --run-name {params.run_name:q} --threads {threads} {params.trust} --out {output:q}"
    " > {log:q} 2>&1"
)


def train_launcher(settings, entry, stage="train"):
    """`python -m cmoe`, or `accelerate launch ... -m cmoe` over the job's resources.gpu when the
    training settings say `distributed: ddp|fsdp|zero3` (see cmoe.launch)."""
    from cmoe.launch import launcher_prefix

    gpus = resources_for(stage, entry)["gpu"]
    try:
        return launcher_prefix(
            settings.get("distributed", "none"),
            gpus,
            config_dir=Path(workflow.basedir) / "configs" / "accelerate",
            relative_to=Path.cwd(),
        )
    except ValueError as exc:
        raise WorkflowError(str(exc)) from None


EVALUATE_CMD = (
    "python -m cmoe evaluate --model {params.model:q} --questions {input.questions:q}"
    " {params.subset} --generation {params.generation:q} --prompt {params.prompt:q}"
    " --bootstrap {params.bootstrap:q}"
    " {params.labels} --threads {threads} {params.trust}"
    " --predictions {output.predictions:q} --scores {output.scores:q} > {log:q} 2>&1"
)


def bootstrap_settings():
    """Confidence-interval settings for every score: resamples, seed, level, small-n flag."""
    return js({**BOOTSTRAP_DEFAULTS, **config["evaluation"].get("bootstrap", {})})


def wandb_settings():
    """wandb is offline unless the config says otherwise (the demo disables it)."""
    return {"mode": "offline", **config.get("wandb", {})}


def labels(**kw):
    return " ".join(f"--label {k}={shlex.quote(str(v))}" for k, v in kw.items())


def row_labels(what):
    """Table labels from an evaluated model's path below models/ (or base/{model})."""
    parts = what.split("/")
    if parts[0] == "base":
        return {"method": "base", "teacher": "-", "via": "-", "model": parts[1]}
    if (
        parts[0] == "generalist"
    ):  # generalist/{teacher}/{intermediate}: direct into the intermediate
        return {"method": "direct", "teacher": parts[1], "via": "-", "model": parts[2]}
    if parts[1] == "direct":  # student/direct/{teacher}/{student}
        return {"method": "direct", "teacher": parts[2], "via": "-", "model": parts[3]}
    # student/{cascade|cmoe}/{teacher}/{intermediate}/{student}
    return {"method": parts[1], "teacher": parts[2], "via": parts[3], "model": parts[4]}


def evaluated_model_key(what):
    parts = what.split("/")
    if parts[0] == "base":
        return parts[1]
    if parts[0] == "generalist":
        return intermediate_model(parts[2])
    return student_model(parts[-1])


PLOTS = ["accuracy_by_domain", "accuracy_vs_size", "accuracy_vs_cost", "trace_lengths"]


def size_models():
    """(table model name, one trained folder of it) for the accuracy-vs-size figure."""
    pairs = []
    for t in TEACHERS[:1]:
        if "direct" in METHODS:
            pairs += [(s, f"{NS}/models/student/direct/{t}/{s}") for s in STUDENTS]
        if "direct" in METHODS or "cascade" in METHODS:
            pairs += [(i, f"{NS}/models/generalist/{t}/{i}") for i in INTERMEDIATES]
    return pairs


LOGLIK = config["evaluation"].get("loglik", {})


def loglik_args():
    return (
        f"--k {LOGLIK.get('k', 5)} --seed {LOGLIK.get('seed', 0)}"
        f" --batch-size {LOGLIK.get('batch_size', 8)} --dtype {LOGLIK.get('dtype', 'auto')}"
    )


def loglik_score_files():
    """The MERA log-likelihood protocol for every evaluated model except mixture parts."""
    loglik_rows = [
        row.replace(f"{NS}/eval/", f"{NS}/eval_loglik/")
        for row in evaluated_models()
        if "/eval/mixture/" not in row
    ]
    return [f"{row}/scores.json" for row in loglik_rows]
