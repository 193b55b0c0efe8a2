"""cascade's checks: it trains a generalist intermediate."""

from ..base import require_intermediates


def check(config: dict) -> None:
    require_intermediates(config, "cascade")
