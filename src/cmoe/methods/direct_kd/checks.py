"""direct-kd's checks: the `kd` section and its vocabularies; a generalist to score with unless
every teacher scores its own traces."""

from ..base import require_intermediates
from ..kd import checks as kd
from ..kd.settings import direct_scorers, selected, settings


def check(config: dict) -> None:
    kd.check(config)
    chosen = settings(config)
    teachers = selected(config["teachers"], chosen.teachers)
    if any("generalist" in direct_scorers(chosen, t) for t in teachers):
        require_intermediates(config, "direct-kd")


def preflight(config: dict) -> None:
    kd.preflight(config)
