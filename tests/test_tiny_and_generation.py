"""The tiny model folder behaves like a hub model: from_pretrained, chat template, generation."""

from conftest import DEMO_DATA
from transformers import AutoModelForCausalLM, AutoTokenizer

from cmoe.core.prompting import PromptSettings, render_chat
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.runner import answer_questions


def test_tiny_model_loads_through_from_pretrained(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen3"
    assert tok.padding_side == "left"  # saved, not only set at runtime
    assert tok.eos_token == "<|im_end|>" and tok.pad_token != tok.eos_token
    # <think> tags survive decoding with skip_special_tokens, like Qwen3's
    ids = tok("<think>\nшаг\n</think>\n\nОтвет: B")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "<think>\nшаг\n</think>\n\nОтвет: B"


def test_chat_template_supports_roles_and_thinking_switch(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    on = render_chat(tok, msgs, enable_thinking=True)
    off = render_chat(tok, msgs, enable_thinking=False)
    assert (
        on
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    )
    assert off == on + "<think>\n\n</think>\n\n"


def test_hf_generation_is_batched_seeded_and_complete(tiny_model_dir, demo_questions):
    questions = demo_questions[:5]
    settings = GenerationSettings(max_new_tokens=8, batch_size=2, temperature=0.8, seed=3)
    gen = make_generator(str(tiny_model_dir), settings)
    prompt = PromptSettings()
    first = list(answer_questions(questions, gen, prompt))
    again = list(answer_questions(questions, gen, prompt))
    assert [r["id"] for r in first] == [q["id"] for q in questions]
    assert [r["output"] for r in first] == [r["output"] for r in again]  # seeded
    for r in first:
        assert 1 <= r["completion_tokens"] <= 8
        assert r["prompt_tokens"] > 20 and r["prompt"].endswith("<|im_start|>assistant\n")
        assert r["answer"] in (None, "A", "B", "C", "D")
        assert r["correct"] == (r["answer"] == r["gold"])


def test_left_padding_does_not_change_greedy_output(tiny_model_dir, demo_questions):
    """A prompt's greedy continuation is the same alone or padded in a batch."""
    questions = [demo_questions[0], max(demo_questions, key=lambda q: len(q["question"]))]
    prompt = PromptSettings()
    alone = list(
        answer_questions(
            questions[:1],
            make_generator(str(tiny_model_dir), GenerationSettings(max_new_tokens=6, batch_size=1)),
            prompt,
        )
    )
    batched = list(
        answer_questions(
            questions,
            make_generator(str(tiny_model_dir), GenerationSettings(max_new_tokens=6, batch_size=2)),
            prompt,
        )
    )
    assert alone[0]["output"] == batched[0]["output"]


def test_unknown_backend_is_a_clear_error(tiny_model_dir):
    import pytest

    with pytest.raises(ValueError, match="backend 'nope' is not available"):
        make_generator(str(tiny_model_dir), GenerationSettings(backend="nope"))


def test_demo_corpus_exists():
    assert DEMO_DATA.exists()
