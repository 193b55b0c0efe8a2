"""Evaluation: a model answers the test split, generatively (through the shared generation
interface) or by MERA's log-likelihood protocol; both are saved the same way.

scores.json holds accuracies and counts per domain and overall, the run's cost and provenance;
labels come from the plan and intervals from the tables, so neither is an input here (editing
a bootstrap setting never re-runs a model).
"""

from __future__ import annotations

import time
from pathlib import Path

from .generation import GenerationSettings, make_generator
from .generation.runner import answer_questions, run_cost
from .io import atomic_write_json, atomic_write_jsonl
from .prompting import PromptSettings
from .scoring import score


def evaluate(
    *,
    model: str,
    questions: list[dict],
    generation: GenerationSettings,
    prompt: PromptSettings,
    predictions_out: str | Path,
    scores_out: str | Path,
    trust_remote_code: bool = False,
    max_length: int | None = None,
) -> dict:
    """Answer ``questions`` and save predictions and scores. Questions carrying retrieved
    ``knowledge`` (KARD) have it cut first so that prompt and answer fit in ``max_length``."""
    t0 = time.perf_counter()
    extra = {}
    if max_length and any(q.get("knowledge") for q in questions):
        questions, extra["knowledge"] = fit_questions_knowledge(
            questions, model, prompt, max_length - generation.max_new_tokens, trust_remote_code
        )
    generator = make_generator(model, generation, trust_remote_code)
    records = list(
        answer_questions(questions, generator, prompt, desc="evaluate", seed=generation.seed)
    )
    cost = run_cost(records, time.perf_counter() - t0, generator.usage())
    return save_evaluation(
        records,
        model=model,
        predictions_out=predictions_out,
        scores_out=scores_out,
        extra={"protocol": "generative", "cost": cost, **extra},
    )


def fit_questions_knowledge(questions, model, prompt, budget: int, trust_remote_code=False):
    """Cut each question's passages until its prompt has at most ``budget`` tokens."""
    from .models import load_tokenizer
    from .prompting import build_messages, fit_knowledge

    tokenizer = load_tokenizer(model, trust_remote_code)

    def length(record: dict) -> int:
        ids = tokenizer.apply_chat_template(
            build_messages(record, prompt),
            tokenize=True,
            add_generation_prompt=True,
            return_dict=False,
        )
        return len(ids)

    totals = {"questions_with_knowledge": 0, "questions_cut": 0}
    out = []
    for q in questions:
        if q.get("knowledge"):
            totals["questions_with_knowledge"] += 1
            q, stats = fit_knowledge(q, length, budget)
            totals["questions_cut"] += any(stats.values())
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
        out.append(q)
    return out, totals


def evaluate_loglik_protocol(
    *,
    model: str,
    questions: list[dict],
    pool: list[dict],
    settings,
    predictions_out: str | Path,
    scores_out: str | Path,
    trust_remote_code: bool = False,
) -> dict:
    """MERA's k-shot log-likelihood protocol (``settings``: a LoglikSettings)."""
    from .loglik import evaluate_loglik

    t0 = time.perf_counter()
    records = evaluate_loglik(
        model,
        questions,
        pool,
        k=settings.k,
        seed=settings.seed,
        batch_size=settings.batch_size,
        dtype=settings.dtype,
        trust_remote_code=trust_remote_code,
    )
    extra = {
        "protocol": f"loglik {settings.k}-shot",
        "wall_time_s": round(time.perf_counter() - t0, 3),
    }
    return save_evaluation(
        records, model=model, predictions_out=predictions_out, scores_out=scores_out, extra=extra
    )


def save_evaluation(
    records: list[dict], *, model, predictions_out, scores_out, extra: dict | None = None
) -> dict:
    """predictions.jsonl + scores.json (per domain and overall, with provenance), atomically."""
    from .provenance import provenance

    atomic_write_jsonl(predictions_out, records)
    scores = {"model_path": str(model), **score(records), **(extra or {})}
    scores["provenance"] = provenance()
    atomic_write_json(scores_out, scores)
    return scores
