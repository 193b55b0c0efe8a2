"""The stages every config plans around the methods' jobs: the untrained bases' rows, curation
(its settings and inputs), MERA's log-likelihood protocol on every row, and the lm-eval
benchmarks on every trained and base model."""

from __future__ import annotations

from dataclasses import asdict

from ..core import paths
from ..core.io import digest
from ..core.jobs import BenchmarkJob, LoglikJob, Model
from ..core.paths import RESULTS, results_key
from ..core.settings import from_dict
from ..evaluation.benchmarks import benchmark_specs
from ..evaluation.settings import LoglikSettings
from .builder import PlanBuilder


def plan_bases(b: PlanBuilder) -> None:
    """With `evaluate_base`: a row for each untrained base of a student (an encoder-decoder's
    where method seq2seq trains it)."""
    if not b.config["evaluation"]["evaluate_base"]:
        return
    students = b.students + (b.seq2seq_students if "seq2seq" in b.config["methods"] else [])
    for base in sorted({b.config["students"][s]["model"] for s in students}):
        labels = {"method": "base", "teacher": "-", "via": "-", "model": base}
        b.row(paths.evaluation(b.ns, "base", base), b.model(base), labels)


def plan_teachers(b: PlanBuilder) -> None:
    """With `evaluate_teachers`: a row for each teacher on the test split."""
    if not b.config["evaluation"]["evaluate_teachers"]:
        return
    for teacher in b.teachers:
        name = b.config["teachers"][teacher]["model"]
        labels = {"method": "teacher", "teacher": teacher, "via": "-", "model": name}
        b.row(paths.evaluation(b.ns, "teacher", teacher), b.model(name), labels)
        if b.config["evaluation"]["evaluate_base"]:  # what there is to distil
            for base in sorted({b.config["students"][s]["model"] for s in b.students}):
                b.pair(
                    f"teacher {teacher} − untrained {base}",
                    ("teacher", teacher, "-", name),
                    ("base", "-", "-", base),
                    control=True,
                )


def pair_with_bases(b: PlanBuilder) -> None:
    """With `evaluate_base`: each trained student row against its untrained base (a trained
    row that does not beat its base has learned nothing that transfers)."""
    if not b.config["evaluation"]["evaluate_base"]:
        return
    bases = {r.model for r in b.plan.rows if r.method == "base"}
    for row in list(b.plan.rows):
        entry = b.config["students"].get(row.model)
        if row.method in ("base", "teacher") or not entry or entry["model"] not in bases:
            continue
        via = "" if row.via == "-" else f" via {row.via}"
        b.pair(
            f"{row.model}, {row.method}{via} ({row.teacher}) − its untrained base",
            (row.method, row.teacher, row.via, row.model),
            ("base", "-", "-", entry["model"]),
            control=True,
        )


def plan_curation(b: PlanBuilder) -> None:
    """The curation chain's settings and inputs (see cmoe.traces.curation); files shared
    between runs whose settings differ are named by a digest of those settings."""
    plan, config = b.plan, b.config
    curation = config["curation"]
    plan.curation[""] = curation
    plan.curation_prompt = b.prompt()
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if entry.get("curation"):
                plan.curation[f"{role}.{name}"] = {**curation, **entry["curation"]}
    steps = {s for c in plan.curation.values() for s in c["steps"]}
    if "length" in steps:
        name = curation["tokenizer"] or config["students"][b.students[0]]["model"]
        plan.curation_tokenizer = b.model(name)
    if "decontaminate" in steps:
        specs = benchmark_specs(config) if curation["decontaminate_benchmarks"] else []
        plan.contamination_benchmarks = [{"task": s.task, "path": s.path} for s in specs]
        what = {"n": curation["decontaminate_n"], "benchmarks": plan.contamination_benchmarks}
        plan.contamination_index = f"{RESULTS}/data/contamination/{digest(what, 12)}.json"
    if config["data"]["extra_sources"]:
        b.extra_traces()


def plan_loglik(b: PlanBuilder) -> None:
    """MERA's protocol (and its generative variant) on every row that has one model."""
    plan, config = b.plan, b.config
    loglik = from_dict(LoglikSettings, config["evaluation"]["loglik"], "evaluation.loglik")
    if not loglik.enabled:
        return
    data = config["data"]
    same_split = data.get("fewshot_source") == data["source"]
    protocols = ["mera", "mera_gen"] if loglik.mera_gen else ["mera"]
    for protocol in protocols:
        settings = loglik.job_settings(data["mera_version"], same_split, protocol)
        for row in plan.loglik_rows:
            key = results_key(plan.loglik_dir(row, protocol))
            model = plan.evaluations[results_key(row.eval_dir)].model
            job = LoglikJob(key, model, settings, b.resources("evaluate"), protocol)
            plan.add(plan.logliks, job)


def plan_benchmarks(b: PlanBuilder) -> None:
    """Every `evaluation.benchmarks` task on every trained model of the first replicate
    (students, generalists, specialists; adapters or not) and, with `evaluate_base`, on the
    base models they were trained from."""
    specs = benchmark_specs(b.config)
    if not specs:
        return
    plan, ns = b.plan, b.shared_ns
    # the first training replicate's models (the benchmark table has no replicate column)
    trained = [
        t
        for t in plan.trains.values()
        if t.stage == "train" and t.key.startswith(paths.join(ns, "models") + "/")
    ]
    models: dict[str, Model] = {}
    if b.config["evaluation"]["evaluate_base"]:
        for base in sorted({t.model.name for t in trained}):
            models[paths.join("base", base)] = b.model(base)
    for job in sorted(trained, key=lambda t: t.key):
        models[paths.model_label(ns, job.key)] = b.trained(job.key, job.model.name)
    for spec in specs:
        for label, model in models.items():
            key = paths.benchmark(ns, spec.task, label)
            job = BenchmarkJob(key, model, label, spec.task, asdict(spec), b.resources("evaluate"))
            plan.add(plan.benchmarks, job)
