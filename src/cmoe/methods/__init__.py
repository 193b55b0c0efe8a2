"""Distillation methods as plug-ins: one folder each (see :mod:`.base` for the contract).

:data:`REGISTRY` drives everything that depends on the methods: the config schema's `methods`
list, validation and preflight, the CLI's subcommands, the rule files the Snakefile includes,
the plan, and the order of the table's rows (untrained bases first, then the methods in this
order, each method's variant rows right after its own).
"""

from __future__ import annotations

from importlib import import_module

from .base import Method

# The method packages, in table order; adding a method is its folder plus one line here.
PACKAGES = (
    "direct",
    "cascade",
    "cmoe",
    "kard",
    "direct_kd",
    "cmoe_kd",
    "seq2seq",
)

REGISTRY: dict[str, Method] = {
    m.name: m for m in (import_module(f"{__name__}.{p}").METHOD for p in PACKAGES)
}
# Every other row is compared with the baseline's row of the same teacher and model (its
# label lives with the roles the methods share).
from .roles import BASELINE as BASELINE  # noqa: E402


def named_sections(methods) -> tuple[str, ...]:
    """The config sections of named entries that ``methods`` own, each once."""
    return tuple(dict.fromkeys(s for m in methods for s in m.named_sections))


def method_rank(method: str) -> float:
    """Table order: untrained bases and teachers first, then the methods in registration
    order; a method's variant row ("kard (no reranker)") right after the method's own rows."""
    name, _, variant = method.partition(" (")
    return ["base", "teacher", *REGISTRY].index(name) + (0.5 if variant else 0)
