"""Typed settings from plain mappings: the one way a config section, a CLI argument's JSON or
a job's settings become a dataclass, with defaults filled in and a one-line error naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from .errors import SettingsError


def from_dict(cls: type, data: dict | None, where: str):
    """Build settings ``cls`` from a mapping, recursively; unknown keys and wrong types raise
    SettingsError naming ``where.key`` (one line, for the CLI), never a TypeError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"expected a mapping, got {type(data).__name__}", key=where)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SettingsError(f"unknown key {where}.{unknown[0]} (known: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, f"{where}.{key}")
        elif not _matches(value, hint):
            raise SettingsError(
                f"expected {_name(hint)}, got {type(value).__name__} {value!r}",
                key=f"{where}.{key}",
            )
        values[key] = value
    try:
        return cls(**values)
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:
        raise SettingsError(str(exc), key=where) from None


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return isinstance(value, hint)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` over ``base``, mapping by mapping (config overlays, per-entry overrides)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
