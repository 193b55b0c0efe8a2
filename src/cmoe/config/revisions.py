"""Revisions in the config: which hub ids a config loads, the revision each names, a warning for
each one without, and `cmoe pin`, which writes their commits into the config file.

A hub model is a `models` entry whose `path` is a hub id (not an API teacher's label); a hub
dataset is any `hub: {path, ...}` block (data.source, data.fewshot_source, data.extra_sources,
knowledge.source) whose path is a hub id. A `revision` on a local folder is a config error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from ..core.errors import ConfigError
from ..core.revisions import is_hub_id
from ..generation.registry import capabilities


def _api_labels(config: dict) -> set[str]:
    """`models` keys that only name an API teacher's model (never loaded here)."""
    return {
        t["model"]
        for t in (config.get("teachers") or {}).values()
        if not capabilities((t.get("generation") or {}).get("backend")).local
    }


def _hub_blocks(value, key: str) -> Iterator[tuple[str, dict]]:
    """(config key, block) of every `hub:` mapping below ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{key}.{k}" if key else str(k)
            if k == "hub" and isinstance(v, dict) and "path" in v:
                yield where, v
            else:
                yield from _hub_blocks(v, where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _hub_blocks(v, f"{key}[{i}]")


def hub_ids(config: dict) -> Iterator[tuple[str, str, str, str | None]]:
    """(config key of the entry, repo type, hub id, revision or None) of every hub id the
    config loads; local folders and API labels are left out."""
    api = _api_labels(config)
    for name, spec in (config.get("models") or {}).items():
        if isinstance(spec, dict) and is_hub_id(spec.get("path")) and name not in api:
            yield f"models.{name}", "model", spec["path"], spec.get("revision")
    for key, block in _hub_blocks({k: v for k, v in config.items() if k != "models"}, ""):
        if is_hub_id(block["path"]):
            yield key, "dataset", block["path"], block.get("revision")


def check(config: dict) -> None:
    """A `revision` given to a local folder (or a tiny model) is an error naming its key."""
    for name, spec in (config.get("models") or {}).items():
        if isinstance(spec, dict) and spec.get("revision") and not is_hub_id(spec.get("path")):
            raise ConfigError(
                "a revision applies to hub ids only (this entry is a local folder or a tiny model)",
                key=f"models.{name}.revision",
            )
    for key, block in _hub_blocks(config, ""):
        if block.get("revision") and not is_hub_id(block["path"]):
            raise ConfigError(
                f"a revision applies to hub ids only, and {block['path']!r} is a local folder",
                key=f"{key}.revision",
            )


def unpinned_warnings(config: dict) -> list[str]:
    """One line per hub id without a revision, naming its key."""
    return [
        f"{key}: hub id {path} has no revision; results may change when the hub repo does "
        "(`cmoe pin` writes its commit into the config)"
        for key, _, path, revision in hub_ids(config)
        if not revision
    ]


def pin(files: list[str | Path], config: dict, resolve) -> list[tuple[str, str, str]]:
    """Write the commit of every unpinned hub id into the file that names it, in place and
    atomically, leaving comments and layout as they are: ``revision: <commit>`` right after
    the entry's ``path``. ``config``: the files' merged config (which ids are hub ids);
    ``resolve(repo_id, repo_type)`` -> commit. Returns (file, config key, commit) per pin."""
    from ..core.io import atomic_write_text

    wanted = {key: (kind, path) for key, kind, path, rev in hub_ids(config) if not rev}
    commits: dict[tuple[str, str], str] = {}
    done = []
    for file in files:
        text = Path(file).read_text("utf-8")
        edits = []
        for key, path_node, mapping in _path_nodes(yaml.compose(text) or None):
            if key not in wanted or any(k.value == "revision" for k, _ in mapping.value):
                continue
            kind, repo = wanted[key]
            if path_node.value != repo:
                continue  # another file's value wins in the merged config
            if (repo, kind) not in commits:
                try:
                    commits[repo, kind] = resolve(repo, kind)
                except OSError as exc:
                    raise ConfigError(str(exc), key=key) from None
            edits.append((path_node, mapping.flow_style, commits[repo, kind]))
            done.append((str(file), key, commits[repo, kind]))
        if edits:
            atomic_write_text(file, _insert(text, edits))
    return done


def _path_nodes(node, key: str = ""):
    """(config key of the entry, its `path` value node, the entry's mapping node) of every
    models entry and hub block in a composed YAML document."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            where = f"{key}.{k.value}" if key else str(k.value)
            if (key == "models" or k.value == "hub") and isinstance(v, yaml.MappingNode):
                for pk, pv in v.value:
                    if pk.value == "path" and isinstance(pv, yaml.ScalarNode):
                        yield where, pv, v
            else:
                yield from _path_nodes(v, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _path_nodes(v, f"{key}[{i}]")


def _insert(text: str, edits) -> str:
    """``text`` with `revision: <commit>` after each `path` value: `, revision: C` inside a
    flow mapping, a line of the path's own indentation in a block mapping."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    for node, flow, commit in sorted(edits, key=lambda e: e[0].end_mark.index, reverse=True):
        # a commit of decimal digits only would read as a number: quoted, it stays a string
        commit = commit if isinstance(yaml.safe_load(commit), str) else f'"{commit}"'
        end = node.end_mark.index
        if flow:
            text = text[:end] + f", revision: {commit}" + text[end:]
        else:
            line = node.end_mark.line
            indent = " " * _key_column(lines, node.start_mark.line, node.start_mark.column)
            eol = starts[line + 1] if line + 1 < len(starts) else len(text)
            newline = "" if text[:eol].endswith("\n") else "\n"
            text = text[:eol] + f"{newline}{indent}revision: {commit}\n" + text[eol:]
    return text


def _key_column(lines: list[str], line: int, value_column: int) -> int:
    """The column of the `path:` key whose value starts at ``value_column`` of ``line``."""
    head = lines[line][:value_column]
    return head.index("path")
