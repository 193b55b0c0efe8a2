"""Real-size students on one GPU: bf16 training throughput, MFU and memory, padded against
padding-free batching, generation throughput, and the cost of the logit-distillation loss.

Usage (CUDA GPU, no hub access needed):
    python perf/bench_gpu_realsize.py --model qwen3-1.7b
        [--runs full:random,lora:padding_free] [--generate] [--kd]

The model is built with random weights from the published Qwen3 config numbers (hidden size,
layers, heads, the 151,936-token vocabulary), saved, and loaded back with from_pretrained like a
hub model. Its tokenizer is the demo tokenizer (token ids below 2,048 of the real vocabulary):
throughput and memory depend on the shapes, not on which tokens are used. Training goes through
the project's own trainer (`cmoe.training.sft.build_trainer`: TRL's SFTTrainer with the settings
a workflow job uses). The training data are the demo questions with their reference explanation
repeated 2–20 times, so examples span roughly 200–1,700 tokens as real reasoning traces do.

Per step the script counts real tokens (attention mask, or every token of a packed padding-free
row) and padded positions the model processed, with the GPU synchronised, and reports the steady
state (steps after the first three). MFU = 6 · parameters · real tokens/s / peak bf16 FLOP/s (the
dense-matmul rule; attention FLOPs are left out, so MFU is understated on long rows). LoRA's
backward pass skips the frozen weights' gradients, so for LoRA the same formula overstates work
by about a third; the table says which.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import DEMO_DATA, demo_questions

# Published config numbers (config.json of Qwen/Qwen3-1.7B and Qwen/Qwen3-4B).
QWEN3 = {
    "qwen3-1.7b": dict(
        hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16
    ),
    "qwen3-4b": dict(
        hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32
    ),
}
QWEN3_SHARED = dict(
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=151936,
    tie_word_embeddings=True,
    max_position_embeddings=40960,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    hidden_act="silu",
)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def build_model(name: str, out: Path, seed: int = 0) -> int:
    """A random real-size Qwen3 plus the demo tokenizer, saved to ``out``; returns parameters."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    from cmoe.data.tiny import corpus_texts, train_tokenizer

    tokenizer = train_tokenizer(corpus_texts(DEMO_DATA), 2048)
    config = Qwen3Config(
        **QWEN3[name],
        **QWEN3_SHARED,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return params


def long_rows(n: int, seed: int = 0) -> list[dict]:
    """SFT rows whose completions have the length spread of real reasoning traces."""
    from cmoe.core.prompting import PromptSettings
    from cmoe.training import sft_examples

    rng = random.Random(seed)
    questions = demo_questions()
    rows = []
    while len(rows) < n:
        for q in questions:
            q = dict(q, explanation=" ".join([q["explanation"]] * rng.randint(2, 20)))
            rows.extend(sft_examples([q], PromptSettings(), source="reference"))
    return rows[:n]


def peak_flops() -> float:
    import torch

    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16.items() if k in name), 989e12)


def train_run(
    model_path: str,
    rows: list[dict],
    method: str,
    batching: str,
    batch_size: int,
    args,
    kd=None,
) -> dict:
    import torch

    from cmoe.training import LoraSettings, TrainSettings
    from cmoe.training.sft import build_trainer

    settings = TrainSettings(
        method=method,
        lora=LoraSettings(r=16, alpha=32),
        epochs=1,
        learning_rate=1e-5 if method == "full" else 2e-4,
        batch_size=batch_size,
        max_length=args.max_length,
        batching=batching,
        dtype="bfloat16",
        gradient_checkpointing=args.gradient_checkpointing,
        logging_steps=1000,
    )
    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        trainer, _, _ = build_trainer(model_path, rows, settings, tmp, kd=kd)
        steps: list[tuple[float, int, int]] = []
        original = trainer.training_step

        def counted(model, inputs, *a, **k):
            ids = inputs["input_ids"]
            mask = inputs.get("attention_mask")
            real = int(mask.sum()) if mask is not None else int(ids.numel())
            torch.cuda.synchronize()
            steps.append((time.perf_counter(), real, int(ids.numel())))
            return original(model, inputs, *a, **k)

        trainer.training_step = counted
        trainer.train()
        torch.cuda.synchronize()
        end = time.perf_counter()
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in trainer.model.parameters())
        del trainer
    gc.collect()
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.empty_cache()
    warm = steps[3:]
    seconds = end - warm[0][0]
    real = sum(s[1] for s in warm)
    positions = sum(s[2] for s in warm)
    tps = real / seconds
    base_params = total - (trainable if method == "lora" else 0)
    return {
        "method": method,
        "batching": batching,
        "batch_size": batch_size,
        "steps": len(steps),
        "measured_steps": len(warm),
        "real_tokens": real,
        "padding_share": round(1 - real / positions, 3),
        "tokens_per_s": round(tps),
        "mfu": round(6 * base_params * tps / peak_flops(), 3),
        "peak_mem_gib": round(peak, 1),
        "trainable_params": trainable,
    }


