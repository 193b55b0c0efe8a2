"""config/README.md's tables of settings, generated from the settings classes that declare them.

A table sits between two markers naming its class::

    <!-- settings: cmoe.training.settings.TrainSettings -->
    | key | default | meaning |
    ...
    <!-- /settings -->

``python -m cmoe.config.docs`` rewrites every such table from its class (key, default, help);
``python -m cmoe.config.docs --check`` fails if one is out of date (CI runs the same check in
tests/test_config_docs.py), so a setting is documented where it is declared and nowhere else.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import sys
from pathlib import Path

from ..core.io import atomic_write_text

README = Path("config/README.md")
BLOCK = re.compile(r"(<!-- settings: ([\w.]+) -->\n)(.*?)(<!-- /settings -->)", re.DOTALL)


def _cell(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, list):
        return f"`[{', '.join(str(v) for v in value)}]`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value}`"


def rows(cls: type, prefix: str = "", own: frozenset[str] = frozenset()):
    """(key, default, metadata) of every field of ``cls`` the config holds, nested settings as
    dotted keys (or as one row, where their class has a table of its own: ``own``)."""
    for f in dataclasses.fields(cls):
        value = f.default
        if value is dataclasses.MISSING:
            value = None if f.default_factory is dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(value) and _path(type(value)) not in own:
            yield from rows(type(value), f"{prefix}{f.name}.", own)
            continue
        if dataclasses.is_dataclass(value):
            yield f"{prefix}{f.name}", value, {"doc_default": "", **f.metadata}
            continue
        if f.metadata.get("in_config", True):
            yield f"{prefix}{f.name}", value, f.metadata


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def table(cls: type, own: frozenset[str] = frozenset()) -> str:
    """The markdown table of ``cls``'s settings; classes in ``own`` have tables of their own."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, value, meta in rows(cls, "", own):
        absent = value is None and meta.get("nullable") is False  # left out, never null
        default = "–" if absent else _cell(value)
        default = "required" if meta.get("required") else meta.get("doc_default", default)
        meaning = meta.get("help", "").replace("|", "\\|")
        lines.append(f"| `{key}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def render(text: str) -> str:
    """``text`` with every marked table regenerated from its class."""
    own = frozenset(documented(text))
    return BLOCK.sub(lambda m: m[1] + table(settings_class(m[2]), own) + m[4], text)


def documented(text: str) -> set[str]:
    """The classes whose tables ``text`` holds (their import paths)."""
    return {m[2] for m in BLOCK.finditer(text)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cmoe.config.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a table is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text("utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print(f"{args.readme}: settings tables are out of date; run python -m cmoe.config.docs")
            return 1
        return 0
    if new != text:
        atomic_write_text(args.readme, new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
