"""The config's JSON schema: the sections declared by settings classes (:mod:`cmoe.core.settings`)
generated from them (sections, named entries such as `teachers.<name>`, top-level run keys),
the sections a method still writes in its ``schema.yaml`` merged in, and its `methods` list from
the registry; ``schemas/config.schema.yaml`` holds only the title and the required sections."""

from __future__ import annotations

import functools
from importlib import resources

import yaml

from ..core.entries import ENTRIES, NAME, RunSettings
from ..core.errors import ConfigError
from ..core.resources import SECTION_KEYS, STAGES, ResourceSettings
from ..core.settings import Settings, json_schema
from ..data.tiny import TinyModelSpec
from ..generation.base import GenerationSettings
from ..generation.registry import REGISTRY as BACKENDS
from ..generation.registry import SECTIONS as BACKEND_SECTIONS
from ..methods import REGISTRY
from ..traces.curation import CurationSettings
from ..training.settings import TrainSettings
from .defaults import SECTIONS

# Settings classes referenced from several places of the schema, as ``#/$defs/<name>``.
DEFS = {
    "train": TrainSettings,
    "generation": GenerationSettings,
    **BACKEND_SECTIONS,  # each backend's own block (generation.vllm, generation.openai)
    "curation": CurationSettings,
    "resources": ResourceSettings,
    "tiny_spec": TinyModelSpec,
}


@functools.cache
def schema() -> dict:
    text = resources.files("cmoe.config").joinpath("schemas/config.schema.yaml").read_text("utf-8")
    merged = yaml.safe_load(text)
    for path in dict.fromkeys(p for m in REGISTRY.values() for p in m.schemas):
        fragment = yaml.safe_load(path.read_text("utf-8")) or {}
        for name, section in fragment.get("properties", {}).items():
            if merged["properties"].get(name, section) != section:
                raise ValueError(f"{path}: section {name!r} is defined twice")
            merged["properties"][name] = section
    for name, cls in DEFS.items():
        _declare(merged["$defs"], name, json_schema(cls), cls)
    entry = json_schema(ResourceSettings)
    entry["description"] = (
        "A model's own resources, for all its jobs; a stage key (train, generate, warmup, "
        "evaluate) overrides them for that stage's jobs only, e.g. {gpu: 4, generate: {gpu: 1}}"
    )
    entry["properties"].update({stage: {"$ref": "#/$defs/resources"} for stage in STAGES})
    _declare(merged["$defs"], "entry_resources", entry, ResourceSettings)
    for name, cls in generated_sections().items():
        _declare(merged["properties"], name, json_schema(cls), cls)
    _declare(merged["$defs"], "name", {"type": "string", "pattern": NAME}, RunSettings)
    per_kind = {k: {"$ref": "#/$defs/resources"} for k in SECTION_KEYS}
    section = {"type": "object", "additionalProperties": False, "properties": per_kind}
    _declare(merged["properties"], "resources", section, ResourceSettings)
    for name, cls in ENTRIES.items():
        _declare(merged["properties"], name, _entries(cls, name != "intermediates"), cls)
    for method in REGISTRY.values():  # the keys a method adds to a core section's entries
        for name, cls in method.entry_fields.items():
            fields = merged["properties"][name]["additionalProperties"]["properties"]
            for key, generated in json_schema(cls)["properties"].items():
                if fields.get(key, generated) != generated:
                    raise ValueError(f"{name}.<name>.{key} is declared twice ({cls.__qualname__})")
                fields[key] = generated
    for name, generated in json_schema(RunSettings)["properties"].items():
        _declare(merged["properties"], name, generated, RunSettings)
    merged["properties"]["methods"]["items"] = {"enum": list(REGISTRY)}
    merged["$defs"]["generation"]["properties"]["backend"]["enum"] = list(BACKENDS)
    return merged


def _entries(cls: type, required: bool) -> dict:
    """A section of named entries (`teachers.<name>`), each of settings class ``cls``."""
    entry = json_schema(cls)
    if "required" not in entry:
        entry["minProperties"] = 1  # an empty entry names nothing
    schema = {"type": "object", "propertyNames": {"$ref": "#/$defs/name"}}
    schema["additionalProperties"] = entry
    return {**schema, "minProperties": 1} if required else schema


def generated_sections() -> dict[str, type]:
    """Every config section whose settings class declares it (one declaration per setting)."""
    sections = {**SECTIONS, **{n: c for m in REGISTRY.values() for n, c in m.sections.items()}}
    return {n: c for n, c in sections.items() if issubclass(c, Settings)}


def _declare(where: dict, name: str, generated: dict, cls: type) -> None:
    """Put a class's schema in ``where``; a section also written by hand is declared twice."""
    if name in where:
        raise ValueError(f"{name!r} is declared by {cls.__qualname__} and written in a schema.yaml")
    where[name] = generated


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error) -> str:
    """Turn a jsonschema error into 'config key X: problem'."""
    where = _key_path(error)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        keys = ", ".join(f"{where}.{k}" if where != "<top level>" else k for k in extra)
        return f"unknown config key {keys} (check the spelling; see config/README.md)"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        prefix = f"{where}." if where != "<top level>" else ""
        return f"missing required config key {prefix}{missing}"
    return f"config key {where}: {error.message}"


def check_schema(config: dict) -> None:
    """Raise ConfigError for the shallowest schema violation (for a oneOf failure it names the
    key itself)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise ConfigError(_describe(errors[0]))
