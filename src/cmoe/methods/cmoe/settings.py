"""CMoE's config section `router` (the learned router); `specialist_groups`, which the methods
that train from the specialists share, is cmoe.methods.roles.specialists'."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.paths import RESULTS
from ...core.settings import Settings, from_dict, setting


@dataclass
class RouterSettings(Settings):
    """The `router` section: CMoE's learned router."""

    seed: int = setting(0, "the router's seed")
    misrouted_control: bool = setting(
        False,
        "a negative control: one more mixture row, `mixture:misrouted`, whose routing sends each "
        "test question to the specialist of the next group (in `specialist_groups`' order), so "
        "none meets its own; the specialists also answer those questions. Where domains "
        "conflict it must score far below oracle routing (comparison.md lists it among the "
        "controls)",
    )


SECTIONS = {"router": RouterSettings}


def router_settings(config: dict) -> RouterSettings:
    return from_dict(RouterSettings, config.get("router"), "router")


def routes_file(namespace: str) -> str:
    """The learned router's output: routes of the test questions and its accuracy."""
    return f"{RESULTS}/{namespace}/router/routes.json"


def misroutes_file(namespace: str) -> str:
    """The negative control's routes: each test question to another group's specialist."""
    return f"{RESULTS}/{namespace}/router/misroutes.json"