def generation_runs(model_path: str, args) -> list[dict]:
    from cmoe.core.prompting import PromptSettings
    from cmoe.generation import GenerationSettings, make_generator
    from cmoe.generation.runner import answer_questions

    questions = demo_questions()[:64]
    results = []
    for bs in (1, 16, 64):
        gen = make_generator(
            model_path,
            GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=bs, dtype="bfloat16"),
        )
        sample = questions[: 16 if bs == 1 else 64]
        # one warm-up batch so that CUDA start-up is not counted
        list(answer_questions(sample[:bs], gen, PromptSettings(), desc="warm-up"))
        t0 = time.perf_counter()
        records = list(answer_questions(sample, gen, PromptSettings(), desc=f"hf {bs}"))
        wall = time.perf_counter() - t0
        tokens = sum(r["completion_tokens"] for r in records)
        results.append(
            {
                "batch": bs,
                "prompts": len(sample),
                "tokens": tokens,
                "wall_s": round(wall, 2),
                "tokens_per_s": round(tokens / wall),
            }
        )
        del gen
        gc.collect()
    return results


def kd_step_cost(model_path: str, args) -> list[dict]:
    """Forward + backward + optimizer step with cross-entropy alone against cross-entropy plus
    the top-k logit-distillation loss (`cmoe.training.kd.topk_kd_loss`), on the same batches."""
    import torch
    from transformers import AutoModelForCausalLM

    from cmoe.training.kd import topk_kd_loss

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16).cuda()
    model.gradient_checkpointing_enable() if args.gradient_checkpointing else None
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    vocab = model.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(0)
    out = []
    for kind in ("sft", "kd"):
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(args.kd_steps + 3):
            ids = torch.randint(0, 2048, (args.batch_size, args.kd_seq), device="cuda", generator=g)
            mask = torch.ones_like(ids, dtype=torch.bool)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            # as the KD trainer does: both losses on float32 logits
            logits = model(input_ids=ids).logits[:, :-1].float()
            labels = ids[:, 1:]
            ce = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1))
            loss = ce
            if kind == "kd":
                top_ids = torch.randint(
                    0, vocab, (*labels.shape, args.top_k), device="cuda", generator=g
                )
                top_lp = torch.log_softmax(
                    torch.randn(*labels.shape, args.top_k, device="cuda", generator=g), -1
                )
                kd = topk_kd_loss(logits, top_ids, top_lp, mask[:, 1:], divergence="forward_kl")
                loss = 0.5 * ce + 0.5 * kd
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            del logits, loss
        tokens = args.batch_size * args.kd_seq
        median = statistics.median(times[3:])
        out.append(
            {
                "loss": kind,
                "batch": args.batch_size,
                "seq": args.kd_seq,
                "top_k": args.top_k,
                "step_s": round(median, 3),
                "tokens_per_s": round(tokens / median),
                "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
            }
        )
    del model, opt
    gc.collect()
    torch.cuda.empty_cache()
    return out


