"""Evaluation: a model answers the test split, generatively (through the shared generation
interface) or by MERA's log-likelihood protocol; both are saved the same way.

scores.json holds accuracies and counts per domain and overall, the run's cost and provenance;
labels come from the plan and intervals from the tables, so neither is an input here (editing
a bootstrap setting never re-runs a model).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core.io import atomic_write_json, atomic_write_jsonl
from ..core.prompting import PromptSettings
from ..core.scoring import score
from ..generation import GenerationSettings, make_generator
from ..generation.runner import answer_questions, run_cost


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
    samples: int = 1,
    adapters: dict[str, str] | None = None,
    adapter_of=None,
    revision: str | None = None,
    generator=None,
    start_s: float = 0.0,
) -> dict:
    """Answer every question once (``samples`` 1, as configured: greedy by default), or k times
    with sampling, sample i seeded from ``generation.seed + i`` (see :func:`combine_samples`).
    Questions carrying retrieved ``knowledge`` (KARD) have it cut first so that prompt and
    answer fit in ``max_length``. ``adapters`` ({name: LoRA adapter folder of ``model``}) are
    served together, ``adapter_of(question)`` naming the one that answers each question (a
    routed mixture of specialists on one engine). ``generator``: one already started (of which
    ``start_s`` seconds of start-up are this run's share), instead of one for ``model``."""
    if samples > 1 and generation.temperature <= 0:
        raise ValueError(f"{samples} samples per question need temperature > 0 (greedy repeats)")
    t0 = time.perf_counter()
    extra = {}
    if max_length and any(q.get("knowledge") for q in questions):
        questions, extra["knowledge"] = fit_questions_knowledge(
            questions,
            model,
            prompt,
            max_length - generation.max_new_tokens,
            trust_remote_code,
            revision,
        )
    if generator is None:
        generator = make_generator(model, generation, trust_remote_code, adapters, revision)
    runs = [
        list(
            answer_questions(
                questions,
                generator,
                prompt,
                desc=f"evaluate {i + 1}/{samples}",
                seed=seed,
                adapter_of=adapter_of,
            )
        )
        for i, seed in enumerate(range(generation.seed, generation.seed + samples))
    ]
    records = runs[0] if samples == 1 else combine_samples(runs)
    wall_s = time.perf_counter() - t0 + start_s
    cost = run_cost([r for run in runs for r in run], wall_s, generator.usage())
    protocol = "generative" if samples == 1 else f"generative, {samples} samples"
    return save_evaluation(
        records,
        model=model,
        predictions_out=predictions_out,
        scores_out=scores_out,
        extra={"protocol": protocol, "cost": cost, **extra},
        revision=revision,
    )


def evaluate_each(
    *,
    model: str,
    adapters: dict[str, str],
    questions: dict[str, list[dict]],
    generation: GenerationSettings,
    prompt: PromptSettings,
    outs: dict[str, str | Path],
    trust_remote_code: bool = False,
    samples: int = 1,
    revision: str | None = None,
) -> dict[str, dict]:
    """Each LoRA adapter of ``model`` ({name: folder}), all served by one generator (one vLLM
    engine), answers its ``questions[name]`` into the folder ``outs[name]`` (predictions.jsonl,
    scores.json), as :func:`evaluate` of the adapter alone writes them; the engine's start is
    shared out among the adapters' costs. Returns each adapter's scores."""
    from ..generation.adapters import AdapterView

    t0 = time.perf_counter()
    generator = make_generator(model, generation, trust_remote_code, adapters, revision)
    start_s = (time.perf_counter() - t0) / len(adapters)
    return {
        name: evaluate(
            model=folder,
            questions=questions[name],
            generation=generation,
            prompt=prompt,
            predictions_out=Path(outs[name]) / "predictions.jsonl",
            scores_out=Path(outs[name]) / "scores.json",
            samples=samples,
            generator=AdapterView(generator, name, folder),
            start_s=start_s,
        )
        for name, folder in adapters.items()
    }


def fit_questions_knowledge(
    questions, model, prompt, budget: int, trust_remote_code=False, revision=None
):
    """Cut each question's passages until its prompt has at most ``budget`` tokens."""
    from ..core.models import load_tokenizer
    from ..core.prompting import build_messages, fit_all_knowledge

    tokenizer = load_tokenizer(model, trust_remote_code, revision=revision)

    def length(record: dict) -> int:
        ids = tokenizer.apply_chat_template(
            build_messages(record, prompt),
            tokenize=True,
            add_generation_prompt=True,
            return_dict=False,
        )
        return len(ids)

    return fit_all_knowledge(questions, length, budget, "questions")


SAMPLE_FIELDS = ("output", "reasoning", "answer", "correct", "completion_tokens")


def majority_answer(answers: list[str | None]) -> str | None:
    """The most frequent parsed answer; a tie goes to the tied answer given first (so the vote
    does not depend on letter order); None when no sample has an answer."""
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def combine_samples(runs: list[list[dict]]) -> list[dict]:
    """k runs over the same questions -> one record per question.

    The record keeps the first sample's prompt, output and reasoning (what a reader looks at),
    takes the majority answer as ``answer``/``correct`` (majority@k), and adds ``samples`` (each
    sample's output, reasoning, answer, correctness and length), ``k`` and ``mean_correct``
    (the share of samples that were right: avg@k is its mean over items).
    """
    combined = []
    for group in zip(*runs, strict=True):
        first = group[0]
        answer = majority_answer([r["answer"] for r in group])
        combined.append(
            {
                **first,
                "answer": answer,
                "correct": answer == first["gold"],
                "k": len(group),
                "mean_correct": sum(bool(r["correct"]) for r in group) / len(group),
                "samples": [{f: r[f] for f in SAMPLE_FIELDS} for r in group],
                "completion_tokens": sum(r["completion_tokens"] for r in group),
            }
        )
    return combined


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
    revision: str | None = None,
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
        "revision": revision,
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
        records,
        model=model,
        predictions_out=predictions_out,
        scores_out=scores_out,
        extra=extra,
        revision=revision,
    )


def save_evaluation(
    records: list[dict],
    *,
    model,
    predictions_out,
    scores_out,
    extra: dict | None = None,
    revision: str | None = None,
) -> dict:
    """predictions.jsonl + scores.json (per domain and overall, with provenance: the model's
    hub commit among it), atomically."""
    from ..core.provenance import provenance
    from ..core.revisions import model_provenance

    atomic_write_jsonl(predictions_out, records)
    scores = {"model_path": str(model), **score(records), **(extra or {})}
    scores["provenance"] = {**provenance(), "model": model_provenance(model, revision)}
    atomic_write_json(scores_out, scores)
    return scores
