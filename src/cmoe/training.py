"""Supervised fine-tuning on reasoning traces with TRL's SFTTrainer (LoRA via PEFT, or full).

Each example is conversational prompt/completion data: the prompt is the shared prompt builder's
messages and the completion is the teacher's reasoning in <think> tags plus the canonical answer
line. TRL then computes the loss on the completion only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .io import atomic_directory, atomic_write_json, read_json, read_jsonl
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
    # "none" (one process), or "ddp" / "fsdp" / "zero3": started by `accelerate launch` with
    # configs/accelerate/<x>.yaml over the job's GPUs (see cmoe.launch)
    distributed: str = "none"
    # a resumable checkpoint every N optimizer steps in <out>.checkpoints/; 0: none
    save_steps: int = 200
    # checkpoints kept (>= 2, so a kill while writing one always leaves a complete one)
    save_total_limit: int = 2

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
        # Resumable checkpoints (model, optimizer, scheduler, RNG, trainer state) in output_dir.
        save_strategy="steps" if settings.save_steps > 0 else "no",
        save_steps=settings.save_steps if settings.save_steps > 0 else 500,
        save_total_limit=settings.save_total_limit,
        report_to=list(report_to),
        dataloader_pin_memory=cuda,
        # Every trainable parameter of a text-only causal LM (LoRA or full) gets a gradient:
        # DDP need not search for unused ones (transformers would for a PEFT model).
        ddp_find_unused_parameters=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    return trainer, tokenizer, lengths


# --- checkpoints and resuming --------------------------------------------------------------------
# A job killed mid-training (preemption, timeout) resumes from its last checkpoint when it is
# started again. Checkpoints live in a sibling of the output folder, <out>.checkpoints/: Snakemake
# deletes the declared output of a failed job, so they must not be inside it.

FINGERPRINT = "fingerprint.json"
COMPLETE = "cmoe_checkpoint.json"  # written into checkpoint-N/ once every process has saved
EPOCH_RNG = "cmoe_epoch_rng_{}.pt"  # per process: RNG state at the start of the epoch
# Settings that do not change what is trained: a run may resume after they were edited.
NOT_FINGERPRINTED = ("save_steps", "save_total_limit")


def checkpoint_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".checkpoints")


def _model_identity(model_path: str):
    """A local model folder by its files' names, sizes and mtimes; a hub id by its name."""
    path = Path(model_path)
    if not path.is_dir():
        return model_path
    return [
        [str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns]
        for f in sorted(path.rglob("*"))
        if f.is_file()
    ]


