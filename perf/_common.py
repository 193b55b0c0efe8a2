"""Shared setup for the benchmarks: demo questions and a tiny model built like the demo's."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo" / "rummlu_demo.jsonl"
sys.path.insert(0, str(ROOT / "tests"))  # support: test scaffolding


def questions_of(path: str | Path) -> list[dict]:
    """The valid question records of a question file, parsed as the data stage parses it."""
    from support.questions import load_questions

    from cmoe.core.domains import subject_domains
    from cmoe.data.questions import DataSettings

    questions, _ = load_questions(DataSettings(source={"file": str(path)}), subject_domains())
    return questions


def demo_questions() -> list[dict]:
    return questions_of(DEMO_DATA)


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
