"""Generation throughput of the vllm backend on CPU (vLLM's CPU build) against the hf backend:
the same random tiny Qwen3 (hidden 128, 4 layers, head size 32), the same demo prompts, the same
batch, greedy, float32, through the project's generators (cmoe.generation.make_generator).

Runs in the vLLM venv, which holds both backends (README, "vLLM"):
    PYTHONPATH=src .venv-vllm/bin/python perf/bench_vllm_cpu.py [--questions 64 --batch-size 64
        --max-new-tokens 64 --threads 1]
Reports start-up (model load; vLLM: engine start), the batch's wall time (best of two) and
tokens/s, and how many of the greedy outputs agree.
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import demo_questions, tiny_model


def run(backend: str, model: str, questions, batch_size, max_new_tokens) -> dict:
    from cmoe.core.prompting import PromptSettings, build_messages
    from cmoe.generation import GenerationSettings, make_generator

    extra = {"vllm": {"enforce_eager": True, "max_model_len": 1024}} if backend == "vllm" else {}
    settings = GenerationSettings(
        backend=backend,
        temperature=0.0,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        dtype="float32",
        **extra,
    )
    t0 = time.perf_counter()
    generator = make_generator(model, settings)
    start = time.perf_counter() - t0
    prompt = PromptSettings()
    conversations = [build_messages(q, prompt) for q in questions[:batch_size]]
    best, texts, tokens = None, None, 0
    for _ in range(2):
        t1 = time.perf_counter()
        out = list(
            generator.generate(conversations, prompt.enable_thinking, [0] * len(conversations))
        )
        wall = time.perf_counter() - t1
        if best is None or wall < best:
            best = wall
        texts, tokens = [c.text for c in out], sum(c.completion_tokens for c in out)
    return {"start_s": start, "wall_s": best, "tokens": tokens, "texts": texts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--questions", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    questions = demo_questions()[: args.questions]
    model = tiny_model(128, 4)
    print(
        f"model: hidden=128 layers=4 (head size 32), {len(questions)} prompts, batch "
        f"{args.batch_size}, max_new_tokens={args.max_new_tokens}, threads={args.threads}",
        file=sys.stderr,
    )
    results = {
        b: run(b, model, questions, args.batch_size, args.max_new_tokens) for b in ("hf", "vllm")
    }
    print("| backend | start-up s | batch wall s | generated tokens | tokens/s |")
    print("|---|---|---|---|---|")
    for backend, r in results.items():
        print(
            f"| {backend} | {r['start_s']:.1f} | {r['wall_s']:.2f} | {r['tokens']} | "
            f"{r['tokens'] / r['wall_s']:.0f} |"
        )
    same = sum(
        a == b for a, b in zip(results["hf"]["texts"], results["vllm"]["texts"], strict=True)
    )
    print(f"\ngreedy outputs equal: {same} of {len(results['hf']['texts'])}")


if __name__ == "__main__":
    main()
