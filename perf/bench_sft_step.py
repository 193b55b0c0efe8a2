"""ms per SFTTrainer step on the demo student (data/control/hub/student), full fine-tuning.

Usage: python perf/bench_sft_step.py [--steps 200 --threads 1 --profile cprofile|torch]
Prints ms/step (the trainer's own train_runtime over its steps) and the final loss, so two
versions of the trainer can be compared for speed and for an unchanged loss (same seed).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, questions_of  # noqa: E402

STUDENT = ROOT / "data" / "control" / "hub" / "student"
TASKS = ROOT / "data" / "control" / "control_tasks.jsonl"


def rows() -> list[dict]:
    from cmoe.core.prompting import PromptSettings
    from cmoe.training import sft_examples

    return sft_examples(questions_of(TASKS), PromptSettings(), source="reference")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--logging-steps", type=int, default=5)
    p.add_argument("--profile", choices=["cprofile", "torch"], default=None)
    args = p.parse_args()

    import torch

    from cmoe.training import TrainSettings, build_trainer

    torch.set_num_threads(args.threads)
    data = rows()
    settings = TrainSettings(
        method="full",
        epochs=1000.0,  # cut by max_steps below
        batch_size=8,
        learning_rate=5e-3,
        max_length=512,
        logging_steps=args.logging_steps,
        save_steps=0,
        seed=0,
    )
    out = tempfile.mkdtemp(prefix="bench-sft-step-")
    trainer, _, _ = build_trainer(str(STUDENT), data, settings, out)
    trainer.args.max_steps = args.steps
    trainer.args.disable_tqdm = True
    if args.profile == "cprofile":
        prof = cProfile.Profile()
        prof.enable()
        result = trainer.train()
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
    elif args.profile == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            result = trainer.train()
        print(
            prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=35), file=sys.stderr
        )
    else:
        result = trainer.train()
    steps = trainer.state.global_step
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(
        json.dumps(
            {
                "ms_per_step": round(1000 * result.metrics["train_runtime"] / steps, 2),
                "steps": steps,
                "training_loss": result.training_loss,
                "last_logged_loss": losses[-1] if losses else None,
                "examples": len(data),
            }
        )
    )


if __name__ == "__main__":
    main()
