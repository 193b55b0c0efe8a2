"""Logit distillation across vocabularies: aligner throughput on CPU, and stored bytes per 1,000
trace tokens in the teacher's vocabulary with byte spans (format 2) against today's format.

Traces are the demo questions' reference explanations in a Qwen3 student's format
(``<think>…</think>\\n\\nОтвет: X``): short ones (one explanation, ~100 tokens) and long ones
(ten explanations, ~1,000 tokens). Both sides tokenize each trace as the scorer and the trainer
do, the teacher with its end-of-turn token, the student with its own and Qwen's trailing newline;
the teacher's stored top-k is synthetic (random ids and log-probs: the aligner's cost does not
depend on their values). Timed, per stage and in all (`CrossVocabAligner.row`, what the KD
collator runs once per example; its result is cached for later epochs):

- spans from ids, both sides (:meth:`TokenTable.spans`);
- the aligner (:func:`align`) on the two sides' spans;
- the merging rule (:func:`unit_teacher_targets`) at top-k;
- TRL GOLD's aligner (``ULDLoss._align_by_byte_offsets``, a private method of trl 1.16) on the
  same spans, as a reference.

Tokenizers: the project's tiny byte-level BPEs trained on the demo corpus (Llama 3 family, 1,536
tokens, for the teacher; Qwen3 family, 1,024, for the student), or any two fast tokenizers given
by --teacher-tokenizer / --student-tokenizer (folders with tokenizer.json).

    python perf/bench_cross_vocab.py [--traces 1000 --top-k 20 --threads 1 --sizes 8 20
                                      --teacher-tokenizer DIR --student-tokenizer DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import DEMO_DATA, demo_questions, tiny_model


def tokenizers(args):
    from cmoe.core.models import load_tokenizer
    from cmoe.data.tiny import corpus_texts, train_tokenizer

    if args.teacher_tokenizer and args.student_tokenizer:
        return load_tokenizer(args.teacher_tokenizer), load_tokenizer(args.student_tokenizer)
    texts = corpus_texts(DEMO_DATA)
    return train_tokenizer(texts, 1536, "llama3"), train_tokenizer(texts, 1024, "qwen3")


def traces(n: int, per_trace: int, seed: int = 0) -> list[str]:
    from cmoe.core.prompting import build_completion

    rng = random.Random(seed)
    questions = demo_questions()
    out = []
    for _ in range(n):
        picked = rng.sample(questions, per_trace)
        reasoning = "\n".join(q["explanation"] for q in picked)
        out.append(build_completion(reasoning, picked[0]["gold"], think=True))
    return out


def sides(teacher_tok, student_tok, texts: list[str]):
    """Each trace's completion ids as each side's scorer or trainer holds them."""
    t_eos, s_eos = teacher_tok.eos_token, student_tok.eos_token
    t_ids = [teacher_tok(t + t_eos, add_special_tokens=False)["input_ids"] for t in texts]
    s_ids = [student_tok(t + s_eos + "\n", add_special_tokens=False)["input_ids"] for t in texts]
    return t_ids, s_ids


def stored_rows(t_table, t_ids: list[list[int]], k: int, seed: int = 0) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for ids in t_ids:
        n = len(ids)
        top = rng.integers(0, len(t_table), (n, k)).astype(np.int32)
        top[:, 0] = ids
        lps = np.sort(-rng.exponential(2.0, (n, k)), axis=1)[:, ::-1].astype(np.float16)
        rows.append(
            {
                "targets": np.asarray(ids, np.int32),
                "ids": top,
                "logprobs": lps,
                "target_logprobs": lps[:, 0].astype(np.float32),
                "spans": t_table.spans(ids).spans,
            }
        )
    return rows


def timed(fn, items) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = [fn(*item) for item in items]
    return time.perf_counter() - t0, out


def align_stages(teacher_tok, student_tok, texts: list[str], k: int) -> dict:
    from cmoe.training.cross_vocab import CrossVocabAligner, align, unit_teacher_targets

    t0 = time.perf_counter()
    aligner = CrossVocabAligner.from_tokenizers(teacher_tok, student_tok)
    setup = time.perf_counter() - t0
    t_table, s_table, pairs = aligner.teacher, aligner.student, aligner.vocab_map.control_pairs
    t_ids, s_ids = sides(teacher_tok, student_tok, texts)
    rows = stored_rows(t_table, t_ids, k)
    student_tokens = sum(map(len, s_ids))
    stages = {}
    both = zip(t_ids, s_ids, strict=True)
    sec, spans = timed(lambda a, b: (t_table.spans(a), s_table.spans(b)), both)
    stages["spans from ids, both sides"] = sec
    sec, alignments = timed(lambda t, s: align(t, s, pairs), spans)
    stages["align"] = sec
    items = [
        (a, r["targets"], r["ids"], r["logprobs"], r["target_logprobs"], s.ids, aligner.vocab_map)
        for a, r, (_, s) in zip(alignments, rows, spans, strict=True)
    ]
    stages[f"unit_teacher_targets (k={k})"] = timed(unit_teacher_targets, items)[0]
    items = [(r, ids, text) for r, ids, text in zip(rows, s_ids, texts, strict=True)]
    stages["CrossVocabAligner.row (all of it, per example)"] = timed(aligner.row, items)[0]
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        from trl.experimental.gold.gold_trainer import ULDLoss

        lists = [(s.spans.tolist(), t.spans.tolist()) for t, s in spans]
        stages["TRL ULDLoss._align_by_byte_offsets (reference)"] = timed(
            ULDLoss._align_by_byte_offsets, lists
        )[0]
    except (ImportError, AttributeError):
        pass
    shapes = Counter()
    dropped = Counter()
    for a in alignments:
        for tg, sg in a.groups():
            shapes[f"{min(len(tg), 3)}:{min(len(sg), 3)}"] += 1
        dropped.update(a.dropped)
    return {
        "traces": len(texts),
        "teacher_tokens": sum(map(len, t_ids)),
        "student_tokens": student_tokens,
        "units": sum(map(len, alignments)),
        "unit_shapes_teacher:student (3 = 3 or more)": dict(shapes.most_common()),
        "dropped_tokens": dict(dropped),
        "tables_and_vocab_map_s (once)": round(setup, 2),
        "stages": {
            name: {
                "seconds": round(sec, 4),
                "student_tokens_per_s": round(student_tokens / sec),
                "us_per_trace": round(1e6 * sec / len(texts), 1),
            }
            for name, sec in stages.items()
        },
    }


def stored_bytes(sizes: list[int], threads: int) -> list[dict]:
    """Bytes per 1,000 trace tokens of real scoring runs on the demo rows (Qwen3 format): a
    tiny Qwen3 teacher (today's format) and a tiny Llama 3 teacher of another vocabulary
    (format 2)."""
    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.training import sft_examples
    from cmoe.training.teacher_scores import ScoreSettings, score_rows

    torch.set_num_threads(threads)
    rows = sft_examples(demo_questions(), PromptSettings(), "reference", think=True)
    qwen = tiny_model(64, 2, seed=1)
    llama = tiny_model(64, 2, seed=1, family="llama3", vocab_size=3072)
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-xv-"))
    out = []
    for k in sizes:
        for name, teacher, cross in (("today's", qwen, None), ("format 2", llama, qwen)):
            folder = work / f"{name[:5]}-{k}"
            settings = ScoreSettings(top_k=k, max_length=1024)
            index = score_rows(teacher, rows, folder, settings, cross_vocab_for=cross)["index"]
            tokenizer = sum(
                p.stat().st_size for p in (folder / "teacher_tokenizer").rglob("*") if p.is_file()
            ) if cross else 0  # fmt: skip
            out.append(
                {
                    "format": name,
                    "top_k": k,
                    "tokens": index["tokens"],
                    "part_bytes": index["bytes"],
                    "bytes_per_1000_tokens": index["bytes_per_1000_tokens"],
                    "teacher_tokenizer_bytes": tokenizer,
                }
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--traces", type=int, default=1000, help="short traces (long: a tenth)")
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--sizes", type=int, nargs="*", default=[8, 20], help="top-k of the bytes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--teacher-tokenizer")
    p.add_argument("--student-tokenizer")
    p.add_argument("--out", help="JSON file for the results")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    teacher_tok, student_tok = tokenizers(args)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python perf/bench_cross_vocab.py " + " ".join(sys.argv[1:]),
        "load_average_before": [round(x, 1) for x in load],
        "tokenizers": {"teacher": len(teacher_tok), "student": len(student_tok)},
        "short": align_stages(teacher_tok, student_tok, traces(args.traces, 1), args.top_k),
        "long": align_stages(
            teacher_tok, student_tok, traces(max(1, args.traces // 10), 10, 1), args.top_k
        ),
        "bytes": stored_bytes(args.sizes, args.threads) if args.sizes else [],
    }
    result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    print("| stage | student tokens/s (short) | µs/trace | tokens/s (long) | µs/trace |")
    print("|---|---|---|---|---|")
    for name, short in result["short"]["stages"].items():
        long = result["long"]["stages"][name]
        print(
            f"| {name} | {short['student_tokens_per_s']:,} | {short['us_per_trace']} | "
            f"{long['student_tokens_per_s']:,} | {long['us_per_trace']} |"
        )
    if result["bytes"]:
        print("\n| scores | top-k | tokens | bytes per 1,000 tokens | teacher tokenizer bytes |")
        print("|---|---|---|---|---|")
        for b in result["bytes"]:
            print(
                f"| {b['format']} | {b['top_k']} | {b['tokens']} | "
                f"{b['bytes_per_1000_tokens']} | {b['teacher_tokenizer_bytes']} |"
            )
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n", "utf-8")
    print(text, file=sys.stderr)


if __name__ == "__main__":
    main()
