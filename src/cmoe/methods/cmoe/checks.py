"""cmoe's checks: intermediates to specialise, groups that partition the domains."""

from ..base import require_intermediates
from .settings import check_groups, router_settings


def check(config: dict) -> None:
    require_intermediates(config, "cmoe")
    check_groups(config)
    router_settings(config)
