# Over 300 lines as one module: KARD's reranker (model, data, loss, recall) as the paper has it.
"""KARD's reranker: a late-interaction (ColBERT-style) encoder that learns to score passages
*from the question alone* so that its ranking imitates the passages' relevance to the teacher's
rationale.

Training examples (KARD, reranker/retriever_dataset.py): for each trace, candidates are drawn half
from the passages retrieved with the rationale and half from those retrieved with the question;
each candidate's label is its TF-IDF cosine similarity to the rationale (scikit-learn, with the
index's tokenizer); the loss is KL(softmax(labels / label_tau) || softmax(scores / score_tau)),
i.e. ``kl_div(log_softmax(scores / score_tau), softmax(labels / label_tau))`` as in the paper's
code. A score is the sum over question tokens of the best dot product with a passage token,
after a linear compression of the encoder's hidden states. LoRA on the encoder is optional.

Evaluation on held-out traces: recall@k of the knowledge base's passage most similar to the
rationale (TF-IDF), among the question's candidates ranked by the retriever alone and by the
reranker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import asdict
from pathlib import Path

from ....core.io import atomic_directory, atomic_write_json
from .engine import bm25_model, term_counts
from .queries import question_query, rationale_query
from .settings import KardSettings, KnowledgeSettings, RerankerSettings

log = logging.getLogger(__name__)


class LateInteraction:
    """Encoder + linear compressor; ``scores(q, docs, n)`` is (batch, n) late-interaction scores."""

    def __init__(self, encoder, tokenizer, dim: int, max_length: int):
        import torch

        self.torch = torch
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.compressor = torch.nn.Linear(encoder.config.hidden_size, dim)

    def parameters(self):
        return [p for p in self.encoder.parameters() if p.requires_grad] + list(
            self.compressor.parameters()
        )

    def train(self, mode: bool = True):
        self.encoder.train(mode)
        self.compressor.train(mode)

    def embed(self, texts: list[str]):
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        hidden = self.encoder(**batch).last_hidden_state
        return self.compressor(hidden), batch["attention_mask"].bool()

    def scores(self, questions: list[str], docs: list[str], n: int):
        q, q_mask = self.embed(questions)
        d, d_mask = self.embed(docs)
        q = q.repeat_interleave(n, dim=0)
        q_mask = q_mask.repeat_interleave(n, dim=0)
        sim = self.torch.bmm(q, d.transpose(1, 2))  # (B*n, Lq, Ld)
        sim = sim.masked_fill(~d_mask[:, None, :], -1e4).max(-1).values
        sim = sim.masked_fill(~q_mask, 0.0).sum(-1)
        return sim.view(len(questions), n)


def kl_loss(scores, labels, score_tau: float, label_tau: float):
    import torch.nn.functional as F

    return F.kl_div(
        F.log_softmax(scores / score_tau, dim=-1),
        F.softmax(labels / label_tau, dim=-1),
        reduction="batchmean",
    )


class Reranker:
    """A trained reranker loaded for inference."""

    def __init__(self, model: LateInteraction, batch_size: int = 64):
        self.model = model
        self.batch_size = batch_size
        self.model.train(False)

    @classmethod
    def load(cls, path: str | Path) -> Reranker:
        import torch
        from transformers import AutoModel

        from ....core.models import load_tokenizer

        path = Path(path)
        meta = json.loads((path / "reranker.json").read_text("utf-8"))
        encoder = AutoModel.from_pretrained(path / "encoder")
        tokenizer = load_tokenizer(path / "encoder", padding_side="right")
        model = LateInteraction(encoder, tokenizer, meta["compression_dim"], meta["max_length"])
        model.compressor.load_state_dict(torch.load(path / "compressor.pt", weights_only=True))
        return cls(model)

    def _token_vectors(self, texts: list[str]) -> list:
        """Each text's compressed token vectors (padding removed), in batches of similar length."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            ids = order[start : start + self.batch_size]
            vectors, mask = self.model.embed([texts[i] for i in ids])
            for row, i in enumerate(ids):
                out[i] = vectors[row][mask[row]]
        return out

    def rank(self, questions: list[str], candidates: list[list[dict]]) -> list[list[float]]:
        """Late-interaction scores of each question's candidates ({pid, text}); each distinct
        passage is encoded once, however many questions retrieved it."""
        torch = self.model.torch
        texts: dict = {}
        for cands in candidates:
            for c in cands:
                texts.setdefault(c["pid"], c["text"])
        pids = list(texts)
        with torch.no_grad():
            docs = dict(zip(pids, self._token_vectors([texts[p] for p in pids]), strict=True))
            queries = self._token_vectors(questions)
            scores = []
            for q, cands in zip(queries, candidates, strict=True):
                if not cands:
                    scores.append([])
                    continue
                d = torch.nn.utils.rnn.pad_sequence([docs[c["pid"]] for c in cands], True)
                lengths = torch.tensor([len(docs[c["pid"]]) for c in cands])
                pad = torch.arange(d.shape[1])[None, :] >= lengths[:, None]  # (n, Ld)
                sim = torch.einsum("qh,nlh->nql", q, d).masked_fill(pad[:, None, :], -1e4)
                scores.append(sim.max(-1).values.sum(-1).tolist())
        return scores


