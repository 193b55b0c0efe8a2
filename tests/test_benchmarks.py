"""lm-eval benchmarks (`evaluation.benchmarks`), k-sample evaluation and the reasoning-language
figure."""

import json
import shutil

import pytest
from conftest import ROOT

from cmoe.config import load_config, validate_config
from cmoe.core.errors import ConfigError, DataError
from cmoe.core.scoring import cyrillic_share, reasoning_language, score
from cmoe.core.stats import accuracy_with_ci, mean_with_ci
from cmoe.evaluation.benchmarks import BenchmarkSettings, check_benchmarks, evaluate_benchmark
from cmoe.evaluation.generative import combine_samples, majority_answer

DEMO_TASK = ROOT / "data" / "demo" / "benchmarks" / "ru_mc_demo"


def _with_benchmarks(benchmarks):
    config = load_config(ROOT / "config" / "demo_rummlu.yaml")
    config["evaluation"]["benchmarks"] = benchmarks
    return config


@pytest.mark.parametrize(
    "benchmarks, message",
    [
        (["mmlu_prox_rux"], "'mmlu_prox_rux' is not an lm-eval task (did you mean mmlu_prox_ru"),
        (["ru_mc_demo"], "'ru_mc_demo' is not an lm-eval task"),  # local, but no path given
        ([{"task": "ru_mc_demo", "path": "no/such/folder"}], "benchmarks[0].path: local task"),
        ([{"task": "nope", "path": str(DEMO_TASK)}], "'nope' is not defined in"),
        ([{"task": "ru_mc_demo", "path": str(DEMO_TASK), "shots": 1}], "benchmarks[0].shots"),
        ([{"path": str(DEMO_TASK)}], "a mapping needs `task`"),
        ([{"task": "ru_mc_demo", "path": str(DEMO_TASK), "limit": 0}], "limit: must be >= 1"),
        (["mmlu_prox_ru", "mmlu_prox_ru"], "listed twice"),
    ],
)
def test_bad_benchmarks_are_one_line_config_errors(benchmarks, message):
    with pytest.raises(ConfigError) as err:
        validate_config(_with_benchmarks(benchmarks))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "evaluation.benchmarks" in str(err.value)


def test_known_tasks_validate_and_the_builtin_index_is_read_only_when_needed():
    validate_config(_with_benchmarks(["mmlu_prox_ru", "global_mmlu_full_ru"]))
    calls = []

    def builtin():
        calls.append(1)
        return {"mmlu_prox_ru"}

    check_benchmarks(_with_benchmarks([{"task": "ru_mc_demo", "path": str(DEMO_TASK)}]), builtin)
    assert not calls  # only local tasks: lm-eval's ~15,000 built-in task files are not indexed
    check_benchmarks(_with_benchmarks(["mmlu_prox_ru"]), builtin)
    assert calls == [1]


def test_sampling_needs_a_temperature():
    config = load_config(ROOT / "config" / "demo_rummlu.yaml")
    config["evaluation"]["samples"] = 2
    with pytest.raises(ConfigError, match="evaluation.samples: 2 samples need sampling"):
        validate_config(config)
    config["evaluation"]["generation"]["temperature"] = 0.7
    assert validate_config(config)["evaluation"]["samples"] == 2


# --- running lm-eval ------------------------------------------------------------------------


