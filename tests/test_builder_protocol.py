"""The typed contract between the methods and the plan builder (`cmoe.core.planning.Builder`):
the builder implements every declared member with the declared parameters, and no method's
module reaches the builder for anything undeclared."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from conftest import ci_config

from cmoe.config import load_config
from cmoe.core.planning import Builder
from cmoe.plan.builder import PlanBuilder

METHODS = Path(__file__).parents[1] / "src" / "cmoe" / "methods"


def _declared() -> set[str]:
    own = set(vars(Builder)) | set(Builder.__annotations__)
    return {name for name in own if not name.startswith("_")}


def _builder_params(function) -> list[ast.arg]:
    """The parameters annotated `Builder` of a function (the methods' `b`)."""
    args = function.args
    return [
        a
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
        if isinstance(a.annotation, ast.Name) and a.annotation.id == "Builder"
    ]


def _is_self_b(node: ast.AST) -> bool:
    """`self.b`: the builder a planning class keeps (set from its typed `b` parameter)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "b"
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _aliases(function) -> set[str]:
    """Names bound to the builder in a function: its typed parameters and `b = self.b`
    (alone or in a tuple assignment)."""
    names = {a.arg for a in _builder_params(function)}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            pairs = (
                zip(target.elts, value.elts, strict=False)
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                else [(target, value)]
            )
            names |= {t.id for t, v in pairs if isinstance(t, ast.Name) and _is_self_b(v)}
    return names


def _uses_of_builder(tree: ast.Module) -> list[tuple[str, int]]:
    """(attribute, line) for each use of a builder member: `b.<attribute>` where `b` is a
    typed parameter or an alias of `self.b`, and `self.b.<attribute>`."""
    uses = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = _aliases(function)
        for node in ast.walk(function):
            if not isinstance(node, ast.Attribute):
                continue
            value = node.value
            if (isinstance(value, ast.Name) and value.id in names) or _is_self_b(value):
                uses.append((node.attr, node.lineno))
    return uses


def test_plan_builder_implements_every_declared_member_with_its_parameters():
    for name in sorted(_declared()):
        declared = inspect.getattr_static(Builder, name, None)
        if declared is None:  # an annotated attribute: set in __init__
            continue
        implemented = inspect.getattr_static(PlanBuilder, name, None)
        assert implemented is not None, f"PlanBuilder lacks {name}"
        if isinstance(declared, property):
            assert isinstance(implemented, property), name
            continue
        want = list(inspect.signature(declared).parameters)
        have = list(inspect.signature(implemented).parameters)
        assert have == want, f"{name}: PlanBuilder takes {have}, the protocol declares {want}"


def test_a_built_plan_builder_is_a_builder(tmp_path):
    builder = PlanBuilder(load_config(ci_config(tmp_path)), baseline="direct")
    assert isinstance(builder, Builder)
    for name in Builder.__annotations__:
        assert hasattr(builder, name), name


@pytest.mark.parametrize("module", sorted(METHODS.glob("*/*.py")), ids=lambda p: p.parent.name)
def test_methods_use_only_what_the_builder_protocol_declares(module):
    tree = ast.parse(module.read_text())
    undeclared = [(a, line) for a, line in _uses_of_builder(tree) if a not in _declared()]
    assert not undeclared, (
        f"{module.name}: builder members not in core.planning.Builder: {undeclared}"
    )


def test_every_method_plan_takes_a_typed_builder():
    for plan in sorted(METHODS.glob("*/*.py")):
        tree = ast.parse(plan.read_text())
        entry = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "plan"]
        # (kd/ is a package the KD methods share: helpers only, no `plan`)
        for function in entry:
            assert _builder_params(function), f"{plan}: plan(b) does not declare b: Builder"
        # every function that takes the builder as `b` declares its type, or its uses go unchecked
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef):
                for arg in (*function.args.args, *function.args.kwonlyargs):
                    if arg.arg == "b":
                        assert arg in _builder_params(function), (
                            f"{plan}:{function.name}: b is untyped"
                        )
