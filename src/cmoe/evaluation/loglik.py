# Over 300 lines as one module: MERA's protocol, matched to lm-eval's, in one place.
"""MERA's ruMMLU protocol: log-likelihood of " A".." D" after the prompt, and its generative
variant; for an encoder-decoder, the encoder reads the prompt and the letters are scored as the
decoder's continuations.

Prompts and shots follow MERA v1.2's lm-eval task exactly (``mera_prompt``, ``ShotSampler``).

Scores are computed exactly as lm-evaluation-harness's ``multiple_choice`` output type does for
a causal HF model (same tokenization, same summed continuation log-probs), but with one forward
pass per question instead of one per letter: the four scored sequences share the whole prompt.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import torch

from ..core.errors import DataError
from ..core.models import load_causal_lm, load_tokenizer
from ..data.questions import LETTERS

# MERA's ruMMLU task (MERA-Evaluation/MERA, benchmark_tasks/rummlu/rummlu.yaml, v1.2): the
# instruction-free block every later shot and the target use, filled from the row's inputs.
BLOCK = "{text}\nA) {option_a}\nB) {option_b}\nC) {option_c}\nD) {option_d}\nОтвет:"
SEED = 1234  # lm-eval's --seed in MERA's scripts/run_benchmark.sh
GEN_ANSWER = re.compile(r"\b([ABCD])\b")  # rummlu_gen: the first match is the answer
GEN_STOP = "\n"  # rummlu_gen: greedy decoding until a newline


class ProtocolError(DataError):
    """The data cannot be scored by the protocol (a missing instruction, a short pool)."""


def mera_inputs(question: dict) -> dict[str, str]:
    """A question record as MERA's ``inputs``: text, option_a..option_d, subject, exactly as
    the row stored them (``inputs``: whitespace, a trailing newline included), else from the
    record's cleaned fields."""
    options = question["options"]
    derived = {
        "text": question["question"],
        **{f"option_{x.lower()}": options[x] for x in LETTERS},
        # subject_name is inputs.subject (the Russian generalisation); fall back to the key
        "subject": question.get("subject_name") or question["subject"],
    }
    return {**derived, **question.get("inputs", {})}


def mera_block(question: dict) -> str:
    """The instruction-free block (``doc_to_text_without_instruction``)."""
    return BLOCK.format(**mera_inputs(question)).lstrip()


def mera_instruction(question: dict) -> str:
    """The row's own instruction filled from its inputs (``query``)."""
    instruction = question.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise ProtocolError(
            f"question {question['id']}: no instruction; MERA's protocol renders the first shot "
            "(or, zero-shot, the question) with the row's own instruction"
        )
    return instruction.format(**mera_inputs(question)).strip()


def mera_prompt(question: dict, shots: list[dict], k: int | None = None) -> str:
    """MERA's ruMMLU prompt (lm-eval ``multiple_choice``, ``target_delimiter`` " ",
    ``fewshot_delimiter`` "\\n\\n"): the first shot with its own instruction followed by
    " X", every later shot and the target as the instruction-free block; zero-shot (``k`` 0,
    by default the number of shots), the target's own instruction. A k-shot question whose
    every shot was dropped (the pool held only the question itself) is the block alone, as in
    lm-eval."""
    if (len(shots) if k is None else k) == 0:
        return mera_instruction(question)
    if not shots:
        return mera_block(question)
    solved = [f"{mera_instruction(shots[0])} {shots[0]['gold']}"]
    solved += [f"{mera_block(s)} {s['gold']}" for s in shots[1:]]
    return "\n\n".join([*solved, mera_block(question)])


def _same_item(a: dict, b: dict) -> bool:
    """The same row (lm-eval compares whole documents)."""
    return (a["id"], mera_inputs(a), a.get("gold")) == (b["id"], mera_inputs(b), b.get("gold"))


