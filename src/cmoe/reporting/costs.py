"""Cost of a method's chain of jobs: device-hours summed, and the critical path.

A chain is a tree: ``{"seq": [...]}`` runs its parts one after another, ``{"par": [...]}`` runs
them in parallel (specialists are independent jobs), and a leaf is a job's cost file — a
generation ``*.cost.json`` or a training ``train_metrics.json``, both holding ``wall_time_s`` and
``device_count``. Summed device-hours are what a cluster bills; the critical path is the wall time
of the chain with unlimited parallel hardware.
"""

from __future__ import annotations

from pathlib import Path

from ..core.io import read_json


def _leaf(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():  # a trained model folder: its training metrics
        path = path / "train_metrics.json"
    data = read_json(path)
    kind = "train" if Path(path).name == "train_metrics.json" else "generate"
    wall = float(data["wall_time_s"])
    hours = wall * int(data.get("device_count", 1)) / 3600
    return {
        "device_hours": hours,
        "train_device_hours": hours if kind == "train" else 0.0,
        "critical_path_s": wall,
        "train_critical_path_s": wall if kind == "train" else 0.0,
        "tokens": int(data.get("tokens_seen", 0))
        + int(data.get("prompt_tokens", 0))
        + int(data.get("completion_tokens", 0)),
        "examples": int(data.get("examples_seen", data.get("questions", 0))),
        "jobs": 1,
        # what an OpenAI-compatible API billed (generation.openai.price_per_million)
        "api_cost_usd": float(data.get("api_cost_usd", 0.0)),
    }


_SUMMED = ("device_hours", "train_device_hours", "tokens", "examples", "jobs", "api_cost_usd")


def chain_cost(tree) -> dict:
    """Aggregate a chain tree (see module docstring) into one cost record."""
    if isinstance(tree, (str, Path)):
        return _leaf(tree)
    (kind, parts), *rest = tree.items()
    if rest or kind not in ("seq", "par") or not parts:
        raise ValueError(f"bad chain node: {tree!r}")
    costs = [chain_cost(p) for p in parts]
    out = {k: sum(c[k] for c in costs) for k in _SUMMED}
    combine = sum if kind == "seq" else max
    for k in ("critical_path_s", "train_critical_path_s"):
        out[k] = combine(c[k] for c in costs)
    return out


def chain_files(tree) -> list[str]:
    """Every cost file in a chain tree (the inputs a table rule depends on)."""
    if isinstance(tree, (str, Path)):
        return [str(tree)]
    return [f for part in next(iter(tree.values())) for f in chain_files(part)]
