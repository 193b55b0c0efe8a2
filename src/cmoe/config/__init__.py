"""The workflow config: schema validation with one-line messages, typed sections with the one
source of defaults, and the effective settings of one job."""

from .preflight import check_files, model_checks
from .sections import (
    BootstrapSettings,
    EvaluationSettings,
    LoglikSettings,
    OpenAISettings,
    ResourceSettings,
    RouterSettings,
    SettingsError,
    VLLMSettings,
    fill_defaults,
    from_dict,
    section,
)
from .validate import (
    REMOVABLE,
    ConfigError,
    check_runtime,
    deep_merge,
    generation_entries,
    load_config,
    prompt_settings,
    specialist_groups,
    stage_resources,
    train_settings,
    validate_config,
)

__all__ = [
    "REMOVABLE",
    "BootstrapSettings",
    "ConfigError",
    "EvaluationSettings",
    "LoglikSettings",
    "OpenAISettings",
    "ResourceSettings",
    "RouterSettings",
    "SettingsError",
    "VLLMSettings",
    "check_files",
    "check_runtime",
    "deep_merge",
    "fill_defaults",
    "from_dict",
    "generation_entries",
    "load_config",
    "model_checks",
    "prompt_settings",
    "section",
    "specialist_groups",
    "stage_resources",
    "train_settings",
    "validate_config",
]
