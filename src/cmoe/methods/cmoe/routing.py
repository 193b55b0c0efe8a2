"""Learned routing: a text classifier sends each test question to a domain's specialist.

The router sees only the question text of the train split (never subject metadata), so its
accuracy on the test split measures what a deployed mixture would get without labels.
Misrouting, the negative control, sends every question to another group's specialist.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ...core.io import atomic_write_json


def train_router(questions: list[dict], seed: int = 0):
    """TF-IDF over character n-grams (robust to Russian morphology) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    labels = [q["domain"] for q in questions]
    if len(set(labels)) < 2:
        raise ValueError("the router needs train questions from at least two domains")
    router = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=2000, C=10.0, random_state=seed),
    )
    router.fit([router_text(q) for q in questions], labels)
    return router


def router_text(question: dict) -> str:
    return " ".join([question["question"], *question["options"].values()])


def route(train: list[dict], test: list[dict], out: str | Path, seed: int = 0) -> dict:
    """Train on ``train``, route every ``test`` question, write routes + router accuracy."""
    router = train_router(train, seed)
    predicted = router.predict([router_text(q) for q in test]).tolist()
    correct = Counter()
    total = Counter()
    for q, p in zip(test, predicted, strict=True):
        total[q["domain"]] += 1
        correct[q["domain"]] += p == q["domain"]
    result = {
        "routes": {q["id"]: p for q, p in zip(test, predicted, strict=True)},
        "accuracy": sum(correct.values()) / len(test) if test else None,
        "n": len(test),
        "per_domain": {
            d: {"n": total[d], "accuracy": correct[d] / total[d]} for d in sorted(total)
        },
    }
    atomic_write_json(out, result)
    return result


def misroute(test: list[dict], groups: dict[str, list[str]], out: str | Path) -> dict:
    """Routes of a negative control: each question goes to the specialist of the group after
    its own (in the config's order), so no question meets its own domain's specialist."""
    from ...evaluation.subsets import specialist_for

    order = list(groups)
    if len(order) < 2:
        raise ValueError("misrouting needs at least two specialist groups")
    routes = {}
    for q in test:
        own = order.index(specialist_for(q["domain"], groups))
        routes[q["id"]] = groups[order[(own + 1) % len(order)]][0]
    result = {
        "routes": routes,
        "rule": "each question to the next group's specialist",
        "accuracy": 0.0 if test else None,
        "n": len(test),
    }
    atomic_write_json(out, result)
    return result
