"""The teachers' part of the plan: each teacher answers the train split, every domain in
`shards` generation jobs gathered afterwards, or curates another teacher's traces."""

from __future__ import annotations

from ..core import paths
from ..core.domains import DOMAINS
from ..core.jobs import GatherJob, GenerateJob
from ..core.paths import results_path
from .builder import PlanBuilder


def plan_teacher(b: PlanBuilder, teacher: str) -> None:
    plan, entry = b.plan, b.config["teachers"][teacher]
    plan.economics[teacher] = {
        "stats": results_path(paths.teacher_dir(teacher)) + "/stats.json",
        "costs": b.teacher_costs(teacher),
        "price_per_device_hour": entry.get("price_per_device_hour"),
    }
    plan.teacher_traces[teacher] = b.teacher_traces(teacher)
    for d in DOMAINS:
        b.curate_as(results_path(paths.teacher_traces(teacher, d)), f"teachers.{teacher}")
    if "traces_from" in entry:
        # another teacher's generated traces, curated with this entry's `curation`: a
        # curation ablation that generates nothing (the "gather" of one file is a copy)
        for d in DOMAINS:
            source = results_path(paths.teacher_traces(entry["traces_from"], d)) + ".raw.jsonl"
            plan.add(plan.gathers, GatherJob(paths.teacher_traces(teacher, d), (source,)))
        return
    model = b.teacher_model(teacher)
    n = entry.get("shards", 1)
    for d in DOMAINS:
        for i in range(n):
            plan.add(
                plan.generations,
                GenerateJob(
                    key=paths.teacher_shard(teacher, d, i, n),
                    model=model,
                    domains=(d,),
                    shard=(i, n),
                    generation=b.generation(entry),
                    prompt=b.prompt(teacher),
                    resources=b.resources("generate", entry),
                ),
            )
        shards = tuple(
            results_path(paths.teacher_shard(teacher, d, i, n)) + ".raw.jsonl" for i in range(n)
        )
        plan.add(plan.gathers, GatherJob(paths.teacher_traces(teacher, d), shards))