class ShotSampler:
    """MERA's few-shot sampler as lm-eval runs it.

    One generator, seeded once (lm-eval's ``--seed``), is drawn from question after question in
    the order they are scored: for each, ``random.sample`` of k rows of the pool with the same
    ``meta.domain`` (the MMLU subject key), in pool order. When the pool is the split being
    scored (``same_split``), k + 1 are drawn and the question itself is dropped; otherwise k
    are drawn, and the question, should the pool hold it, is dropped too (one shot fewer).
    Zero-shot draws nothing. A question's shots therefore depend on the questions scored
    before it, exactly as in lm-eval.
    """

    def __init__(self, pool: list[dict], seed: int, same_split: bool = False):
        self.rng = random.Random(seed)
        self.same_split = same_split
        self.by_subject: dict[str, list[dict]] = {}
        for item in pool:
            self.by_subject.setdefault(item["subject"], []).append(item)

    def draw(self, question: dict, k: int) -> list[dict]:
        if k == 0:
            return []
        n = k + 1 if self.same_split else k
        candidates = self.by_subject.get(question["subject"], [])
        if len(candidates) < n:
            raise ProtocolError(
                f"the few-shot pool has {len(candidates)} question(s) of subject "
                f"{question['subject']!r}; {k} shot(s) need {n} (data.fewshot_source)"
            )
        drawn = self.rng.sample(candidates, n)
        return [s for s in drawn if not _same_item(s, question)][:k]


def draw_all_shots(
    questions: list[dict], pool: list[dict], k: int, seed: int, same_split: bool = False
) -> list[list[dict]]:
    """Every question's shots, drawn in order (see :class:`ShotSampler`)."""
    sampler = ShotSampler(pool, seed, same_split)
    return [sampler.draw(q, k) for q in questions]


def mera_prompts(
    questions: list[dict], pool: list[dict], k: int, seed: int, same_split: bool = False
) -> list[str]:
    """Every question's prompt; raises ProtocolError before any model is loaded."""
    shots = draw_all_shots(questions, pool, k, seed, same_split)
    return [mera_prompt(q, s, k) for q, s in zip(questions, shots, strict=True)]


def first_letter(text: str) -> str | None:
    """rummlu_gen's answer: the first ``\\b([ABCD])\\b`` match, or None."""
    match = GEN_ANSWER.search(text)
    return match.group(1) if match else None


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


def seq2seq_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's seq2seq ``_encode_pair``: trailing context whitespace moves to the
    continuation, and each side is encoded alone, with the tokenizer's special tokens."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    return tokenizer.encode(context), tokenizer.encode(continuation)


