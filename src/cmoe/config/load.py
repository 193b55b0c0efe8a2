"""Reading config files strictly: a syntax error, tab indentation, a key given twice, a byte that
is not UTF-8 or a top level that is not a mapping names the file and line (PyYAML keeps the last
of two equal keys silently: a duplicated teacher would vanish)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ConfigError, DataError
from ..core.io import iter_lines
from ..core.settings import deep_merge


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping key given twice."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            first = seen[key] + 1
            line = key_node.start_mark.line + 1
            raise ConfigError(
                f"{key_node.start_mark.name}: key {key!r} appears twice (lines {first} and "
                f"{line}); YAML would keep only the second"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: str | Path) -> dict:
    """A config file as a mapping; syntax errors and duplicate keys name the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            loader = _StrictLoader(fh)
            try:
                node = loader.get_single_node()  # as yaml.load, keeping the node's line
                data = loader.construct_document(node) if node is not None else {}
            finally:
                loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        try:
            for _ in iter_lines(path):  # names the line
                pass
        except DataError as exc:
            raise ConfigError(str(exc)) from None
        raise
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}, line {node.start_mark.line + 1}: the top level must be a mapping of "
            f"config keys, not a {type(data).__name__}"
        )
    return data


def check_files(paths) -> None:
    """Load each config file strictly (Snakemake's own loader accepts duplicate keys)."""
    for path in paths:
        load_yaml(path)


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Load YAML files, later ones overriding earlier ones key by key, then validate."""
    from .validate import validate_config

    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, load_yaml(path))
    return validate_config(merged)
