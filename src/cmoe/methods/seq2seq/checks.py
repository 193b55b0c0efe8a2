"""seq2seq's checks: its section, and a student whose model is an encoder-decoder."""

from ...core.errors import ConfigError
from ..roles.specialists import check_groups, preflight_groups
from .settings import settings


def check(config: dict) -> None:
    s = settings(config)
    models = config["models"]
    if not any(models[e["model"]]["arch"] == "seq2seq" for e in config["students"].values()):
        raise ConfigError(
            "method seq2seq needs a student whose model is arch: seq2seq", key="students"
        )
    if s.cascade_format and config.get("intermediates"):
        check_groups(config)


def preflight(config: dict) -> None:
    if settings(config).cascade_format and config.get("intermediates"):
        preflight_groups(config)
