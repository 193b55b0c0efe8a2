"""Questions -> model answers as trace records (used for teacher traces and for evaluation)."""

from __future__ import annotations

from collections.abc import Iterator

from tqdm import tqdm

from .answers import extract_answer, split_reasoning
from .generation import Generator
from .prompting import PromptSettings, build_messages

QUESTION_FIELDS = ("id", "subject", "subject_name", "domain", "question", "options", "gold")


def answer_questions(
    questions: list[dict], generator: Generator, prompt: PromptSettings, desc: str = "generate"
) -> Iterator[dict]:
    """Yield one trace record per question, in order."""
    conversations = [build_messages(q, prompt) for q in questions]
    completions = generator.generate(conversations, enable_thinking=prompt.enable_thinking)
    progress = tqdm(zip(questions, completions, strict=True), total=len(questions), desc=desc)
    for q, c in progress:
        reasoning, _ = split_reasoning(c.text)
        answer = extract_answer(c.text)
        yield {
            **{k: q[k] for k in QUESTION_FIELDS if k in q},
            "model": generator.model_name,
            "prompt": c.prompt,
            "output": c.text,
            "reasoning": reasoning,
            "answer": answer,
            "correct": answer == q["gold"],
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "latency_s": c.latency_s,
        }


def run_cost(records: list[dict], wall_s: float) -> dict:
    """What a generation run cost: wall time, device and tokens (for the cost columns)."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "wall_time_s": round(wall_s, 3),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "device_count": torch.cuda.device_count() if cuda else 1,
        "questions": len(records),
        "prompt_tokens": sum(r["prompt_tokens"] for r in records),
        "completion_tokens": sum(r["completion_tokens"] for r in records),
    }
