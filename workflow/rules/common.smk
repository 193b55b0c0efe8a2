# Helpers shared by the rules: config validation, wildcard constraints, and the small functions
# that turn config entries into paths, JSON settings and resources. Logic lives in `cmoe`.
import json
import re
import shlex

from snakemake.exceptions import WorkflowError

from cmoe.config import ConfigError, prompt_settings, train_settings, validate_config
from cmoe.domains import DOMAINS

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

TEACHERS = list(config["teachers"])
STUDENTS = list(config["students"])
DOMAIN_KEYS = list(DOMAINS)
TINY_MODELS = [m for m, spec in config["models"].items() if "tiny" in spec]


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    teacher=_alternatives(TEACHERS),
    student=_alternatives(STUDENTS),
    domain=_alternatives(DOMAIN_KEYS),
    tiny=_alternatives(TINY_MODELS),
    method=_alternatives(config["methods"]),


def js(obj):
    """Settings as canonical JSON: passed to the CLI, and tracked by Snakemake as params."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


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


def student_train(student):
    return train_settings(config, config["students"][student].get("train"))


def filter_max_length():
    """Traces longer than the shortest student max_length get counted as over-length."""
    return min(student_train(s).get("max_length", 4096) for s in STUDENTS)


def resources_for(stage, entry=None):
    """Stage resources: `resources.default`, then `resources.<stage>`, then the entry's own."""
    res = {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0}
    res.update(config.get("resources", {}).get("default", {}))
    res.update(config.get("resources", {}).get(stage, {}))
    res.update((entry or {}).get("resources", {}))
    return res


def threads_for(stage, entry=None):
    return resources_for(stage, entry)["threads"]


def mem_for(stage, entry=None):
    return resources_for(stage, entry)["mem_mb"]


def runtime_for(stage, entry=None):
    return resources_for(stage, entry)["runtime"]


def gpu_for(stage, entry=None):
    return resources_for(stage, entry)["gpu"]


def score_files():
    files = expand(
        "results/eval/student/{method}/{teacher}/{student}/scores.json",
        method=config["methods"],
        teacher=TEACHERS,
        student=STUDENTS,
    )
    if config["evaluation"].get("evaluate_base", True):
        files += expand("results/eval/base/{student}/scores.json", student=STUDENTS)
    return files
