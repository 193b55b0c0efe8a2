"""The divergences a student may be distilled with, by name, as TRL's GKD ``beta``."""

from __future__ import annotations

from ..core.errors import ConfigError

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd")


def divergence_beta(divergence: str, beta: float = 0.5) -> float:
    """TRL's ``beta`` for a named divergence (its 0 and 1 are the two KLs)."""
    if divergence == "forward_kl":
        return 0.0
    if divergence == "reverse_kl":
        return 1.0
    if divergence == "jsd":
        if not 0.0 < beta < 1.0:
            raise ConfigError(f"the generalised JSD needs 0 < beta < 1, got {beta}", key="kd.beta")
        return float(beta)
    raise ConfigError(
        f"{divergence!r}, expected one of {', '.join(DIVERGENCES)}", key="kd.divergence"
    )
