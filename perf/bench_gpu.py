"""The GPU code paths, measured: LoRA SFT in bf16 and hf-backend generation on one GPU.

Usage (on a machine with a CUDA GPU): python perf/bench_gpu.py [--hidden 1024 --layers 8]
Builds a random Qwen3 of the given size with the demo tokenizer (no hub access needed), trains a
LoRA adapter on the 272 demo reference traces through `cmoe.training.train`, then generates with
the adapter merged in memory at batch 1, 16 and 64 through `cmoe.generation`. Where vLLM is
installed it then runs the vllm backend on the same adapter (served unmerged, as a LoRARequest)
and the same prompts, and reports its tokens/s and how many greedy outputs equal hf's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from _common import demo_questions, tiny_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--max-new-tokens", type=int, default=128)
    args = p.parse_args()

    import torch

    from cmoe.core.prompting import PromptSettings
    from cmoe.generation import GenerationSettings, make_generator
    from cmoe.generation.runner import answer_questions
    from cmoe.training import LoraSettings, TrainSettings, sft_examples, train

    assert torch.cuda.is_available(), "this benchmark needs a CUDA GPU"
    questions = demo_questions()
    base = tiny_model(args.hidden, args.layers)
    rows = sft_examples(questions, PromptSettings(), source="reference")
    out = Path(tempfile.mkdtemp(prefix="cmoe-gpu-")) / "adapter"
    settings = TrainSettings(
        method="lora",
        lora=LoraSettings(r=16, alpha=32),
        epochs=args.epochs,
        learning_rate=2e-4,
        batch_size=16,
        max_length=1024,
        batching="group_by_length",
        dtype="bfloat16",
        logging_steps=5,
    )
    metrics = train(base, rows, out, settings, run_name="gpu-bench")
    print(
        json.dumps(
            {
                k: metrics[k]
                for k in (
                    "device",
                    "device_count",
                    "examples",
                    "tokens_seen",
                    "train_runtime_s",
                    "wall_time_s",
                    "trainable_params",
                    "total_params",
                    "final_train_loss",
                )
            }
        )
    )
    print(f"SFT tokens/s: {metrics['tokens_seen'] / metrics['train_runtime_s']:.0f}")
    print("| backend | batch | generated tokens | wall s | tokens/s |")
    print("|---|---|---|---|---|")
    sample = questions[:64]
    outputs = {}
    runs = [("hf", bs) for bs in (1, 16, 64)]
    if importlib.util.find_spec("vllm"):
        runs.append(("vllm", 64))
    for backend, bs in runs:
        gen = make_generator(
            str(out),
            GenerationSettings(
                backend=backend,
                max_new_tokens=args.max_new_tokens,
                batch_size=bs,
                dtype="bfloat16",
                vllm={"gpu_memory_utilization": 0.5} if backend == "vllm" else {},
            ),
        )
        t0 = time.perf_counter()
        records = list(answer_questions(sample, gen, PromptSettings(), desc=f"{backend} {bs}"))
        wall = time.perf_counter() - t0
        tokens = sum(r["completion_tokens"] for r in records)
        outputs[backend, bs] = [r["output"] for r in records]
        print(f"| {backend} | {bs} | {tokens} | {wall:.2f} | {tokens / wall:.0f} |")
        del gen
    if ("vllm", 64) in outputs:
        same = sum(a == b for a, b in zip(outputs["vllm", 64], outputs["hf", 64], strict=True))
        print(f"vllm and hf (batch 64) greedy outputs equal on {same}/{len(sample)} prompts")


if __name__ == "__main__":
    main()
