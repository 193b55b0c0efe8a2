"""The errors a user can fix: one line that names the config key, the file and line, or the
argument at fault.

Every such error is a :class:`CmoeError`. Raised with ``key=``, its message starts with
``config key <key>:``, so no caller re-words another module's message; the CLI prints it as
its one line, and Snakemake stops with it before the first job.
"""

from __future__ import annotations


class CmoeError(ValueError):
    """A problem in the user's input, not in the code; ``key`` names the config key if any."""

    def __init__(self, message: str, key: str | None = None):
        self.key = key
        super().__init__(f"config key {key}: {message}" if key else message)


class ConfigError(CmoeError):
    """An invalid workflow config: a key, a reference, or a file that cannot be read."""


class SettingsError(ConfigError):
    """A settings value of the wrong name or type (from a config section or a CLI argument)."""


class DataError(CmoeError):
    """A bad input row or file; the message names the file and line."""
