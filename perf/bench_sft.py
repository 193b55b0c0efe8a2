"""SFT throughput and padding share on the demo traces: random vs length-grouped vs packed.

Usage: python perf/bench_sft.py [--hidden 128 --layers 4 --epochs 1 --threads 2]
Prints a Markdown table; results are recorded in perf/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from _common import demo_questions, tiny_model


def padding_share(trainer) -> tuple[int, int]:
    """(real tokens, padded positions) over one pass of the trainer's own dataloader."""
    real = total = 0
    for batch in trainer.get_train_dataloader():
        if "attention_mask" in batch:
            real += int(batch["attention_mask"].sum())
            total += batch["attention_mask"].numel()
        else:  # padding-free: one packed row, every position is a real token
            n = batch["input_ids"].numel()
            real += n
            total += n
    return real, total - real


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.training import TrainSettings, build_trainer, sft_examples

    torch.set_num_threads(args.threads)
    rows = sft_examples(demo_questions(), PromptSettings(), source="reference")
    model = tiny_model(args.hidden, args.layers)
    results = []
    for batching in ("random", "group_by_length", "padding_free"):
        settings = TrainSettings(
            method="full",
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=1e-3,
            max_length=1024,
            batching=batching,
            logging_steps=1000,
        )
        try:
            trainer, _, _ = build_trainer(model, rows, settings, f"/tmp/bench-sft-{batching}")
        except Exception as exc:  # e.g. padding-free needing an attention kernel
            results.append({"batching": batching, "error": f"{type(exc).__name__}: {exc}"})
            continue
        real, pad = padding_share(trainer)
        t0 = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - t0
        results.append(
            {
                "batching": batching,
                "examples": len(rows),
                "real_tokens_per_epoch": real,
                "padding_share": round(pad / (real + pad), 4),
                "train_s": round(wall, 2),
                "real_tokens_per_s": round(real * args.epochs / wall, 1),
            }
        )
    print(
        f"model: hidden={args.hidden} layers={args.layers}, threads={args.threads}, "
        f"batch={args.batch_size}, torch {torch.__version__}",
        file=sys.stderr,
    )
    print("| batching | padding share | real tokens/s | train s |")
    print("|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['batching']} | – | failed: {r['error'][:80]} | – |")
        else:
            print(
                f"| {r['batching']} | {100 * r['padding_share']:.1f}% | "
                f"{r['real_tokens_per_s']:.0f} | {r['train_s']} |"
            )
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
