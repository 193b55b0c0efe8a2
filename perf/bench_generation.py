"""Batched generation throughput of the hf backend on CPU at batch 1, 16 and 64.

Usage: python perf/bench_generation.py [--questions 64 --max-new-tokens 64 --threads 2]
A random tiny model rarely emits EOS, so every request generates about max_new_tokens tokens.
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import demo_questions, tiny_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--questions", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.generation import GenerationSettings, make_generator
    from cmoe.generation.runner import answer_questions

    torch.set_num_threads(args.threads)
    questions = demo_questions()[: args.questions]
    model = tiny_model(args.hidden, args.layers)
    print(
        f"model: hidden={args.hidden} layers={args.layers}, {len(questions)} questions, "
        f"max_new_tokens={args.max_new_tokens}, threads={args.threads}",
        file=sys.stderr,
    )
    print("| batch | generated tokens | wall s | tokens/s | speed-up vs batch 1 |")
    print("|---|---|---|---|---|")
    base = None
    for bs in args.batch_sizes:
        settings = GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=bs)
        gen = make_generator(model, settings)
        t0 = time.perf_counter()
        records = list(answer_questions(questions, gen, PromptSettings(), desc=f"batch {bs}"))
        wall = time.perf_counter() - t0
        tokens = sum(r["completion_tokens"] for r in records)
        rate = tokens / wall
        base = base or rate
        print(f"| {bs} | {tokens} | {wall:.2f} | {rate:.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