@torch.no_grad()
def score_letters_seq2seq(
    model: Any, tokenizer: Any, prompts: list[str], batch_size: int = 8
) -> list[dict[str, float]]:
    """An encoder-decoder's :func:`score_letters`: the encoder reads the prompt and the
    decoder scores each letter's continuation from its start token, as lm-eval scores a
    seq2seq model. The encoder runs once per question; its output serves all four letters."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    items = [[seq2seq_pair(tokenizer, p, f" {x}") for x in LETTERS] for p in prompts]
    scores: list[dict[str, float]] = []
    dev = model.device
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        width = max(len(pairs[0][0]) for pairs in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, pairs in enumerate(batch):
            ctx = pairs[0][0]
            ids[b, : len(ctx)], mask[b, : len(ctx)] = torch.tensor(ctx), 1
        encoded = model.get_encoder()(input_ids=ids.to(dev), attention_mask=mask.to(dev))
        # every (question, letter) pair as one decoder row, over its question's encoder output
        conts = [cont for pairs in batch for _, cont in pairs]
        rows = torch.arange(len(batch)).repeat_interleave(len(LETTERS))
        span = max(map(len, conts))
        labels = torch.full((len(conts), span), -100, dtype=torch.long)
        for r, cont in enumerate(conts):
            labels[r, : len(cont)] = torch.tensor(cont)
        hidden = encoded.last_hidden_state[rows.to(dev)]
        out = model(
            encoder_outputs=(hidden,),
            attention_mask=mask[rows].to(dev),
            labels=labels.to(dev),
            use_cache=False,
        )
        lp = torch.log_softmax(out.logits.float(), dim=-1).cpu()
        for b in range(len(batch)):
            ll = {}
            for j, letter in enumerate(LETTERS):
                r, cont = b * len(LETTERS) + j, conts[b * len(LETTERS) + j]
                ll[letter] = sum(lp[r, t, tok].item() for t, tok in enumerate(cont))
            scores.append(ll)
    return scores


def score_letters(
    model: Any, tokenizer: Any, prompts: list[str], batch_size: int = 8
) -> list[dict[str, float]]:
    """Summed log-prob of each continuation " A".." D" after each prompt.

    An encoder-decoder is scored by :func:`score_letters_seq2seq`; a causal model as follows.

    Per question, the four sequences (prompt + letter, tokenized as lm-eval does) share a common
    token prefix; the model runs once on it. Continuation tokens inside the prefix (e.g. a lone
    "Ġ" when the letter is split) are scored from that pass and shared by all letters; the first
    token after the prefix is read at its last position. A letter with more than one token after
    the prefix (possible with small BPE vocabularies) gets its whole continuation scored again in
    an extra batched full pass, on those letters only.
    """
    if model.config.is_encoder_decoder:
        return score_letters_seq2seq(model, tokenizer, prompts, batch_size)
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
    same_split: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> list[dict]:
    """MERA's ``mera`` protocol. One record per question: its fields plus ``prompt``,
    ``loglik`` {A..D}, ``answer`` (the argmax letter) and ``correct``."""
    prompts = mera_prompts(questions, pool, k, seed, same_split)  # bad data fails before loading
    tokenizer = load_tokenizer(model_path, trust_remote_code, "left", revision)
    model = load_causal_lm(model_path, dtype, trust_remote_code, revision=revision)
    records = []
    for q, prompt, ll in zip(
        questions, prompts, score_letters(model, tokenizer, prompts, batch_size), strict=True
    ):
        answer = max(LETTERS, key=ll.__getitem__)  # first maximum on ties, like lm-eval's argmax
        records.append(
            {**q, "prompt": prompt, "loglik": ll, "answer": answer, "correct": answer == q["gold"]}
        )
    return records


@torch.no_grad()
def generate_until_newline(
    model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy continuations of raw-text prompts (no chat template), each cut at its first
    newline, as lm-eval's ``generate_until`` with ``until: ["\\n"]`` returns them."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    outputs: list[str] = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True)
        enc = {key: value.to(model.device) for key, value in enc.items()}
        out = model.generate(
            **enc,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            stop_strings=[GEN_STOP],
            tokenizer=tokenizer,
            pad_token_id=pad_id,
        )
        # a decoder-only model returns prompt + continuation; an encoder-decoder, its start
        # token + continuation
        width = 1 if model.config.is_encoder_decoder else enc["input_ids"].shape[1]
        for row, i in enumerate(batch):
            text = tokenizer.decode(out[row, width:], skip_special_tokens=True)
            outputs[i] = text.split(GEN_STOP)[0]
    return outputs


def evaluate_mera_gen(
    model_path: str | Path,
    questions: list[dict],
    pool: list[dict],
    *,
    k: int,
    seed: int,
    batch_size: int,
    max_new_tokens: int,
    dtype: str = "auto",
    same_split: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> list[dict]:
    """MERA's generative variant (``rummlu_gen``): the same prompts, greedy decoding until a
    newline, the first ``\\b([ABCD])\\b`` match as the answer (None when there is none)."""
    prompts = mera_prompts(questions, pool, k, seed, same_split)
    tokenizer = load_tokenizer(model_path, trust_remote_code, "left", revision)
    model = load_causal_lm(model_path, dtype, trust_remote_code, revision=revision)
    outputs = generate_until_newline(model, tokenizer, prompts, max_new_tokens, batch_size)
    records = []
    for q, prompt, output in zip(questions, prompts, outputs, strict=True):
        answer = first_letter(output)
        records.append(
            {
                **q,
                "prompt": prompt,
                "output": output,
                "answer": answer,
                "correct": answer == q["gold"],
            }
        )
    return records
