"""The teachers' part of the plan: each teacher answers the train split, every domain in
`shards` generation jobs gathered afterwards, or curates another teacher's traces.

Generation is shared between runs: its folder is named by the fingerprint of what makes it
(:meth:`PlanBuilder.generated_dir`), so a run that generates alike reuses it and one that
generates otherwise (another backend, temperature or prompt) writes beside it. Curation depends
on the whole run (the students' tokenizer and shortest max_length, the evaluated texts), so each
run curates into its own namespace."""

from __future__ import annotations

from ..core import paths
from ..core.domains import DOMAINS
from ..core.jobs import GatherJob, GenerateJob
from ..core.paths import results_path
from .builder import PlanBuilder


def plan_teacher(b: PlanBuilder, teacher: str) -> None:
    plan, entry = b.plan, b.config["teachers"][teacher]
    folder = results_path(paths.teacher_dir(b.shared_ns, teacher))
    plan.economics[teacher] = {
        "stats": f"{folder}/stats.json",
        "costs": b.teacher_costs(teacher),
        "price_per_device_hour": entry.get("price_per_device_hour"),
    }
    plan.teacher_traces[teacher] = b.teacher_traces(teacher)
    plan.teacher_folders[teacher] = folder
    generated = b.generated_dir(teacher)
    for d in DOMAINS:
        stem = results_path(paths.teacher_traces(b.shared_ns, teacher, d))
        b.curate_as(stem, f"teachers.{teacher}")
        # the generated traces it curates: a `traces_from` teacher's are its source's, so a
        # curation ablation generates nothing
        plan.raw_traces[stem] = results_path(paths.generated_traces(generated, d)) + ".raw.jsonl"
    if "traces_from" in entry:
        return
    model = b.teacher_model(teacher)
    n = entry["shards"]
    for d in DOMAINS:
        for i in range(n):
            plan.add(
                plan.generations,
                GenerateJob(
                    key=paths.teacher_shard(generated, d, i, n),
                    model=model,
                    domains=(d,),
                    shard=(i, n),
                    generation=b.generation(entry),
                    prompt=b.prompt(teacher),
                    resources=b.resources("generate", entry),
                ),
            )
        shards = tuple(
            results_path(paths.teacher_shard(generated, d, i, n)) + ".raw.jsonl" for i in range(n)
        )
        plan.add(plan.gathers, GatherJob(paths.generated_traces(generated, d), shards))
