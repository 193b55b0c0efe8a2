"""Build the plan: shared stages here, each method's own jobs and rows in cmoe.methods."""

from __future__ import annotations

from ..config import (
    LoglikSettings,
    from_dict,
    prompt_settings,
    specialist_groups,
    stage_resources,
    train_settings,
)
from ..domains import DOMAINS
from .jobs import (
    RESULTS,
    BenchmarkJob,
    EvaluateJob,
    GatherJob,
    GenerateJob,
    LoglikJob,
    Model,
    Plan,
    Row,
    TrainJob,
    results_key,
    results_path,
)

TRAIN_SPLIT = "results/data/train.jsonl"


class PlanBuilder:
    """The config, read once, with the small lookups every method needs.

    Methods call these to register jobs; a job two methods share (the generalist) is planned
    once because jobs are keyed by their output path.
    """

    def __init__(self, config: dict):
        self.config = config
        self.groups = specialist_groups(config)
        self.teachers = list(config["teachers"])
        # Encoder-decoder students (`arch: seq2seq`) are trained only by the seq2seq method;
        # every other method trains the causal ones.
        self.seq2seq_students = [s for s in config["students"] if self._is_seq2seq_student(s)]
        self.students = [s for s in config["students"] if s not in self.seq2seq_students]
        self.intermediates = list(config.get("intermediates", {}))
        self.methods = list(config["methods"])
        self.plan = Plan(namespace=config["namespace"])

    # --- models -------------------------------------------------------------------------------

    def _is_seq2seq_student(self, student: str) -> bool:
        model = self.config["students"][student]["model"]
        return self.config["models"][model].get("arch", "causal") == "seq2seq"

    def _trains(self, student: str, method: str) -> bool:
        methods = self.config["students"][student].get("methods")
        return methods is None or method in methods

    def model(self, name: str) -> Model:
        """A `models` entry: a tiny model this workflow builds, a hub id or a local folder."""
        spec = self.config["models"][name]
        trust = bool(spec.get("trust_remote_code", False))
        arch = spec.get("arch", "causal")
        if "tiny" in spec:
            path = f"{RESULTS}/models/tiny/{name}"
            return Model(name, path, (path,), trust, arch)
        return Model(name, spec["path"], (), trust, arch)

    def trained(self, key: str, base: str) -> Model:
        """A folder this workflow trains from the `models` entry ``base``."""
        path = results_path(key)
        spec = self.model(base)
        return Model(base, path, (path,), spec.trust_remote_code, spec.arch)

    def resources(self, stage: str, entry: dict | None = None) -> dict:
        return stage_resources(self.config, stage, entry)

    def generation(self, entry: dict, stage: str = "generate") -> dict:
        """An entry's generation settings; vLLM shards the model over the GPUs its job asks for."""
        settings = dict(entry.get("generation", {}))
        if entry.get("samples_per_question", 1) > 1:  # absent at 1: one-sample jobs unchanged
            settings["samples_per_question"] = entry["samples_per_question"]
        if settings.get("backend") == "vllm":
            vllm = dict(settings.get("vllm", {}))
            vllm.setdefault("tensor_parallel_size", max(1, self.resources(stage, entry)["gpu"]))
            settings["vllm"] = vllm
        return settings

    def prompt(self, teacher: str | None = None) -> dict:
        return prompt_settings(self.config, teacher)

    # --- teachers -----------------------------------------------------------------------------

    def teacher_traces(self, teacher: str, domains=tuple(DOMAINS), suffix=".jsonl") -> list[str]:
        return [f"{RESULTS}/traces/teacher/{teacher}/{d}{suffix}" for d in domains]

    def teacher_costs(self, teacher: str, domains=tuple(DOMAINS)) -> list[str]:
        teacher = self.config["teachers"][teacher].get("traces_from", teacher)
        n = self.config["teachers"][teacher].get("shards", 1)
        return [
            f"{RESULTS}/traces/teacher/{teacher}/shards/{d}/{i}-of-{n}.cost.json"
            for d in domains
            for i in range(n)
        ]

    def _teacher_model(self, teacher: str) -> Model:
        entry = self.config["teachers"][teacher]
        if "warmup" not in entry:
            return self.model(entry["model"])
        # Demo only: the teacher answers with weights warmed up on reference explanations.
        job = self.plan.add(
            self.plan.trains,
            TrainJob(
                key=f"models/warmup/{teacher}",
                model=self.model(entry["model"]),
                data=(TRAIN_SPLIT,),
                source="reference",
                settings=train_settings(self.config, entry["warmup"]),
                prompt=self.prompt(teacher),
                run_name=f"warmup-{teacher}",
                resources=self.resources("warmup", entry),
                config_key=f"teachers.{teacher}.warmup",
                stage="warmup",
            ),
        )
        return self.trained(job.key, entry["model"])

    def plan_teacher(self, teacher: str) -> None:
        """A teacher answers the train split, each domain in `shards` jobs gathered after."""
        entry = self.config["teachers"][teacher]
        self.plan.economics[teacher] = {
            "stats": f"{RESULTS}/traces/teacher/{teacher}/stats.json",
            "costs": self.teacher_costs(teacher),
            "price_per_device_hour": entry.get("price_per_device_hour"),
        }
        self.plan.teacher_traces[teacher] = self.teacher_traces(teacher)
        if "traces_from" in entry:
            # another teacher's generated traces, curated with this entry's `curation`: a
            # curation ablation that generates nothing (the "gather" of one file is a copy)
            source = f"{RESULTS}/traces/teacher/{entry['traces_from']}"
            for d in DOMAINS:
                job = GatherJob(f"traces/teacher/{teacher}/{d}", (f"{source}/{d}.raw.jsonl",))
                self.plan.add(self.plan.gathers, job)
            return
        model = self._teacher_model(teacher)
        n = entry.get("shards", 1)
        for d in DOMAINS:
            stem = f"traces/teacher/{teacher}/shards/{d}"
            for i in range(n):
                self.plan.add(
                    self.plan.generations,
                    GenerateJob(
                        key=f"{stem}/{i}-of-{n}",
                        model=model,
                        domains=(d,),
                        shard=(i, n),
                        generation=self.generation(entry),
                        prompt=self.prompt(teacher),
                        resources=self.resources("generate", entry),
                    ),
                )
            shards = tuple(f"{RESULTS}/{stem}/{i}-of-{n}.raw.jsonl" for i in range(n))
            key = f"traces/teacher/{teacher}/{d}"
            self.plan.add(self.plan.gathers, GatherJob(key, shards))

    # --- jobs methods share -------------------------------------------------------------------

    def train(
        self,
        key: str,
        model: str,
        data: list[str],
        role: str,
        name: str,
        *overrides,
        run_name,
        kd: dict | None = None,
        kd_inputs=(),
        seq2seq: dict | None = None,
    ) -> Model:
        """Plan the fine-tuning of ``model`` (a `models` key) into ``results/<key>``; with
        ``kd``, logit distillation from the teacher scores or teachers in ``kd_inputs``;
        ``seq2seq``: an encoder-decoder's Seq2SeqSettings (cmoe.training.seq2seq)."""
        entry = self.config[role][name]
        job = self.plan.add(
            self.plan.trains,
            TrainJob(
                key=key,
                model=self.model(model),
                data=tuple(data),
                source="traces",
                settings=train_settings(self.config, entry.get("train"), *overrides),
                prompt=self.prompt(),
                run_name=run_name,
                resources=self.resources("train", entry),
                config_key=f"{role}.{name}",
                kd=kd,
                kd_inputs=tuple(kd_inputs),
                seq2seq=seq2seq,
            ),
        )
        return self.trained(job.key, model)

    def generate(self, key: str, model: Model, domains, entry: dict) -> str:
        """Plan one unsharded generation job; return its cost file."""
        self.plan.add(
            self.plan.generations,
            GenerateJob(
                key=key,
                model=model,
                domains=tuple(domains),
                shard=(0, 1),
                generation=self.generation(entry),
                prompt=self.prompt(),
                resources=self.resources("generate", entry),
            ),
        )
        return f"{RESULTS}/{key}.cost.json"

    def evaluate(self, key: str, model: Model, subset=None) -> str:
        """Plan the generative evaluation of ``model`` into ``results/<key>``."""
        evaluation = self.config["evaluation"]
        generation = self.generation(evaluation, "evaluate")
        if model.arch == "seq2seq" and generation.get("backend", "hf") != "hf":
            # vLLM and API endpoints serve decoder-only models: encoder-decoders use hf
            generation = {k: v for k, v in generation.items() if k not in ("vllm", "openai")}
            generation["backend"] = "hf"
        self.plan.add(
            self.plan.evaluations,
            EvaluateJob(
                key=key,
                model=model,
                generation=generation,
                prompt=self.prompt(),
                resources=self.resources("evaluate"),
                subset=subset,
            ),
        )
        return results_path(key)

    def row(self, key: str, model: Model, labels: dict, chain=None) -> None:
        """A table row for ``model``, evaluated generatively (and by log-likelihood if enabled)."""
        eval_dir = self.evaluate(key, model)
        if all(r.eval_dir != eval_dir for r in self.plan.rows):
            self.plan.rows.append(Row(eval_dir=eval_dir, chain=chain, **labels))

    def generalist(self, teacher: str, intermediate: str) -> tuple[Model, dict]:
        """The intermediate trained on all of a teacher's traces (cascade's first step, and the
        study's "one model on undivided data" baseline); returns it and its cost chain."""
        ns = self.plan.namespace
        model = self.train(
            f"{ns}/models/generalist/{teacher}/{intermediate}",
            self.config["intermediates"][intermediate]["model"],
            self.teacher_traces(teacher),
            "intermediates",
            intermediate,
            run_name=f"generalist-{teacher}-{intermediate}",
        )
        return model, {"seq": [{"par": self.teacher_costs(teacher)}, model.path]}

    def student(self, method: str, teacher: str, via: str | None, student: str, data) -> Model:
        """A student trained on ``data``, plus the curated extra sources if any."""
        parts = [method, teacher, *([via] if via else []), student]
        return self.train(
            f"{self.plan.namespace}/models/student/{'/'.join(parts)}",
            self.config["students"][student]["model"],
            [*data, *([self.extra_traces()] if self.config["data"]["extra_sources"] else [])],
            "students",
            student,
            run_name="-".join(parts),
        )

    # --- the whole plan -----------------------------------------------------------------------

    def build(self) -> Plan:
        from ..methods import REGISTRY, method_rank

        plan, ns, config = self.plan, self.plan.namespace, self.config
        for teacher in self.teachers:
            self.plan_teacher(teacher)
        if config["evaluation"]["evaluate_base"]:
            for base in sorted({config["students"][s]["model"] for s in self.students}):
                labels = {"method": "base", "teacher": "-", "via": "-", "model": base}
                self.row(f"{ns}/eval/base/{base}", self.model(base), labels)
        students, seq2seq_students = self.students, self.seq2seq_students
        for name in self.methods:
            # a student that lists its `methods` is trained by those alone
            self.students = [s for s in students if self._trains(s, name)]
            self.seq2seq_students = [s for s in seq2seq_students if self._trains(s, name)]
            REGISTRY[name].plan(self)
        self.students, self.seq2seq_students = students, seq2seq_students
        plan.rows.sort(key=lambda r: (method_rank(r.method), r.teacher, r.via, r.model))
        # Traces longer than the shortest training max_length are counted as over-length.
        lengths = [t.settings["max_length"] for t in plan.trains.values() if t.stage == "train"]
        plan.filter_max_length = min(lengths, default=config["training"]["max_length"])
        self.plan_curation()
        for stage in ("prepare_data", "make_tiny_model", "filter", "table"):
            plan.stage_resources[stage] = self.resources(stage)
        loglik = from_dict(LoglikSettings, config["evaluation"]["loglik"], "evaluation.loglik")
        if loglik.enabled:
            data = config["data"]
            same_split = data.get("fewshot_source") == data["source"]
            protocols = ["mera", "mera_gen"] if loglik.mera_gen else ["mera"]
            for protocol in protocols:
                settings = loglik.job_settings(data["mera_version"], same_split, protocol)
                for row in plan.loglik_rows:
                    key = results_key(plan.loglik_dir(row, protocol))
                    model = plan.evaluations[results_key(row.eval_dir)].model
                    job = LoglikJob(key, model, settings, self.resources("evaluate"), protocol)
                    plan.add(plan.logliks, job)
        self.plan_benchmarks()
        return plan

    def plan_curation(self) -> None:
        """The curation chain's settings and inputs (see cmoe.filtering); files shared between
        runs whose settings differ are named by a digest of those settings."""
        import hashlib

        from ..benchmarks import benchmark_specs
        from .jobs import canonical_json

        plan, config = self.plan, self.config
        curation = config["curation"]
        plan.curation[""] = curation
        plan.curation_prompt = self.prompt()
        for role in ("teachers", "intermediates"):
            for name, entry in config.get(role, {}).items():
                if entry.get("curation"):
                    plan.curation[f"{role}.{name}"] = {**curation, **entry["curation"]}
        steps = {s for c in plan.curation.values() for s in c["steps"]}
        if "length" in steps:
            name = curation["tokenizer"] or config["students"][self.students[0]]["model"]
            plan.curation_tokenizer = self.model(name)
        if "decontaminate" in steps:
            specs = benchmark_specs(config) if curation["decontaminate_benchmarks"] else []
            plan.contamination_benchmarks = [{"task": s.task, "path": s.path} for s in specs]
            what = {"n": curation["decontaminate_n"], "benchmarks": plan.contamination_benchmarks}
            digest = hashlib.sha256(canonical_json(what).encode()).hexdigest()[:12]
            plan.contamination_index = f"{RESULTS}/data/contamination/{digest}.json"
        if config["data"]["extra_sources"]:
            self.extra_traces()

    def extra_traces(self) -> str:
        """The curated, weighted extra sources every student learns from, named by a digest of
        what they depend on (an ablation that changes a weight gets its own file)."""
        import hashlib

        from .jobs import canonical_json

        plan, config = self.plan, self.config
        if plan.extra_traces is None:
            lengths = [
                train_settings(config, config["students"][s].get("train"))["max_length"]
                for s in self.students
            ]
            plan.extra_max_length = min(lengths)
            plan.extra_sources = config["data"]["extra_sources"]
            what = {
                "sources": plan.extra_sources,
                "curation": config["curation"],
                "max_length": plan.extra_max_length,
                "seed": config["data"]["seed"],
            }
            digest = hashlib.sha256(canonical_json(what).encode()).hexdigest()[:12]
            plan.extra_traces = f"{RESULTS}/data/extra/{digest}.jsonl"
        return plan.extra_traces

    def plan_benchmarks(self) -> None:
        """Every `evaluation.benchmarks` task on every trained model (students, generalists,
        specialists; adapters or not) and, with `evaluate_base`, on the base models they were
        trained from."""
        from dataclasses import asdict

        from ..benchmarks import benchmark_specs

        specs = benchmark_specs(self.config)
        if not specs:
            return
        plan, ns = self.plan, self.plan.namespace
        trained = [t for t in plan.trains.values() if t.stage == "train"]
        models: dict[str, Model] = {}
        if self.config["evaluation"]["evaluate_base"]:
            for base in sorted({t.model.name for t in trained}):
                models[f"base/{base}"] = self.model(base)
        for job in sorted(trained, key=lambda t: t.key):
            models[job.key.removeprefix(f"{ns}/models/")] = self.trained(job.key, job.model.name)
        for spec in specs:
            for label, model in models.items():
                key = f"{ns}/eval_bench/{spec.task}/{label}"
                job = BenchmarkJob(
                    key, model, label, spec.task, asdict(spec), self.resources("evaluate")
                )
                plan.add(plan.benchmarks, job)


def build_plan(config: dict) -> Plan:
    """The study's jobs and rows for a validated config, defaults filled in (see
    cmoe.config.validate_config)."""
    return PlanBuilder(config).build()
