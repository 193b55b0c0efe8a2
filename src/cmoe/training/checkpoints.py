"""The resumable checkpoint protocol: a killed training job picks up where it stopped.

A job killed mid-training (preemption, timeout) resumes from its last checkpoint when it is
started again. Checkpoints live in a sibling of the output folder, <out>.checkpoints/: Snakemake
deletes the declared output of a failed job, so they must not be inside it.

A checkpoint is resumed only if it is complete and of this very run:

- complete: every process wrote its part, then the main process wrote ``COMPLETE`` into it (a
  kill while writing leaves none, and the half-written folder is removed);
- this run: ``FINGERPRINT`` in the folder matches the settings (except those in
  ``NOT_FINGERPRINTED``), data, base model, process count and library versions; anything else
  deletes the folder and starts over.

The trainer's own checkpoint holds model, optimizer, scheduler, RNG and trainer state; the
protocol adds the epoch-start RNG (so a resumed epoch sees the same data order) and the wall
time and loss sum so far (so a resumed run reports whole-run totals).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.io import atomic_write_json, read_json
from .settings import TrainSettings

log = logging.getLogger(__name__)

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
    model_path: str,
    rows: list[dict],
    settings: TrainSettings,
    num_processes: int,
    extra: dict | None = None,
) -> dict:
    """What a checkpoint must match to be resumed: settings, data, base model, process count
    (it sets the global batch), the library versions that wrote it, and ``extra`` (what a
    seq2seq run adds to the settings), if any."""
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
    if extra:
        identity["extra"] = extra
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
    return {
        "sha256": digest,
        "model": model_path,
        "examples": len(rows),
        "num_processes": num_processes,
        "settings": train_settings,
    }


def checkpoint_step(path: Path) -> int:
    """N of a checkpoint-N folder; -1 for anything else."""
    try:
        return int(path.name.rpartition("-")[2])
    except ValueError:
        return -1


def complete_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """Checkpoints every process finished writing, oldest first."""
    found = [
        p
        for p in Path(ckpt_dir).glob("checkpoint-*")
        if p.is_dir() and checkpoint_step(p) >= 0 and (p / COMPLETE).is_file()
    ]
    return sorted(found, key=checkpoint_step)


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
    return max(complete, key=checkpoint_step) if complete else None


def checkpoint_callback(trainer, t0: float):
    """Marks a checkpoint complete once every process has written its part, with the run's
    elapsed wall time and loss sum so far (a resumed run reports whole-run totals)."""
    import torch
    from transformers import TrainerCallback

    class CheckpointMarker(TrainerCallback):
        elapsed_before = 0.0  # wall time of earlier attempts, up to the resumed checkpoint
        # their summed step losses; None: resumed from a checkpoint that did not record it
        loss_sum_before: float | None = 0.0
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
                        "loss_sum": self.run_loss_sum(),
                    },
                )

        def run_loss_sum(self) -> float | None:
            # Trainer sums only this attempt's steps (it starts from 0 when resuming): add
            # those of the earlier attempts, or the next resume would lose them.
            attempt = _loss_sum(trainer)
            if attempt is None or self.loss_sum_before is None:
                return None
            return self.loss_sum_before + attempt

    return CheckpointMarker()


def _loss_sum(trainer) -> float | None:
    """Sum of this attempt's per-step training losses so far (what Trainer averages into
    training_loss: only the steps since the checkpoint it resumed from, if any)."""
    total = getattr(trainer, "_total_loss_scalar", None)  # transformers internals: optional
    pending = getattr(trainer, "_tr_loss", None)
    if total is None or pending is None:
        return None
    return float(total) + float(pending.item() if hasattr(pending, "item") else pending)


@dataclass
class Resume:
    """Where this attempt starts: a complete checkpoint of this run, or (None) step 0."""

    checkpoint: Path | None = None
    elapsed_before: float = 0.0  # wall time of earlier attempts, up to the checkpoint
    loss_sum_before: float | None = None  # their summed step losses (all of them), if recorded

    @property
    def step(self) -> int:
        return checkpoint_step(self.checkpoint) if self.checkpoint else 0

    def run_loss(self, attempt_loss: float, steps: int) -> float:
        """Trainer averages over this attempt's steps only; this is the whole run's mean."""
        if self.checkpoint and self.loss_sum_before is not None and steps:
            return (self.loss_sum_before + attempt_loss * (steps - self.step)) / steps
        return attempt_loss


def resume_checkpoints(
    trainer,
    ckpt_dir: Path,
    t0: float,
    model_path: str,
    rows: list[dict],
    settings: TrainSettings,
    extra: dict | None = None,
) -> Resume:
    """Add the checkpoint marker to ``trainer`` and find the checkpoint to resume from.

    Every process calls this. The main process alone checks the fingerprint and cleans up
    ``ckpt_dir``; the others look only after it is done.
    """
    import torch

    accelerator = trainer.accelerator
    main = accelerator.is_main_process
    marker = checkpoint_callback(trainer, t0)
    trainer.add_callback(marker)
    if main:
        fingerprint = training_fingerprint(
            model_path, rows, settings, accelerator.num_processes, extra
        )
        prepare_checkpoint_dir(ckpt_dir, fingerprint)
    accelerator.wait_for_everyone()  # others look only after the main process cleaned up
    done = complete_checkpoints(ckpt_dir)
    if not done:
        return Resume()
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
    return Resume(resume, elapsed_before, loss_sum_before)


def stop_callback(trainer, save: bool):
    """Ends training at the first logged step after a stop signal (cmoe.core.signals), with a
    checkpoint of that step when ``save``: at most ``logging_steps`` - 1 steps later, so the
    resumed run's loss curve is the uninterrupted one's. Every process stops at the same step."""
    import torch
    from transformers import TrainerCallback

    from ..core.signals import stop_requested

    class StopOnSignal(TrainerCallback):
        stopped_at: int | None = None  # the step training stopped at

        def on_step_end(self, args, state, control, **kwargs):
            stop = stop_requested() is not None
            accelerator = trainer.accelerator
            if accelerator.num_processes > 1:  # the signal may reach them at different steps
                flag = torch.tensor([int(stop)], device=accelerator.device)
                stop = accelerator.reduce(flag, reduction="sum").item() > 0
            logged = state.global_step % max(1, int(args.logging_steps)) == 0
            if stop and logged and state.global_step < state.max_steps:
                control.should_training_stop = True
                control.should_save = save
                self.stopped_at = state.global_step

    return StopOnSignal()
