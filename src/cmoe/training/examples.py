"""Trace records -> TRL's conversational prompt/completion rows, and their token lengths.

The prompt is the shared prompt builder's messages (the same the teacher answered and the
student is evaluated with) and the completion is the teacher's reasoning (in <think> tags where
the student's chat template handles them) plus the canonical answer line, so TRL computes the
loss on the completion only, up to and including the template's end-of-turn token. Kept apart
from the trainer: what is learned is decided here, how it is learned in :mod:`.sft`, and the rows
can be built and checked (tests, benchmarks) without loading a model.
"""

from __future__ import annotations

from ..core.io import read_jsonl
from ..core.prompting import (
    PromptSettings,
    build_completion,
    build_messages,
    fit_all_knowledge,
    thinks_in_tags,
)


def sft_examples(
    records: list[dict], prompt: PromptSettings, source: str, think: bool = True
) -> list[dict]:
    """Trace records (or, for warm-up, questions with reference explanations) -> SFT rows;
    ``think``: the reasoning goes in <think> tags (see cmoe.core.prompting.thinks_in_tags)."""
    rows = []
    for r in records:
        if "messages" in r:  # an extra source's chat (cmoe.traces.extra_sources), learned as is
            turns = r["messages"]
            rows.append({"prompt": turns[:-1], "completion": turns[-1:]})
            continue
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
                    {"role": "assistant", "content": build_completion(reasoning, letter, think)}
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


def example_token_ids(tokenizer, row: dict) -> tuple[list[int], int]:
    """Token ids of prompt + completion and the index of the first completion token, as TRL's
    SFTTrainer tokenizes a conversational prompt/completion row (the completion starts where
    the prompt and the whole diverge). Logit distillation scores exactly these tokens."""
    prompt = tokenizer.apply_chat_template(
        row["prompt"], tokenize=True, add_generation_prompt=True, return_dict=False
    )
    full = tokenizer.apply_chat_template(
        row["prompt"] + row["completion"], tokenize=True, return_dict=False
    )
    start = 0
    while start < min(len(prompt), len(full)) and prompt[start] == full[start]:
        start += 1
    return list(full), start


def fit_records_knowledge(
    records: list[dict], prompt: PromptSettings, source: str, tokenizer, max_length: int
) -> tuple[list[dict], dict]:
    """KARD: cut each record's passages (cmoe.core.prompting.fit_knowledge) until prompt and
    completion fit in ``max_length`` tokens; return the records and what was cut, counted."""
    think = thinks_in_tags(tokenizer.chat_template)

    def length(record: dict) -> int:
        return example_lengths(tokenizer, sft_examples([record], prompt, source, think))[0][1]

    return fit_all_knowledge(records, length, max_length, "examples")


def read_training_records(paths: list[str], source: str) -> list[dict]:
    """The records a training job learns from: only correct traces (``source: traces``), or
    every question (``reference``: its reference explanation)."""
    records = [r for p in paths for r in read_jsonl(p)]
    if source == "traces":
        records = [r for r in records if r.get("correct")]
    if not records:
        raise ValueError(f"no correct traces to train on in {', '.join(map(str, paths))}")
    return records


def load_training_rows(
    paths: list[str],
    prompt: PromptSettings,
    source: str,
    load_tokenizer=None,
    max_length: int | None = None,
    knowledge_stats: dict | None = None,
) -> list[dict]:
    """The SFT rows of a causal training job's input files (see
    :func:`read_training_records`; an encoder-decoder's: :func:`.seq2seq.seq2seq_examples`).

    The student's tokenizer, ``load_tokenizer()``, decides the completion's format (reasoning in
    <think> tags only where its chat template handles them; without one, in tags). Records
    carrying retrieved ``knowledge`` (KARD) have it cut to fit ``max_length`` first; the counts
    go into ``knowledge_stats``.
    """
    records = read_training_records(paths, source)
    tokenizer = load_tokenizer() if load_tokenizer is not None else None
    if tokenizer is not None and any(r.get("knowledge") for r in records):
        records, stats = fit_records_knowledge(records, prompt, source, tokenizer, max_length)
        if knowledge_stats is not None:
            knowledge_stats.update(stats)
    think = tokenizer is None or thinks_in_tags(tokenizer.chat_template)
    return sft_examples(records, prompt, source, think)
