"""Shared setup for the benchmarks: demo questions and a tiny model built like the demo's."""

from __future__ import annotations

import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo" / "rummlu_demo.jsonl"


def demo_questions() -> list[dict]:
    from cmoe.core.domains import subject_domains
    from cmoe.data.questions import DataSettings, load_questions

    questions, _ = load_questions(DataSettings(source={"file": str(DEMO_DATA)}), subject_domains())
    return questions


def tiny_model(
    hidden_size: int, layers: int, seed: int = 0, family: str = "qwen3", vocab_size: int = 2048
) -> str:
    from cmoe.data.tiny import TinyModelSpec, make_tiny_model

    out = Path(tempfile.mkdtemp(prefix="cmoe-bench-")) / "model"
    spec = TinyModelSpec(
        family=family,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        intermediate_size=3 * hidden_size,
        seed=seed,
    )
    make_tiny_model(DEMO_DATA, out, spec, vocab_size=vocab_size)
    return str(out)
