"""The config's JSON schema: the shared sections' (``schemas/config.schema.yaml``) with each
registered method's own sections merged in, and its `methods` list from the registry."""

from __future__ import annotations

import functools
from importlib import resources

import yaml

from ..core.errors import ConfigError
from ..methods import REGISTRY


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
    merged["properties"]["methods"]["items"] = {"enum": list(REGISTRY)}
    return merged


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
