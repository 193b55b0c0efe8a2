"""Supervised fine-tuning on reasoning traces with TRL's SFTTrainer (LoRA via PEFT, or full).

Each example is conversational prompt/completion data: the prompt is the shared prompt builder's
messages and the completion is the teacher's reasoning in <think> tags plus the canonical answer
line. TRL then computes the loss on the completion only.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .io import atomic_directory, atomic_write_json, read_jsonl
from .prompting import PromptSettings, build_completion, build_messages

log = logging.getLogger(__name__)


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    modules_to_save: list[str] | None = None


@dataclass
class TrainSettings:
    method: str = "lora"  # "lora" or "full"
    lora: LoraSettings = field(default_factory=LoraSettings)
    epochs: float = 2.0
    learning_rate: float = 1e-4
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 4096
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"
    # "random", "group_by_length" (the CPU answer to padding) or "padding_free" (GPU + flash-attn)
    batching: str = "group_by_length"
    gradient_checkpointing: bool = False
    dtype: str = "auto"
    seed: int = 0
    logging_steps: int = 5

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        d = dict(d)
        lora = LoraSettings(**d.pop("lora", {}))
        return cls(lora=lora, **d)


@dataclass
class WandbSettings:
    mode: str = "disabled"  # "disabled", "offline" or "online"
    project: str = "cmoe"
    entity: str | None = None


def sft_examples(records: list[dict], prompt: PromptSettings, source: str) -> list[dict]:
    """Trace records (or, for warm-up, questions with reference explanations) -> SFT rows."""
    rows = []
    for r in records:
        if source == "reference":
            if not r.get("explanation"):
                raise ValueError(
                    f"question {r.get('id')} has no reference explanation: warm-up on reference "
                    "explanations needs data with an `explanation` field (the demo data has one)"
                )
            reasoning, letter = r["explanation"], r["gold"]
        else:
            reasoning, letter = r["reasoning"], r["answer"]
        rows.append(
            {
                "prompt": build_messages(r, prompt),
                "completion": [
                    {"role": "assistant", "content": build_completion(reasoning, letter)}
                ],
            }
        )
    return rows


def example_lengths(tokenizer, rows: list[dict]) -> list[tuple[int, int]]:
    """(prompt, full) token lengths of each example as the trainer sees it, before truncation."""
    lengths = []
    for row in rows:
        prompt = tokenizer.apply_chat_template(
            row["prompt"], tokenize=True, add_generation_prompt=True, return_dict=False
        )
        full = tokenizer.apply_chat_template(
            row["prompt"] + row["completion"], tokenize=True, return_dict=False
        )
        lengths.append((len(prompt), len(full)))
    return lengths


def setup_wandb(wandb: WandbSettings) -> list[str]:
    """Return report_to; wandb never blocks on a login (no key -> offline)."""
    if wandb.mode == "disabled":
        return ["none"]
    mode = wandb.mode
    if mode == "online" and not os.environ.get("WANDB_API_KEY"):
        log.warning("wandb.mode is online but WANDB_API_KEY is not set: logging offline instead")
        mode = "offline"
    os.environ["WANDB_MODE"] = mode
    os.environ["WANDB_PROJECT"] = wandb.project
    if wandb.entity:
        os.environ["WANDB_ENTITY"] = wandb.entity
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DIR", str(Path("results/wandb").absolute()))
    Path(os.environ["WANDB_DIR"]).mkdir(parents=True, exist_ok=True)
    return ["wandb"]


def build_trainer(
    model_path: str,
    rows: list[dict],
    settings: TrainSettings,
    output_dir: str | Path,
    report_to: list[str] = ("none",),
    run_name: str = "sft",
    trust_remote_code: bool = False,
):
    """The configured SFTTrainer plus the (prompt, full) token length of every example."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from .models import load_tokenizer, resolve_dtype

    if not rows:
        raise ValueError("no training examples (did the filter keep any traces?)")
    tokenizer = load_tokenizer(model_path, trust_remote_code, padding_side="right")
    lengths = example_lengths(tokenizer, rows)
    if all(prompt >= settings.max_length for prompt, _ in lengths):
        shortest = min(prompt for prompt, _ in lengths)
        raise ValueError(
            f"max_length={settings.max_length} is shorter than every prompt: nothing would be "
            f"learned (the shortest prompt is {shortest} tokens)"
        )
    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=resolve_dtype(settings.dtype), trust_remote_code=trust_remote_code
    )
    peft_config = None
    if settings.method == "lora":
        lora = settings.lora
        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            modules_to_save=lora.modules_to_save,
            task_type="CAUSAL_LM",
        )
    args = SFTConfig(
        output_dir=str(output_dir),
        run_name=run_name,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a ratio of total steps
        weight_decay=settings.weight_decay,
        max_length=settings.max_length,  # TRL's default (1024) would cut long traces silently
        completion_only_loss=True,
        eos_token=tokenizer.eos_token,
        # Padding-free = best-fit-decreasing packing of whole examples into max_length rows,
        # with per-example position ids (exact with flash-attention on GPU).
        packing=settings.batching == "padding_free",
        packing_strategy="bfd",
        padding_free=settings.batching == "padding_free",
        train_sampling_strategy=(
            "group_by_length" if settings.batching == "group_by_length" else "random"
        ),
        gradient_checkpointing=settings.gradient_checkpointing,
        bf16=cuda and resolve_dtype(settings.dtype) == torch.bfloat16,
        use_cpu=not cuda,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=settings.logging_steps,
        save_strategy="no",
        report_to=list(report_to),
        dataloader_pin_memory=cuda,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    return trainer, tokenizer, lengths


def train(
    model_path: str,
    rows: list[dict],
    out: str | Path,
    settings: TrainSettings,
    wandb: WandbSettings | None = None,
    run_name: str = "sft",
    trust_remote_code: bool = False,
) -> dict:
    """Fine-tune ``model_path`` on ``rows`` and write the model/adapter + train_metrics.json."""
    import torch

    t0 = time.perf_counter()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".trainer-", dir=Path(out).parent))
    try:
        trainer, tokenizer, lengths = build_trainer(
            model_path,
            rows,
            settings,
            scratch,
            setup_wandb(wandb or WandbSettings()),
            run_name,
            trust_remote_code,
        )
        truncated = sum(full > settings.max_length for _, full in lengths)
        if truncated:
            log.warning(
                "%d of %d examples exceed max_length=%d and will be truncated",
                truncated,
                len(rows),
                settings.max_length,
            )
        result = trainer.train()
        if "wandb" in trainer.args.report_to:
            import wandb

            wandb.finish()  # the trainer leaves its run open; close it with the job
        cuda = torch.cuda.is_available()
        metrics = {
            "base_model": model_path,
            "method": settings.method,
            "settings": asdict(settings),
            "examples": len(rows),
            "epochs": settings.epochs,
            "examples_seen": int(len(rows) * settings.epochs),
            "tokens_seen": int(
                sum(min(full, settings.max_length) for _, full in lengths) * settings.epochs
            ),
            "truncated_examples": truncated,
            # cut so far that no completion token is left: TRL drops these examples
            "dropped_examples": sum(p >= settings.max_length for p, _ in lengths),
            "max_example_tokens": max(full for _, full in lengths),
            "loss_curve": [
                {"step": h["step"], "loss": h["loss"]}
                for h in trainer.state.log_history
                if "loss" in h
            ],
            "final_train_loss": result.training_loss,
            "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 3),
            "trainable_params": sum(
                p.numel() for p in trainer.model.parameters() if p.requires_grad
            ),
            "total_params": sum(p.numel() for p in trainer.model.parameters()),
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "device_count": torch.cuda.device_count() if cuda else 1,
        }
        # Model, tokenizer and metrics appear together or not at all.
        with atomic_directory(out) as tmp:
            trainer.model.save_pretrained(tmp)
            tokenizer.padding_side = "left"  # saved for generation (the trainer pads right)
            tokenizer.save_pretrained(tmp)
            metrics["wall_time_s"] = round(time.perf_counter() - t0, 3)
            atomic_write_json(tmp / "train_metrics.json", metrics)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return metrics


def load_training_rows(paths: list[str], prompt: PromptSettings, source: str) -> list[dict]:
    records = [r for p in paths for r in read_jsonl(p)]
    if source == "traces":
        records = [r for r in records if r.get("correct")]
    if not records:
        raise ValueError(f"no correct traces to train on in {', '.join(map(str, paths))}")
    return sft_examples(records, prompt, source)
