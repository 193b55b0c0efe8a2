"""Training throughput of a tiny T5 (Seq2SeqTrainer) against a tiny Qwen3 (TRL SFT) of about
the same parameter count, on the same examples.

Both learn the 272 demo questions' reference explanations for one epoch (full fine-tuning,
batch 8, length-grouped batches, the same tokenizer). The Qwen3 reads prompt + completion as
one sequence; the T5 reads the prompt in its encoder and writes the target with its decoder
(`rationale`: reasoning then answer; `step_by_step`: the answer and, separately, the reasoning,
so the prompt is read twice). Real (non-padding) tokens are counted over the trainers' own
dataloaders: for the T5, encoder inputs plus decoder targets.

Usage: python perf/bench_seq2seq.py [--hidden 128 --qwen-layers 4 --t5-layers 2 --threads 2
       --repeats 1]
With --repeats N the three runs are interleaved N times and the median wall time is reported
(on a busy machine the ratios are what it shows). Prints a Markdown table; results are recorded
in perf/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import DEMO_DATA, demo_questions


def build(spec, vocab: int) -> tuple[str, int]:
    from cmoe.data.tiny import make_tiny_model

    out = Path(tempfile.mkdtemp(prefix="cmoe-bench-")) / "model"
    return str(out), make_tiny_model(DEMO_DATA, out, spec, vocab_size=vocab)


def t5_matching(target: int, hidden: int, layers: int, vocab: int):
    """The tiny T5 spec whose parameter count is closest to ``target`` (varying d_ff)."""
    from cmoe.data.tiny import TinyModelSpec, build_tiny_t5

    class Vocab:  # build_tiny_t5 reads only these from the tokenizer
        def __len__(self):
            return vocab

        eos_token_id, pad_token_id = 2, 0

    best = None
    for ff in range(hidden, 8 * hidden + 1, 8):
        spec = TinyModelSpec(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=ff,
            seed=0,
            arch="t5",
        )
        n = sum(p.numel() for p in build_tiny_t5(Vocab(), spec).parameters())
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (spec, n)
    return best[0]


def real_tokens(trainer) -> int:
    real = 0
    for batch in trainer.get_train_dataloader():
        for part in (batch["predict"], batch["explain"]) if "predict" in batch else (batch,):
            real += int(part["attention_mask"].sum())
            if "decoder_input_ids" in part:  # seq2seq: the targets the decoder reads
                real += int((part["labels"] != -100).sum())
    return real


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--qwen-layers", type=int, default=4)
    p.add_argument("--t5-layers", type=int, default=2, help="layers in each T5 stack")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()

    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.data.tiny import TinyModelSpec
    from cmoe.training import TrainSettings, build_trainer, sft_examples
    from cmoe.training.seq2seq import Seq2SeqSettings, build_seq2seq_trainer, seq2seq_examples

    torch.set_num_threads(args.threads)
    questions = demo_questions()
    h = args.hidden
    qwen_spec = TinyModelSpec(
        hidden_size=h,
        num_hidden_layers=args.qwen_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=3 * h,
        seed=0,
    )
    qwen, qwen_n = build(qwen_spec, args.vocab)
    t5_spec = t5_matching(qwen_n, h, args.t5_layers, args.vocab)
    t5, t5_n = build(t5_spec, args.vocab)
    settings = TrainSettings(
        method="full",
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=1e-3,
        max_length=1024,
        batching="group_by_length",
        logging_steps=1000,
        save_steps=0,
    )
    runs = [
        ("qwen3 (TRL SFT)", qwen, qwen_n, None),
        ("t5 rationale (Seq2SeqTrainer)", t5, t5_n, "rationale"),
        ("t5 step_by_step (Seq2SeqTrainer)", t5, t5_n, "step_by_step"),
    ]
    walls: dict[str, list[float]] = {name: [] for name, *_ in runs}
    facts: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, path, n_params, fmt in runs:
            out = tempfile.mkdtemp(prefix="bench-s2s-")
            if fmt is None:
                rows = sft_examples(questions, PromptSettings(), source="reference")
                trainer, _, _ = build_trainer(path, rows, settings, out)
            else:
                rows = seq2seq_examples(questions, PromptSettings(), source="reference")
                trainer, _, _ = build_seq2seq_trainer(
                    path, rows, settings, Seq2SeqSettings(format=fmt), out
                )
            facts[name] = {"params": n_params, "examples": len(rows), "real": real_tokens(trainer)}
            t0 = time.perf_counter()
            trainer.train()
            walls[name].append(time.perf_counter() - t0)
    results = []
    for name, *_ in runs:
        wall = statistics.median(walls[name])
        f = facts[name]
        results.append(
            {
                "run": name,
                "params": f["params"],
                "examples": f["examples"],
                "real_tokens_per_epoch": f["real"],
                "train_s": round(wall, 2),
                "walls": [round(w, 2) for w in walls[name]],
                "tokens_per_s": round(f["real"] * args.epochs / wall, 1),
                "examples_per_s": round(f["examples"] * args.epochs / wall, 2),
            }
        )
    print(
        f"qwen3: hidden={h} layers={args.qwen_layers}; t5: hidden={h} layers={args.t5_layers}+"
        f"{args.t5_layers} d_ff={t5_spec.intermediate_size}; threads={args.threads}, "
        f"batch={args.batch_size}, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    print("| model (trainer) | parameters | real tokens/epoch | train s | tokens/s | examples/s |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['run']} | {r['params'] / 1e6:.3f}M | {r['real_tokens_per_epoch']} | "
            f"{r['train_s']} | {r['tokens_per_s']:.0f} | {r['examples_per_s']:.2f} |"
        )
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
