"""The evaluation stage's checks: sampled evaluation needs sampling, and every benchmark must be
a task lm-eval can find."""

from __future__ import annotations

from ..core.errors import ConfigError
from .benchmarks import check_benchmarks
from .settings import EvaluationSettings

SECTIONS = {"evaluation": EvaluationSettings}


def check(config: dict) -> None:
    evaluation = config["evaluation"]
    temperature = (evaluation.get("generation") or {}).get("temperature", 0.0)
    if evaluation.get("samples", 1) > 1 and temperature <= 0:
        raise ConfigError(
            f"{evaluation['samples']} samples need sampling, but "
            "evaluation.generation.temperature is 0 (greedy: every sample would be the same)",
            key="evaluation.samples",
        )
    check_benchmarks(config)
