import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo" / "rummlu_demo.jsonl"
DEMO_FEWSHOT = ROOT / "data" / "demo" / "rummlu_demo_fewshot.jsonl"

# Tests never touch a hub, and never log in anywhere.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")


def mera_row(i, subject="astronomy", gold="A", text=None, **overrides):
    row = {
        "instruction": "Задание: {text}",
        "inputs": {
            "text": text or f"Вопрос номер {i}: какая планета ближе всего к Солнцу?",
            "option_a": "Меркурий",
            "option_b": "Венера",
            "option_c": "Марс",
            "option_d": "Земля",
            "subject": "Астрономия",
        },
        "outputs": gold,
        "meta": {"id": i, "domain": subject},
    }
    row.update(overrides)
    return row


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Qwen3 with a BPE tokenizer trained on the demo data, built once."""
    from cmoe.data.tiny import TinyModelSpec, make_tiny_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    spec = TinyModelSpec(hidden_size=64, num_hidden_layers=2, intermediate_size=192, seed=0)
    make_tiny_model(DEMO_DATA, out, spec, vocab_size=1024)
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A tiny random Llama 3 (LlamaForCausalLM, Llama 3's special tokens and chat template),
    its BPE trained on the same demo data: a vocabulary other than the tiny Qwen3's."""
    from cmoe.data.tiny import TinyModelSpec, make_tiny_model

    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    spec = TinyModelSpec(
        family="llama3", hidden_size=64, num_hidden_layers=2, intermediate_size=192, seed=0
    )
    make_tiny_model(DEMO_DATA, out, spec, vocab_size=1024)
    return out


@pytest.fixture(scope="session")
def demo_questions():
    from support.questions import load_questions

    from cmoe.core.domains import subject_domains
    from cmoe.data.settings import DataSettings

    questions, bad = load_questions(
        DataSettings(source={"file": str(DEMO_DATA)}), subject_domains()
    )
    assert not bad
    return questions


def run_snakemake(workdir, *configfiles, extra=(), timeout=900) -> subprocess.CompletedProcess:
    """Run this repository's workflow in ``workdir`` as a user would, with this interpreter
    (no ``configfiles``: the workflow's default, ``config/config.yaml`` in ``workdir``)."""
    env = dict(os.environ)
    # the rules call `python -m cmoe`: make this interpreter the `python` they find
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *(["--configfile", *map(str, configfiles)] if configfiles else []),
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def ci_config(folder: Path, name: str = "config", edit=None) -> Path:
    """tests/configs/ci.yaml with absolute data paths (optionally edited), written to folder."""
    import yaml

    config = yaml.safe_load((ROOT / "tests" / "configs" / "ci.yaml").read_text("utf-8"))
    config["data"]["source"]["file"] = str(DEMO_DATA)
    config["data"]["fewshot_source"]["file"] = str(DEMO_FEWSHOT)
    config["tiny_models"]["corpus"] = str(DEMO_DATA)
    knowledge = config.get("knowledge", {}).get("source", {})
    if "file" in knowledge:
        knowledge["file"] = str(ROOT / knowledge["file"])
    for source in config["data"].get("extra_sources") or []:
        if "file" in source:
            source["file"] = str(ROOT / source["file"])
    for bench in config.get("evaluation", {}).get("benchmarks") or []:
        if isinstance(bench, dict) and "path" in bench:
            bench["path"] = str(ROOT / bench["path"])
    if edit:
        edit(config)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """The whole graph on tests/configs/ci.yaml, run locally once per session: the workflow
    tests inspect it, and the Slurm test compares its own run against it."""
    workdir = tmp_path_factory.mktemp("wf")
    config = ci_config(workdir)
    # the whole graph, about 210 jobs on 2 cores: a hang guard, not a budget (a busy machine
    # may need more: CMOE_WORKFLOW_TIMEOUT, in seconds)
    proc = run_snakemake(
        workdir,
        config,
        extra=["--printshellcmds"],
        timeout=int(os.environ.get("CMOE_WORKFLOW_TIMEOUT", 1500)),
    )
    # Snakemake's own log, every job's command in it (tests/test_startup.py runs some again)
    (workdir / "snakemake.log").write_text(proc.stderr, "utf-8")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir, config
