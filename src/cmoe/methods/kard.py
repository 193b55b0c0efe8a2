"""kard: knowledge-augmented reasoning distillation (Kang et al., 2023; code Nardien/KARD).

For each teacher: its kept traces get passages retrieved with the *rationale* as the query and
a student learns to write the rationale and answer from question + passages ("Знания: ...").
At inference the *question* is the query; the ``kard`` row reranks the question's candidates
with a reranker trained on that teacher's rationales, the ``kard (no reranker)`` row keeps the
retriever's own top passages. The knowledge base, its index and the retrievals are jobs of this
method's own kinds (workflow/rules/methods/kard.smk); their costs are in the rows' chains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


def plan(b) -> None:
    ns, plan = b.plan.namespace, b.plan
    knowledge, kard = settings(b.config)
    k_settings, kard_dict = asdict(knowledge), asdict(kard)
    stem = f"{ns}/knowledge"
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

    def retrieve(key, records, query, reranker=None) -> str:
        plan.add(
            plan.jobs_of("retrieve"),
            RetrieveJob(
                key, tuple(records), index_dir, query, k_settings, kard_dict, reranker, resources
            ),
        )
        return results_path(key)

    plain = retrieve(f"{stem}/test/retriever", ["results/data/test.jsonl"], "question")
    reranker_model = b.model(kard.reranker.model)
    for teacher in b.teachers:
        traces = b.teacher_traces(teacher)
        teacher_gen = {"par": b.teacher_costs(teacher)}
        with_knowledge = retrieve(f"{stem}/train/{teacher}", traces, "rationale")
        reranker = plan.add(
            plan.jobs_of("reranker"),
            RerankerJob(
                f"{stem}/reranker/{teacher}",
                tuple(traces),
                passages,
                index_dir,
                reranker_model,
                k_settings,
                kard_dict,
                resources,
            ),
        )
        reranker_dir = results_path(reranker.key)
        reranked = retrieve(
            f"{stem}/test/reranked/{teacher}", ["results/data/test.jsonl"], "question", reranker_dir
        )
        for student in b.students:
            model = b.train(
                f"{ns}/models/student/{NAME}/{teacher}/{student}",
                b.config["students"][student]["model"],
                [f"{with_knowledge}.jsonl"],
                "students",
                student,
                kard.train,
                run_name=f"{NAME}-{teacher}-{student}",
            )
            max_length = plan.trains[results_key(model.path)].settings["max_length"]
            trained = {"seq": [f"{with_knowledge}.cost.json", model.path]}
            for method, questions, tail, folder in (
                (NAME, reranked, [{"par": [trained, reranker_dir]}], "kard"),
                (NO_RERANKER, plain, [trained], "kard-no-reranker"),
            ):
                key = f"{ns}/eval/student/{folder}/{teacher}/{student}"
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
                # The log-likelihood protocol has no place for passages: KARD rows are generative.
                plan.rows.append(Row(results_path(key), chain=chain, loglik=False, **labels))
