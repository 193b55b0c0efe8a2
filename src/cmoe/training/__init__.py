"""Supervised fine-tuning of students (and the warm-up teacher) on reasoning traces.

settings (what a job is told), examples (what it learns from), sft (the training script),
checkpoints (resuming a killed job) and launch (one process or `accelerate launch`). Importing
the package loads no torch: the heavy imports happen when a model is trained.
"""

from ..core.tracking import WandbSettings
from .examples import example_lengths, load_training_rows, sft_examples
from .settings import LoraSettings, TrainSettings
from .sft import build_trainer, train

__all__ = [
    "LoraSettings",
    "TrainSettings",
    "WandbSettings",
    "build_trainer",
    "example_lengths",
    "load_training_rows",
    "sft_examples",
    "train",
]
