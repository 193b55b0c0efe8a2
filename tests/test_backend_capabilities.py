"""Generation backends declare what they can do (`cmoe.generation.registry.Backend`); config,
plan, methods and CLI ask for the capability, never for a backend by name."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT

from cmoe.config import load_config
from cmoe.generation import registry
from cmoe.plan import build_plan
from cmoe.plan.rules import conda_env

SRC = ROOT / "src" / "cmoe"
NAMES = "|".join(map(re.escape, registry.BACKENDS))
# `backend == "vllm"`, `.get("backend") != "openai"`, `backend in ("vllm", ...)`,
# `"generate-vllm"`: a backend named where its capability should be asked for
NAMED = re.compile(
    rf"""backend["')\]]*\s*(?:[!=]=|(?:not\s+)?in)\s*\(?\s*["'](?:{NAMES})["']"""
    rf"""|\(\s*["'](?:{NAMES})["']\s*,\s*["'](?:{NAMES})["']\s*\)"""
    r"""|["']generate-vllm["']"""
)
VLLM = (ROOT / "config" / "demo_rummlu.yaml", ROOT / "config" / "ablations" / "vllm_cpu.yaml")


def _sources() -> list[Path]:
    files = [*SRC.rglob("*.py"), *SRC.rglob("*.smk")]
    files = [f for f in files if f.relative_to(SRC).parts[0] != "generation"]
    return [*files, *(ROOT / "workflow").rglob("*.smk"), ROOT / "Snakefile"]


def test_no_backend_is_named_outside_the_generation_stage():
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _sources()
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if NAMED.search(line)
    ]
    assert not found, "ask registry.capabilities(backend) instead:\n" + "\n".join(found)


def test_the_pattern_finds_a_backend_named():
    # (the test above passes on an empty file list too: its pattern must match what it guards)
    for line in (
        'if settings.get("backend") == "vllm":',
        "api = generation.backend != 'openai'",
        'name = "generate-vllm" if x else "cmoe"',
        'if k not in ("vllm", "openai")',
    ):
        assert NAMED.search(line), line
    assert len(_sources()) > 50


def test_every_backend_declares_its_settings_block_and_environment(tmp_path):
    for name, backend in registry.REGISTRY.items():
        assert (backend.section is None) == (backend.settings is None), name
        env = conda_env({"backend": name}, ROOT / "envs")
        assert Path(env).name == f"{backend.environment}.yaml" and Path(env).is_file(), name
    assert registry.capabilities(None) is registry.REGISTRY["hf"]  # the settings' default
    assert registry.REGISTRY[registry.seq2seq_backend()].seq2seq


@pytest.mark.parametrize("shares", [True, False])
def test_the_plan_follows_a_capability_not_a_name(monkeypatch, shares):
    """vLLM's `shares_engine` alone decides whether a teacher's specialists share one job."""
    vllm = replace(registry.REGISTRY["vllm"], shares_engine=shares, environment="elsewhere")
    monkeypatch.setitem(registry.REGISTRY, "vllm", vllm)
    plan = build_plan(load_config(*VLLM))
    together = len(plan.jobs_of("specialist_traces")) + len(plan.jobs_of("specialist_evaluations"))
    alone = sum("/specialist/" in key for key in (*plan.generations, *plan.evaluations))
    assert (together > 0, alone == 0) == (shares, shares)
    assert conda_env({"backend": "vllm"}, ROOT / "envs").endswith("elsewhere.yaml")
