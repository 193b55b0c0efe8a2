"""MERA-protocol log-likelihood evaluation of ruMMLU: score " A".." D" after the prompt.

Scores are computed exactly as lm-evaluation-harness's ``multiple_choice`` output type does for
a causal HF model (same tokenization, same summed continuation log-probs), but with one forward
pass per question instead of one per letter: the four scored sequences share the whole prompt.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from .data import LETTERS
from .models import load_causal_lm, load_tokenizer

BLOCK = (
    "Задание содержит вопрос по теме {subject} и 4 варианта ответа A, B, C, D, "
    "из которых только один правильный.\n{question}\nA {A}\nB {B}\nC {C}\nD {D}\n"
    "Запишите букву правильного ответа\nОтвет:"
)


def _block(question: dict) -> str:
    # subject_name (the Russian subject) is optional in question records; fall back to the key
    subject = question.get("subject_name") or question["subject"]
    return BLOCK.format(subject=subject, question=question["question"], **question["options"])


def mera_prompt(question: dict, shots: list[dict]) -> str:
    """MERA's ruMMLU prompt: solved shots (block + " gold"), then the open target block."""
    return "\n\n".join([f"{_block(s)} {s['gold']}" for s in shots] + [_block(question)])


def select_shots(question: dict, pool: list[dict], k: int, seed: int) -> list[dict]:
    """k same-subject shots from ``pool``, never the question itself, fixed per (seed, id)."""
    candidates = sorted(
        (p for p in pool if p["subject"] == question["subject"] and p["id"] != question["id"]),
        key=lambda p: p["id"],  # sorted, so the pool's order does not change the draw
    )
    # A str seed is hashed with SHA-512 by random.Random: stable across processes and runs.
    rng = random.Random(f"{seed}:{question['id']}")
    return rng.sample(candidates, min(k, len(candidates)))


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's causal ``_encode_pair``: trailing context whitespace moves to the continuation,
    the pair is encoded whole and split at the length of the encoded context."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = tokenizer.encode(context + continuation)
    ctx = tokenizer.encode(context)
    return ctx, whole[len(ctx) :]


@torch.no_grad()
def _logprobs(model: Any, seqs: list[list[int]], pad_id: int, keep: int) -> torch.Tensor:
    """Log-softmax at the last ``keep`` positions of the left-padded ``seqs``: [B, keep, V]."""
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, seq in enumerate(seqs):
        ids[b, width - len(seq) :] = torch.tensor(seq)
        mask[b, width - len(seq) :] = 1
    # Positions from the mask, so every real token sits where it would in an unpadded run.
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    dev = model.device
    out = model(
        input_ids=ids.to(dev),
        attention_mask=mask.to(dev),
        position_ids=positions.to(dev),
        logits_to_keep=keep,  # the LM head only where a scored token is predicted
        use_cache=False,
    )
    # on the CPU once per batch: the many single-element reads below then cost no device syncs
    return torch.log_softmax(out.logits.float(), dim=-1).cpu()


def score_letters(
    model: Any, tokenizer: Any, prompts: list[str], batch_size: int = 8
) -> list[dict[str, float]]:
    """Summed log-prob of each continuation " A".." D" after each prompt.

    Per question, the four sequences (prompt + letter, tokenized as lm-eval does) share a common
    token prefix; the model runs once on it. Continuation tokens inside the prefix (e.g. a lone
    "Ġ" when the letter is split) are scored from that pass and shared by all letters; the first
    token after the prefix is read at its last position. A letter with more than one token after
    the prefix (possible with small BPE vocabularies) gets its whole continuation scored again in
    an extra batched full pass, on those letters only.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    items = []  # (ctx_len, prefix_len, full sequences per letter)
    for prompt in prompts:
        pairs = [encode_pair(tokenizer, prompt, f" {x}") for x in LETTERS]
        ctx_len, fulls = len(pairs[0][0]), [ctx + cont for ctx, cont in pairs]
        prefix = 0
        while prefix < min(map(len, fulls)) - 1 and len({f[prefix] for f in fulls}) == 1:
            prefix += 1  # stops before each letter's last token: every letter keeps one to read
        items.append((ctx_len, prefix, fulls))

    scores: list[dict[str, float]] = [{} for _ in prompts]
    extra = []  # (question index, letter, full sequence, ctx_len)
    order = sorted(range(len(items)), key=lambda i: -items[i][1])  # similar lengths batch together
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        keep = max(items[i][1] - items[i][0] + 1 for i in batch)
        lp = _logprobs(model, [items[i][2][0][: items[i][1]] for i in batch], pad_id, keep)
        for row, i in enumerate(batch):
            ctx_len, prefix, fulls = items[i]
            # kept index of the logits predicting prefix token j is keep - prefix + j - 1
            shared = sum(
                lp[row, keep - prefix + j - 1, fulls[0][j]].item() for j in range(ctx_len, prefix)
            )
            for letter, full in zip(LETTERS, fulls, strict=True):
                if len(full) > prefix + 1:
                    extra.append((i, letter, full, ctx_len))
                else:
                    scores[i][letter] = shared + lp[row, keep - 1, full[prefix]].item()

    for start in range(0, len(extra), batch_size):
        chunk = extra[start : start + batch_size]
        keep = max(len(full) - ctx_len for _, _, full, ctx_len in chunk)
        lp = _logprobs(model, [full[:-1] for _, _, full, _ in chunk], pad_id, keep)
        for row, (i, letter, full, ctx_len) in enumerate(chunk):
            cont = full[ctx_len:]
            idx = range(keep - len(cont), keep)
            scores[i][letter] = sum(
                lp[row, t, tok].item() for t, tok in zip(idx, cont, strict=True)
            )
    return scores


def evaluate_loglik(
    model_path: str | Path,
    questions: list[dict],
    pool: list[dict],
    *,
    k: int,
    seed: int,
    batch_size: int,
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> list[dict]:
    """One record per question: its fields plus ``prompt``, ``loglik`` {A..D}, ``answer``
    (the argmax letter) and ``correct``."""
    tokenizer = load_tokenizer(model_path, trust_remote_code, padding_side="left")
    model = load_causal_lm(model_path, dtype=dtype, trust_remote_code=trust_remote_code)
    prompts = [mera_prompt(q, select_shots(q, pool, k, seed)) for q in questions]
    records = []
    for q, prompt, ll in zip(
        questions, prompts, score_letters(model, tokenizer, prompts, batch_size), strict=True
    ):
        answer = max(LETTERS, key=ll.__getitem__)  # first maximum on ties, like lm-eval's argmax
        records.append(
            {**q, "prompt": prompt, "loglik": ll, "answer": answer, "correct": answer == q["gold"]}
        )
    return records
