"""The study's model families: published chat templates, the completion format each one learns,
the end-of-turn token as EOS, and a Llama student through the same code paths as a Qwen3 one."""

import json

import pytest
from transformers import AutoModelForCausalLM

from cmoe.core.answers import extract_answer
from cmoe.core.models import load_tokenizer
from cmoe.core.prompting import PromptSettings, end_of_turn, render_chat, thinks_in_tags
from cmoe.data.tiny import FAMILIES, chat_template
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.runner import answer_questions
from cmoe.training import TrainSettings, build_trainer, load_training_rows, sft_examples, train

FAMILY_DIRS = {"qwen3": "tiny_model_dir", "llama3": "tiny_llama_dir"}
MODEL_TYPES = {"qwen3": "qwen3", "llama3": "llama"}


def _traces(questions):
    """Trace records as a teacher writes them: reasoning and a correct extracted answer."""
    return [
        {**q, "reasoning": q["explanation"], "answer": q["gold"], "correct": True}
        for q in questions
    ]


def test_templates_are_the_published_ones():
    # TRL keeps the original templates to recognise models by them (byte for byte)
    from trl.chat_template_utils import llama3_1_chat_template, qwen3_chat_template

    assert chat_template("qwen3.jinja") == qwen3_chat_template
    assert chat_template("llama3.jinja") == llama3_1_chat_template


@pytest.mark.parametrize("family", list(FAMILY_DIRS))
def test_tiny_model_carries_its_family(family, request):
    path = request.getfixturevalue(FAMILY_DIRS[family])
    tok = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == MODEL_TYPES[family]
    assert tok.chat_template == chat_template(FAMILIES[family].template)
    # EOS is the token the template closes an assistant turn with, and generation stops on it
    assert tok.eos_token == FAMILIES[family].eos == end_of_turn(tok)
    assert tok.eos_token_id in model.generation_config.eos_token_id
    assert tok.pad_token is not None and tok.pad_token_id != tok.eos_token_id
    assert thinks_in_tags(tok.chat_template) == (family == "qwen3")


def test_families_have_different_vocabularies(tiny_model_dir, tiny_llama_dir):
    qwen, llama = load_tokenizer(tiny_model_dir), load_tokenizer(tiny_llama_dir)
    assert qwen.get_vocab() != llama.get_vocab()
    assert "<|eot_id|>" in llama.get_vocab() and "<|eot_id|>" not in qwen.get_vocab()
    assert "<|im_end|>" in qwen.get_vocab() and "<|im_end|>" not in llama.get_vocab()


@pytest.mark.parametrize("family", list(FAMILY_DIRS))
def test_labels_start_where_the_generation_prompt_ends(family, request, demo_questions, tmp_path):
    """TRL's labels (the project's trainer) begin right after the prompt generation renders,
    and end with the template's end-of-turn token; the answer extractor reads what is learned."""
    path = request.getfixturevalue(FAMILY_DIRS[family])
    tok = load_tokenizer(path, padding_side="right")
    think = thinks_in_tags(tok.chat_template)
    traces = _traces(demo_questions[:3])
    rows = sft_examples(traces, PromptSettings(), "traces", think)
    settings = TrainSettings(method="full", max_length=1024, save_steps=0)
    trainer, _, _ = build_trainer(str(path), rows, settings, tmp_path)
    assert len(trainer.train_dataset) == len(rows)
    for trace, row, example in zip(traces, rows, trainer.train_dataset, strict=True):
        prompt = render_chat(tok, row["prompt"], enable_thinking=True)  # as generation renders it
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        batch = trainer.data_collator([example])
        ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert ids[:first] == prompt_ids
        assert all(label != -100 for label in labels[first:])
        learned = tok.decode(labels[first:])
        assert learned.rstrip("\n").endswith(tok.eos_token)  # EOS learned, nothing after it
        assert labels[first:].count(tok.eos_token_id) == 1
        reasoning = trace["explanation"].strip()
        if family == "qwen3":
            assert learned.startswith(f"<think>\n{reasoning}\n</think>\n\nОтвет: ")
        else:
            assert learned.startswith(f"{reasoning}\n\nОтвет: ") and "<think>" not in learned
        assert extract_answer(tok.decode(labels[first:], skip_special_tokens=True)) == trace["gold"]


