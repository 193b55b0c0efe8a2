"""KARD's reranker against BM25 alone: recall@k on held-out demo questions.

The demo knowledge base (data/demo/knowledge_demo.jsonl) indexed by BM25 in Qdrant Edge; the
demo questions' reference explanations stand in for the teacher's rationales; the reranker is
the demo's (`kard.reranker` of config/demo.yaml: a random Qwen3 of the tiny student's size,
compression 32, 128 tokens, learning rate 1e-3), trained by `cmoe.methods.kard.knowledge.reranker.
train_reranker` for each ``--epochs``, which scores held-out questions (20%) the way the
`train_reranker` rule does: gold = the knowledge base's passage most similar (TF-IDF) to the
rationale; recall@k among the question's top ``--depth`` BM25 candidates, in BM25's order and in
the reranker's. "random order" is what shuffling the candidates would give (gold among them ×
k / depth).

    python perf/bench_reranker_recall.py --epochs 3 10 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, demo_questions, tiny_model  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, nargs="+", default=[3, 10])
    p.add_argument("--depth", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    from cmoe.core.io import read_jsonl
    from cmoe.methods.kard.knowledge import KnowledgeSettings, build_knowledge_base
    from cmoe.methods.kard.knowledge.index import Retriever, build_index
    from cmoe.methods.kard.knowledge.reranker import draw_candidates, train_reranker
    from cmoe.methods.kard.knowledge.settings import KardSettings, RerankerSettings

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-rr-"))
    settings = KnowledgeSettings(source={"file": str(ROOT / "data/demo/knowledge_demo.jsonl")})
    build_knowledge_base(settings, work / "passages.jsonl")
    build_index(work / "passages.jsonl", work / "index", settings)
    passages = read_jsonl(work / "passages.jsonl")
    traces = [
        {**q, "reasoning": q["explanation"], "correct": True}
        for q in demo_questions()
        if q.get("explanation")
    ]
    model = tiny_model(64, 2, seed=2)  # the demo's tiny student (config/demo.yaml)
    rows = []
    for epochs in args.epochs:
        kard = KardSettings(
            search_depth=args.depth,
            reranker=RerankerSettings(
                model=model,
                epochs=epochs,
                learning_rate=1e-3,
                compression_dim=32,
                max_length=128,
            ),
        )
        t0 = time.perf_counter()
        with Retriever(work / "index", settings) as retriever:
            candidates = draw_candidates(traces, retriever, kard)
        out = work / f"rr{epochs}"
        result = train_reranker(candidates, passages, model, kard, settings, out)
        recall, metrics = result["recall"], result["metrics"]
        rows.append((epochs, recall, metrics, time.perf_counter() - t0))
        print(epochs, recall, metrics["final_train_loss"], flush=True)
    ks = sorted(KardSettings().recall_k)
    print(
        f"\nheld-out questions: {rows[0][1]['heldout_questions']}, training questions: "
        f"{rows[0][1]['train_questions']}, gold among the {args.depth} BM25 candidates: "
        f"{rows[0][1]['gold_among_candidates']}\n"
    )
    print("| ranking | epochs | " + " | ".join(f"recall@{k}" for k in ks) + " | final loss | s |")
    print("|---|---|" + "---|" * (len(ks) + 2))
    gold_in = rows[0][1]["gold_among_candidates"]
    print(
        "| random order | - | "
        + " | ".join(f"{gold_in * k / args.depth:.3f}" for k in ks)
        + " | - | - |"
    )
    print(
        "| BM25 alone | - | "
        + " | ".join(f"{rows[0][1]['retriever'][f'recall@{k}']:.3f}" for k in ks)
        + " | - | - |"
    )
    for epochs, recall, metrics, wall in rows:
        cells = " | ".join(f"{recall['reranker'][f'recall@{k}']:.3f}" for k in ks)
        print(f"| reranker | {epochs} | {cells} | {metrics['final_train_loss']:.3f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
