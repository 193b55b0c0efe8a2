"""The `evaluation` section: how every planned model is scored (its typed settings and
defaults; the scoring itself is in :mod:`.generative`, :mod:`.loglik` and :mod:`.benchmarks`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.scoring import BootstrapSettings
from ..core.settings import DTYPES, Settings, defined, setting
from ..generation.base import GenerationSettings

# Shots per MERA version (scripts/run_benchmark.sh: ruMMLU runs 1-shot in v1.2; 5 in v1.1).
SHOTS = {"v1.1": 5, "v1.2": 1}


@dataclass
class LoglikSettings(Settings):
    """`evaluation.loglik`: MERA's ruMMLU protocol (cmoe.evaluation.loglik) beside the
    generative one."""

    enabled: bool = setting(False, "run the protocol (needs `data.fewshot_source`)")
    k: int | None = setting(
        None,
        "shots; null: the MERA version's (`data.mera_version`: 1 for v1.2, 5 for v1.1)",
        minimum=0,
    )
    seed: int = setting(1234, "the shot generator's seed (MERA runs lm-eval with `--seed 1234`)")
    batch_size: int = setting(8, "questions per forward batch", minimum=1)
    dtype: str = setting("auto", "as for training", enum=DTYPES)
    mera_gen: bool = setting(False, "also run the generative variant (greedy until a newline)")
    max_new_tokens: int = setting(
        256, "`mera_gen`: most new tokens (lm-eval's default `max_gen_toks`)", minimum=1
    )

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
class EvaluationSettings(Settings):
    """The `evaluation` section."""

    generation: GenerationSettings = defined(
        "generation",
        "generation settings (above) with which every model answers the test split",
        GenerationSettings,
        doc_default="greedy",
    )
    evaluate_base: bool = setting(
        True,
        "the untrained base students are evaluated as baseline rows (and, with `benchmarks`, "
        "every base model a trained model comes from); each student row is compared with its "
        "base in `comparison.md`",
    )
    evaluate_teachers: bool = setting(
        False,
        "each teacher answers the test split as a row of its own (the demo: how much there is "
        "to distil; the study leaves it off, a 235B teacher's test run costs GPU-hours)",
    )
    loglik: LoglikSettings = setting(
        help="MERA's log-likelihood protocol, next to the generative evaluation (below)",
        factory=LoglikSettings,
    )
    bootstrap: BootstrapSettings = setting(
        help="the tables' percentile-bootstrap intervals (below)", factory=BootstrapSettings
    )
    samples: int = setting(
        1,
        "answers per question. 1: one answer, decoded as `generation` says (greedy by default). "
        "k > 1: k answers sampled with `generation`'s temperature and top_p (which must be > 0; "
        "a validation error otherwise), sample i seeded from `generation.seed + i`; the tables "
        "then report avg@k (mean over questions of the share of correct samples) with "
        "majority@k beside it, and the interval resamples questions with all their samples, so "
        "it covers question and seed variance together. `predictions.jsonl` keeps one record "
        "per question: the first sample's text, the majority answer, and every sample under "
        "`samples`",
        minimum=1,
    )
    benchmarks: list = setting(
        help="lm-evaluation-harness tasks run on every trained model and base model: a task "
        "name or a mapping of `BenchmarkSettings` keys (below)",
        factory=list,
        items={"type": ["string", "object"]},
    )
