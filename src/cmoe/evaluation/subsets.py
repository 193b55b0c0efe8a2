"""Questions routed to groups of domains: a model that serves a group (a specialist) answers
its own domains' questions and those a learned router sends to it."""

from __future__ import annotations

from pathlib import Path

from ..core.io import read_json


def specialist_for(domain: str, groups: dict[str, list[str]]) -> str:
    """The specialist group that serves a domain."""
    for group, members in groups.items():
        if domain in members:
            return group
    raise KeyError(f"domain {domain!r} belongs to no specialist group")


def questions_for_specialist(
    questions: list[dict],
    group: str,
    groups: dict[str, list[str]],
    routes: list[dict[str, str]],
) -> list[dict]:
    """The test questions a specialist must answer: its own domains' (oracle routing) and
    those that any of ``routes`` (the learned router's, a misrouting's) send to it, each once."""
    return [
        q
        for q in questions
        if specialist_for(q["domain"], groups) == group
        or any(specialist_for(r[q["id"]], groups) == group for r in routes)
    ]


def router(groups: dict[str, list[str]], routes: dict[str, str] | None = None):
    """question -> the group that answers it: its own domain's (oracle routing), or, with
    ``routes``, the group of the domain the learned router sends it to."""

    def route(question: dict) -> str:
        domain = routes[question["id"]] if routes is not None else question["domain"]
        return specialist_for(domain, groups)

    return route


def load_routes(path: str | Path) -> dict[str, str]:
    return read_json(path)["routes"]