def kd_path(student_path: str, teacher_path: str, rows: list[dict], args) -> dict:
    """The offline KD path as a workflow runs it: the teacher scores every training example
    (top-k log-probs stored in parts, `cmoe.training.teacher_scores`), then the student trains
    on the stored scores (`build_trainer(kd=...)`: SFTTrainer with the KD loss); plain SFT of the
    same student on the same rows and batches for comparison."""
    import torch

    from cmoe.training.kd import KDRun, KDSettings
    from cmoe.training.teacher_scores import ScoreSettings, score_rows

    folder = Path(tempfile.mkdtemp(prefix="cmoe-kd-")) / "scores"
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    scored = score_rows(
        teacher_path,
        rows,
        folder,
        ScoreSettings(
            top_k=args.top_k,
            batch_size=args.batch_size,
            max_length=args.max_length,
            dtype="bfloat16",
        ),
    )
    wall = time.perf_counter() - t0
    index = scored["index"]
    result = {
        "scoring": {
            "teacher": Path(teacher_path).name,
            "examples": index["examples"],
            "tokens": index["tokens"],
            "wall_s": round(wall, 1),
            "tokens_per_s": round(index["tokens"] / wall),
            "bytes_per_1000_tokens": index["bytes_per_1000_tokens"],
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
        }
    }
    gc.collect()
    torch.cuda.empty_cache()
    kd = KDRun(settings=KDSettings(top_k=args.top_k), scores=[str(folder)])
    for name, run in (("sft", None), ("kd", kd)):
        result[name] = train_run(
            student_path, rows, "full", "group_by_length", args.batch_size, args, kd=run
        )
    return result


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", choices=sorted(QWEN3), default="qwen3-1.7b")
    p.add_argument(
        "--runs",
        default="full:random,full:padding_free,lora:random,lora:padding_free",
        help="method:batching[:batch], comma-separated (batching: random, group_by_length, "
        "padding_free)",
    )
    p.add_argument("--examples", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--generate", action="store_true", help="also measure hf-backend generation")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--kd", action="store_true", help="also time a training step with the KD loss")
    p.add_argument("--kd-steps", type=int, default=10)
    p.add_argument("--kd-seq", type=int, default=1024)
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument(
        "--kd-path",
        choices=sorted(QWEN3),
        help="also run the offline KD path with a teacher of this size (built like the student)",
    )
    p.add_argument("--json", type=Path, help="write the results here too")
    args = p.parse_args()

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    model_dir = Path(tempfile.mkdtemp(prefix="cmoe-realsize-")) / args.model
    t0 = time.perf_counter()
    params = build_model(args.model, model_dir)
    report = {
        "model": args.model,
        "parameters": params,
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "build_s": round(time.perf_counter() - t0, 1),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "gradient_checkpointing": args.gradient_checkpointing,
        "train": [],
    }
    print(json.dumps({k: v for k, v in report.items() if k != "train"}), flush=True)
    rows = long_rows(args.examples)
    for run in filter(None, args.runs.split(",")):
        method, batching, *batch = run.split(":")
        batch_size = int(batch[0]) if batch else args.batch_size
        try:
            result = train_run(str(model_dir), rows, method, batching, batch_size, args)
        except torch.OutOfMemoryError as e:  # a configuration that does not fit is a result too
            result = {"method": method, "batching": batching, "error": f"out of memory: {e}"[:200]}
            gc.collect()
            torch.cuda.empty_cache()
        report["train"].append(result)
        print(json.dumps(result), flush=True)
    if args.generate:
        report["generate"] = generation_runs(str(model_dir), args)
        print(json.dumps(report["generate"]), flush=True)
    if args.kd:
        report["kd"] = kd_step_cost(str(model_dir), args)
        print(json.dumps(report["kd"]), flush=True)
    if args.kd_path:
        teacher_dir = model_dir.parent / f"teacher-{args.kd_path}"
        build_model(args.kd_path, teacher_dir, seed=1)
        report["kd_path"] = kd_path(str(model_dir), str(teacher_dir), rows, args)
        print(json.dumps(report["kd_path"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
