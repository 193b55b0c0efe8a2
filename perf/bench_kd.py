"""Logit distillation: student training throughput with stored top-k teacher scores vs plain SFT,
and the size on disk of the stored scores.

CPU (default): a random tiny Qwen3 teacher scores the 272 demo questions as reference traces
(`cmoe.training.teacher_scores.score_rows`, the `score_teacher` rule's code) at each --top-k;
then a student of the same size trains one epoch with the project's trainer
(`cmoe.training.build_trainer`): plain SFT, and offline KD from the stored scores. With
--cross-vocab, also a random tiny Llama 3 teacher of another vocabulary (BPE of 3,072 tokens
against the student's 2,048) scores the same rows in the student's format (format 2), and the
student trains from those scores with each cross-vocabulary loss.

    python perf/bench_kd.py [--hidden 128 --layers 4 --top-k 8 20 --threads 2
                                   --examples 0 --repeats 1 --cross-vocab]

On a GPU, with real-size models (a Qwen3-4B teacher scoring for a Qwen3-1.7B student):
`bench_gpu_realsize.py --kd --kd-path qwen3-4b`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import demo_questions, tiny_model


def real_tokens(trainer) -> int:
    return sum(int(b["attention_mask"].sum()) for b in trainer.get_train_dataloader())


def cpu(args) -> None:
    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.training import TrainSettings, build_trainer, sft_examples
    from cmoe.training.kd import KDRun, KDSettings
    from cmoe.training.teacher_scores import ScoreSettings, score_rows

    torch.set_num_threads(args.threads)
    rows = sft_examples(demo_questions(), PromptSettings(), source="reference")
    rows = rows[: args.examples] if args.examples else rows
    teacher = tiny_model(args.hidden, args.layers, seed=1)
    student = tiny_model(args.hidden, args.layers, seed=2)
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-kd-"))
    scorers = [("", teacher, None)]
    if args.cross_vocab:
        llama = tiny_model(args.hidden, args.layers, seed=1, family="llama3", vocab_size=3072)
        scorers.append(("xv-", llama, student))
    sizes = []
    for prefix, scorer, cross_for in scorers:
        for k in args.top_k:
            t0 = time.perf_counter()
            index = score_rows(
                scorer,
                rows,
                work / f"scores-{prefix}{k}",
                ScoreSettings(top_k=k, max_length=1024),
                cross_vocab_for=cross_for,
            )["index"]
            sizes.append(
                {
                    "scores": "format 2, another vocabulary" if cross_for else "same vocabulary",
                    "top_k": k,
                    "tokens": index["tokens"],
                    "bytes": index["bytes"],
                    "bytes_per_1000_tokens": index["bytes_per_1000_tokens"],
                    "score_s": round(time.perf_counter() - t0, 2),
                }
            )
    runs = []
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
    variants = [("SFT", None)] + [
        (f"offline KD, top-{k}", KDRun(KDSettings(top_k=k), scores=[str(work / f"scores-{k}")]))
        for k in args.top_k
    ]
    if args.cross_vocab:
        from cmoe.training.cross_vocab import CrossVocabSettings

        variants += [
            (
                f"offline KD, another vocabulary, {loss}, top-{k}",
                KDRun(
                    KDSettings(top_k=k),
                    scores=[str(work / f"scores-xv-{k}")],
                    cross_vocab=CrossVocabSettings(loss=loss),
                ),
            )
            for k in args.top_k
            for loss in ("hybrid", "uld")
        ]
    # Rounds interleave the variants, and each reports its median: a machine shared with other
    # work slows whatever runs at that moment, not one variant.
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    real = 0
    for _ in range(args.repeats):
        for name, kd in variants:
            trainer, _, _ = build_trainer(student, rows, settings, work / "out", kd=kd)
            real = real_tokens(trainer)
            t0 = time.perf_counter()
            trainer.train()
            times[name].append(time.perf_counter() - t0)
    for name, walls in times.items():
        wall = statistics.median(walls)
        runs.append(
            {
                "run": name,
                "real_tokens": real,
                "train_s": round(wall, 2),
                "train_s_all": [round(w, 2) for w in walls],
                "tokens_per_s": round(real * args.epochs / wall, 1),
            }
        )
    print(
        f"model: hidden={args.hidden} layers={args.layers}, threads={args.threads}, "
        f"batch={args.batch_size}, {len(rows)} examples, torch {torch.__version__}",
        file=sys.stderr,
    )
    sft = runs[0]["tokens_per_s"]
    print("| student training | real tokens/s | train s (median) | vs SFT |")
    print("|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['run']} | {r['tokens_per_s']:.0f} | {r['train_s']} | "
            f"{r['tokens_per_s'] / sft:.2f}x |"
        )
    print()
    print(
        "| scores | top-k | trace tokens scored | bytes on disk | bytes per 1,000 tokens | "
        "scoring s |"
    )
    print("|---|---|---|---|---|---|")
    for s in sizes:
        print(
            f"| {s['scores']} | {s['top_k']} | {s['tokens']} | {s['bytes']} | "
            f"{s['bytes_per_1000_tokens']} | {s['score_s']} |"
        )
    print(json.dumps({"runs": runs, "sizes": sizes}), file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--top-k", type=int, nargs="+", default=[8, 20])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--examples", type=int, default=0, help="the first N demo questions (0: all)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds (median)")
    p.add_argument(
        "--cross-vocab",
        action="store_true",
        help="also a teacher of another vocabulary (format-2 scores, both cross-vocabulary losses)",
    )
    args = p.parse_args()
    cpu(args)


if __name__ == "__main__":
    main()
