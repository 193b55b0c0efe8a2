"""direct-kd's checks: the `kd` section and its vocabularies; a generalist to score with unless
the teacher scores its own traces."""

from ..base import require_intermediates
from ..kd import checks as kd
from ..kd.settings import settings


def check(config: dict) -> None:
    kd.check(config)
    if settings(config).direct_teacher == "generalist":
        require_intermediates(config, "direct-kd")


def preflight(config: dict) -> None:
    kd.preflight(config)
