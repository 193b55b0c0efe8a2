"""Retrieval recall on the control tasks' knowledge base: each knowledge question names the one
passage that holds its fact (its title, in «»), so recall@k is exact, with no judge.

The knowledge base is data/control/knowledge.jsonl, padded with ``--distractors`` synthetic
passages; queries are the 64 knowledge questions, as the question (inference) and as their
reference explanation (the rationale, training). The index is built with the project's own
`build_index` and searched with its `Retriever`, so this measures whatever the package does.

    python perf/bench_kb_recall.py --distractors 0 2000 20000
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, questions_of  # noqa: E402

CONTROL_KB = ROOT / "data" / "control" / "knowledge.jsonl"
CONTROL_TASKS = ROOT / "data" / "control" / "control_tasks.jsonl"
KS = (1, 3, 5)


def knowledge_questions() -> list[dict]:
    """The control's knowledge questions with a `reasoning` (the explanation) and `gold_title`."""
    questions = questions_of(CONTROL_TASKS)
    raw = {json.loads(line)["meta"]["id"]: json.loads(line) for line in CONTROL_TASKS.open()}
    out = []
    for q in questions:
        row = raw.get(q["id"])
        if row is None or row["meta"].get("kind") != "knowledge":
            continue
        title = re.search(r"«([^»]+)»", row["inputs"]["text"]).group(1)
        out.append({**q, "reasoning": row["explanation"], "gold_title": title})
    return out


def recall(hits: list[list[dict]], gold: list[str]) -> dict:
    return {
        f"recall@{k}": round(
            sum(g in [h["title"] for h in hs[:k]] for hs, g in zip(hits, gold, strict=True))
            / len(gold),
            4,
        )
        for k in KS
    }


def run(distractors: int, retriever: str, work: Path) -> dict:
    from cmoe.methods.kard.knowledge import KnowledgeSettings, build_knowledge_base
    from cmoe.methods.kard.knowledge.index import Retriever, build_index
    from cmoe.methods.kard.knowledge.retrieve import query_text

    settings = KnowledgeSettings(
        source={"file": str(CONTROL_KB)}, distractors=distractors, retriever=retriever
    )
    work.mkdir(parents=True, exist_ok=True)
    counts = build_knowledge_base(settings, work / "passages.jsonl")
    t0 = time.perf_counter()
    build_index(work / "passages.jsonl", work / "index", settings)
    build_s = time.perf_counter() - t0
    questions = knowledge_questions()
    gold = [q["gold_title"] for q in questions]
    row = {"passages": counts["passages"], "retriever": retriever, "build_s": round(build_s, 2)}
    with Retriever(work / "index", settings) as r:
        for query in ("question", "rationale"):
            t0 = time.perf_counter()
            hits = r.search([query_text(q, query) for q in questions], max(KS))
            row[f"{query}_s"] = round(time.perf_counter() - t0, 2)
            row[query] = recall(hits, gold)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--distractors", type=int, nargs="+", default=[0, 2000])
    p.add_argument("--retriever", default="bm25")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-recall-"))
    for d in args.distractors:
        print(json.dumps(run(d, args.retriever, work / f"d{d}"), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
