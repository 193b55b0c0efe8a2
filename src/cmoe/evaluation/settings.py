"""The `evaluation` section: how every planned model is scored (its typed settings and
defaults; the scoring itself is in :mod:`.generative`, :mod:`.loglik` and :mod:`.benchmarks`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.scoring import BootstrapSettings
from ..generation.base import GenerationSettings

# Shots per MERA version (scripts/run_benchmark.sh: ruMMLU runs 1-shot in v1.2; 5 in v1.1).
SHOTS = {"v1.1": 5, "v1.2": 1}


@dataclass
class LoglikSettings:
    """`evaluation.loglik`: MERA's ruMMLU protocol (cmoe.evaluation.loglik) beside the
    generative one."""

    enabled: bool = False
    k: int | None = None  # shots; None: the MERA version's (data.mera_version: v1.2 1, v1.1 5)
    seed: int = 1234  # MERA runs lm-eval with --seed 1234
    batch_size: int = 8
    dtype: str = "auto"
    mera_gen: bool = False  # also the generative variant (greedy until a newline)
    max_new_tokens: int = 256  # mera_gen: lm-eval's default max_gen_toks

    def job_settings(self, mera_version: str, same_split: bool, protocol: str) -> dict:
        """What one scoring job needs: k resolved from the MERA version, and max_new_tokens
        only for the generative variant (so editing it re-runs only those jobs)."""
        settings = {
            "k": SHOTS[mera_version] if self.k is None else self.k,
            "seed": self.seed,
            "same_split": same_split,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
        }
        if protocol == "mera_gen":
            settings["max_new_tokens"] = self.max_new_tokens
        return settings


@dataclass
class EvaluationSettings:
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    evaluate_base: bool = True
    # a row for each teacher on the test split: how much there is to distil (off in the study:
    # a 235B teacher's test run costs GPU-hours; the teachers' own reports stand in for it)
    evaluate_teachers: bool = False
    loglik: LoglikSettings = field(default_factory=LoglikSettings)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    # k sampled answers per question (temperature and top_p from `generation`); 1: one answer
    samples: int = 1
    # lm-eval tasks run on every trained and base model: names or BenchmarkSettings mappings
    benchmarks: list = field(default_factory=list)