def build_model(
    path: str, settings: RerankerSettings, revision: str | None = None
) -> LateInteraction:
    import torch
    from transformers import AutoModel

    from ....core.models import check_lora_targets, load_tokenizer

    torch.manual_seed(settings.seed)
    encoder = AutoModel.from_pretrained(path, **({"revision": revision} if revision else {}))
    if settings.lora:
        from peft import LoraConfig, get_peft_model

        key = "kard.reranker.lora_target_modules"
        check_lora_targets(settings.lora_target_modules, encoder, path, key)
        config = LoraConfig(
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=0.1,
            target_modules=settings.lora_target_modules,
        )
        encoder = get_peft_model(encoder, config)
    tokenizer = load_tokenizer(path, padding_side="right", revision=revision)
    return LateInteraction(encoder, tokenizer, settings.compression_dim, settings.max_length)


class TfidfLabels:
    """TF-IDF vectors of the knowledge base (fitted on its passages, with the index's tokenizer)."""

    def __init__(self, passages: list[dict], knowledge: KnowledgeSettings):
        from sklearn.feature_extraction.text import TfidfVectorizer

        counter = bm25_model(knowledge, counting=True)

        def terms(text: str) -> list[int]:
            return [t for t, n in term_counts(counter, text).items() for _ in range(n)]

        self.vectorizer = TfidfVectorizer(analyzer=terms)
        self.matrix = self.vectorizer.fit_transform([p["text"] for p in passages])
        self.pids = [p["id"] for p in passages]
        self.row = {pid: i for i, pid in enumerate(self.pids)}

    def similarity(self, text: str, pids: list[int]) -> list[float]:
        vec = self.vectorizer.transform([text])
        rows = self.matrix[[self.row[p] for p in pids]]
        return (rows @ vec.T).toarray().ravel().tolist()

    def best(self, text: str) -> int:
        """The passage id most similar to ``text`` in the whole knowledge base."""
        scores = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        return self.pids[int(scores.argmax())]


def heldout(record: dict, fraction: float, seed: int) -> bool:
    h = hashlib.sha256(f"{seed}:{record['id']}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < fraction


def recall_at_k(rankings: list[list[int]], gold: list[int], ks: list[int]) -> dict[str, float]:
    n = max(len(gold), 1)
    return {
        f"recall@{k}": round(sum(g in r[:k] for r, g in zip(rankings, gold, strict=True)) / n, 4)
        for k in ks
    }


def train_step(model: LateInteraction, optimizer, batch: list[dict], s: RerankerSettings) -> float:
    """One optimisation step on ``batch`` ({question, docs, labels}); returns the loss before it."""
    torch = model.torch
    n = len(batch[0]["docs"])
    scores = model.scores([b["question"] for b in batch], [d for b in batch for d in b["docs"]], n)
    labels = torch.tensor([b["labels"] for b in batch], dtype=scores.dtype)
    loss = kl_loss(scores, labels, s.score_tau, s.label_tau)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.item())