@pytest.mark.slow
def test_llama_student_trains_and_generates(tiny_llama_dir, demo_questions, tmp_path):
    """A Llama student learns plain-text reasoning through the training CLI's path (rows from
    files, format from its tokenizer), stops at <|eot_id|>, and its answers are read."""
    questions = demo_questions[::8][:16]
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in _traces(questions)))
    prompt = PromptSettings()
    rows = load_training_rows(
        [str(data)], prompt, "traces", lambda: load_tokenizer(tiny_llama_dir, padding_side="right")
    )
    assert all("<think>" not in r["completion"][0]["content"] for r in rows)
    settings = TrainSettings(
        method="full", epochs=40, learning_rate=1e-2, batch_size=8, max_length=512, seed=0
    )
    metrics = train(str(tiny_llama_dir), rows, tmp_path / "student", settings)
    assert metrics["loss_curve"][-1]["loss"] < metrics["loss_curve"][0]["loss"] / 10
    assert metrics["truncated_examples"] == 0

    max_new = 160
    gen = make_generator(
        str(tmp_path / "student"), GenerationSettings(max_new_tokens=max_new, batch_size=16)
    )
    records = list(answer_questions(questions, gen, prompt))
    assert all(
        r["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n") for r in records
    )
    assert not any("<think>" in r["output"] for r in records)
    # Read, stopped at the end of its turn right after the answer line, and right well above
    # chance (1/4): greedy decoding drifts from the memorised reasoning of this 64-wide model
    # after a wrong token, and the letter after it is then a guess (9 of 16 right once).
    n = len(questions)
    read = sum(r["answer"] is not None for r in records)
    stopped = sum(
        r["completion_tokens"] < max_new and r["output"].rstrip().endswith(r["answer"] or "?")
        for r in records
    )
    correct = sum(r["correct"] for r in records)
    assert read >= 0.9 * n and stopped >= 0.9 * n and correct >= n / 2, (read, stopped, correct)


@pytest.mark.parametrize("family", list(FAMILY_DIRS))
def test_all_linear_lora_targets_every_projection(family, request):
    """The LoRA targets the README lists for each family: `all-linear` is every attention and MLP
    projection (not the tied output layer)."""
    from peft import LoraConfig, get_peft_model

    path = request.getfixturevalue(FAMILY_DIRS[family])
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(path),
        LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    targeted = {
        name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name.endswith("proj")
    }
    wrapped = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if hasattr(m, "lora_A")}
    assert (
        wrapped == targeted == {f"{x}_proj" for x in "qkvo"} | {"gate_proj", "up_proj", "down_proj"}
    )


@pytest.mark.slow
def test_llama_lora_adapter_trains_and_generates(tiny_llama_dir, demo_questions, tmp_path):
    rows = sft_examples(_traces(demo_questions[:8]), PromptSettings(), "traces", think=False)
    settings = TrainSettings(method="lora", epochs=1, batch_size=4, max_length=512, save_steps=0)
    settings.lora.r = 4
    metrics = train(str(tiny_llama_dir), rows, tmp_path / "adapter", settings)
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert metrics["trainable_params"] < metrics["total_params"]
    gen = make_generator(str(tmp_path / "adapter"), GenerationSettings(max_new_tokens=4))
    assert len(list(answer_questions(demo_questions[:2], gen, PromptSettings()))) == 2


def test_generation_stops_at_the_templates_end_of_turn_whatever_eos_says(tiny_llama_dir, tmp_path):
    """A checkpoint whose tokenizer and generation config name only <|end_of_text|> (a base
    model's tokenizer with an instruct template) still stops at the template's <|eot_id|>."""
    import shutil

    from cmoe.generation.hf import HFGenerator

    path = tmp_path / "base-eos"
    shutil.copytree(tiny_llama_dir, path)
    tok = load_tokenizer(path)
    tok.eos_token = "<|end_of_text|>"
    tok.save_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)

    gen = HFGenerator(str(path), GenerationSettings())
    assert gen.tokenizer.eos_token == "<|end_of_text|>"
    assert end_of_turn(gen.tokenizer) == "<|eot_id|>"
    eot, eos = gen.tokenizer.convert_tokens_to_ids(["<|eot_id|>", "<|end_of_text|>"])
    assert gen.eos_ids == sorted({eot, eos})
