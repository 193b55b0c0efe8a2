"""The Trainer arguments every training job shares, causal or encoder-decoder."""

from __future__ import annotations

from .settings import TrainSettings


def trainer_arguments(settings: TrainSettings, output_dir, run_name: str, report_to) -> dict:
    """The Trainer arguments every training job shares, causal (TRL's SFTConfig) or
    encoder-decoder (Seq2SeqTrainingArguments): schedule, precision, seeds, checkpoints."""
    import torch

    from ..core.models import resolve_dtype

    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        run_name=run_name,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a ratio of total steps
        weight_decay=settings.weight_decay,
        train_sampling_strategy="random" if settings.batching == "random" else "group_by_length",
        gradient_checkpointing=settings.gradient_checkpointing,
        bf16=cuda and resolve_dtype(settings.dtype) == torch.bfloat16,
        use_cpu=not cuda,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=settings.logging_steps,
        # Resumable checkpoints (model, optimizer, scheduler, RNG, trainer state) in output_dir.
        save_strategy="steps" if settings.save_steps > 0 else "no",
        save_steps=settings.save_steps if settings.save_steps > 0 else 500,
        save_total_limit=settings.save_total_limit,
        report_to=list(report_to),
        dataloader_pin_memory=cuda,
        # Every trainable parameter of a text-only model (LoRA or full) gets a gradient: DDP
        # need not search for unused ones (transformers would for a PEFT model).
        ddp_find_unused_parameters=False,
    )
