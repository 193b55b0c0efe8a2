"""Logit distillation: student training throughput with stored top-k teacher scores vs plain SFT,
and the size on disk of the stored scores.

CPU (default): a random tiny Qwen3 teacher scores the 272 demo questions as reference traces
(`cmoe.training.teacher_scores.score_rows`, the `score_teacher` rule's code) at each --top-k;
then a student of the same size trains one epoch with the project's trainer
(`cmoe.training.build_trainer`): plain SFT, and offline KD from the stored scores.

    python benchmarks/bench_kd.py [--hidden 128 --layers 4 --top-k 8 20 --threads 2
                                   --examples 0 --repeats 1]

GPU (--real-size): the Qwen3-1.7B architecture from its published config numbers, randomly
initialised (no download), bf16, synthetic token ids; forward + backward + AdamW step with the
cross-entropy (SFT) or with cross-entropy mixed with `topk_kd_loss` against random stored-format
teacher scores (KD): tokens/s and peak GPU memory per loss.

    python benchmarks/bench_kd.py --real-size [--batch-size 4 --seq-len 1024 --steps 10]
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

# Qwen3-1.7B's published config (config.json of Qwen/Qwen3-1.7B)
QWEN3_1_7B = dict(
    vocab_size=151936,
    hidden_size=2048,
    intermediate_size=6144,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)


def real_tokens(trainer) -> int:
    return sum(int(b["attention_mask"].sum()) for b in trainer.get_train_dataloader())


def cpu(args) -> None:
    import torch

    from cmoe.prompting import PromptSettings
    from cmoe.training import TrainSettings, build_trainer, sft_examples
    from cmoe.training.kd import KDRun, KDSettings
    from cmoe.training.teacher_scores import ScoreSettings, score_rows

    torch.set_num_threads(args.threads)
    rows = sft_examples(demo_questions(), PromptSettings(), source="reference")
    rows = rows[: args.examples] if args.examples else rows
    teacher = tiny_model(args.hidden, args.layers, seed=1)
    student = tiny_model(args.hidden, args.layers, seed=2)
    work = Path(tempfile.mkdtemp(prefix="cmoe-bench-kd-"))
    sizes = []
    for k in args.top_k:
        t0 = time.perf_counter()
        index = score_rows(
            teacher, rows, work / f"scores-{k}", ScoreSettings(top_k=k, max_length=1024)
        )["index"]
        sizes.append(
            {
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
    print("| top-k | trace tokens scored | bytes on disk | bytes per 1,000 tokens | scoring s |")
    print("|---|---|---|---|---|")
    for s in sizes:
        print(
            f"| {s['top_k']} | {s['tokens']} | {s['bytes']} | {s['bytes_per_1000_tokens']} | "
            f"{s['score_s']} |"
        )
    print(json.dumps({"runs": runs, "sizes": sizes}), file=sys.stderr)


def real_size(args) -> None:
    import torch
    import torch.nn.functional as F
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from cmoe.training.kd import mixed_loss, topk_kd_loss

    torch.manual_seed(0)
    config = Qwen3Config(**QWEN3_1_7B)
    model = Qwen3ForCausalLM(config).to("cuda", torch.bfloat16)
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    b, n, k, v = args.batch_size, args.seq_len, args.top_k[-1], config.vocab_size
    results = []
    for name in ("SFT", f"offline KD, top-{k}"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for step in range(args.steps + 2):
            ids = torch.randint(0, v, (b, n), device="cuda")
            t_ids = torch.randint(0, v, (b, n - 1, k), device="cuda", dtype=torch.int32)
            t_lps = torch.log_softmax(torch.randn(b, n - 1, k, device="cuda"), -1).half()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            logits = model(input_ids=ids).logits[:, :-1]
            ce = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
            loss = ce
            if name != "SFT":
                mask = torch.ones(b, n - 1, dtype=torch.bool, device="cuda")
                kd = topk_kd_loss(logits.float(), t_ids, t_lps, mask)
                loss = mixed_loss(ce, kd, 0.5)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            if step >= 2:  # two warm-up steps
                times.append(time.perf_counter() - t0)
        mean = sum(times) / len(times)
        results.append(
            {
                "run": name,
                "tokens_per_s": round(b * n / mean, 1),
                "step_s": round(mean, 4),
                "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            }
        )
    print(
        f"Qwen3-1.7B architecture, random init, {params / 1e9:.2f}B parameters, bf16, AdamW, "
        f"gradient checkpointing, batch {b} x {n} tokens, {torch.cuda.get_device_name(0)}, "
        f"torch {torch.__version__}"
    )
    print("| loss | tokens/s | s/step | peak GPU memory GiB |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['run']} | {r['tokens_per_s']:.0f} | {r['step_s']} | {r['peak_gib']} |")
    print(json.dumps(results), file=sys.stderr)


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
    p.add_argument("--real-size", action="store_true", help="Qwen3-1.7B architecture on a GPU")
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    real_size(args) if args.real_size else cpu(args)


if __name__ == "__main__":
    main()
