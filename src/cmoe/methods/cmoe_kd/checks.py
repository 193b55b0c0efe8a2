"""cmoe-kd's checks: the `kd` section and its vocabularies, and the specialists it learns from."""

from ..base import require_intermediates
from ..cmoe.settings import check_groups
from ..kd import checks as kd


def check(config: dict) -> None:
    kd.check(config)
    require_intermediates(config, "cmoe-kd")
    check_groups(config)


def preflight(config: dict) -> None:
    kd.preflight(config)
