"""Evaluation: a model answers the test split through the shared generation interface."""

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
    generator = make_generator(model, GenerationSettings(**generation), trust_remote_code)
    records = list(
        answer_questions(questions, generator, PromptSettings(**prompt), desc="evaluate")
    )
    atomic_write_jsonl(predictions_out, records)
    scores = {
        "labels": labels,
        "model_path": str(model),
        **score(records, bootstrap),
        "cost": run_cost(records, time.perf_counter() - t0),
    }
    atomic_write_json(scores_out, scores)
    return scores
