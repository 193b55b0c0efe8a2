"""Log-likelihood evaluator against lm-evaluation-harness, and generative vs log-likelihood.

Usage: python benchmarks/bench_loglik.py [--questions 136 --k 2 --threads 2]
On one tiny random Qwen3 (hidden 128, 4 layers) and the demo questions: questions/s of
`cmoe.loglik.evaluate_loglik` and of lm-eval's `multiple_choice` on the same exported task, end to
end (model load included) in one process, with the item-by-item agreement; then questions/s of
the generative evaluation (`cmoe.generation.runner.answer_questions`, greedy) on the same
questions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from _common import ROOT, demo_questions, tiny_model

sys.path.insert(0, str(ROOT))  # tests.support: test scaffolding, not part of the package

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--questions", type=int, default=136)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager

    from cmoe.data import LETTERS
    from cmoe.generation import GenerationSettings, make_generator
    from cmoe.generation.runner import answer_questions
    from cmoe.loglik import evaluate_loglik
    from cmoe.prompting import PromptSettings
    from tests.support.lmeval_export import TASK_NAME, export_task

    torch.set_num_threads(args.threads)
    questions = demo_questions()
    items, pool = questions[1::2][: args.questions], questions[::2]
    model = tiny_model(128, 4)

    t0 = time.perf_counter()
    ours = evaluate_loglik(
        model, items, pool, k=args.k, seed=0, batch_size=args.batch_size, dtype="float32"
    )
    ours_s = time.perf_counter() - t0

    task = export_task(items, pool, k=args.k, seed=0, outdir=tempfile.mkdtemp())
    t0 = time.perf_counter()
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model},dtype=float32",
        tasks=[TASK_NAME],
        log_samples=True,
        device="cpu",
        task_manager=TaskManager(include_path=str(task.parent)),
        batch_size=args.batch_size,
    )
    theirs_s = time.perf_counter() - t0
    samples = {s["doc"]["id"]: s for s in results["samples"][TASK_NAME]}
    agree = 0
    for rec in ours:
        lls = [float(r[0]) for r in samples[rec["id"]]["filtered_resps"]]
        agree += LETTERS[lls.index(max(lls))] == rec["answer"]

    gen = make_generator(
        model, GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=32)
    )
    t0 = time.perf_counter()
    generated = list(answer_questions(items, gen, PromptSettings(), desc="generative"))
    gen_s = time.perf_counter() - t0

    n = len(items)
    print(
        f"{n} questions, k={args.k}, batch {args.batch_size}, {args.threads} threads, "
        f"torch {torch.__version__}, lm-eval {lm_eval.__version__}"
    )
    print("| evaluator | wall s | questions/s |")
    print("|---|---|---|")
    print(f"| cmoe log-likelihood (one pass a question) | {ours_s:.2f} | {n / ours_s:.1f} |")
    print(f"| lm-eval multiple_choice | {theirs_s:.2f} | {n / theirs_s:.1f} |")
    print(
        f"| cmoe generative, greedy, {args.max_new_tokens} new tokens, batch 32 | {gen_s:.2f} "
        f"| {n / gen_s:.1f} |"
    )
    print(f"agreement with lm-eval: {agree}/{n} items; speed-up {theirs_s / ours_s:.1f}x")
    print(
        json.dumps(
            {
                "n": n,
                "ours_s": ours_s,
                "lm_eval_s": theirs_s,
                "generative_s": gen_s,
                "agree": agree,
                "generated_tokens": sum(r["completion_tokens"] for r in generated),
            }
        )
    )


if __name__ == "__main__":
    main()
