"""CMoE's specialists on one engine: where they are LoRA adapters of one intermediate and vLLM
serves them, the plan gives one job per teacher and intermediate for all their traces and one for
their evaluation (not one per specialist), and each adapter's files are the bytes a run of that
adapter alone writes, resumed after a kill. Here on hf (fast); tests/test_vllm_cpu.py runs the
same on vLLM's CPU build."""

import json
import re

import pytest
from conftest import ROOT, run_snakemake

from cmoe.cli import main as cmoe
from cmoe.config import load_config
from cmoe.core.prompting import PromptSettings
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.adapters import generate_each
from cmoe.generation.runner import generate_resumable
from cmoe.methods.roles.specialists import specialist_groups
from cmoe.plan import build_plan

CONFIG = ROOT / "config"
VLLM = (CONFIG / "demo_rummlu.yaml", CONFIG / "ablations" / "vllm_cpu.yaml")
HF = (*VLLM, CONFIG / "ablations" / "vllm_cpu_hf.yaml")  # the overlay's control, all on hf
SAMPLING = {"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 12, "batch_size": 4, "seed": 7}
GROUPS = {"g1": ["math_cs", "natural_science"], "g2": ["social_humanities", "other"]}


def specialist_jobs(plan) -> dict[str, int]:
    """Jobs that answer with a specialist, by what they serve (one specialist or several)."""
    counts = {"alone": 0, "together": 0, "adapters": 0}
    for table in (plan.generations, plan.evaluations):
        counts["alone"] += sum("/specialist/" in key for key in table)
    for kind in ("specialist_traces", "specialist_evaluations"):
        for job in plan.jobs_of(kind).values():
            counts["together"] += 1
            counts["adapters"] += len(job.adapters)
    return counts


def test_the_vllm_overlay_serves_each_intermediates_specialists_from_one_job():
    config = load_config(*VLLM)
    plan = build_plan(config)
    groups = list(specialist_groups(config))
    teachers, intermediate = ["vllm-teacher-a", "vllm-teacher-b"], "tiny-intermediate-h32"
    # per teacher and intermediate: one job for the four specialists' traces, one for their
    # evaluation; none for a specialist alone
    assert specialist_jobs(plan) == {"alone": 0, "together": 2 * 2, "adapters": 2 * 2 * 4}
    for kind, role in (("specialist_traces", "traces"), ("specialist_evaluations", "eval")):
        jobs = plan.jobs_of(kind)
        assert sorted(jobs) == [
            f"demo-vllm-cpu/{role}/specialist/{t}/{intermediate}/one-engine" for t in teachers
        ]
        for key, job in jobs.items():
            teacher = key.split("/")[3]
            assert job.generation["backend"] == "vllm"
            assert job.base.name == "tiny-intermediate-h32"
            assert job.adapter_folders == {
                g: f"results/demo-vllm-cpu/models/specialist/{teacher}/{intermediate}/{g}/model"
                for g in groups
            }
            # every adapter is a LoRA specialist trained on that base, built before the job
            for folder in job.adapter_folders.values():
                train = plan.trains[folder.removeprefix("results/")]
                assert train.settings["method"] == "lora" and train.model == job.base
                assert folder in job.inputs
    evaluations = plan.jobs_of("specialist_evaluations").values()
    assert all(job.routes == ("results/demo-vllm-cpu/router/routes.json",) for job in evaluations)
    # what reads the specialists' files finds them where a job per specialist wrote them
    mixture = next(iter(plan.jobs_of("mixture").values()))
    assert mixture.predictions["math_cs"].endswith(
        "/eval/specialist/vllm-teacher-a/tiny-intermediate-h32/math_cs/eval/predictions.jsonl"
    )
    traces = f"results/demo-vllm-cpu/traces/specialist/vllm-teacher-a/{intermediate}/other"
    assert plan.curation_for(traces + ".raw.jsonl") or traces in plan.curated_by

    # hf merges each adapter into a copy of its base: one job per specialist, as before
    control = build_plan(load_config(*HF))
    assert specialist_jobs(control) == {"alone": 2 * 2 * 4, "together": 0, "adapters": 0}


def test_fully_trained_specialists_keep_a_job_each_on_vllm():
    """One engine serves adapters of one base; a fully trained specialist is a model of its own."""
    config = load_config(*VLLM)
    config["intermediates"]["tiny-intermediate-h32"]["specialists"]["other"] = {
        "train": {"method": "full"}
    }
    assert specialist_jobs(build_plan(config)) == {"alone": 2 * 2 * 4, "together": 0, "adapters": 0}


def dry_run(folder, *configs) -> dict[str, int]:
    """Job counts of the workflow's dry run in ``folder`` (the demo's data linked there)."""
    folder.mkdir()
    (folder / "data").symlink_to(ROOT / "data")
    proc = run_snakemake(folder, *configs, extra=["-n"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}


def test_the_rules_run_one_engine_job_per_intermediate(tmp_path):
    """The workflow's dry run: 2 specialist-trace and 2 specialist-evaluation jobs (one per
    teacher and intermediate) replace the 8 + 8 jobs of one specialist each (the hf control's)."""
    vllm, hf = dry_run(tmp_path / "vllm", *VLLM), dry_run(tmp_path / "hf", *HF)
    assert vllm["specialist_traces"] == vllm["specialist_evaluations"] == 2
    assert "specialist_traces" not in hf and "specialist_evaluations" not in hf
    assert hf["generate"] - vllm["generate"] == hf["evaluate"] - vllm["evaluate"] == 8
    assert hf["total"] - vllm["total"] == 16 - 4


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    """Two PEFT LoRA adapters of the tiny model (random, non-zero: they change its answers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = {}
    for i, group in enumerate(GROUPS):
        torch.manual_seed(100 + i)
        base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
        config = LoraConfig(
            r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False
        )
        folder = tmp_path_factory.mktemp("adapters") / group
        get_peft_model(base, config).save_pretrained(folder)
        AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(folder)
        out[group] = str(folder)
    return out


class Preempted(Exception):
    pass


class Counting:
    """A generator that counts the conversations it answers, and dies (like a preempted node)
    after ``die_after`` of them."""

    def __init__(self, inner, die_after=None):
        self.inner, self.left, self.answered = inner, die_after, 0
        self.model_name, self.chunk_size = inner.model_name, inner.chunk_size

    def generate(self, conversations, enable_thinking, seeds, adapters=None):
        for completion in self.inner.generate(conversations, enable_thinking, seeds, adapters):
            if self.left is not None and self.answered == self.left:
                raise Preempted
            self.answered += 1
            yield completion

    def usage(self):
        return self.inner.usage()


@pytest.mark.slow
def test_adapters_on_one_generator_write_their_own_bytes_and_resume(
    tiny_model_dir, adapters, demo_questions, tmp_path
):
    """Sampled: each adapter's file equals its run alone, byte for byte. Killed in the second
    adapter's third chunk, then run again with the first adapter's output deleted (as Snakemake
    does): nothing of the first adapter and only the second's missing chunks are generated."""
    settings, prompt = GenerationSettings(**SAMPLING), PromptSettings()
    questions = {g: [q for q in demo_questions if q["domain"] in d][:10] for g, d in GROUPS.items()}
    alone = {}
    for group, folder in adapters.items():
        alone[group] = tmp_path / f"alone-{group}.jsonl"
        generate_resumable(
            questions[group], make_generator(folder, settings), prompt, alone[group], seed=7
        )

    shared = make_generator(str(tiny_model_dir), settings, adapters=adapters)
    outs = {g: tmp_path / "together" / f"{g}.raw.jsonl" for g in GROUPS}
    run = {"seed": 7, "identity": {"settings": SAMPLING}}
    with pytest.raises(Preempted):
        generate_each(Counting(shared, die_after=10 + 9), adapters, questions, prompt, outs, **run)
    outs["g1"].unlink()  # the killed job's outputs, deleted before it runs again
    again = Counting(shared)
    done = generate_each(again, adapters, questions, prompt, outs, **run)
    assert again.answered == 10 - 8  # g2's chunks of 4: two on disk, the third generated again
    for group in GROUPS:
        assert outs[group].read_bytes() == alone[group].read_bytes(), group
        records, _, usage = done[group]
        assert [r["model"] for r in records] == [adapters[group]] * 10
    assert done["g1"][2]["completion_tokens"] == 0  # read back, not generated
    assert not list((tmp_path / "together").glob("*.partial*"))
    # the adapters are applied: the first adapter's answers are not the second's
    assert outs["g1"].read_text() != alone["g2"].read_text()


@pytest.mark.slow
def test_evaluate_out_dir_writes_each_specialists_predictions_as_alone(
    tiny_model_dir, adapters, demo_questions, tmp_path
):
    """`cmoe evaluate --adapters --groups --routes --out-dir` (the workflow's job for all the
    specialists) against `cmoe evaluate --specialist` of each adapter alone: the same
    predictions, byte for byte; routed questions included."""
    questions = tmp_path / "test.jsonl"
    picked = demo_questions[:24]
    questions.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in picked))
    # a learned router that sends every fourth question to the other group
    other = {
        "math_cs": "other",
        "natural_science": "other",
        "social_humanities": "math_cs",
        "other": "math_cs",
    }
    routes = {
        q["id"]: other[q["domain"]] if i % 4 == 0 else q["domain"] for i, q in enumerate(picked)
    }
    routes_file = tmp_path / "routes.json"
    routes_file.write_text(json.dumps({"routes": routes}))
    common = ["--questions", questions, "--prompt", "{}", "--generation", json.dumps(SAMPLING)]
    common += ["--groups", json.dumps(GROUPS), "--routes", routes_file]
    common = [str(a) for a in common]
    argv = ["evaluate", "--model", str(tiny_model_dir), "--adapters", json.dumps(adapters)]
    assert cmoe([*argv, *common, "--out-dir", str(tmp_path / "together")]) == 0
    for group, folder in adapters.items():
        out = tmp_path / f"alone-{group}"
        alone = ["evaluate", "--model", folder, "--specialist", group, *common]
        alone += [
            "--predictions",
            str(out / "predictions.jsonl"),
            "--scores",
            str(out / "scores.json"),
        ]
        assert cmoe(alone) == 0
        together = tmp_path / "together" / group
        assert (together / "predictions.jsonl").read_bytes() == (
            out / "predictions.jsonl"
        ).read_bytes()
        scores = json.loads((together / "scores.json").read_text())
        n = len((out / "predictions.jsonl").read_text().splitlines())
        assert scores["model_path"] == folder and scores["overall"]["n"] == n > 0


def test_out_dir_errors_are_one_line(tiny_model_dir, tmp_path, capsys):
    base = ["--model", str(tiny_model_dir), "--questions", "q.jsonl", "--prompt", "{}"]
    assert cmoe(["generate", *base, "--out-dir", str(tmp_path)]) == 2
    assert cmoe(["evaluate", *base, "--out-dir", str(tmp_path)]) == 2
    assert cmoe(["evaluate", *base]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("cmoe ")]
    assert err == [
        "cmoe generate: error: --out-dir needs --adapters (and --groups)",
        "cmoe evaluate: error: --out-dir needs --adapters (and --groups)",
        "cmoe evaluate: error: give --predictions and --scores (or --out-dir with --adapters)",
    ]
