"""KARD's stages: the knowledge base, its Qdrant index, retrieval, and the reranker."""

from __future__ import annotations

import logging

from ...core.commands import command, json_object, set_threads, settings_argument
from ...data.questions import read_questions
from .knowledge.settings import KardSettings, KnowledgeSettings

log = logging.getLogger("cmoe")


def _knowledge_args(p):
    settings_argument(p, "--settings", KnowledgeSettings, "knowledge", required=True)
    p.add_argument("--out", required=True, help="passages.jsonl")


@command("knowledge", "build the knowledge base: documents -> passages.jsonl", _knowledge_args)
def knowledge(args) -> None:
    from .knowledge import build_knowledge_base

    counts = build_knowledge_base(args.settings, args.out)
    log.info("knowledge base: %s", counts)


def _index_args(p):
    p.add_argument("--passages", required=True)
    settings_argument(p, "--settings", KnowledgeSettings, "knowledge", required=True)
    p.add_argument("--encoder", default="", help="model folder or hub id for dense vectors")
    p.add_argument("--encoder-revision", default=None, help="a hub encoder's commit or tag")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="index folder (manifest, Qdrant Edge shard)")
    p.add_argument("--cost", help="the build's cost (JSON); default: in the index folder")


@command("index", "index the passages in Qdrant (BM25 sparse, dense, or both)", _index_args)
def index(args) -> None:
    from ...core.revisions import job_revision
    from .knowledge.index import build_index

    set_threads(args.threads)
    revision = job_revision(args.encoder, args.encoder_revision) if args.encoder else None
    manifest = build_index(
        args.passages,
        args.out,
        args.settings,
        args.encoder or None,
        cost_out=args.cost,
        encoder_revision=revision,
    )
    log.info("index %s: %d passages", manifest["digest"], manifest["passages"])


def _retrieve_args(p):
    p.add_argument("--records", nargs="+", required=True, help="traces or questions (JSONL)")
    p.add_argument("--index", required=True)
    settings_argument(p, "--settings", KnowledgeSettings, "knowledge", required=True)
    settings_argument(p, "--kard", KardSettings, "kard", required=True)
    p.add_argument(
        "--query",
        choices=["rationale", "question"],
        required=True,
        help="rationale: training (the teacher's reasoning); question: inference",
    )
    p.add_argument("--reranker", help="a trained reranker folder (inference only)")
    p.add_argument(
        "--shuffle",
        type=int,
        metavar="SEED",
        help="a negative control: then shuffle the passages between the records",
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="the records with `knowledge` (JSONL)")


@command("retrieve", "attach retrieved passages to traces or questions", _retrieve_args)
def retrieve(args) -> None:
    from ...core.io import read_jsonl
    from .knowledge.retrieve import retrieve_file

    set_threads(args.threads)
    if args.query == "rationale":
        if args.reranker:
            raise ValueError("--reranker is for inference (--query question) only")
        records = [r for path in args.records for r in read_jsonl(path) if r.get("correct")]
    else:
        records = [q for path in args.records for q in read_questions(path)]
    cost = retrieve_file(
        records,
        args.index,
        args.settings,
        args.out,
        query=args.query,
        n_knowledge=args.kard.n_knowledge,
        reranker_path=args.reranker,
        search_depth=args.kard.search_depth,
        shuffle_seed=args.shuffle,
    )
    log.info(
        "retrieved for %d records by %s in %.1fs",
        cost["questions"],
        args.query,
        cost["wall_time_s"],
    )


def _reranker_args(p):
    p.add_argument("--traces", nargs="+", required=True, help="a teacher's kept traces")
    p.add_argument("--passages", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--model", required=True, help="the encoder: model folder or hub id")
    p.add_argument("--revision", default=None, help="a hub encoder's commit or tag")
    settings_argument(p, "--settings", KnowledgeSettings, "knowledge", required=True)
    settings_argument(p, "--kard", KardSettings, "kard", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True, help="reranker folder (+ recall.json)")


@command("train-reranker", "train KARD's reranker and measure its recall@k", _reranker_args)
def train_reranker(args) -> None:
    from ...core.io import read_jsonl
    from ...core.revisions import job_revision
    from .knowledge.index import Retriever
    from .knowledge.reranker import draw_candidates
    from .knowledge.reranker import train_reranker as train

    set_threads(args.threads)
    traces = [r for path in args.traces for r in read_jsonl(path)]
    with Retriever(args.index, args.settings) as retriever:  # released before training
        candidates = draw_candidates(traces, retriever, args.kard)
    result = train(
        candidates,
        read_jsonl(args.passages),
        args.model,
        args.kard,
        args.settings,
        args.out,
        job_revision(args.model, args.revision),
    )
    recall = result["recall"]
    log.info(
        "held-out recall (n=%d): retriever %s, reranker %s",
        recall["heldout_questions"],
        recall["retriever"],
        recall["reranker"],
    )


def _kb_size_plot_args(p):
    p.add_argument(
        "--points",
        type=json_object,
        required=True,
        help='(JSON) {"points": [{scores, index, n_knowledge, reranker}, ...]}, from the plan',
    )
    p.add_argument("--out", required=True, help="figure (SVG; a PNG is written beside it)")


@command(
    "kb-size-plot",
    "KARD's ablation: accuracy against the knowledge base's size (SVG and PNG)",
    _kb_size_plot_args,
)
def kb_size_plot(args) -> None:
    from ...reporting.plots import accuracy_vs_kb_size

    for point in accuracy_vs_kb_size(args.points["points"], args.out):
        log.info(
            "%s: %d passages, accuracy %.3f", point["line"], point["passages"], point["accuracy"]
        )
