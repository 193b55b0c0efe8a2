# Over 300 lines as one module: the builder's calls are the plan's only writer.
"""The plan builder: the config, read once, and the public calls through which every planner
(the shared stages here, each method in its folder) registers jobs, rows and comparisons.

The builder is the only writer of the plan. A job two methods share (the generalist) is planned
once because jobs are keyed by their output path.
"""

from __future__ import annotations

from ..core import paths
from ..core.io import digest
from ..core.jobs import Block, EvaluateJob, GenerateJob, Labels, Model, Note, Pair, Row, TrainJob
from ..core.paths import RESULTS, TEST_SPLIT, results_key, results_path
from ..core.resources import stage_resources
from ..generation.registry import SECTIONS as BACKEND_SECTIONS
from ..generation.registry import capabilities, seq2seq_backend
from ..training.settings import train_settings
from .plan import Plan


class PlanBuilder:
    def __init__(self, config: dict, baseline: str):
        self.config = config
        self.baseline = baseline  # the method every other row is compared with
        self.teachers = list(config["teachers"])
        # Encoder-decoder students (`arch: seq2seq`) are trained only by the method that
        # trains them; every other method trains the causal ones.
        self.seq2seq_students = [s for s in config["students"] if self._is_seq2seq_student(s)]
        self.students = [s for s in config["students"] if s not in self.seq2seq_students]
        self.intermediates = list(config.get("intermediates", {}))
        self.plan = Plan(namespace=config["namespace"])
        # Replicate k (k >= 1) trains every model a training seed can change with each seed + k,
        # in a namespace of its own below the run's; replicate 0 keeps the run's own paths.
        seed = config["training"]["seed"]
        self.plan.replicate_namespaces = [
            self.plan.namespace,
            *(
                f"{self.plan.namespace}/seed-{seed + k}"
                for k in range(1, config.get("replicates", 1))
            ),
        ]
        self.replicate = 0  # the replicate the methods are planning now

    @property
    def ns(self) -> str:
        """The namespace of what a training seed can change, in the replicate being planned."""
        return self.plan.replicate_namespaces[self.replicate]

    @property
    def shared_ns(self) -> str:
        """The run's namespace: what no training seed changes (a knowledge base, the router)."""
        return self.plan.namespace

    # --- models -------------------------------------------------------------------------------

    def _is_seq2seq_student(self, student: str) -> bool:
        model = self.config["students"][student]["model"]
        return self.config["models"][model]["arch"] == "seq2seq"

    def model(self, name: str) -> Model:
        """A `models` entry: a tiny model this workflow builds, a hub id or a local folder."""
        spec = self.config["models"][name]
        trust = spec["trust_remote_code"]
        arch = spec["arch"]
        if "tiny" in spec:
            tiny = self.config["tiny_models"]
            what = {k: tiny[k] for k in ("corpus", "vocab_size")}
            what["spec"] = tiny["specs"][spec["tiny"]]
            key = paths.tiny_model(name, paths.fingerprint(what))
            self.plan.tiny_models[key] = name
            path = results_path(key)
            return Model(name, path, (path,), trust, arch)
        return Model(name, spec["path"], (), trust, arch, spec.get("revision"))

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
        # absent at 1, so one-sample jobs are unchanged (`evaluation` has no such key)
        if entry.get("samples_per_question", 1) > 1:
            settings["samples_per_question"] = entry["samples_per_question"]
        backend = capabilities(settings.get("backend"))
        if backend.tensor_parallel:
            own = dict(settings.get(backend.section, {}))
            own.setdefault("tensor_parallel_size", max(1, self.resources(stage, entry)["gpu"]))
            settings[backend.section] = own
        return settings

    def prompt(self, teacher: str | None = None) -> dict:
        """The `prompt` section, with a teacher's own `enable_thinking` where it sets one."""
        prompt = dict(self.config["prompt"])
        if teacher and "enable_thinking" in self.config["teachers"][teacher]:
            prompt["enable_thinking"] = self.config["teachers"][teacher]["enable_thinking"]
        return prompt

    # --- teachers (planned by cmoe.plan.teachers) ---------------------------------------------

    def teacher_traces(self, teacher: str, domains=None, suffix=".jsonl") -> list[str]:
        """A teacher's traces as this run curates them (in the run's namespace)."""
        from ..core.domains import DOMAINS

        stems = [paths.teacher_traces(self.shared_ns, teacher, d) for d in domains or DOMAINS]
        return [results_path(stem) + suffix for stem in stems]

    def generated_dir(self, teacher: str) -> str:
        """Where a teacher's traces are generated (a `traces_from` teacher: its source's):
        a folder named by the fingerprint of exactly what makes them, shared by every run
        that generates them alike."""
        teacher = self.config["teachers"][teacher].get("traces_from", teacher)
        entry, model = self.config["teachers"][teacher], self.teacher_model(teacher)
        what = {
            "model": model.identity,
            "generation": self.generation(entry),
            "prompt": self.prompt(teacher),
            "shards": entry["shards"],
            "questions": paths.TRAIN_SPLIT,
        }
        return paths.generated_dir(teacher, paths.fingerprint(what))

    def teacher_costs(self, teacher: str, domains=None) -> list[str]:
        from ..core.domains import DOMAINS

        generated = self.generated_dir(teacher)
        teacher = self.config["teachers"][teacher].get("traces_from", teacher)
        n = self.config["teachers"][teacher]["shards"]
        return [
            results_path(paths.teacher_shard(generated, d, i, n)) + ".cost.json"
            for d in domains or DOMAINS
            for i in range(n)
        ]

    def teacher_model(self, teacher: str) -> Model:
        """The model a teacher answers with: its `models` entry, or (demo) that model warmed up
        on the reference explanations of the train split."""
        entry = self.config["teachers"][teacher]
        if "warmup" not in entry:
            return self.model(entry["model"])
        model = self.model(entry["model"])
        settings, prompt = train_settings(self.config, entry["warmup"]), self.prompt(teacher)
        what = {"model": model.identity}
        what.update(data=paths.TRAIN_SPLIT, settings=settings, prompt=prompt)
        job = self.plan.add(
            self.plan.trains,
            TrainJob(
                key=paths.warmup_model(teacher, paths.fingerprint(what)),
                model=model,
                data=(paths.TRAIN_SPLIT,),
                source="reference",
                settings=settings,
                prompt=prompt,
                run_name=f"warmup-{teacher}",
                resources=self.resources("warmup", entry),
                config_key=f"teachers.{teacher}.warmup",
                stage="warmup",
            ),
        )
        return self.trained(job.key, entry["model"])

    # --- jobs every method may plan -----------------------------------------------------------

    def train(
        self,
        key: str,
        model: str,
        data: list[str],
        role: str,
        name: str,
        *overrides,
        run_name: str,
        options: dict | None = None,
        extra_inputs=(),
    ) -> Model:
        """Plan the fine-tuning of ``model`` (a `models` key) into ``results/<key>`` with the
        settings of ``<role>.<name>`` and ``overrides``; ``options``: the method's own
        `cmoe train` options ({flag: JSON value}) and ``extra_inputs`` the files they read."""
        entry = self.config[role][name]
        job = self.plan.add(
            self.plan.trains,
            TrainJob(
                key=key,
                model=self.model(model),
                data=tuple(data),
                source="traces",
                settings=self.seeded(train_settings(self.config, entry.get("train"), *overrides)),
                prompt=self.prompt(),
                run_name=run_name,
                resources=self.resources("train", entry),
                config_key=f"{role}.{name}",
                options=tuple((options or {}).items()),
                extra_inputs=tuple(extra_inputs),
            ),
        )
        return self.trained(job.key, model)

    def seeded(self, settings: dict) -> dict:
        """Settings with a ``seed`` as the replicate being planned trains them (seed + k)."""
        return {**settings, "seed": settings["seed"] + self.replicate}

    def trained_settings(self, model: Model) -> dict:
        """The effective training settings of a model this plan trains."""
        return self.plan.trains[results_key(model.path)].settings

    def student(self, method: str, teacher: str, via: str | None, student: str, data) -> Model:
        """A student trained on ``data``, plus the curated extra sources if any."""
        parts = [teacher, *([via] if via else []), student]
        extra = [self.extra_traces()] if self.config["data"]["extra_sources"] else []
        return self.train(
            paths.models(self.ns, f"student/{method}", *parts),
            self.config["students"][student]["model"],
            [*data, *extra],
            "students",
            student,
            run_name="-".join([method, *parts]),
        )

    def extra_traces(self) -> str:
        """The curated, weighted extra sources every student learns from, named by a digest of
        what they depend on (an ablation that changes a weight gets its own file)."""
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
            plan.extra_traces = f"{RESULTS}/data/extra/{digest(what, 12)}.jsonl"
        return plan.extra_traces

    def generate(self, key: str, model: Model, domains, entry: dict, curated_by: str) -> str:
        """Plan one unsharded generation job, its traces curated with the settings of config key
        ``curated_by`` (an intermediate's own `curation`, if it has one); return its cost file."""
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
        self.curate_as(results_path(key), curated_by)
        return results_path(key) + ".cost.json"

    def curate_as(self, stem: str, config_key: str) -> None:
        """Curate the trace file ``stem`` (results/...) with ``config_key``'s `curation`."""
        self.plan.curated_by[stem] = config_key

    def evaluate(
        self, key: str, model: Model, subset=None, questions: str = TEST_SPLIT, max_length=None
    ) -> str:
        """Plan the generative evaluation of ``model`` into ``results/<key>``; ``questions``
        may carry retrieved passages, cut to fit ``max_length`` tokens."""
        evaluation = self.config["evaluation"]
        generation = self.generation(evaluation, "evaluate")
        if model.arch == "seq2seq" and not capabilities(generation.get("backend")).seq2seq:
            # vLLM and API endpoints serve decoder-only models: encoder-decoders use hf
            generation = {k: v for k, v in generation.items() if k not in BACKEND_SECTIONS}
            generation["backend"] = seq2seq_backend()
        self.plan.add(
            self.plan.evaluations,
            EvaluateJob(
                key=key,
                model=model,
                generation=generation,
                prompt=self.prompt(),
                resources=self.resources("evaluate"),
                subset=subset,
                questions=questions,
                max_length=max_length,
                samples=evaluation["samples"],
            ),
        )
        return results_path(key)

    def target(self, path: str) -> None:
        """A final output of the method's own (a figure): built by `snakemake` with no target."""
        if path not in self.plan.method_targets:
            self.plan.method_targets.append(path)

    def add_job(self, kind: str, job):
        """Register a job of a method's own kind (read by its rules); return the stored one."""
        return self.plan.add(self.plan.method_jobs.setdefault(kind, {}), job)

    # --- rows and comparisons -----------------------------------------------------------------

    def row(
        self,
        key: str,
        model: Model | None,
        labels: dict,
        chain=None,
        *,
        loglik: bool = True,
        reference_model: str | None = None,
        **evaluation,
    ) -> str:
        """A table row for ``model`` evaluated into ``results/<key>`` (planned here, with
        ``evaluation``'s keyword arguments), or, with ``model`` None, for a folder another job
        of the method writes (a mixture). ``loglik``: also scored by MERA's protocol (a model
        that reads passages, or a mixture, is not). Every row but the baseline's and the
        untrained bases' is compared with the baseline row of the same teacher and model
        (``reference_model``: a mixture's, the intermediate it is made of)."""
        eval_dir = self.evaluate(key, model, **evaluation) if model else results_path(key)
        if labels["method"] in ("base", "teacher", self.baseline):
            reference = None
        else:
            model_name = reference_model or labels["model"]
            reference = (self.baseline, labels["teacher"], "-", model_name)
        if all(r.eval_dir != eval_dir for r in self.plan.rows):
            row = Row(
                eval_dir=eval_dir,
                chain=chain,
                loglik=loglik,
                reference=reference,
                replicate=self.replicate,
                **labels,
            )
            self.plan.rows.append(row)
        return eval_dir

    def rows_where(self, **labels) -> list[Row]:
        """The rows planned so far whose labels match."""
        return [r for r in self.plan.rows if all(getattr(r, k) == v for k, v in labels.items())]

    def size_model(self, name: str, path: str) -> None:
        """A trained model whose size the accuracy-against-size figure shows (one replicate's:
        every replicate has the same size)."""
        if self.replicate == 0 and (name, path) not in self.plan.size_models:
            self.plan.size_models.append((name, path))

    def pair(
        self,
        name: str,
        a: Labels,
        b: Labels,
        headline: bool = False,
        control: bool = False,
        items: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        """Compare rows ``a`` and ``b`` in comparison.md (and, ``headline``, on the report's
        first page); a ``control`` is an effect a working pipeline must show (a above b), on
        the questions ``items`` selects (:class:`cmoe.core.jobs.Pair`) or on all."""
        target = self.plan.comparisons.headline if headline else self.plan.comparisons.pairs
        pair = Pair(name, a, b, control, items)
        if pair not in target:
            target.append(pair)

    def note(self, label: str, file: str) -> None:
        """A line of comparison.md: ``label`` and the accuracy and n in ``file`` (JSON)."""
        note = Note(label, file)
        if note not in self.plan.comparisons.notes:
            self.plan.comparisons.notes.append(note)

    def block(self, block: Block) -> None:
        """A section of comparison.md (sections are ordered by their titles)."""
        blocks = self.plan.comparisons.blocks
        if block in blocks:  # planned again by another replicate
            return
        blocks.append(block)
        blocks.sort(key=lambda x: x.title)
