"""kard: knowledge-augmented reasoning distillation (Kang et al., 2023; code Nardien/KARD).

For each teacher: its kept traces get passages retrieved with the *rationale* as the query and
a student learns to write the rationale and answer from question + passages ("Знания: ...").
At inference the *question* is the query; the ``kard`` row reranks the question's candidates
with a reranker trained on that teacher's rationales, the ``kard (no reranker)`` row keeps the
retriever's own top passages. The knowledge base, its index and the retrievals are jobs of this
method's own kinds (workflow/rules/methods/kard.smk); their costs are in the rows' chains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..config.sections import from_dict
from ..knowledge.settings import KardSettings, KnowledgeSettings
from ..plan.jobs import EvaluateJob, Model, Row, results_key, results_path

NAME = "kard"
NO_RERANKER = f"{NAME} (no reranker)"


@dataclass(frozen=True)
class KnowledgeJob:
    key: str  # results/<key>.jsonl: the passages
    settings: dict
    source_file: str | None  # a local source, as an input


@dataclass(frozen=True)
class IndexJob:
    key: str  # results/<key>/ (index) and results/<key>.cost.json
    passages: str
    settings: dict
    encoder: Model | None
    resources: dict


@dataclass(frozen=True)
class RetrieveJob:
    key: str  # results/<key>.jsonl (records with knowledge) and results/<key>.cost.json
    records: tuple[str, ...]
    index: str
    query: str  # "rationale" (training) or "question" (inference)
    settings: dict
    kard: dict
    reranker: str | None
    resources: dict


@dataclass(frozen=True)
class RerankerJob:
    key: str  # results/<key>/: the reranker, train_metrics.json, recall.json
    traces: tuple[str, ...]
    passages: str
    index: str
    model: Model
    settings: dict
    kard: dict
    resources: dict


def settings(config: dict) -> tuple[KnowledgeSettings, KardSettings]:
    knowledge = from_dict(KnowledgeSettings, config.get("knowledge"), "knowledge")
    kard = from_dict(KardSettings, config.get("kard"), "kard")
    if not knowledge.source:
        raise ValueError("knowledge.source: method kard needs a knowledge base (file or hub)")
    if not kard.reranker.model:
        raise ValueError("kard.reranker.model: method kard needs the reranker's encoder")
    return knowledge, kard


@dataclass(frozen=True)
class KbSizePlotJob:
    key: str  # results/<key>.svg (and .png): accuracy against the knowledge base's size
    points: tuple[dict, ...]  # {scores, index, distractors, n_knowledge, reranker, ...}


def variants(knowledge: KnowledgeSettings, kard: KardSettings) -> list[tuple[int, int]]:
    """(distractors, n_knowledge) of each KARD chain: ``kard.sweep``, or the one configured."""
    if not kard.sweep:
        return [(knowledge.distractors, kard.n_knowledge)]
    out = []
    for v in kard.sweep:
        pair = (v.get("distractors", knowledge.distractors), v.get("n_knowledge", kard.n_knowledge))
        if pair not in out:
            out.append(pair)
    return out


def plan(b) -> None:
    knowledge, kard = settings(b.config)
    swept = bool(kard.sweep)
    points: list[dict] = []
    pairs = variants(knowledge, kard)
    for distractors in dict.fromkeys(d for d, _ in pairs):
        ks = [k for d, k in pairs if d == distractors]
        _plan_knowledge_base(b, knowledge, kard, distractors, ks, swept, points)
    if swept:
        plot = KbSizePlotJob(f"{b.plan.namespace}/plots/kard_kb_size", tuple(points))
        b.plan.add(b.plan.jobs_of("kb_size_plot"), plot)


def _plan_knowledge_base(b, knowledge, kard, distractors, ks, swept, points) -> None:
    """One knowledge base (padded with ``distractors``), its index and rerankers, and a KARD
    chain per ``n_knowledge`` in ``ks``. Without a sweep the keys carry no variant folder."""
    ns, plan = b.plan.namespace, b.plan
    knowledge = replace(knowledge, distractors=distractors)
    k_settings = asdict(knowledge)
    base_kard = {k: v for k, v in asdict(kard).items() if k != "sweep"}
    stem = f"{ns}/knowledge/d{distractors}" if swept else f"{ns}/knowledge"
    source = knowledge.source.get("file")
    kb = plan.add(plan.jobs_of("knowledge"), KnowledgeJob(f"{stem}/passages", k_settings, source))
    passages = results_path(kb.key) + ".jsonl"
    encoder = b.model(knowledge.encoder) if knowledge.retriever != "bm25" else None
    resources = b.resources("train")
    index = plan.add(
        plan.jobs_of("index"),
        IndexJob(f"{stem}/index", passages, k_settings, encoder, resources),
    )
    index_dir = results_path(index.key)
    index_cost = f"{index_dir}.cost.json"

    def retrieve(key, records, query, n_knowledge, reranker=None) -> str:
        kard_dict = {**base_kard, "n_knowledge": n_knowledge}
        plan.add(
            plan.jobs_of("retrieve"),
            RetrieveJob(
                key, tuple(records), index_dir, query, k_settings, kard_dict, reranker, resources
            ),
        )
        return results_path(key)

    reranker_model = b.model(kard.reranker.model)
    rerankers = {}
    for teacher in b.teachers:
        reranker = plan.add(
            plan.jobs_of("reranker"),
            RerankerJob(
                f"{stem}/reranker/{teacher}",
                tuple(b.teacher_traces(teacher)),
                passages,
                index_dir,
                reranker_model,
                k_settings,
                base_kard,
                resources,
            ),
        )
        rerankers[teacher] = results_path(reranker.key)
    for n_knowledge in ks:
        variant = f"d{distractors}-k{n_knowledge}/" if swept else ""
        sub = f"{stem}/k{n_knowledge}" if swept else stem
        label = f"+{distractors} distractors, k={n_knowledge}"
        with_rr, without_rr = (
            (f"{NAME} ({label})", f"{NAME} (no reranker, {label})")
            if swept
            else (NAME, NO_RERANKER)
        )
        test = ["results/data/test.jsonl"]
        plain = retrieve(f"{sub}/test/retriever", test, "question", n_knowledge)
        for teacher in b.teachers:
            traces = b.teacher_traces(teacher)
            teacher_gen = {"par": b.teacher_costs(teacher)}
            with_knowledge = retrieve(f"{sub}/train/{teacher}", traces, "rationale", n_knowledge)
            reranker_dir = rerankers[teacher]
            reranked = retrieve(
                f"{sub}/test/reranked/{teacher}", test, "question", n_knowledge, reranker_dir
            )
            for student in b.students:
                model = b.train(
                    f"{ns}/models/student/{NAME}/{variant}{teacher}/{student}",
                    b.config["students"][student]["model"],
                    [f"{with_knowledge}.jsonl"],
                    "students",
                    student,
                    kard.train,
                    run_name=f"{NAME}-{variant.replace('/', '-')}{teacher}-{student}",
                )
                max_length = plan.trains[results_key(model.path)].settings["max_length"]
                trained = {"seq": [f"{with_knowledge}.cost.json", model.path]}
                for method, questions, tail, folder in (
                    (
                        with_rr,
                        reranked,
                        [{"par": [trained, reranker_dir]}],
                        "kard",
                    ),
                    (
                        without_rr,
                        plain,
                        [trained],
                        "kard-no-reranker",
                    ),
                ):
                    key = f"{ns}/eval/student/{folder}/{variant}{teacher}/{student}"
                    plan.add(
                        plan.evaluations,
                        EvaluateJob(
                            key=key,
                            model=model,
                            generation=b.generation(b.config["evaluation"], "evaluate"),
                            prompt=b.prompt(),
                            resources=b.resources("evaluate"),
                            questions=f"{questions}.jsonl",
                            max_length=max_length,
                        ),
                    )
                    chain = {"seq": [teacher_gen, index_cost, *tail, f"{questions}.cost.json"]}
                    labels = {"method": method, "teacher": teacher, "via": "-", "model": student}
                    # The log-likelihood protocol has no place for passages: KARD rows are
                    # generative.
                    plan.rows.append(Row(results_path(key), chain=chain, loglik=False, **labels))
                    points.append(
                        {
                            "scores": f"{results_path(key)}/scores.json",
                            "index": index_dir,
                            "distractors": distractors,
                            "n_knowledge": n_knowledge,
                            "reranker": folder == "kard",
                            "teacher": teacher,
                            "student": student,
                        }
                    )
