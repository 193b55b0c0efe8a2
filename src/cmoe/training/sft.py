"""The training script: TRL's SFTTrainer on reasoning traces (LoRA via PEFT, or full).

Thin on purpose, in the manner of open-r1's sft.py: settings become an SFTConfig, the rows of
:mod:`.examples` a Dataset, and Trainer does the rest. What this module adds is only what a
workflow job needs around it: resuming from checkpoints (:mod:`.checkpoints`), the same code in
one process and in each process of `accelerate launch` (:mod:`.launch`), and an output folder
that appears whole (model, tokenizer, train_metrics.json) or not at all.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from ..core.io import atomic_directory, atomic_write_json
from ..core.signals import Stopped, check_stop, stop_requested
from ..core.tracking import WandbSettings, setup_wandb
from .arguments import trainer_arguments
from .checkpoints import Resume, checkpoint_dir, resume_checkpoints, stop_callback
from .examples import example_lengths
from .settings import TrainSettings

log = logging.getLogger(__name__)


def build_trainer(
    model_path: str,
    rows: list[dict],
    settings: TrainSettings,
    output_dir: str | Path,
    report_to: list[str] = ("none",),
    run_name: str = "sft",
    trust_remote_code: bool = False,
    kd=None,
    revision: str | None = None,
):
    """The configured SFTTrainer, its tokenizer and the examples' token counts.

    With ``kd`` (a :class:`.kd.KDRun`) the trainer distils a teacher's logits instead: the same
    SFTConfig, and SFTTrainer with a KD loss (stored top-k) or TRL's GKDTrainer (on-policy).
    """
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from ..core.models import check_arch, check_lora_targets, load_tokenizer, resolve_dtype

    if not rows:
        raise ValueError("no training examples (did the filter keep any traces?)")
    check_arch(model_path, "causal", trust_remote_code, revision)
    tokenizer = load_tokenizer(model_path, trust_remote_code, "right", revision)
    lengths = example_lengths(tokenizer, rows)
    if all(prompt >= settings.max_length for prompt, _ in lengths):
        shortest = min(prompt for prompt, _ in lengths)
        raise ValueError(
            f"max_length={settings.max_length} is shorter than every prompt: nothing would be "
            f"learned (the shortest prompt is {shortest} tokens)"
        )
    model = AutoModelForCausalLM.from_pretrained(
        model_path,
        dtype=resolve_dtype(settings.dtype),
        trust_remote_code=trust_remote_code,
        **({"revision": revision} if revision else {}),
    )
    peft_config = None
    if settings.method == "lora":
        lora = settings.lora
        # a hub model's modules are first known here (the preflight checks the others)
        check_lora_targets(lora.target_modules, model, model_path, "lora.target_modules")
        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            modules_to_save=lora.modules_to_save,
            task_type="CAUSAL_LM",
            revision=revision,  # the adapter's base is loaded at this commit again
        )
    args = trainer_arguments(settings, output_dir, run_name, report_to)
    args.update(
        max_length=settings.max_length,  # TRL's default (1024) would cut long traces silently
        completion_only_loss=True,
        eos_token=tokenizer.eos_token,
        # Padding-free = best-fit-decreasing packing of whole examples into max_length rows,
        # with per-example position ids (exact with flash-attention on GPU).
        packing=settings.batching == "padding_free",
        packing_strategy="bfd",
        padding_free=settings.batching == "padding_free",
        # packed rows are not grouped by length (a padding-free row mixes examples)
        train_sampling_strategy=(
            "group_by_length" if settings.batching == "group_by_length" else "random"
        ),
    )
    if kd is not None:
        from .kd import kd_trainer

        trainer = kd_trainer(model, args, rows, tokenizer, peft_config, kd, settings.dtype)
    else:
        from .compact_head import sft_trainer_class

        # SFTTrainer, with an LM head that scores only the completion tokens on CPU
        trainer = sft_trainer_class()(
            model=model,
            args=SFTConfig(**args),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    return trainer, tokenizer, causal_length_stats(lengths, settings.max_length, settings.epochs)


def causal_length_stats(lengths: list[tuple[int, int]], max_length: int, epochs: float) -> dict:
    """train_metrics.json's token counts from each example's (prompt, full) length."""
    return {
        "tokens_seen": int(sum(min(full, max_length) for _, full in lengths) * epochs),
        "truncated_examples": sum(full > max_length for _, full in lengths),
        # cut so far that no completion token is left: TRL drops these examples
        "dropped_examples": sum(p >= max_length for p, _ in lengths),
        "max_example_tokens": max(full for _, full in lengths),
    }


def _param_counts(model) -> tuple[int, int]:
    """(trainable, total); a ZeRO-3 partitioned parameter reports its size as ds_numel."""
    trainable = total = 0
    for p in model.parameters():
        n = getattr(p, "ds_numel", None) or p.numel()
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total


def train(
    model_path: str,
    rows: list[dict],
    out: str | Path,
    settings: TrainSettings,
    *,
    wandb: WandbSettings | None = None,
    run_name: str = "sft",
    trust_remote_code: bool = False,
    extra_metrics: dict | None = None,
    kd=None,
    seq2seq=None,
    revision: str | None = None,
) -> dict:
    """Fine-tune ``model_path`` on ``rows`` and write the model/adapter + train_metrics.json.

    Runs the same in one process and in each process of `accelerate launch` (DDP, FSDP,
    ZeRO-3): every process trains and joins the collective model save; only the main process
    writes the output folder (atomically), the checkpoint fingerprint and marks, and the logs.
    With ``settings.save_steps`` > 0 a killed run resumes from its last complete checkpoint;
    a stop signal (cmoe.core.signals) saves one at the next logged step and raises ``Stopped``.
    ``seq2seq`` (:class:`.seq2seq.Seq2SeqSettings`) trains an encoder-decoder with
    transformers' Seq2SeqTrainer instead of a causal LM with TRL's SFTTrainer.
    """
    import torch

    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoints = settings.save_steps > 0
    ckpt_dir = checkpoint_dir(out)
    # Without checkpoints the trainer's output_dir is a throwaway folder (nothing is saved).
    scratch = None if checkpoints else Path(tempfile.mkdtemp(prefix=".trainer-", dir=out.parent))
    try:
        common = (
            ckpt_dir if checkpoints else scratch,
            setup_wandb(wandb or WandbSettings(mode="disabled")),
            run_name,
            trust_remote_code,
        )
        if seq2seq is None:
            trainer, tokenizer, length_stats = build_trainer(
                model_path, rows, settings, *common, kd=kd, revision=revision
            )
        else:
            from .seq2seq import build_seq2seq_trainer

            trainer, tokenizer, length_stats = build_seq2seq_trainer(
                model_path, rows, settings, seq2seq, *common, revision=revision
            )
        accelerator = trainer.accelerator
        main = accelerator.is_main_process
        processes = accelerator.num_processes
        if settings.distributed != "none" and processes == 1:
            log.warning(
                "distributed=%s, but this is a single process: start it with `accelerate "
                "launch` (cmoe.training.launch.launcher_prefix) to use several GPUs",
                settings.distributed,
            )
        truncated = length_stats["truncated_examples"]
        if truncated and main:
            log.warning(
                "%d of %d examples exceed max_length=%d and will be truncated",
                truncated,
                len(rows),
                settings.max_length,
            )
        trainable, total = _param_counts(trainer.model)

        resume = Resume()
        if checkpoints:
            extra = None if seq2seq is None else {"seq2seq": asdict(seq2seq)}
            resume = resume_checkpoints(trainer, ckpt_dir, t0, model_path, rows, settings, extra)
        stopper = stop_callback(trainer, save=checkpoints)
        trainer.add_callback(stopper)
        check_stop("before training")  # a scheduler's SIGTERM (cmoe.core.signals)
        result = trainer.train(
            resume_from_checkpoint=str(resume.checkpoint) if resume.checkpoint else None
        )
        if stopper.stopped_at is not None:
            saved = f"checkpoint-{stopper.stopped_at} saved" if checkpoints else "save_steps: 0"
            where = f"at step {stopper.stopped_at} of {trainer.state.max_steps} ({saved})"
            raise Stopped(stop_requested() or signal.SIGTERM, where)
        if "wandb" in trainer.args.report_to and main:
            import wandb

            wandb.finish()  # the trainer leaves its run open; close it with the job
        cuda = torch.cuda.is_available()
        final_loss = resume.run_loss(result.training_loss, trainer.state.global_step)
        metrics = {
            "base_model": model_path,
            "base_revision": revision,  # the hub commit trained on (None: a local folder)
            "method": settings.method,
            "settings": asdict(settings),
            "examples": len(rows),
            "epochs": settings.epochs,
            "examples_seen": int(len(rows) * settings.epochs),
            **length_stats,
            **({"seq2seq": asdict(seq2seq)} if seq2seq is not None else {}),
            "loss_curve": [
                {"step": h["step"], "loss": h["loss"]}
                for h in trainer.state.log_history
                if "loss" in h
            ],
            "final_train_loss": final_loss,
            "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 3),
            **(extra_metrics or {}),
            # a trainer's own account of its run (what a cross-vocabulary alignment dropped)
            **(trainer.kd_summary() if hasattr(trainer, "kd_summary") else {}),
            "trainable_params": trainable,
            "total_params": total,
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            # one device per process when launched over several (GPUs, or CPU processes)
            "device_count": processes if processes > 1 else (torch.cuda.device_count() or 1),
            "num_processes": processes,
            "distributed": settings.distributed,
            "distributed_type": str(accelerator.distributed_type.value),
            "resumed_from_step": resume.step,
        }
        _save_final(trainer, tokenizer, out, metrics, t0, resume.elapsed_before)
        if main and checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)  # done: nothing left to resume
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return metrics


def _save_final(trainer, tokenizer, out: Path, metrics: dict, t0: float, elapsed: float) -> None:
    """Model, tokenizer and metrics appear together or not at all, written by the main process.

    Every process calls Trainer.save_model: under FSDP/ZeRO-3 it gathers the sharded weights
    (a collective) and only the main process writes. The others get the main process's
    temporary folder, which they never write to.
    """
    from accelerate.utils import broadcast_object_list

    accelerator = trainer.accelerator
    if accelerator.is_main_process:
        with atomic_directory(out) as tmp:
            broadcast_object_list([str(tmp)])
            trainer.save_model(str(tmp))
            (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; settings are below
            tokenizer.padding_side = "left"  # saved for generation (the trainer pads right)
            tokenizer.save_pretrained(tmp)
            # wall time of the whole run: earlier attempts up to their checkpoint, plus this one
            metrics["wall_time_s"] = round(elapsed + time.perf_counter() - t0, 3)
            atomic_write_json(tmp / "train_metrics.json", metrics)
    else:
        path = [None]
        broadcast_object_list(path)
        trainer.save_model(path[0])
        metrics["wall_time_s"] = round(elapsed + time.perf_counter() - t0, 3)
    accelerator.wait_for_everyone()
