"""Distillation methods as plug-ins: each module declares what it trains, on which traces, and
which table rows it adds, by calling the plan builder (see "Adding a method" in the README).

A method is a module with ``NAME`` and ``plan(builder)``; registering it here makes it a valid
value of the config's ``methods`` list.
"""

from __future__ import annotations

from types import ModuleType

from . import cascade, cmoe, direct

REGISTRY: dict[str, ModuleType] = {m.NAME: m for m in (direct, cascade, cmoe)}


def method_rank(method: str) -> int:
    """Table order: untrained bases first, then the methods in registration order."""
    return ["base", *REGISTRY].index(method)
