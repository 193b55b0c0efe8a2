"""KARD's knowledge index on CPU: index building (passages/s) and retrieval, with and without
the reranker (queries/s), on a synthetic knowledge base, with each phase's peak memory.

The corpus is the demo knowledge base padded with the project's synthetic distractors
(`knowledge.distractors`) up to ``--passages``; the index is BM25 sparse vectors in Qdrant
Edge (the demo's setting); queries are demo questions (question as the query, as at
inference), ``--depth`` candidates each; the reranker is an untrained late-interaction model on
a random Qwen3 of the demo reranker's size (hidden 64, 2 layers, compression 32, 128 tokens):
its speed does not depend on its weights. Each phase runs in its own process, so its peak
resident memory (ru_maxrss) is its own.

    python perf/bench_knowledge.py --passages 200000 --queries 64 --threads 1
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, demo_questions, tiny_model  # noqa: E402

DEMO_KB = ROOT / "data" / "demo" / "knowledge_demo.jsonl"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _settings(passages: int):
    from cmoe.methods.kard.knowledge import KnowledgeSettings

    demo = sum(1 for line in DEMO_KB.open(encoding="utf-8") if line.strip())
    return KnowledgeSettings(source={"file": str(DEMO_KB)}, distractors=max(passages - demo, 0))


def phase_build(work: Path, passages: int) -> dict:
    from cmoe.methods.kard.knowledge import build_knowledge_base
    from cmoe.methods.kard.knowledge.index import build_index

    settings = _settings(passages)
    t0 = time.perf_counter()
    counts = build_knowledge_base(settings, work / "passages.jsonl")
    t_kb = time.perf_counter() - t0
    t0 = time.perf_counter()
    manifest = build_index(work / "passages.jsonl", work / "index", settings)
    t_index = time.perf_counter() - t0
    return {
        "passages": manifest["passages"],
        "kb_counts": counts,
        "kb_s": round(t_kb, 2),
        "index_s": round(t_index, 2),
        "passages_per_s": round(manifest["passages"] / t_index, 1),
        "peak_mb": round(_peak_mb(), 1),
    }


def phase_query(work: Path, passages: int, queries: int, depth: int, rerank: bool) -> dict:
    from cmoe.methods.kard.knowledge.index import Retriever
    from cmoe.methods.kard.knowledge.retrieve import attach_knowledge

    settings = _settings(passages)
    questions = (demo_questions() * (queries // 272 + 1))[:queries]
    reranker = None
    if rerank:
        from cmoe.methods.kard.knowledge.reranker import Reranker, build_model
        from cmoe.methods.kard.knowledge.settings import RerankerSettings

        model = tiny_model(64, 2)
        s = RerankerSettings(compression_dim=32, max_length=128)
        reranker = Reranker(build_model(model, s))
    t0 = time.perf_counter()
    retriever = Retriever(work / "index", settings)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = attach_knowledge(
        questions, retriever, query="question", n_knowledge=1, reranker=reranker, search_depth=depth
    )
    t_query = time.perf_counter() - t0
    retriever.close()
    return {
        "queries": len(out),
        "depth": depth if rerank else 1,
        "open_s": round(t_open, 2),
        "query_s": round(t_query, 2),
        "queries_per_s": round(len(out) / t_query, 2),
        "peak_mb": round(_peak_mb(), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--passages", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--depth", type=int, default=32, help="candidates reranked per query")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--phase", choices=["build", "query", "rerank"], help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        import torch

        torch.set_num_threads(args.threads)
        work = Path(args.work)
        if args.phase == "build":
            result = phase_build(work, args.passages)
        else:
            rerank = args.phase == "rerank"
            result = phase_query(work, args.passages, args.queries, args.depth, rerank)
        print(json.dumps(result))
        return
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-kb-"))
    results = {}
    for phase in ("build", "query", "rerank"):
        cmd = [sys.executable, __file__, "--phase", phase, "--work", str(work)]
        cmd += ["--passages", str(args.passages), "--queries", str(args.queries)]
        cmd += ["--depth", str(args.depth), "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(phase, results[phase], flush=True)
    b, q, r = results["build"], results["query"], results["rerank"]
    print(
        f"\n| passages | index build s | passages/s | build peak MB | open index s "
        f"| BM25 queries/s (top 1) | BM25 + rerank queries/s (top {args.depth}) | query peak MB |\n"
        f"|---|---|---|---|---|---|---|---|\n"
        f"| {b['passages']} | {b['index_s']} | {b['passages_per_s']} | {b['peak_mb']} "
        f"| {q['open_s']} | {q['queries_per_s']} | {r['queries_per_s']} "
        f"| {max(q['peak_mb'], r['peak_mb'])} |"
    )


if __name__ == "__main__":
    main()
