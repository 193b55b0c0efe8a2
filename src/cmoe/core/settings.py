"""Typed settings: each setting declared once, in the settings class of the stage or method that
owns it, and everything else derived from that declaration.

A field declared with :func:`setting` carries its type (the annotation), default, allowed range
(JSON-schema keywords such as ``minimum`` or ``enum``) and help text. From the class come its
JSON schema (:func:`json_schema`, merged into the config's schema by :mod:`cmoe.config.schema`),
the defaults filled into a config, config/README.md's table (:mod:`cmoe.config.docs`) and the
parsing of a CLI argument's JSON (:func:`cmoe.core.commands.settings`). A class derived from
:class:`Settings` checks its own ranges when it is built, as TRL's configs do.

:func:`from_dict` is the one way a config section, a CLI argument's JSON or a job's settings
become such a class, with defaults filled in and a one-line error naming the key.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
import types
import typing
from typing import Any

from .errors import SettingsError

# A model's `dtype` setting (cmoe.core.models.resolve_dtype reads it).
DTYPES = ["auto", "bfloat16", "float16", "float32"]
# Ranges many settings share: a share or weight (0 to 1), and a value strictly between.
UNIT = {"minimum": 0, "maximum": 1}
OPEN_UNIT = {"exclusiveMinimum": 0, "exclusiveMaximum": 1}


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
    except OutOfRange as exc:
        raise SettingsError(exc.problem, key=f"{where}.{exc.name}") from None
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


# JSON-schema keywords a field may declare (beside ``help`` and ``schema``), and the checks
# :class:`Settings` runs for them when it is built.
_CHECKS = {
    "enum": lambda v, e: v in e,
    "minimum": lambda v, m: v >= m,
    "maximum": lambda v, m: v <= m,
    "exclusiveMinimum": lambda v, m: v > m,
    "exclusiveMaximum": lambda v, m: v < m,
    "multipleOf": lambda v, m: v % m == 0,
    "minItems": lambda v, m: len(v) >= m,
    "uniqueItems": lambda v, u: not u or len({repr(x) for x in v}) == len(v),
    "minLength": lambda v, m: len(v) >= m,
    "pattern": lambda v, p: re.search(p, v) is not None,
}
_APPLIES = {
    "minimum": (int, float),
    "maximum": (int, float),
    "exclusiveMinimum": (int, float),
    "exclusiveMaximum": (int, float),
    "multipleOf": (int, float),
    "minItems": (list,),
    "uniqueItems": (list,),
    "minLength": (str,),
    "pattern": (str,),
}


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory=None,
    nullable: bool = True,
    in_config: bool = True,
    **keywords,
):
    """A settings field: its ``default`` (or ``factory`` for a mutable one), ``help`` (the
    README's meaning column and the schema's description) and its allowed range as JSON-schema
    keywords (``minimum=0``, ``enum=[...]``, ``items={...}``; ``required=True``: no default is
    enough, it must be given). ``schema=`` replaces the schema derived from the annotation
    altogether (for a union such as ``str | list``; a ``$ref`` is left to the config's schema).
    ``nullable=False``: an ``X | None`` field whose None only means "not given" (the config may
    leave it out, not write null); ``doc_default``: the README's words for a default the code
    works out (vLLM's own, the job's GPUs); ``in_config=False``: a field the code fills in, not
    the user (left out of the schema and the README)."""
    metadata = {"help": help, **keywords}
    if not nullable:
        metadata["nullable"] = False
    if not in_config:
        metadata["in_config"] = False
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def defined(name: str, help: str, factory=dict, **keywords):
    """A field whose schema is the config schema's ``#/$defs/<name>`` (declared by the class
    :mod:`cmoe.config.schema` puts there): a model's `train` overrides, a `generation` block."""
    return setting(help=help, factory=factory, schema={"$ref": f"#/$defs/{name}"}, **keywords)


class OutOfRange(ValueError):
    """A field's value outside its declared range (``from_dict`` names the key)."""

    def __init__(self, name: str, problem: str):
        self.name, self.problem = name, problem
        super().__init__(f"{name}: {problem}")


class Settings:
    """Base of settings classes declared with :func:`setting`: built, they check their ranges
    (a field declared ``required=True`` must be given; one with its own ``schema`` is checked
    against it)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                if f.metadata.get("required"):
                    raise OutOfRange(f.name, "is required")
                continue
            for keyword, bound in f.metadata.items():
                check, kinds = _CHECKS.get(keyword), _APPLIES.get(keyword)
                if (
                    check is None
                    or kinds
                    and (isinstance(value, bool) or not isinstance(value, kinds))
                ):
                    continue
                if not check(value, bound):
                    problem = (
                        f"{value!r}, expected one of {', '.join(map(str, bound))}"
                        if keyword == "enum"
                        else f"{value!r} is not allowed ({keyword} {bound!r})"
                    )
                    raise OutOfRange(f.name, problem)
            if "schema" in f.metadata and "$ref" not in repr(f.metadata["schema"]):
                _check_schema(f.name, value, f.metadata["schema"])
            elif "items" in f.metadata:
                _check_schema(f.name, value, {"items": f.metadata["items"]})


def _check_schema(name: str, value: Any, schema: dict) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is not None:
        raise OutOfRange(name, error.message)


def json_schema(cls: type) -> dict:
    """The JSON schema of settings ``cls``: an object of exactly its fields (none required,
    so a partial mapping of overrides validates too)."""
    hints = typing.get_type_hints(cls)
    properties = {}
    required = []
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        if not meta.pop("in_config", True):
            continue
        help_text = meta.pop("help", "")
        meta.pop("doc_default", None)
        if meta.pop("required", False):
            required.append(f.name)
        hint = hints[f.name]
        if not meta.pop("nullable", True):
            hint = functools.reduce(
                operator.or_, [h for h in typing.get_args(hint) if h is not type(None)]
            )
        if "schema" in meta:
            schema = dict(meta.pop("schema"))
        elif "enum" in meta:
            schema = {}
        else:
            schema = _type_schema(hint)
        schema.update(meta)
        if help_text:
            schema["description"] = help_text
        properties[f.name] = schema
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    return {**schema, "required": required} if required else schema


_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object"}


def _type_schema(hint: Any) -> dict:
    if dataclasses.is_dataclass(hint):
        return json_schema(hint)
    if hint in _TYPES:
        return {"type": _TYPES[hint]}
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_schema(h) for h in typing.get_args(hint) if h is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        if len(parts) == 1 and set(parts[0]) == {"type"} and nullable:
            return {"type": [parts[0]["type"], "null"]}
        if len(parts) == 1 and set(parts[0]) <= {"type", "items"} and nullable:
            return {**parts[0], "type": [parts[0]["type"], "null"]}
        raise TypeError(f"{hint}: declare its schema with setting(schema=...)")
    if hint is list or origin is list:
        args = typing.get_args(hint)
        return {"type": "array", **({"items": _type_schema(args[0])} if args else {})}
    raise TypeError(f"{hint}: no JSON schema type; declare it with setting(schema=...)")
