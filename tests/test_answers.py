import pytest

from cmoe.answers import extract_answer, split_reasoning

CASES = [
    # explicit markers, Russian and English
    ("Ответ: B", "B"),
    ("Ответ: (B)", "B"),
    ("Ответ:B", "B"),
    ("ответ: C", "C"),
    ("ОТВЕТ: D", "D"),
    ("Answer: (B)", "B"),
    ("Answer: A", "A"),
    ("The correct answer is C.", "C"),
    ("**Ответ:** B", "B"),
    ("**Ответ: B**", "B"),
    ("Правильный ответ — B", "B"),
    ("Правильный ответ - D.", "D"),
    ("Правильный ответ: **(D)**", "D"),
    ("Итак, правильный вариант: C", "C"),
    ("Ответ: B) Венера", "B"),
    ("Ответ: «A»", "A"),
    ("Сначала думал про A.\nНо нет.\nОтвет: D", "D"),
    ("Ответ: A\nПроверка... нет, ошибся.\nОтвет: C", "C"),
    # Cyrillic look-alikes
    ("Ответ: А", "A"),
    ("Ответ: В", "B"),
    ("Ответ: С", "C"),
    ("**Ответ:** (В)", "B"),
    ("Итак, ответ — С.", "C"),
    # final bare letter
    ("Рассуждаем шаг за шагом.\nB", "B"),
    ("Рассуждения\n\n(C)", "C"),
    ("Рассуждения\n**A**", "A"),
    ("Рассуждения\nD.", "D"),
    ("Рассуждения\nВ", "B"),
    # think blocks: only the part after </think> counts
    ("<think>\nДумаю, что A.\n</think>\n\nОтвет: C", "C"),
    ("<think>Ответ: A вроде</think>\n\nB", "B"),
    # no answer: unparseable, never guessed
    ("", None),
    ("Не знаю.", None),
    ("Ответ: в этом случае все варианты неверны", None),
    ("ответ: с учётом условия задачи", None),
    ("Ответ: Вода", None),
    ("Answer: b", None),
    ("<think>думаю, что A", None),
    ("<think>Ответ: A</think>", None),
    ("Варианты A и B неверны, остаются другие", None),
    ("Ответ: 42", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_case_count_meets_spec():
    assert len(CASES) >= 30
    assert sum(e is None for _, e in CASES) >= 5


def test_none_input():
    assert extract_answer(None) is None


def test_split_reasoning_with_think_tags():
    reasoning, final = split_reasoning("<think>\nшаг 1\nшаг 2\n</think>\n\nОтвет: B")
    assert reasoning == "шаг 1\nшаг 2"
    assert final == "Ответ: B"


def test_split_reasoning_without_tags_cuts_at_last_marker():
    reasoning, final = split_reasoning("Шаг 1.\nШаг 2.\n**Ответ:** C")
    assert reasoning == "Шаг 1.\nШаг 2."
    assert final == "**Ответ:** C"


def test_split_reasoning_unfinished_think():
    assert split_reasoning("<think>долго думаю") == ("долго думаю", "")
