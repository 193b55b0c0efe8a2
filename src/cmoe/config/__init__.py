"""The workflow config: strict loading, the schema with one-line messages, validation that loops
over the stages' and methods' checks, and the one source of defaults."""

from .defaults import fill_defaults, section
from .load import check_files, load_config, load_yaml
from .preflight import preflight
from .validate import REMOVABLE, check_runtime, validate_config

__all__ = [
    "REMOVABLE",
    "check_files",
    "check_runtime",
    "fill_defaults",
    "load_config",
    "load_yaml",
    "preflight",
    "section",
    "validate_config",
]
