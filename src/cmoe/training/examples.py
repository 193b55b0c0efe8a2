"""Trace records -> TRL's conversational prompt/completion rows, and their token lengths.

The prompt is the shared prompt builder's messages (the same the teacher answered and the
student is evaluated with) and the completion is the teacher's reasoning in <think> tags plus
the canonical answer line, so TRL computes the loss on the completion only. Kept apart from the
trainer: what is learned is decided here, how it is learned in :mod:`.sft`, and the rows can be
built and checked (tests, benchmarks) without loading a model.
"""

from __future__ import annotations

from ..io import read_jsonl
from ..prompting import PromptSettings, build_completion, build_messages


def sft_examples(records: list[dict], prompt: PromptSettings, source: str) -> list[dict]:
    """Trace records (or, for warm-up, questions with reference explanations) -> SFT rows."""
    rows = []
    for r in records:
        if source == "reference":
            if not r.get("explanation"):
                raise ValueError(
                    f"question {r.get('id')} has no reference explanation: warm-up on reference "
                    "explanations needs data with an `explanation` field (the demo data has one)"
                )
            reasoning, letter = r["explanation"], r["gold"]
        else:
            reasoning, letter = r["reasoning"], r["answer"]
        rows.append(
            {
                "prompt": build_messages(r, prompt),
                "completion": [
                    {"role": "assistant", "content": build_completion(reasoning, letter)}
                ],
            }
        )
    return rows


def example_lengths(tokenizer, rows: list[dict]) -> list[tuple[int, int]]:
    """(prompt, full) token lengths of each example as the trainer sees it, before truncation."""
    lengths = []
    for row in rows:
        prompt = tokenizer.apply_chat_template(
            row["prompt"], tokenize=True, add_generation_prompt=True, return_dict=False
        )
        full = tokenizer.apply_chat_template(
            row["prompt"] + row["completion"], tokenize=True, return_dict=False
        )
        lengths.append((len(prompt), len(full)))
    return lengths


def load_training_rows(paths: list[str], prompt: PromptSettings, source: str) -> list[dict]:
    """The SFT rows of a training job's input files; only correct traces are learned from."""
    records = [r for p in paths for r in read_jsonl(p)]
    if source == "traces":
        records = [r for r in records if r.get("correct")]
    if not records:
        raise ValueError(f"no correct traces to train on in {', '.join(map(str, paths))}")
    return sft_examples(records, prompt, source)
