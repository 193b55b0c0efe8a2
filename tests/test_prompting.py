from cmoe.core.answers import extract_answer, split_reasoning
from cmoe.core.prompting import (
    DEFAULT_TEMPLATE,
    PromptSettings,
    build_completion,
    build_messages,
    thinks_in_tags,
)
from cmoe.data.tiny import chat_template

Q = {
    "id": "1",
    "subject": "astronomy",
    "subject_name": "Астрономия",
    "domain": "natural_science",
    "question": "Какая планета ближе всего к Солнцу?",
    "options": {"A": "Меркурий", "B": "Венера", "C": "Марс", "D": "Земля"},
    "gold": "A",
}


def test_messages_contain_question_and_all_options():
    msgs = build_messages(Q, PromptSettings(template=DEFAULT_TEMPLATE))
    assert [m["role"] for m in msgs] == ["user"]
    text = msgs[0]["content"]
    assert "«Астрономия»" in text and Q["question"] in text
    for letter, option in Q["options"].items():
        assert f"{letter}) {option}" in text


def test_system_prompt_is_optional():
    msgs = build_messages(Q, PromptSettings(template="{question}", system="Ты эксперт."))
    assert msgs == [
        {"role": "system", "content": "Ты эксперт."},
        {"role": "user", "content": Q["question"]},
    ]


def test_completion_wraps_reasoning_and_ends_with_canonical_answer():
    assert build_completion("  шаг 1\nшаг 2 ", "C") == "<think>\nшаг 1\nшаг 2\n</think>\n\nОтвет: C"


def test_completion_without_think_tags_is_plain_reasoning_the_extractor_reads():
    text = build_completion("  шаг 1: не A\nшаг 2 ", "C", think=False)
    assert text == "шаг 1: не A\nшаг 2\n\nОтвет: C"
    assert extract_answer(text) == "C"
    assert split_reasoning(text) == ("шаг 1: не A\nшаг 2", "Ответ: C")


def test_only_templates_that_handle_think_tags_get_them():
    assert thinks_in_tags(chat_template("qwen3.jinja"))
    assert not thinks_in_tags(chat_template("llama3.jinja"))
    assert not thinks_in_tags(None)
    assert thinks_in_tags({"default": chat_template("qwen3.jinja"), "tool_use": ""})


def test_subject_name_falls_back_to_key():
    q = {k: v for k, v in Q.items() if k != "subject_name"}
    assert "astronomy" in build_messages(q, PromptSettings(template="{subject_name}"))[0]["content"]


def test_a_completion_splits_and_recasts_in_either_family_format():
    from cmoe.core.prompting import build_completion, recast_completion, split_completion

    tagged = build_completion(" Сначала A.\n\nПотом B. ", "B", think=True)
    plain = build_completion(" Сначала A.\n\nПотом B. ", "B", think=False)
    assert (
        split_completion(tagged)
        == split_completion(plain)
        == ("Сначала A.\n\nПотом B.", "Ответ: B")
    )
    assert recast_completion(plain, think=True) == tagged
    assert recast_completion(tagged, think=False) == plain
    assert recast_completion(tagged, think=True) == tagged
    # an extra source's chat turn without the separator is left as it is
    assert split_completion("Привет") is None and recast_completion("Привет", True) == "Привет"
