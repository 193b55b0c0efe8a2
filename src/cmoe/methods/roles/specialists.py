"""The CMoE specialists, a role several methods plan (cmoe, cmoe-kd, seq2seq): one per group of
domains (`specialist_groups`), each an intermediate trained on its group's teacher traces, and
their own traces; the groups' checks."""

from __future__ import annotations

from ...core import paths
from ...core.domains import DOMAINS
from ...core.errors import ConfigError
from ...core.jobs import Model
from ...core.paths import results_path
from ...core.planning import Builder
from ...generation.registry import capabilities
from .jobs import AdaptersJob


def specialist_groups(config: dict) -> dict[str, list[str]]:
    """Which domains each CMoE specialist serves: by default one specialist per domain."""
    return config.get("specialist_groups") or {d: [d] for d in DOMAINS}


def specialist_trainings(config: dict):
    """Each specialist's own training overrides, as the training stage's checks take them:
    (config key, effective settings, intermediate entry, resources stage)."""
    from ...training.settings import train_settings

    for name, entry in config.get("intermediates", {}).items():
        for group, own in entry.get("specialists", {}).items():
            settings = train_settings(config, entry.get("train"), own.get("train"))
            yield f"intermediates.{name}.specialists.{group}.train", settings, entry, "train"


def check_groups(config: dict) -> None:
    """The groups partition the domains; per-specialist overrides name existing groups and
    train as their jobs can (distributed training over the GPUs they ask for)."""
    from ...training.checks import check_trainings

    groups = specialist_groups(config)
    seen: dict[str, str] = {}
    for group, domains in groups.items():
        for domain in domains:
            if domain in seen:
                raise ConfigError(
                    f"domain {domain} is already in group {seen[domain]}",
                    key=f"specialist_groups.{group}",
                )
            seen[domain] = group
    missing = [d for d in DOMAINS if d not in seen]
    if missing:
        raise ConfigError(f"no group serves {', '.join(missing)}", key="specialist_groups")
    for name, entry in config.get("intermediates", {}).items():
        for group in entry.get("specialists", {}):
            if group not in groups:
                raise ConfigError(
                    f"no such specialist group (have: {', '.join(groups)})",
                    key=f"intermediates.{name}.specialists.{group}",
                )
    check_trainings(config, specialist_trainings(config))


def preflight_groups(config: dict) -> None:
    """The specialists' own scheduler names and LoRA target modules, before the first job."""
    from ...training.checks import preflight_trainings

    preflight_trainings(config, specialist_trainings(config))


def specialists(b: Builder, teacher: str, intermediate: str) -> list[dict]:
    """Plan each group's specialist and its own traces (cmoe, cmoe-kd and seq2seq plan them;
    jobs are keyed by output, so they are planned once); per group: its model, its kept traces
    and its cost chain up to its traces. Specialists that are LoRA adapters answer on one vLLM
    engine for all groups (:func:`one_engine`); otherwise each answers in a job of its own.
    CMoE evaluates them the same way (cmoe.methods.cmoe.plan)."""
    groups = specialist_groups(b.config)
    entry = b.config["intermediates"][intermediate]
    models = {}
    for group, domains in groups.items():
        own = entry.get("specialists", {}).get(group, {}).get("train")
        models[group] = b.train(
            paths.models(b.ns, "specialist", teacher, intermediate, group),
            entry["model"],
            b.teacher_traces(teacher, domains),
            "intermediates",
            intermediate,
            own,
            run_name=f"specialist-{teacher}-{intermediate}-{group}",
        )
    base = b.model(entry["model"])
    where = (teacher, intermediate)
    stems = {g: paths.traces(b.ns, "specialist", *where, g) for g in groups}
    generation = b.generation(entry)
    if one_engine(b, models, generation):
        folder = paths.traces(b.ns, "specialist", *where)
        adapters = tuple(models.items())
        job = AdaptersJob(
            folder, base, adapters, groups, generation, b.prompt(), b.resources("generate", entry)
        )
        b.add_job("specialist_traces", job)
        for stem in stems.values():
            b.curate_as(results_path(stem), f"intermediates.{intermediate}")
        costs = {g: results_path(stem) + ".cost.json" for g, stem in stems.items()}
    else:
        costs = {
            g: b.generate(stems[g], models[g], groups[g], entry, f"intermediates.{intermediate}")
            for g in groups
        }
    return [
        {
            "group": group,
            "model": models[group],
            "traces": results_path(stems[group]) + ".jsonl",
            "branch": [
                {"par": b.teacher_costs(teacher, domains)},
                models[group].path,
                costs[group],
            ],
        }
        for group, domains in groups.items()
    ]


def one_engine(b: Builder, models: dict[str, Model], generation: dict) -> bool:
    """Whether the specialists answer on one engine: vLLM serves LoRA adapters of one base side
    by side (a fully trained specialist is a model of its own, and hf merges each adapter into
    its own copy of the base: one job per specialist there, in parallel)."""
    if not capabilities(generation.get("backend")).shares_engine:
        return False
    return all(
        b.trained_settings(m)["method"] == "lora" and m.arch == "causal" for m in models.values()
    )
