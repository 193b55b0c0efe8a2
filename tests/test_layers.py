"""The package's structure: no import cycle, no method named below the methods, small modules.

The layers themselves (core, stages, methods, config and plan, cli; nothing imports upward)
are import-linter's contract in pyproject.toml, run by `lint-imports` in .ci/run.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from cmoe.methods import REGISTRY

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cmoe"
MAX_LINES = 300


def _module(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def import_graph() -> dict[str, set[str]]:
    """Every import of every module of the package, module level or inside functions."""
    modules = {_module(p)[0]: p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_package = _module(path)[1]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = name.split(".") if is_package else name.split(".")[:-1]
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [module, *(f"{module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target not in (name, "cmoe"):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_planted_cycle():
    graph = import_graph()
    graph["cmoe.core.io"].add("cmoe.plan.builder")  # core importing the plan: a circle
    assert any("cmoe.core.io" in c and "cmoe.plan.builder" in c for c in cycles(graph))


# A method's name may not appear in code below the methods. "seq2seq" is also an
# architecture (`arch: seq2seq`), and "cmoe" the package's own name (`python -m cmoe`, the
# wandb project, the conda environment): those two words are allowed where they mean that.
NEUTRAL = {"seq2seq", "cmoe"}
BELOW_METHODS = ["config", "plan", "reporting", "training"]


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module's code (docstrings and comments are prose, not code)."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def method_names_in(paths, root: Path = SRC) -> list[str]:
    names = [n for n in REGISTRY if n not in NEUTRAL]
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    found = []
    for path in paths:
        for line, text in _code_strings(path):
            if pattern.search(text):
                found.append(f"{path.relative_to(root)}:{line}: {text!r}")
    return found


def test_no_method_name_below_the_methods():
    paths = [p for folder in BELOW_METHODS for p in (PACKAGE / folder).rglob("*.py")]
    assert method_names_in(paths) == []


def test_the_method_name_check_finds_a_planted_name(tmp_path):
    planted = tmp_path / "cmoe" / "reporting" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text('"""A docstring may say kard."""\nBASE = "kard"\n', "utf-8")
    assert method_names_in([planted], tmp_path) == ["cmoe/reporting/planted.py:2: 'kard'"]


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_module_size(path):
    """A module over MAX_LINES lines says in its first line why it stays one module."""
    lines = path.read_text("utf-8").splitlines()
    if len(lines) > MAX_LINES:
        reason = "# Over 300 lines as one module: "
        assert lines[0].startswith(reason), f"{len(lines)} lines and no reason at its top"


def imports_between_methods(graph: dict[str, set[str]]) -> list[str]:
    """Imports from one method's folder into another's: a method reaches what another method
    also plans only through a shared package it names in its ``uses`` (cmoe.methods.kd,
    cmoe.methods.roles), never through that method's modules; a shared package imports no
    method and no other shared package."""
    uses = {m.package: m.uses for m in REGISTRY.values()}
    found = []
    for module, targets in sorted(graph.items()):
        owner = ".".join(module.split(".")[:3])
        if not module.startswith("cmoe.methods.") or owner == "cmoe.methods.base":
            continue
        allowed = {owner, "cmoe.methods.base", *uses.get(owner, ())}
        for target in sorted(targets):
            package = ".".join(target.split(".")[:3])
            if target.startswith("cmoe.methods.") and package not in allowed:
                found.append(f"{module} -> {target}")
    return found


def test_no_method_imports_another_method():
    assert imports_between_methods(import_graph()) == []


def test_the_method_import_check_finds_a_planted_import():
    graph = import_graph()
    graph["cmoe.methods.seq2seq.plan"].add("cmoe.methods.cmoe.plan")  # a method's own plan
    graph["cmoe.methods.kard.plan"].add("cmoe.methods.kd.plan")  # a shared package not in uses
    graph["cmoe.methods.roles.generalist"].add("cmoe.methods.direct.plan")  # shared -> method
    assert imports_between_methods(graph) == [
        "cmoe.methods.kard.plan -> cmoe.methods.kd.plan",
        "cmoe.methods.roles.generalist -> cmoe.methods.direct.plan",
        "cmoe.methods.seq2seq.plan -> cmoe.methods.cmoe.plan",
    ]


def test_the_shared_row_labels_are_methods():
    """The labels other methods compare against (cmoe.methods.roles) name registered methods."""
    from cmoe.methods.roles import BASELINE, SPECIALISTS

    assert {BASELINE, SPECIALISTS} <= set(REGISTRY)


# The config keys the methods own that are also words of the core's own vocabulary: `seq2seq` is
# a `models` entry's arch, and `knowledge` the field of a record that carries retrieved passages
# (prompt building and training examples read it, whatever wrote it).
SHARED_WORDS = {"seq2seq", "knowledge"}
BELOW_THE_METHODS = ["core", "data", "generation", "traces", "training", "evaluation"]
BELOW_THE_METHODS += ["reporting", "config", "plan"]


def method_keys() -> set[str]:
    """The config keys the registered methods own: their sections, their sections of named
    entries, and the keys they add to a core section's entries (an intermediate's
    `specialists`)."""
    keys: set[str] = set()
    for m in REGISTRY.values():
        keys |= set(m.sections) | set(m.named_sections)
        keys |= {f.name for cls in m.entry_fields.values() for f in dataclasses.fields(cls)}
    return keys - SHARED_WORDS


def method_keys_read_in(paths, root: Path = SRC) -> list[str]:
    keys = method_keys()
    return [
        f"{path.relative_to(root)}:{line}: {text!r}"
        for path in paths
        for line, text in _code_strings(path)
        if text in keys
    ]


def test_no_method_concept_below_the_methods():
    """A method's concepts (specialists and their groups, the router, KD, KARD) are read by
    the methods alone: no module below them names one of their config keys."""
    assert {"specialists", "specialist_groups", "router", "kd", "kard"} <= method_keys()
    paths = [p for folder in BELOW_THE_METHODS for p in (PACKAGE / folder).rglob("*.py")]
    assert method_keys_read_in(paths) == []


def test_the_concept_check_finds_a_planted_key(tmp_path):
    planted = tmp_path / "cmoe" / "training" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text('def f(entry):\n    return entry.get("specialists", {})\n', "utf-8")
    assert method_keys_read_in([planted], tmp_path) == ["cmoe/training/planted.py:2: 'specialists'"]
