"""Sharded, resumable generation: a killed job resumes from what it wrote, and the result is
byte-identical to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from cmoe.core.io import dumps
from cmoe.core.prompting import PromptSettings
from cmoe.generation import GenerationSettings, make_generator, question_seed
from cmoe.generation.runner import generate_resumable, sample_seed, shard_questions

# Sampling (not greedy), so that any change of seeding or batching would show in the output.
SAMPLING = {"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 12, "batch_size": 4, "seed": 7}


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    return make_generator(str(tiny_model_dir), GenerationSettings(**SAMPLING))


class Preempted(Exception):
    pass


class PreemptedAfter:
    """Wraps a generator and dies (like a preempted node) after ``n`` conversations."""

    def __init__(self, inner, n):
        self.inner, self.left = inner, n
        self.model_name, self.chunk_size = inner.model_name, inner.chunk_size

    def generate(self, conversations, enable_thinking, seeds):
        for completion in self.inner.generate(conversations, enable_thinking, seeds):
            if self.left == 0:
                raise Preempted
            self.left -= 1
            yield completion

    def usage(self):
        return self.inner.usage()


def test_question_seed_is_stable_and_independent_of_order():
    assert question_seed(7, "q1") == question_seed(7, "q1")
    assert question_seed(7, "q1") != question_seed(8, "q1")
    assert question_seed(7, "q1") != question_seed(7, "q2")
    assert 0 <= question_seed(123, "x") < 2**31


def test_shards_are_contiguous_and_cover_every_question():
    items = [{"id": str(i)} for i in range(10)]
    shards = [shard_questions(items, i, 3) for i in range(3)]
    assert [q for s in shards for q in s] == items
    assert [len(s) for s in shards] == [3, 3, 4]
    with pytest.raises(ValueError, match="shard 3 of 3"):
        shard_questions(items, 3, 3)


@pytest.mark.slow
def test_resumed_run_is_byte_identical(generator, demo_questions, tmp_path):
    questions = demo_questions[:10]
    prompt = PromptSettings()
    whole = tmp_path / "whole.jsonl"
    generate_resumable(questions, generator, prompt, whole, seed=7)

    resumed = tmp_path / "resumed.jsonl"
    for n in (5, 5):  # preempted twice, in the middle of a chunk each time
        with pytest.raises(Preempted):
            generate_resumable(questions, PreemptedAfter(generator, n), prompt, resumed, seed=7)
        assert not resumed.exists()  # never a complete-looking output
    partial = resumed.with_name(resumed.name + ".partial")
    # whole chunks of 4 only: 4 records after the first preemption, 8 after the second
    assert len(partial.read_text().splitlines()) == 8
    # a torn last line (killed mid-write) is cut, not parsed or duplicated
    with open(partial, "a") as fh:
        fh.write('{"id": "torn", "outp')
    records = generate_resumable(questions, generator, prompt, resumed, seed=7)
    assert resumed.read_bytes() == whole.read_bytes()
    assert [r["id"] for r in records] == [q["id"] for q in questions]
    assert not partial.exists()


@pytest.mark.slow
def test_changed_settings_discard_the_partial_run(generator, demo_questions, tmp_path):
    questions = demo_questions[:6]
    out = tmp_path / "out.jsonl"
    with pytest.raises(Preempted):
        generate_resumable(questions, PreemptedAfter(generator, 4), PromptSettings(), out, seed=1)
    partial = out.with_name(out.name + ".partial")
    stale = partial.read_text()
    assert stale
    generate_resumable(questions, generator, PromptSettings(), out, seed=2)  # another seed
    fresh = tmp_path / "fresh.jsonl"
    generate_resumable(questions, generator, PromptSettings(), fresh, seed=2)
    assert out.read_bytes() == fresh.read_bytes()


def _generate_cmd(model, questions, out, shard="0/1", generation=None):
    return [
        sys.executable,
        "-m",
        "cmoe",
        "generate",
        "--model",
        str(model),
        "--questions",
        str(questions),
        "--shard",
        shard,
        "--generation",
        json.dumps(generation or SAMPLING),
        "--prompt",
        json.dumps({"template": "{question}\nA) {A}\nB) {B}\nC) {C}\nD) {D}"}),
        "--threads",
        "1",
        "--out",
        str(out),
        "--cost-out",
        str(out) + ".cost.json",
    ]


@pytest.mark.slow
def test_sigkill_mid_shard_then_resume(tiny_model_dir, demo_questions, tmp_path):
    """The real thing: SIGKILL a `cmoe generate` process mid-shard, run it again, and get the
    same bytes as an uninterrupted run, for each of two shards."""
    questions = tmp_path / "train.jsonl"
    questions.write_text("".join(dumps(q) + "\n" for q in demo_questions[:48]), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for shard in ("0/2", "1/2"):
        tag = shard.replace("/", "-of-")
        whole = tmp_path / f"whole.{tag}.jsonl"
        subprocess.run(_generate_cmd(tiny_model_dir, questions, whole, shard), env=env, check=True)

        out = tmp_path / f"killed.{tag}.jsonl"
        partial = out.with_name(out.name + ".partial")
        proc = subprocess.Popen(
            _generate_cmd(tiny_model_dir, questions, out, shard),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if partial.exists() and len(partial.read_bytes().splitlines()) >= 8:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the shard finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_before = len(partial.read_bytes().splitlines())
        assert 8 <= done_before < 24 and not out.exists()

        resumed = subprocess.run(
            _generate_cmd(tiny_model_dir, questions, out, shard),
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        assert f"resuming, {done_before} of 24 questions already answered" in resumed.stderr
        assert out.read_bytes() == whole.read_bytes()
        assert not partial.exists()

    # gathering is concatenation in shard order: every question once, in question order
    gathered = tmp_path / "gathered.jsonl"
    shards = [tmp_path / f"killed.{i}-of-2.jsonl" for i in range(2)]
    subprocess.run(
        [sys.executable, "-m", "cmoe", "gather", "--shards", *map(str, shards), "--out", gathered],
        env=env,
        check=True,
    )
    ids = [json.loads(line)["id"] for line in gathered.read_text().splitlines()]
    assert ids == [q["id"] for q in demo_questions[:48]]


@pytest.mark.slow
def test_sigkill_with_several_samples_per_question(tiny_model_dir, demo_questions, tmp_path):
    """Three samples per question, each seeded by (question, sample): a SIGKILLed run resumes
    to the same bytes, records in question then sample order."""
    questions = tmp_path / "train.jsonl"
    questions.write_text("".join(dumps(q) + "\n" for q in demo_questions[:12]), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    three = {**SAMPLING, "samples_per_question": 3}
    whole = tmp_path / "whole.jsonl"
    subprocess.run(
        _generate_cmd(tiny_model_dir, questions, whole, generation=three), env=env, check=True
    )

    out = tmp_path / "killed.jsonl"
    partial = out.with_name(out.name + ".partial")
    proc = subprocess.Popen(
        _generate_cmd(tiny_model_dir, questions, out, generation=three),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and len(partial.read_bytes().splitlines()) >= 12:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(partial.read_bytes().splitlines())
    assert 12 <= done_before < 36 and not out.exists()
    resumed = subprocess.run(
        _generate_cmd(tiny_model_dir, questions, out, generation=three),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert f"resuming, {done_before} of 36 answers already written" in resumed.stderr
    assert out.read_bytes() == whole.read_bytes()

    records = [json.loads(line) for line in whole.read_text().splitlines()]
    assert [(r["id"], r["sample"]) for r in records] == [
        (q["id"], k) for q in demo_questions[:12] for k in range(3)
    ]
    # sample 0 has the one-sample run's seed (hf shares one random stream per batch, so its
    # answer also depends on the batch), the other samples their own
    assert all(
        sample_seed(7, q["id"], 0) == question_seed(7, q["id"]) != sample_seed(7, q["id"], 1)
        for q in demo_questions[:12]
    )
    # sampled, so the samples of a question differ (their seeds do)
    assert any(
        len({r["output"] for r in records if r["id"] == q["id"]}) > 1 for q in demo_questions[:12]
    )


@pytest.mark.slow
def test_sigterm_finishes_the_chunk_in_hand_then_exits_143(
    tiny_model_dir, demo_questions, tmp_path
):
    """Slurm's notice before it kills (preemption, time limit, `scancel`): SIGTERM. The shard
    writes the chunk it is generating, exits 143 with one line, and resumes to the same bytes
    (tests/test_slurm.py does the same through Slurm and Snakemake)."""
    questions = tmp_path / "train.jsonl"
    questions.write_text("".join(dumps(q) + "\n" for q in demo_questions[:24]), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    whole = tmp_path / "whole.jsonl"
    subprocess.run(_generate_cmd(tiny_model_dir, questions, whole), env=env, check=True)

    out = tmp_path / "stopped.jsonl"
    partial = out.with_name(out.name + ".partial")
    proc = subprocess.Popen(
        _generate_cmd(tiny_model_dir, questions, out),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not partial.exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the shard finished before it could be signalled"
    written = len(partial.read_bytes().splitlines())
    os.kill(proc.pid, signal.SIGTERM)
    stderr = proc.communicate(timeout=120)[1]
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    done = len(partial.read_bytes().splitlines())
    message = f"cmoe generate: stopped by SIGTERM with {done} of 24 answers in {partial}"
    assert message in stderr
    # whole chunks of 4 only, at least the one that was being generated
    assert written <= done < 24 and done % 4 == 0 and not out.exists()
    resumed = subprocess.run(
        _generate_cmd(tiny_model_dir, questions, out),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert f"resuming, {done} of 24 questions already answered" in resumed.stderr
    assert out.read_bytes() == whole.read_bytes()
