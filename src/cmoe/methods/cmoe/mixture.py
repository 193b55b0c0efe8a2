"""The routed mixture of specialists: compose per-specialist predictions under a routing."""

from __future__ import annotations

from pathlib import Path

from ...core.io import read_jsonl
from ...evaluation.subsets import specialist_for


def score_mixture(
    *,
    questions: list[dict],
    predictions: dict[str, str | Path],
    groups: dict[str, list[str]],
    routes: dict[str, str] | None,
    routing: str,
    predictions_out: str | Path,
    scores_out: str | Path,
) -> dict:
    """Score the mixture: each question is answered by the specialist its routing picks.

    ``routes`` None means oracle routing (the question's own domain from subject metadata);
    ``routing`` names the routing in the scores. ``predictions`` maps specialist group -> its
    predictions.jsonl.
    """
    by_group = {g: {r["id"]: r for r in read_jsonl(p)} for g, p in predictions.items()}
    records = []
    for q in questions:
        domain = routes[q["id"]] if routes is not None else q["domain"]
        group = specialist_for(domain, groups)
        record = by_group[group].get(q["id"])
        if record is None:
            raise ValueError(f"specialist {group} has no prediction for question {q['id']}")
        records.append({**record, "routed_to": group})
    from ...evaluation.generative import save_evaluation

    extra = {"protocol": f"mixture, {routing} routing"}
    return save_evaluation(
        records,
        model="mixture",
        predictions_out=predictions_out,
        scores_out=scores_out,
        extra=extra,
    )
