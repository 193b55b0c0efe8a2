"""Training path: loss mask, chat template, EOS and extractor must work together."""

import json

import pytest

from cmoe.core.prompting import PromptSettings
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.runner import answer_questions
from cmoe.training import TrainSettings, example_lengths, load_training_rows, sft_examples, train


def _traces(questions):
    """Trace records as a teacher would write them: reasoning + correct extracted answer."""
    return [
        {
            **q,
            "reasoning": q["explanation"],
            "answer": q["gold"],
            "correct": True,
            "output": f"<think>\n{q['explanation']}\n</think>\n\nОтвет: {q['gold']}",
        }
        for q in questions
    ]


@pytest.mark.slow
def test_overfit_32_traces_reproduces_answers(tiny_model_dir, demo_questions, tmp_path):
    questions = demo_questions[::8][:32]
    prompt = PromptSettings()
    rows = sft_examples(_traces(questions), prompt, source="traces")
    settings = TrainSettings(
        method="full",
        epochs=40,
        learning_rate=5e-3,
        batch_size=8,
        max_length=512,
        warmup_ratio=0.05,
        seed=0,
    )
    metrics = train(str(tiny_model_dir), rows, tmp_path / "student", settings)
    assert metrics["loss_curve"][-1]["loss"] < metrics["loss_curve"][0]["loss"] / 10
    assert metrics["truncated_examples"] == 0 and metrics["examples"] == 32

    gen = make_generator(
        str(tmp_path / "student"), GenerationSettings(max_new_tokens=120, batch_size=16)
    )
    records = list(answer_questions(questions, gen, prompt))
    correct = sum(r["correct"] for r in records)
    assert correct >= 0.9 * len(questions), [r["output"] for r in records if not r["correct"]]
    # EOS learned: the model stops after the answer line instead of running to max_new_tokens.
    stopped = sum(
        r["completion_tokens"] < 120 and r["output"].rstrip().endswith(r["answer"] or "?")
        for r in records
    )
    assert stopped >= 0.9 * len(questions)


@pytest.mark.slow
def test_lora_training_writes_adapter_that_loads(tiny_model_dir, demo_questions, tmp_path):
    rows = sft_examples(_traces(demo_questions[:8]), PromptSettings(), source="traces")
    settings = TrainSettings(method="lora", epochs=1, batch_size=4, max_length=240)
    settings.lora.r = 4
    metrics = train(str(tiny_model_dir), rows, tmp_path / "adapter", settings)
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert metrics["trainable_params"] < metrics["total_params"]
    assert metrics["truncated_examples"] > 0  # 240 tokens cut the longer examples
    assert metrics["dropped_examples"] < 8
    gen = make_generator(str(tmp_path / "adapter"), GenerationSettings(max_new_tokens=4))
    assert len(list(answer_questions(demo_questions[:2], gen, PromptSettings()))) == 2


def test_loss_is_on_the_completion_only(tiny_model_dir, demo_questions):
    """The trainer's labels mask every prompt token (TRL prompt/completion data)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from cmoe.core.models import load_tokenizer

    rows = sft_examples(_traces(demo_questions[:2]), PromptSettings(), source="traces")
    tok = load_tokenizer(tiny_model_dir, padding_side="right")
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        args=SFTConfig(
            output_dir="/tmp/unused",
            max_length=1024,
            completion_only_loss=True,
            report_to=["none"],
            use_cpu=True,
            eos_token=tok.eos_token,
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
    )
    example = trainer.train_dataset[0]
    mask = [label != -100 for label in example["labels"]]
    completion_ids = [i for i, m in zip(example["input_ids"], mask, strict=True) if m]
    text = tok.decode(completion_ids)
    assert text.startswith("<think>") and "Ответ: " in text and text.rstrip().endswith("<|im_end|>")
    assert sum(mask) < len(mask) / 2  # the prompt is the larger, masked part


def test_reference_rows_need_explanations(demo_questions):
    rows = sft_examples(demo_questions[:3], PromptSettings(), source="reference")
    assert rows[0]["completion"][0]["content"].endswith(f"Ответ: {demo_questions[0]['gold']}")
    with pytest.raises(ValueError, match="reference explanation"):
        sft_examples(
            [{k: v for k, v in demo_questions[0].items() if k != "explanation"}],
            PromptSettings(),
            source="reference",
        )


def test_only_correct_traces_are_trained_on(tmp_path, demo_questions):
    traces = _traces(demo_questions[:4])
    traces[1]["correct"] = False
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in traces))
    assert len(load_training_rows([str(p)], PromptSettings(), "traces")) == 3


def test_example_lengths_match_chat_template(tiny_model_dir, demo_questions):
    from cmoe.core.models import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    rows = sft_examples(_traces(demo_questions[:2]), PromptSettings(), source="traces")
    for prompt_len, full_len in example_lengths(tok, rows):
        assert 50 < prompt_len < full_len


def test_max_length_below_every_prompt_is_a_clear_error(tiny_model_dir, demo_questions, tmp_path):
    rows = sft_examples(_traces(demo_questions[:2]), PromptSettings(), source="traces")
    with pytest.raises(ValueError, match="shorter than every prompt"):
        train(str(tiny_model_dir), rows, tmp_path / "x", TrainSettings(max_length=16))
    assert not (tmp_path / "x").exists()