def training_fingerprint(
    model_path: str, rows: list[dict], settings: TrainSettings, num_processes: int
) -> dict:
    """What a checkpoint must match to be resumed: settings, data, base model, process count
    (it sets the global batch) and the library versions that wrote it."""
    import peft
    import torch
    import transformers
    import trl

    train_settings = {k: v for k, v in asdict(settings).items() if k not in NOT_FINGERPRINTED}
    identity = {
        "model": model_path,
        "model_files": _model_identity(model_path),
        "data_sha256": hashlib.sha256(
            json.dumps(rows, ensure_ascii=False, sort_keys=True).encode("utf-8")
        ).hexdigest(),
        "settings": train_settings,
        "num_processes": num_processes,
        "versions": {m.__name__: m.__version__ for m in (torch, transformers, trl, peft)},
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
    return {
        "sha256": digest,
        "model": model_path,
        "examples": len(rows),
        "num_processes": num_processes,
        "settings": train_settings,
    }


def _step(path: Path) -> int:
    try:
        return int(path.name.rpartition("-")[2])
    except ValueError:
        return -1


def complete_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """Checkpoints every process finished writing, oldest first."""
    found = [
        p
        for p in Path(ckpt_dir).glob("checkpoint-*")
        if p.is_dir() and _step(p) >= 0 and (p / COMPLETE).is_file()
    ]
    return sorted(found, key=_step)


def prepare_checkpoint_dir(ckpt_dir: str | Path, fingerprint: dict) -> Path | None:
    """Keep ``ckpt_dir`` only if it holds checkpoints of this very run; return the last one.

    Main process only. Checkpoints of other settings, data or model are deleted (start over);
    so are ones a kill interrupted while being written (no completion marker).
    """
    ckpt_dir = Path(ckpt_dir)
    fp_file = ckpt_dir / FINGERPRINT
    if ckpt_dir.exists():
        try:
            old = read_json(fp_file).get("sha256")
        except (OSError, ValueError, AttributeError):
            old = None
        if old != fingerprint["sha256"]:
            if any(ckpt_dir.glob("checkpoint-*")):
                log.warning(
                    "%s holds checkpoints of other settings, data or model: starting over",
                    ckpt_dir,
                )
            shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if not fp_file.exists():
        atomic_write_json(fp_file, fingerprint)
    complete = set(complete_checkpoints(ckpt_dir))
    for partial in ckpt_dir.glob("checkpoint-*"):
        if partial not in complete:
            log.warning("removing %s: it was not completely written", partial)
            shutil.rmtree(partial, ignore_errors=True)
    return max(complete, key=_step) if complete else None


def _checkpoint_callback(trainer, t0: float):
    """Marks a checkpoint complete once every process has written its part, with the run's
    elapsed wall time and loss sum so far (a resumed run reports whole-run totals)."""
    import torch
    from transformers import TrainerCallback

    class CheckpointMarker(TrainerCallback):
        elapsed_before = 0.0  # wall time of earlier attempts, up to the resumed checkpoint
        loss_sum_before = None
        epoch_rng = None  # CPU RNG state when the current epoch's data order was drawn
        restore_epoch_rng = None  # resuming mid-epoch: that state, from the checkpoint

        def on_epoch_begin(self, args, state, control, **kwargs):
            # group_by_length draws each epoch's order from the global RNG when the epoch
            # starts; the trainer's own checkpoint only has the RNG of the step it stopped at.
            # Replaying the epoch-start state makes a resumed epoch see the same order.
            if self.restore_epoch_rng is not None:
                torch.random.set_rng_state(self.restore_epoch_rng)
                self.restore_epoch_rng = None
            self.epoch_rng = torch.random.get_rng_state()

        def on_step_end(self, args, state, control, **kwargs):
            # The trainer saves again after the last step; the final model is written anyway.
            if state.global_step >= state.max_steps and state.global_step % state.save_steps:
                control.should_save = False

        def on_save(self, args, state, control, **kwargs):
            accelerator = trainer.accelerator
            done = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if self.epoch_rng is not None:
                torch.save(self.epoch_rng, done / EPOCH_RNG.format(accelerator.process_index))
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                atomic_write_json(
                    done / COMPLETE,
                    {
                        "global_step": state.global_step,
                        "wall_time_s": self.elapsed_before + time.perf_counter() - t0,
                        "loss_sum": _loss_sum(trainer),
                    },
                )

    return CheckpointMarker()


def _loss_sum(trainer) -> float | None:
    """Sum of the per-step training losses so far (what Trainer averages into training_loss)."""
    total = getattr(trainer, "_total_loss_scalar", None)  # transformers internals: optional
    pending = getattr(trainer, "_tr_loss", None)
    if total is None or pending is None:
        return None
    return float(total) + float(pending.item() if hasattr(pending, "item") else pending)


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
    wandb: WandbSettings | None = None,
    run_name: str = "sft",
    trust_remote_code: bool = False,
) -> dict:
    """Fine-tune ``model_path`` on ``rows`` and write the model/adapter + train_metrics.json.

    Runs the same in one process and in each process of `accelerate launch` (DDP, FSDP,
    ZeRO-3): every process trains and joins the collective model save; only the main process
    writes the output folder (atomically), the checkpoint fingerprint and marks, and the logs.
    With ``settings.save_steps`` > 0 a killed run resumes from its last complete checkpoint.
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
        trainer, tokenizer, lengths = build_trainer(
            model_path,
            rows,
            settings,
            ckpt_dir if checkpoints else scratch,
            setup_wandb(wandb or WandbSettings()),
            run_name,
            trust_remote_code,
        )
        accelerator = trainer.accelerator
        main = accelerator.is_main_process
        processes = accelerator.num_processes
        if settings.distributed != "none" and processes == 1:
            log.warning(
                "distributed=%s, but this is a single process: start it with `accelerate "
                "launch` (cmoe.launch.launcher_prefix) to use several GPUs",
                settings.distributed,
            )
        truncated = sum(full > settings.max_length for _, full in lengths)
        if truncated and main:
            log.warning(
                "%d of %d examples exceed max_length=%d and will be truncated",
                truncated,
                len(rows),
                settings.max_length,
            )
        trainable, total = _param_counts(trainer.model)

        resume, elapsed_before, loss_sum_before = None, 0.0, None
        if checkpoints:
            marker = _checkpoint_callback(trainer, t0)
            trainer.add_callback(marker)
            if main:
                fingerprint = training_fingerprint(model_path, rows, settings, processes)
                prepare_checkpoint_dir(ckpt_dir, fingerprint)
            accelerator.wait_for_everyone()  # others look only after the main process cleaned up
            done = complete_checkpoints(ckpt_dir)
            if done:
                resume = done[-1]
                state = read_json(resume / COMPLETE)
                elapsed_before = float(state.get("wall_time_s", 0.0))
                loss_sum_before = state.get("loss_sum")
                marker.elapsed_before, marker.loss_sum_before = elapsed_before, loss_sum_before
                epoch_rng = resume / EPOCH_RNG.format(accelerator.process_index)
                if epoch_rng.is_file():
                    marker.restore_epoch_rng = torch.load(epoch_rng)
                if main:
                    log.info("resuming from %s (%s)", resume.name, resume)
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        if "wandb" in trainer.args.report_to and main:
            import wandb

            wandb.finish()  # the trainer leaves its run open; close it with the job
        cuda = torch.cuda.is_available()
        resumed_step = _step(resume) if resume else 0
        final_loss = result.training_loss
        steps = trainer.state.global_step
        if resume and loss_sum_before is not None and steps:
            # Trainer averages over this attempt's steps only; report the whole run's mean.
            final_loss = (loss_sum_before + final_loss * (steps - resumed_step)) / steps
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
            "final_train_loss": final_loss,
            "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 3),
            "trainable_params": trainable,
            "total_params": total,
            "device": torch.cuda.get_device_name(0) if cuda else "cpu",
            # one device per process when launched over several (GPUs, or CPU processes)
            "device_count": processes if processes > 1 else (torch.cuda.device_count() or 1),
            "num_processes": processes,
            "distributed": settings.distributed,
            "distributed_type": str(accelerator.distributed_type.value),
            "resumed_from_step": resumed_step,
        }
        _save_final(trainer, tokenizer, out, metrics, t0, elapsed_before)
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


def load_training_rows(paths: list[str], prompt: PromptSettings, source: str) -> list[dict]:
    records = [r for p in paths for r in read_jsonl(p)]
    if source == "traces":
        records = [r for r in records if r.get("correct")]
    if not records:
        raise ValueError(f"no correct traces to train on in {', '.join(map(str, paths))}")
    return sft_examples(records, prompt, source)
