"""kard: knowledge-augmented reasoning distillation (Kang et al., 2023; code Nardien/KARD).

For each teacher: its kept traces get passages retrieved with the *rationale* as the query and
a student learns to write the rationale and answer from question + passages ("Знания: ...").
At inference the *question* is the query; the ``kard`` row reranks the question's candidates
with a reranker trained on that teacher's rationales, the ``kard (no reranker)`` row keeps the
retriever's own top passages. The knowledge base, its index and the retrievals are jobs of this
method's own kinds (its rules.smk); their costs are in the rows' chains.
"""

from __future__ import annotations

from dataclasses import asdict, replace

from ...core import paths
from ...core.paths import TEST_SPLIT, results_path
from ...core.planning import Builder
from ..roles import BASELINE as DIRECT
from .jobs import IndexJob, KbSizePlotJob, KnowledgeJob, RerankerJob, RetrieveJob
from .settings import settings, variants

NAME = "kard"
NO_RERANKER = f"{NAME} (no reranker)"
SHUFFLED = f"{NAME} (shuffled passages)"
# Where data marks its questions' kinds (the control tasks), passages matter for the knowledge
# questions only (their facts are in no model, only in the knowledge base): KARD's comparisons
# are made on those (cmoe.core.jobs.Pair.items); on data without kinds, on every question.
KNOWLEDGE = ("kind", ("knowledge",))


def plan(b: Builder) -> None:
    knowledge, kard = settings(b.config)
    swept = bool(kard.sweep)
    points: list[dict] = []
    pairs = variants(knowledge, kard)
    for distractors in dict.fromkeys(d for d, _ in pairs):
        base = KnowledgeBase(b, replace(knowledge, distractors=distractors), kard, swept)
        for n_knowledge in [k for d, k in pairs if d == distractors]:
            points += base.plan_chain(n_knowledge)
    if swept and b.replicate == 0:  # the sweep's figure shows the first replicate
        job = b.add_job("kb_size_plot", KbSizePlotJob(f"{b.ns}/plots/kard_kb_size", tuple(points)))
        b.target(results_path(job.key) + ".svg")


