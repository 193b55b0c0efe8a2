"""cmoe-kd's checks: the `kd` section and its vocabularies, and the specialists it learns from."""

from ..base import require_intermediates
from ..kd import checks as kd
from ..roles.specialists import check_groups, preflight_groups


def check(config: dict) -> None:
    kd.check(config)
    require_intermediates(config, "cmoe-kd")
    check_groups(config)


def preflight(config: dict) -> None:
    kd.preflight(config)
    preflight_groups(config)
