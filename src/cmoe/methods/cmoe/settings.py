"""CMoE's config sections: `specialist_groups` (which domains each specialist serves; shared
with the methods that train from the specialists) and `router` (the learned router)."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.domains import DOMAINS
from ...core.errors import ConfigError
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


def specialist_groups(config: dict) -> dict[str, list[str]]:
    """Which domains each CMoE specialist serves: by default one specialist per domain."""
    return config.get("specialist_groups") or {d: [d] for d in DOMAINS}


def check_groups(config: dict) -> None:
    """The groups partition the domains; per-specialist overrides name existing groups."""
    groups = specialist_groups(config)
    seen: dict[str, str] = {}
    for group, domains in groups.items():
        for domain in domains:
            if domain in seen:
                raise ConfigError(
                    f"domain {domain} is already in group {seen[domain]}",
                    key=f"specialist_groups.{group}",
                )
            seen[domain] = group
    missing = [d for d in DOMAINS if d not in seen]
    if missing:
        raise ConfigError(f"no group serves {', '.join(missing)}", key="specialist_groups")
    for name, entry in config.get("intermediates", {}).items():
        for group in entry.get("specialists", {}):
            if group not in groups:
                raise ConfigError(
                    f"no such specialist group (have: {', '.join(groups)})",
                    key=f"intermediates.{name}.specialists.{group}",
                )
