"""Evaluation: a model answers the test split, generatively (through the shared generation
interface) or by MERA's log-likelihood protocol; both are scored and saved the same way."""

from __future__ import annotations

import time
from pathlib import Path

from .generation import GenerationSettings, make_generator
from .io import atomic_write_json, atomic_write_jsonl
from .prompting import PromptSettings
from .scoring import score
from .traces import answer_questions, run_cost


def evaluate(
    model: str,
    questions: list[dict],
    generation: dict,
    prompt: dict,
    labels: dict[str, str],
    predictions_out: str | Path,
    scores_out: str | Path,
    trust_remote_code: bool = False,
    bootstrap: dict | None = None,
) -> dict:
    t0 = time.perf_counter()
    settings = GenerationSettings(**generation)
    generator = make_generator(model, settings, trust_remote_code)
    records = list(
        answer_questions(
            questions, generator, PromptSettings(**prompt), desc="evaluate", seed=settings.seed
        )
    )
    cost = run_cost(records, time.perf_counter() - t0, generator.usage())
    extra = {"protocol": "generative", "cost": cost}
    return save_evaluation(records, model, labels, predictions_out, scores_out, bootstrap, extra)


def evaluate_loglik_protocol(
    model: str,
    questions: list[dict],
    pool: list[dict],
    settings: dict,
    labels: dict[str, str],
    predictions_out: str | Path,
    scores_out: str | Path,
    trust_remote_code: bool = False,
    bootstrap: dict | None = None,
) -> dict:
    """MERA's k-shot log-likelihood protocol (settings: k, seed, batch_size, dtype)."""
    from .loglik import evaluate_loglik

    t0 = time.perf_counter()
    k = settings.get("k", 5)
    records = evaluate_loglik(
        model,
        questions,
        pool,
        k=k,
        seed=settings.get("seed", 0),
        batch_size=settings.get("batch_size", 8),
        dtype=settings.get("dtype", "auto"),
        trust_remote_code=trust_remote_code,
    )
    extra = {"protocol": f"loglik {k}-shot", "wall_time_s": round(time.perf_counter() - t0, 3)}
    return save_evaluation(records, model, labels, predictions_out, scores_out, bootstrap, extra)


def save_evaluation(records, model, labels, predictions_out, scores_out, bootstrap, extra):
    """predictions.jsonl + scores.json (per domain and overall, with intervals), atomically."""
    atomic_write_jsonl(predictions_out, records)
    scores = {"labels": labels, "model_path": str(model), **score(records, bootstrap), **extra}
    atomic_write_json(scores_out, scores)
    return scores
