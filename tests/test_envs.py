"""Pinned environments: every envs/*.yaml dependency is an exact pin, constraints.txt pins every
package exactly, and the two agree where they name the same package."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
# name==version, nothing else: no ranges (>=, <, ~=, !=), no wildcards, no bare names. A conda
# name may carry a channel (conda-forge::python); a pip name may carry extras (vllm[audio]).
CONDA_PIN = re.compile(r"^(?:[A-Za-z0-9_.-]+::)?([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9_.+!-]*)$")
PIP_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[A-Za-z0-9_.,-]+\])?==([0-9][A-Za-z0-9_.+!-]*)$")
# Packages whose versions vLLM decides in its own environment (envs/generate-vllm.yaml says why);
# every other package an env file shares with constraints.txt has the same version there.
DECIDED_BY_ENV = {"generate-vllm.yaml": {"torch", "transformers", "numpy"}}


def read_constraints(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIP_PIN.match(line)
        assert match, f"constraints.txt:{number}: not an exact pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt:{number}: {name} pinned twice"
        pins[name] = match.group(2)
    return pins


def env_dependencies(path: Path) -> tuple[list[str], list[str]]:
    """(conda specs, pip specs) of a conda environment file."""
    spec = yaml.safe_load(path.read_text())
    conda, pip = [], []
    for dep in spec.get("dependencies") or []:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path.name}: unexpected dependency block {dep}"
            pip.extend(str(item).strip() for item in dep["pip"])
        else:
            conda.append(str(dep).strip())
    return conda, pip


def unpinned(conda: list[str], pip: list[str]) -> list[str]:
    bad = [c for c in conda if not CONDA_PIN.match(c)]
    return bad + [p for p in pip if not PIP_PIN.match(p)]


def test_there_are_env_files():
    assert {p.name for p in ENV_FILES} >= {"cmoe.yaml", "generate-vllm.yaml"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_dependencies_are_exact_pins(path):
    conda, pip = env_dependencies(path)
    assert conda and pip, f"{path.name}: expected conda and pip dependencies"
    assert unpinned(conda, pip) == [], f"{path.name}: dependencies not pinned exactly"


@pytest.mark.parametrize(
    "spec",
    ["numpy>=1.26", "numpy<3", "numpy~=2.4", "numpy", "numpy==2.*", "numpy!=2.0", "numpy==2.4,<3"],
)
def test_the_pin_check_rejects_ranges_and_bare_names(spec):
    assert unpinned([], [spec]) == [spec]
    assert unpinned([spec.replace("numpy", "python")], []) != []
    assert unpinned(["python=3.11"], []) == ["python=3.11"]  # conda's fuzzy `=` is a range


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_constraints(path):
    pins = read_constraints()
    _, pip = env_dependencies(path)
    for spec in pip:
        match = PIP_PIN.match(spec)
        assert match, spec
        name = canonicalize_name(match.group(1))
        if name in pins and name not in DECIDED_BY_ENV.get(path.name, set()):
            assert match.group(2) == pins[name], (
                f"{path.name}: {spec}, but constraints.txt pins {name}=={pins[name]}"
            )
    if path.name == "cmoe.yaml":  # the workflow's env is the test env's stack, all of it pinned
        names = {canonicalize_name(PIP_PIN.match(s).group(1)) for s in pip}
        assert names <= set(pins), f"constraints.txt lacks {sorted(names - set(pins))}"


def test_constraints_pin_every_dependency_and_satisfy_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pins = read_constraints()
    assert "cmoe" not in pins
    assert pins["torch"] == "2.13.0"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    for raw in requirements:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt lacks {name} (pyproject: {raw})"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {raw}"
        )