def draw_candidates(traces: list[dict], retriever, settings: KardSettings) -> list[dict]:
    """Each kept trace with its top ``search_depth`` passages by rationale (``r``) and by
    question (``q``): all the reranker needs from the index, so that a job holds the index
    (one embedded client at a time) only for these searches, not for the training."""
    traces = [t for t in traces if t.get("correct") and t.get("reasoning")]
    if not traces:
        raise ValueError("no correct traces with a rationale to train the reranker on")
    depth = settings.search_depth
    by_rationale = retriever.search([rationale_query(t) for t in traces], depth)
    by_question = retriever.search([question_query(t) for t in traces], depth)
    return [
        {"trace": t, "r": r, "q": q}
        for t, r, q in zip(traces, by_rationale, by_question, strict=True)
    ]


def train_reranker(
    candidates: list[dict],
    passages: list[dict],
    model_path: str,
    settings: KardSettings,
    knowledge: KnowledgeSettings,
    out: str | Path,
    revision: str | None = None,
) -> dict:
    """Train on the traces outside the held-out fraction, evaluate recall@k on the rest, and
    write the reranker folder (encoder, compressor, train_metrics.json, recall.json).
    ``candidates``: from :func:`draw_candidates`."""
    import torch

    t0 = time.perf_counter()
    s = settings.reranker
    rng = random.Random(s.seed)
    labels = TfidfLabels(passages, knowledge)
    depth = settings.search_depth
    half = settings.n_candidates // 2
    train, test = [], []
    for item in candidates:
        (test if heldout(item["trace"], s.heldout_fraction, s.seed) else train).append(item)
    train = [x for x in train if len(x["r"]) >= half and len(x["q"]) >= half]
    if not train:
        raise ValueError("no training examples for the reranker (too few passages retrieved)")

    model = build_model(model_path, s, revision)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.learning_rate)
    steps = s.epochs * ((len(train) + s.batch_size - 1) // s.batch_size)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.05 * steps), steps)
    model.train(True)
    curve = []
    for epoch in range(s.epochs):
        rng.shuffle(train)
        for start in range(0, len(train), s.batch_size):
            batch = []
            for x in train[start : start + s.batch_size]:
                cands = rng.sample(x["r"], half) + rng.sample(x["q"], half)
                rationale = rationale_query(x["trace"])
                batch.append(
                    {
                        "question": question_query(x["trace"]),
                        "docs": [c["text"] for c in cands],
                        "labels": labels.similarity(rationale, [c["pid"] for c in cands]),
                    }
                )
            curve.append({"epoch": epoch, "loss": round(train_step(model, optimizer, batch, s), 6)})
            scheduler.step()
    model.train(False)

    reranker = Reranker(model)
    gold, by_retriever, by_reranker, in_candidates = [], [], [], 0
    ranked = reranker.rank([question_query(x["trace"]) for x in test], [x["q"] for x in test])
    for x, scores in zip(test, ranked, strict=True):
        target = labels.best(rationale_query(x["trace"]))
        pids = [c["pid"] for c in x["q"]]
        gold.append(target)
        in_candidates += target in pids
        by_retriever.append(pids)
        by_reranker.append([pids[i] for i in sorted(range(len(pids)), key=lambda i: -scores[i])])
    ks = sorted(settings.recall_k)
    recall = {
        "heldout_questions": len(test),
        "train_questions": len(train),
        "candidates": depth,
        "gold": "the knowledge base's passage with the highest TF-IDF similarity to the rationale",
        "gold_among_candidates": round(in_candidates / max(len(test), 1), 4),
        "retriever": recall_at_k(by_retriever, gold, ks),
        "reranker": recall_at_k(by_reranker, gold, ks),
    }
    wall = time.perf_counter() - t0
    with atomic_directory(out) as tmp:
        enc = model.encoder.merge_and_unload() if s.lora else model.encoder
        enc.save_pretrained(tmp / "encoder")
        model.tokenizer.save_pretrained(tmp / "encoder")
        torch.save(model.compressor.state_dict(), tmp / "compressor.pt")
        meta = {"compression_dim": s.compression_dim, "max_length": s.max_length}
        atomic_write_json(tmp / "reranker.json", meta)
        atomic_write_json(tmp / "recall.json", recall)
        metrics = {
            "base_model": model_path,
            "settings": asdict(s),
            "examples": len(train),
            "examples_seen": len(train) * s.epochs,
            "loss_curve": curve,
            "final_train_loss": curve[-1]["loss"] if curve else None,
            "wall_time_s": round(wall, 3),
            "device_count": 1,
        }
        atomic_write_json(tmp / "train_metrics.json", metrics)
    return {"recall": recall, "metrics": metrics}