def _lora_adapter(base, out):
    """A LoRA adapter over the tiny model with random (non-zero) B, so it changes the logits."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


@pytest.mark.slow
def test_benchmark_runs_offline_on_a_model_and_an_adapter(tiny_model_dir, tmp_path):
    spec = BenchmarkSettings(task="ru_mc_demo", path=str(DEMO_TASK), batch_size=16)
    runs = {}
    for name, model in [
        ("base", tiny_model_dir),
        ("adapter", _lora_adapter(tiny_model_dir, tmp_path / "adapter")),
    ]:
        out = tmp_path / name
        scores = evaluate_benchmark(
            model=str(model),
            spec=spec,
            scores_out=out / "scores.json",
            samples_out=out / "predictions.jsonl",
        )
        items = [json.loads(line) for line in (out / "predictions.jsonl").open()]
        assert scores["task"] == "ru_mc_demo" and scores["metric"] == "acc"
        assert scores["n"] == len(items) == 30
        assert scores["value"] == pytest.approx(sum(i["acc"] for i in items) / len(items))
        assert 0 < scores["stderr"] < 0.5
        assert json.loads((out / "scores.json").read_text())["value"] == scores["value"]
        runs[name] = [i["prediction"] for i in items]
    # the adapter was applied (peft=): its log-likelihoods are not the base model's
    assert runs["adapter"] != runs["base"]


@pytest.mark.slow
def test_missing_benchmark_data_fails_the_job_with_the_path(tiny_model_dir, tmp_path, capsys):
    from cmoe.cli import main

    folder = tmp_path / "task"
    shutil.copytree(DEMO_TASK, folder)
    (folder / "ru_mc_demo.jsonl").unlink()
    spec = BenchmarkSettings(task="ru_mc_demo", path=str(folder))
    with pytest.raises(DataError, match="benchmark ru_mc_demo .* could not be loaded"):
        evaluate_benchmark(
            model=str(tiny_model_dir),
            spec=spec,
            scores_out=tmp_path / "s.json",
            samples_out=tmp_path / "p.jsonl",
        )
    argv = ["evaluate-benchmark", "--model", str(tiny_model_dir), "--settings"]
    argv += [json.dumps({"task": "ru_mc_demo", "path": str(folder)})]
    argv += ["--predictions", str(tmp_path / "p.jsonl"), "--scores", str(tmp_path / "s.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("cmoe evaluate-benchmark: error: benchmark ru_mc_demo")
    assert str(folder / "ru_mc_demo.jsonl") in err[-1]
    assert not (tmp_path / "s.json").exists()


# --- k samples ----------------------------------------------------------------------------------


def test_majority_vote_ties_go_to_the_answer_given_first():
    assert majority_answer(["B", "A", "A", "B"]) == "B"
    assert majority_answer(["C", None, "D", "D"]) == "D"
    assert majority_answer([None, None]) is None


def _record(i, answer, gold="A", reasoning="Рассуждение"):
    return {
        "id": f"q{i}",
        "domain": "other",
        "gold": gold,
        "answer": answer,
        "correct": answer == gold,
        "output": f"<think>{reasoning}</think> Ответ: {answer}",
        "reasoning": reasoning,
        "completion_tokens": 5,
    }


def test_k_samples_score_avg_and_majority():
    runs = [
        [_record(0, "A"), _record(1, "B"), _record(2, "A")],
        [_record(0, "A"), _record(1, "A"), _record(2, "C")],
        [_record(0, "B"), _record(1, "A"), _record(2, None)],
    ]
    combined = combine_samples(runs)
    assert [r["mean_correct"] for r in combined] == [2 / 3, 2 / 3, 1 / 3]
    assert [r["answer"] for r in combined] == ["A", "A", "A"]
    assert all(r["k"] == 3 and len(r["samples"]) == 3 for r in combined)
    cell = score(combined, {"resamples": 200})["overall"]
    assert cell["accuracy"] == pytest.approx(5 / 9)  # avg@3
    assert cell["majority_accuracy"] == 1.0 and cell["k"] == 3  # majority@3
    assert cell["ci_low"] <= cell["accuracy"] <= cell["ci_high"]
    # one answer per question: no sampling fields, the accuracy as before
    plain = score(runs[0], {"resamples": 200})["overall"]
    assert "k" not in plain and plain["accuracy"] == 2 / 3


def test_item_bootstrap_of_means_equals_the_accuracy_bootstrap_on_zero_one_items():
    values = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    assert mean_with_ci([float(v) for v in values], 500, 3) == accuracy_with_ci(values, 500, 3)


@pytest.mark.slow
def test_two_sampled_answers_per_question_on_a_tiny_model(tiny_model_dir, demo_questions, tmp_path):
    from cmoe.core.prompting import PromptSettings
    from cmoe.evaluation.generative import evaluate
    from cmoe.generation import GenerationSettings

    template = "{subject_name}: {question}\nA) {A}\nB) {B}\nC) {C}\nD) {D}"
    gen = GenerationSettings(temperature=1.0, top_p=0.95, max_new_tokens=8, batch_size=8, seed=5)
    questions = demo_questions[:8]
    scores = evaluate(
        model=str(tiny_model_dir),
        questions=questions,
        generation=gen,
        prompt=PromptSettings(template=template),
        predictions_out=tmp_path / "p.jsonl",
        scores_out=tmp_path / "s.json",
        samples=2,
    )
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").open()]
    assert len(records) == len(questions)
    assert all(len(r["samples"]) == 2 and r["k"] == 2 for r in records)
    # the two samples are seeded differently: a random model writes different text
    assert any(r["samples"][0]["output"] != r["samples"][1]["output"] for r in records)
    mean = sum(r["mean_correct"] for r in records) / len(records)
    assert scores["overall"]["accuracy"] == pytest.approx(mean)
    assert scores["protocol"] == "generative, 2 samples"


# --- language of the reasoning ------------------------------------------------------------------


def test_cyrillic_share_counts_letters_only():
    assert cyrillic_share("Ответ: 42") == 1.0
    assert cyrillic_share("да yes") == pytest.approx(2 / 5)
    assert cyrillic_share("所以答案") == 0.0
    assert cyrillic_share("12 + 3 = 15") is None


def test_reasoning_language_is_a_mean_over_items_with_letters():
    records = [
        _record(0, "A", reasoning="Считаем"),
        _record(1, "A", reasoning="so the answer"),
        _record(2, "A", reasoning="2+2"),  # no letters: left out
    ]
    assert reasoning_language(records) == pytest.approx(0.5)
    assert reasoning_language([{"id": "x", "answer": "A"}]) is None  # log-likelihood records


def test_score_table_shows_the_cyrillic_share_and_sampling_columns(tmp_path):
    from cmoe.core.io import atomic_write_jsonl
    from cmoe.core.jobs import Row
    from cmoe.reporting.tables import table_rows, to_csv, to_markdown

    folder = tmp_path / "eval"
    atomic_write_jsonl(
        folder / "predictions.jsonl",
        [_record(0, "A", reasoning="Думаю"), _record(1, "B", reasoning="think")],
    )
    row = Row(eval_dir=str(folder), method="base", teacher="-", via="-", model="m")
    [table] = table_rows([row])
    assert table["cyrillic"] == pytest.approx(0.5) and table["k"] == 1 and table["majority"] is None
    assert "Cyrillic %" in to_markdown([table]) and "| 50.0 |" in to_markdown([table])
    header, line = to_csv([table]).splitlines()
    assert dict(zip(header.split(","), line.split(","), strict=True))["cyrillic"] == "0.5000"
