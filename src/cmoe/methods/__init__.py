"""Distillation methods as plug-ins: each module declares what it trains, on which traces, and
which table rows it adds, by calling the plan builder (see "Adding a method" in the README).

A method is a module with ``NAME`` and ``plan(builder)``; registering it here makes it a valid
value of the config's ``methods`` list.
"""

from __future__ import annotations

from types import ModuleType

from . import cascade, cmoe, cmoe_kd, direct, direct_kd, kard, seq2seq

REGISTRY: dict[str, ModuleType] = {
    m.NAME: m for m in (direct, cascade, cmoe, kard, direct_kd, cmoe_kd, seq2seq)
}


def method_rank(method: str) -> float:
    """Table order: untrained bases first, then the methods in registration order; a method's
    variant row ("kard (no reranker)") right after the method's own rows."""
    name, _, variant = method.partition(" (")
    return ["base", *REGISTRY].index(name) + (0.5 if variant else 0)