class KnowledgeBase:
    """One knowledge base (padded with its distractors), its index, a reranker per teacher,
    and the KARD chains over it. Without a sweep the keys carry no variant folder.

    The knowledge base, its index and the retrievals by the retriever alone are the run's (no
    training seed changes them); each training replicate has its own rerankers (seed + k) and
    their retrievals."""

    def __init__(self, b: Builder, knowledge, kard, swept: bool):
        self.b, self.swept = b, swept
        self.distractors = knowledge.distractors
        self.settings = asdict(knowledge)
        # what the retrieval and training jobs read (the sweep and the control plan rows)
        plan_only = ("sweep", "shuffled_control")
        self.kard = {k: v for k, v in asdict(kard).items() if k not in plan_only}
        self.shuffled_control = kard.shuffled_control
        self.seed = knowledge.seed
        self.train = kard.train
        variant = f"/d{self.distractors}" if swept else ""
        self.stem = f"{b.shared_ns}/knowledge{variant}"
        self.own = f"{b.ns}/knowledge{variant}"  # the replicate's: rerankers and their retrievals
        self.resources = b.resources("train")
        source = knowledge.source.get("file")
        kb = b.add_job("knowledge", KnowledgeJob(f"{self.stem}/passages", self.settings, source))
        self.passages = results_path(kb.key) + ".jsonl"
        encoder = b.model(knowledge.encoder) if knowledge.retriever != "bm25" else None
        index = IndexJob(
            f"{self.stem}/index", self.passages, self.settings, encoder, self.resources
        )
        self.index = results_path(b.add_job("index", index).key)
        self.rerankers = {t: self._reranker(t, b.model(kard.reranker.model)) for t in b.teachers}

    def _reranker(self, teacher: str, model) -> str:
        job = RerankerJob(
            f"{self.own}/reranker/{teacher}",
            tuple(self.b.teacher_traces(teacher)),
            self.passages,
            self.index,
            model,
            self.settings,
            {**self.kard, "reranker": self.b.seeded(self.kard["reranker"])},
            self.resources,
        )
        return results_path(self.b.add_job("reranker", job).key)

    def retrieve(self, key, records, query, n_knowledge, reranker=None, shuffle=None) -> str:
        """Records with passages: results/<key>.jsonl (and its .cost.json); ``shuffle``, a
        seed, shuffles the passages between the records (a negative control)."""
        kard = {**self.kard, "n_knowledge": n_knowledge}
        job = RetrieveJob(
            key,
            tuple(records),
            self.index,
            query,
            self.settings,
            kard,
            reranker,
            self.resources,
            shuffle,
        )
        self.b.add_job("retrieve", job)
        return results_path(key)

    def plan_chain(self, n_knowledge: int) -> list[dict]:
        """A KARD chain: students trained on passages retrieved by rationale, evaluated with and
        without the reranker; returns the sweep figure's points."""
        b, d = self.b, self.distractors
        variant = f"d{d}-k{n_knowledge}" if self.swept else ""
        sub = f"{self.stem}/k{n_knowledge}" if self.swept else self.stem
        own = f"{self.own}/k{n_knowledge}" if self.swept else self.own
        label = f"+{d} distractors, k={n_knowledge}"
        with_rr = f"{NAME} ({label})" if self.swept else NAME
        without_rr = f"{NAME} (no reranker, {label})" if self.swept else NO_RERANKER
        plain = self.retrieve(f"{sub}/test/retriever", [TEST_SPLIT], "question", n_knowledge)
        points = []
        for teacher in b.teachers:
            traces = b.teacher_traces(teacher)
            teacher_gen = {"par": b.teacher_costs(teacher)}
            train = self.retrieve(f"{sub}/train/{teacher}", traces, "rationale", n_knowledge)
            reranker = self.rerankers[teacher]
            reranked = self.retrieve(
                f"{own}/test/reranked/{teacher}", [TEST_SPLIT], "question", n_knowledge, reranker
            )
            shuffled = None
            if self.shuffled_control:
                # the retriever's own passages, each given to another question: against the
                # `kard (no reranker)` row it isolates reading from the reranker's quality
                shuffled = self.retrieve(
                    f"{sub}/test/shuffled/{teacher}",
                    [TEST_SPLIT],
                    "question",
                    n_knowledge,
                    shuffle=self.seed,
                )
            for student in b.students:
                model = b.train(
                    paths.models(b.ns, f"student/{NAME}", variant, teacher, student),
                    b.config["students"][student]["model"],
                    [f"{train}.jsonl"],
                    "students",
                    student,
                    self.train,
                    run_name="-".join(p for p in (NAME, variant, teacher, student) if p),
                )
                max_length = b.trained_settings(model)["max_length"]
                trained = {"seq": [f"{train}.cost.json", model.path]}
                rows = [
                    (with_rr, reranked, [{"par": [trained, reranker]}], NAME),
                    (without_rr, plain, [trained], f"{NAME}-no-reranker"),
                ]
                if shuffled:
                    rows.append((SHUFFLED, shuffled, [trained], f"{NAME}-shuffled"))
                    b.pair(
                        f"{student}: {NO_RERANKER} − {SHUFFLED} ({teacher})",
                        (NO_RERANKER, teacher, "-", student),
                        (SHUFFLED, teacher, "-", student),
                        control=True,
                        items=KNOWLEDGE,
                    )
                for method, questions, tail, folder in rows:
                    key = paths.evaluation(b.ns, f"student/{folder}", variant, teacher, student)
                    chain = {"seq": [teacher_gen, f"{self.index}.cost.json", *tail]}
                    chain["seq"].append(f"{questions}.cost.json")
                    labels = {"method": method, "teacher": teacher, "via": "-", "model": student}
                    # The log-likelihood protocol has no place for passages: KARD rows are
                    # generative.
                    eval_dir = b.row(
                        key,
                        model,
                        labels,
                        chain,
                        loglik=False,
                        questions=f"{questions}.jsonl",
                        max_length=max_length,
                    )
                    if folder == f"{NAME}-shuffled":
                        continue
                    b.pair(
                        f"{student}: {method} − {DIRECT} ({teacher})",
                        tuple(labels.values()),
                        (DIRECT, teacher, "-", student),
                        items=KNOWLEDGE,
                    )
                    points.append(
                        {
                            "scores": f"{eval_dir}/scores.json",
                            "index": self.index,
                            "distractors": d,
                            "n_knowledge": n_knowledge,
                            "reranker": folder == NAME,
                            "teacher": teacher,
                            "student": student,
                        }
                    )
        return points
