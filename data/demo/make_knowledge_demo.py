"""Write data/demo/knowledge_demo.jsonl, the demo's knowledge base (run from the repository root).

One passage per demo question, the question's reference explanation (a short statement of the
fact the question asks about), titled with its subject; then one overview passage per subject
joining the subject's first three explanations; then 150 off-topic distractor passages from
cmoe.methods.kard.knowledge.synthetic_passages (hand-written Russian sentence parts combined with a fixed
seed). Output: {"title", "text"} per line, in that order.
"""

import json
from pathlib import Path

from cmoe.methods.kard.knowledge import synthetic_passages

ROOT = Path(__file__).resolve().parents[2]
rows = [json.loads(line) for line in open(ROOT / "data/demo/rummlu_demo.jsonl", encoding="utf-8")]
out = []
by_subject: dict[str, list[str]] = {}
for row in rows:
    subject = row["inputs"]["subject"]
    out.append({"title": subject, "text": row["explanation"]})
    by_subject.setdefault(subject, []).append(row["explanation"])
for subject, texts in by_subject.items():
    out.append({"title": subject, "text": f"{subject}. " + " ".join(texts[:3])})
out += [{"title": p["title"], "text": p["text"]} for p in synthetic_passages(150, seed=2024)]
with open(ROOT / "data/demo/knowledge_demo.jsonl", "w", encoding="utf-8") as fh:
    for p in out:
        fh.write(json.dumps(p, ensure_ascii=False) + "\n")
print(f"{len(out)} passages")
