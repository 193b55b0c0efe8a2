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
) -> dict:
    t0 = time.perf_counter()
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
        extra={"protocol": "generative", "cost": cost},
    )


def evaluate_loglik_protocol(
    *,
    model: str,
    questions: list[dict],
    pool: list[dict],
    protocol: str,
    settings: dict,
    predictions_out: str | Path,
    scores_out: str | Path,
    trust_remote_code: bool = False,
) -> dict:
    """MERA's ruMMLU protocol, ``mera`` (log-likelihood) or ``mera_gen`` (generative);
    ``settings`` is a planned job's: k (already resolved from the MERA version), seed,
    same_split, batch_size, dtype and, for mera_gen, max_new_tokens."""
    from .loglik import evaluate_loglik, evaluate_mera_gen

    t0 = time.perf_counter()
    common = {
        "k": settings["k"],
        "seed": settings["seed"],
        "batch_size": settings["batch_size"],
        "dtype": settings["dtype"],
        "same_split": settings.get("same_split", False),
        "trust_remote_code": trust_remote_code,
    }
    if protocol == "mera":
        records = evaluate_loglik(model, questions, pool, **common)
    elif protocol == "mera_gen":
        records = evaluate_mera_gen(
            model, questions, pool, max_new_tokens=settings["max_new_tokens"], **common
        )
    else:
        raise ValueError(f"unknown protocol {protocol!r} (mera, mera_gen)")
    extra = {
        "protocol": f"{protocol} {settings['k']}-shot",
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
