import pytest

from cmoe.core.answers import extract_answer, split_reasoning

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
    ("Ответ: В, потому что остальные неверны", "B"),
    ("Ответ: С — кислород", "C"),
    ("Answer: В is correct", "B"),
    ("Ответ: вариант С верен", "C"),  # after "вариант" a look-alike names an option
    ("Вариант В верен", "B"),
    ("Ответ: В является верным", "B"),
    ("Ответ: В этом случае правильный вариант C", "C"),  # "В этом": a preposition
    # ... but a look-alike before a Russian word or a number is that word, never an answer
    ("Ответ: В Москве", None),
    ("Ответ: С учётом условия, B", None),
    ("Ответ: А также D", None),
    ("Ответ: В 1945 году", None),
    # look-alikes of letters that name no option
    ("Ответ: Е", None),
    ("Ответ: Н", None),
    # LaTeX boxed answers (Qwen-family final form)
    ("Ответ: \\boxed{B}", "B"),
    ("\\boxed{B}", "B"),
    ("$\\boxed{B}$", "B"),
    ("\\(\\boxed{C}\\)", "C"),
    ("\\[\\boxed{D}\\]", "D"),
    ("\\boxed{\\text{B}}", "B"),
    ("\\boxed{\\textbf{(C)}}", "C"),
    ("\\boxed{B)}", "B"),
    ("\\boxed{b}", "B"),
    ("\\boxed{В}", "B"),
    ("Рассуждения...\n\n**Ответ:** $\\boxed{A}$", "A"),
    ("<think>\nможет, \\boxed{A}\n</think>\n\n\\boxed{D}", "D"),
    ("\\boxed{42}", None),
    ("\\boxed{в}", None),
    # lowercase Latin letters after a marker
    ("Ответ: b", "B"),
    ("Answer: b", "B"),
    ("Ответ: (b)", "B"),
    ("**Ответ:** c", "C"),
    ("Ответ: d.", "D"),
    ("Ответ: a) Москва", "A"),
    ("The correct answer is d", "D"),
    # ...but a lowercase Latin word or article is not a letter
    ("The answer is a tree", None),
    # lowercase Cyrillic в/с/а after a marker: prepositions and conjunctions, never read
    ("Ответ: в", None),
    ("Ответ: с", None),
    ("Ответ: а", None),
    ("Ответ: в данном случае все варианты верны", None),
    ("**Ответ:** а также другие", None),
    # several statements: the last line with one decides; two letters on it are ambiguous
    ("Ответ: A\n\\boxed{B}", "B"),
    ("\\boxed{A}\nПерепроверим.\nОтвет: C", "C"),
    ("Ответ: B\n\n$\\boxed{B}$", "B"),
    ("Ответ: B \\boxed{B}", "B"),
    ("Ответ: B, а не C", "B"),
    ("Ответ: B, потому что C неверно", "B"),
    ("Ответ: A или B", None),
    ("Ответ: A, B", None),
    ("Answer: A or B", None),
    ("Ответ: A/B", None),
    ("Ответ: (В) и (С)", None),
    ("\\boxed{A, B}", None),
    ("\\boxed{A \\text{ или } B}", None),
    ("\\boxed{A} или \\boxed{B}", None),
    ("Ответ: A. Нет, ответ: B", None),
    ("Правильный ответ — B, а не вариант A", None),
    ("Ответ: A или B\nОтвет: B", "B"),
    # options dismissed before (or after) the answer on the same line are not statements
    ("Вариант A неверен, вариант B неверен. Ответ: D", "D"),
    ("… вариант B неверен … Ответ: D", "D"),
    ("Рассуждаем.\nВариант B неверен, вариант C тоже не подходит, поэтому ответ: D", "D"),
    ("Вариант B — неправильный. Ответ: (D)", "D"),
    ("Ответ: D, вариант B ошибочен", "D"),
    ("Option A is incorrect, option B is wrong. Answer: C", "C"),
    ("Вариант А не верен; \\boxed{C}", "C"),
    ("Вариант B неверен.", None),  # a rejected option is not the answer
    ("Вариант B неверен, вариант C неверен", None),
    # ... but only a word right after the letter dismisses it
    ("Ответ: B, исключая остальные варианты", "B"),
    ("Ответ: B исключительно по определению", "B"),
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
    assert len({text for text, _ in CASES}) == len(CASES)
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


def test_split_reasoning_without_tags_cuts_at_last_boxed():
    reasoning, final = split_reasoning("Шаг 1.\nОтвет: A?\nШаг 2.\n$\\boxed{B}$")
    assert reasoning == "Шаг 1.\nОтвет: A?\nШаг 2."
    assert final == "$\\boxed{B}$"
