"""What the Snakemake rules need from the plan beyond the jobs themselves, kept here so that it
is unit-tested: wildcard patterns, resources, environments, launchers, and the files that carry
settings to jobs without turning logging or runtime edits into reruns.

Rerun policy (see "Minimal reruns" in config/README.md): a job's params hold exactly the
settings that change its output. Logging (wandb) reaches jobs as environment variables, runtime
settings (threads, memory, runtime, partition) as Snakemake resources, and statistics and
display settings only the tables' resolved config — none of these are params of training,
generation or evaluation jobs.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from ..core.io import canonical_json, digest
from ..core.jobs import TrainJob
from ..generation.registry import capabilities

# Config sections that never change a result file: how jobs run and where they log.
RUNTIME_SECTIONS = ("resources", "wandb", "startup")
RESOURCE_KEYS = ("mem_mb", "runtime", "gpu", "gpu_model", "slurm_partition")


def key_pattern(keys) -> str:
    """A wildcard constraint matching exactly the given job keys (none: matches nothing).

    Keys are factored by path segment into a trie (``a/(?:b|c)`` for ``a/b`` and ``a/c``):
    Snakemake compiles each rule's patterns several times and matches every file against
    them, and a flat alternation of hundreds of keys made a sweep's dry run twice as slow.
    """
    trie: dict = {}
    for key in keys:
        node = trie
        for segment in key.split("/"):
            node = node.setdefault(segment, {})
        node[""] = {}  # the key may end here
    return _trie_pattern(trie) if trie else "(?!)"


def _trie_pattern(node: dict) -> str:
    branches = []
    for segment, child in sorted(node.items()):
        if segment == "":
            branches.append("")
        elif child.keys() == {""}:
            branches.append(re.escape(segment))
        else:
            branches.append(re.escape(segment) + _suffix(child))
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _suffix(child: dict) -> str:
    ends = "" in child
    rest = {k: v for k, v in child.items() if k != ""}
    inner = "/" + _trie_pattern(rest)
    return f"(?:{inner})?" if ends else inner


def job_resources(resources: dict) -> dict:
    """Snakemake resources of a job: Slurm reads cpus_per_task, gpu (--gpus), gpu_model,
    mem_mb, runtime and slurm_partition; locally `gpu` limits how many GPU jobs run at once."""
    return {**{k: resources[k] for k in RESOURCE_KEYS}, "cpus_per_task": resources["threads"]}


def per_job(jobs: dict, value, key=None):
    """A rule directive's value from its jobs in the plan: ``value(job)`` as a constant where
    every job of the rule agrees, else a function of the job's wildcards (a dict lookup):
    ``key(wildcards)`` names the job, by default the ``{job}`` wildcard.

    Snakemake calls such functions once per job and directive, inspecting each one's signature
    first; for a sweep of hundreds of jobs that dominated the dry run.
    """
    values = {k: value(job) for k, job in jobs.items()}
    first = next(iter(values.values()), None)
    # Snakemake formats constant strings with the wildcards: one with braces (a prompt
    # template's placeholders) must stay a function.
    braces = isinstance(first, str) and ("{" in first or "}" in first)
    if values and all(v == first for v in values.values()) and not braces:
        return first
    if key is None:
        return lambda wc: values[wc.job]
    return lambda wc: values[key(wc)]


def rule_resources(jobs: dict, key=None) -> dict:
    """A rule's Snakemake resources, each a constant where all its jobs agree. A GPU model or
    partition that no job names is left out (the executor's default, as for an empty one).
    ``key``: as :func:`per_job`'s."""
    keys = job_resources(next(iter(jobs.values())).resources) if jobs else {}
    resources = {
        k: per_job(jobs, lambda job, k=k: job_resources(job.resources)[k], key) for k in keys
    }
    return {k: v for k, v in resources.items() if v != ""}


def conda_env(generation: dict, envs: str | Path) -> str:
    """vLLM runs in its own conda env (with `--sdm conda`); everything else shares one. The
    files in ``envs`` (the workflow's envs/ folder), as absolute paths: rules live in several
    folders (workflow/rules/, each method's own)."""
    name = capabilities(generation.get("backend")).environment
    return os.fspath(Path(envs) / f"{name}.yaml")


def model_flags(model) -> str:
    """The model's own CLI flags: trust_remote_code stays off unless the config asks for it,
    per model; an encoder-decoder says so (`--arch seq2seq`), and its job checks it; a hub
    id's `revision` is passed on, so changing it reruns the job (a params change) and,
    through its output, everything downstream."""
    flags = ["--trust-remote-code"] if model.trust_remote_code else []
    if model.revision:
        flags += ["--revision", shlex.quote(model.revision)]
    if model.arch != "causal":
        flags += ["--arch", model.arch]
    return " ".join(flags)


def revision_flag(model, flag: str = "--revision") -> str:
    """`` --revision <rev>`` for a hub model with a revision, else "": the commands that take a
    model without :func:`model_flags`' other options (KARD's encoders)."""
    return f" {flag} {shlex.quote(model.revision)}" if model.revision else ""


def curation_args(plan, steps) -> str:
    """What a curation job is told besides its settings: the students' prompt, the student's
    tokenizer (with its revision) where its ``steps`` count lengths, and the evaluated texts
    (`decontaminate`). A job without the `length` step is not told the tokenizer, so a
    student's revision reruns only the curation that reads its tokenizer."""
    args = [f"--prompt {shlex.quote(canonical_json(plan.curation_prompt))}"]
    tokenizer = plan.curation_tokenizer
    if tokenizer and "length" in steps:
        args.append(f"--tokenizer {shlex.quote(tokenizer.path)}")
        if tokenizer.trust_remote_code:
            args.append("--trust-remote-code")
        if tokenizer.revision:
            args.append(revision_flag(tokenizer, "--tokenizer-revision").strip())
    if plan.contamination_index:
        args.append(f"--contamination {shlex.quote(plan.contamination_index)}")
    return " ".join(args)


def train_flags(job: TrainJob) -> str:
    """:func:`model_flags`, plus the options a method adds to its trainings (an
    encoder-decoder's target format, a KD student's teacher scores), each as JSON."""
    flags = model_flags(job.model)
    for flag, value in job.options:
        flags += f" {flag} " + shlex.quote(canonical_json(value))
    return flags.strip()


def train_launcher(job: TrainJob, config_dir: str | Path, relative_to: str | Path) -> str:
    """`python -m cmoe`, or `accelerate launch ... -m cmoe` over the job's GPUs when its
    settings say `distributed: ddp|fsdp|zero3` (see cmoe.training.launch)."""
    from ..training.launch import launcher_prefix

    return launcher_prefix(
        job.settings.get("distributed", "none"),
        job.resources["gpu"],
        config_dir=config_dir,
        relative_to=relative_to,
    )


def wandb_exports(config: dict) -> str:
    """Shell exports of wandb's own variables: a renamed project re-runs nothing."""
    settings = config["wandb"]
    env = {"WANDB_MODE": settings["mode"], "WANDB_PROJECT": settings["project"]}
    if settings["entity"]:
        env["WANDB_ENTITY"] = settings["entity"]
    return "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in env.items())


def tables_config(config: dict) -> dict:
    """What the tables depend on: the config without its runtime and logging sections."""
    return {k: v for k, v in config.items() if k not in RUNTIME_SECTIONS}


def write_resolved_config(config: dict, folder: str | Path = ".snakemake/cmoe/configs") -> str:
    """Write the tables' view of the config to a content-addressed file and return its path.

    The path holds the content's digest, so it is a params value that changes exactly when
    the tables' inputs do; written once (atomically) and never rewritten, beside Snakemake's own
    metadata, it is safe to create while Snakemake parses the workflow, dry runs included, and
    a run stopped before its first job leaves no `results/`.
    """
    return write_spec(tables_config(config), folder)


def write_spec(value, folder: str | Path = ".snakemake/cmoe/configs") -> str:
    """Write ``value`` as JSON to a content-addressed file and return its path: a params value
    that changes exactly when ``value`` does, and a command line that stays short however large
    ``value`` grows (a sweep's many teachers)."""
    from ..core.io import atomic_write_text

    path = Path(folder) / f"{digest(value)}.json"
    if not path.exists():
        atomic_write_text(path, canonical_json(value) + "\n")
    return os.fspath(path)
