"""The one source of defaults: every shared section's typed settings, filled into a validated
config so that the rules, the plan, the CLI and the stages all read the same values.

Each stage declares the sections it owns (``SECTIONS`` in its ``checks`` module); a method's
own sections (``SECTIONS`` in its ``settings`` module) are read by the method when it plans. Their
classes are the one declaration of every setting: the schema (:mod:`.schema`) and
config/README.md's tables (:mod:`.docs`) are generated from them.
"""

from __future__ import annotations

from dataclasses import asdict

from ..core.entries import fill_entries
from ..core.prompting import PromptSettings
from ..core.resources import StartupSettings
from ..core.settings import from_dict
from ..data import checks as data
from ..evaluation import checks as evaluation
from ..generation.base import GenerationSettings
from ..generation.registry import SECTIONS as BACKEND_SECTIONS
from ..traces import checks as traces
from ..training import checks as training

SECTIONS: dict[str, type] = {
    **data.SECTIONS,
    "prompt": PromptSettings,
    **training.SECTIONS,
    **evaluation.SECTIONS,
    **traces.SECTIONS,
    "startup": StartupSettings,
}


def section(config: dict, name: str):
    """A top-level config section as its typed settings, defaults filled in."""
    return from_dict(SECTIONS[name], config.get(name), name)


def fill_defaults(config: dict) -> dict:
    """Write every section's defaults into a validated config, in place, and return it.

    Per-entry settings (a teacher's `generation`, a student's `train`) stay partial: they are
    overrides merged over the filled global sections when a job is planned.
    """
    fill_entries(config)  # done by validate_config already; a config built in code needs it
    for name, cls in SECTIONS.items():
        if name == "tiny_models" and name not in config:
            continue
        config[name] = asdict(from_dict(cls, config.get(name), name))
    config["evaluation"]["generation"] = _generation(config["evaluation"]["generation"], "")
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            entry["generation"] = _generation(entry.get("generation"), f"{role}.{name}.")
    return config


def _generation(raw: dict | None, where: str) -> dict:
    """Generation settings with defaults; a backend's own block stays absent unless given, so
    the filled config validates again."""
    filled = asdict(from_dict(GenerationSettings, raw, f"{where}generation"))
    filled.pop("samples_per_question")  # an entry's own key, copied in by the plan
    return {k: v for k, v in filled.items() if v != {} or k not in BACKEND_SECTIONS}
