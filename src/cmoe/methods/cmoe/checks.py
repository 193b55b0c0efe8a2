"""cmoe's checks: intermediates to specialise, groups that partition the domains."""

from ...core.errors import ConfigError
from ..base import require_intermediates
from ..roles.specialists import check_groups, preflight_groups, specialist_groups
from .settings import router_settings


def check(config: dict) -> None:
    require_intermediates(config, "cmoe")
    check_groups(config)
    if router_settings(config).misrouted_control and len(specialist_groups(config)) < 2:
        raise ConfigError(
            "misrouting needs at least two specialist groups", key="router.misrouted_control"
        )


def preflight(config: dict) -> None:
    preflight_groups(config)
