"""How well the answer extractor reads varied final answers, on lines generated right here.

Every line is built deterministically from templates × letters × decorations, with a known gold
letter, or ``None`` where there is no answer to read (no letter at all, a lowercase Cyrillic
preposition, two letters listed as the answer). Reports per category how many lines were read,
read correctly and read wrongly (a letter different from gold, or a letter where there is none),
and lists the wrongly read lines.

    python perf/bench_answers.py                          # cmoe.core.answers
    git show HEAD:src/cmoe/answers.py > /tmp/answers_old.py
    python perf/bench_answers.py --module /tmp/answers_old.py
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from itertools import combinations, permutations

LETTERS = "ABCD"
OPTIONS = {"A": "Москва", "B": "Венера", "C": "кислород", "D": "1812 год"}
CYRILLIC = {"A": "А", "B": "В", "C": "С"}  # look-alike capitals; D has none

# "@" is the letter as the model wrote it, "#" its option text.
MARKERS = [
    "Ответ: @",
    "**Ответ:** @",
    "**Ответ: @**",
    "Правильный ответ — @",
    "Итак, правильный ответ: @",
    "Правильный вариант: @",
    "Answer: @",
    "The correct answer is @",
]
DECORATIONS = ["@", "(@)", "@)", "@.", "**@**", "@) #"]
BOXED = [
    "\\boxed{@}",
    "Ответ: \\boxed{@}",
    "$\\boxed{@}$",
    "\\(\\boxed{@}\\)",
    "\\[\\boxed{@}\\]",
    "\\boxed{\\text{@}}",
    "\\boxed{@)}",
    "\\boxed{\\textbf{(@)}}",
    "**Ответ:** $\\boxed{@}$",
    "Таким образом, окончательный ответ: $\\boxed{@}$.",
]
LOWERCASE_LATIN = [
    "Ответ: @",
    "Answer: @",
    "Ответ: (@)",
    "**Ответ:** @",
    "Ответ: @.",
    "Ответ: @) #",
    "The correct answer is @",
]
LOOKALIKES = [
    "Ответ: @",
    "**Ответ:** (@)",
    "Итак, ответ — @.",
    "Ответ: @) #",
    "Правильный ответ: **@**",
]
BARE = ["Рассуждения окончены.\n@", "Рассуждения окончены.\n(@)", "Итог.\n**@.**", "Итог.\n@)"]
# "1" and "2" are two different letters; the gold is the last one, stated on a later line.
LATER_LINE = [
    "Ответ: 1\nПроверка… нет, ошибся.\nОтвет: 2",
    "Сначала думал, что 1.\nНо это не так.\n**Ответ:** 2",
    "\\boxed{1}\nПерепроверим.\n\\boxed{2}",
    "<think>\nДумаю, что ответ: 1.\n</think>\n\n$\\boxed{2}$",
]
# Two letters listed as the answer on one line: ambiguous, no answer to read.
LISTED = [
    "Ответ: 1 или 2",
    "Ответ: 1, 2",
    "Answer: 1 or 2",
    "Ответ: 1/2",
    "Ответ: 1 и 2",
    "\\boxed{1, 2}",
    "\\boxed{1} или \\boxed{2}",
]
# Two letters on one line where a reader still picks one (the gold, always "2"): the extractor
# may read it or leave it unread, but must not read "1".
ONE_LINE_PICK = [
    "Правильный ответ — 2, а не 1",
    "Ответ: 2, потому что 1 неверно",
    "Ответ: 2 (вариант 1 неверен)",
    "Ответ: 1. Нет, ответ: 2",
]
NO_ANSWER = [
    "Не знаю.",
    "Сложный вопрос, нужно подумать ещё.",
    "Ответ: Вода",
    "Ответ: 42",
    "\\boxed{42}",
    "$\\boxed{x = 3}$",
    "Варианты A и B неверны, остаются другие",
    "Ответ: невозможно определить",
    "Answer: none of the above",
    "The answer is a tree",
    "<think>думаю, что ответ: A",
    "<think>Ответ: B</think>",
    "Ответ: ?",
    # an uppercase Cyrillic capital opening a word after the marker
    "Ответ: В данном случае все варианты неверны",
    "Ответ: С учётом условия — ни один",
]
LOWERCASE_CYRILLIC = [
    "Ответ: в",
    "Ответ: с",
    "Ответ: а",
    "Ответ: в данном случае все варианты неверны",
    "ответ: с учётом условия задачи — никакой",
    "Ответ: а также все остальные",
    "**Ответ:** в зависимости от условия",
    "Правильный ответ — в учебнике",
    "Ответ: с одной стороны, да",
]


def _fill(template: str, written: str, gold: str) -> str:
    return template.replace("#", OPTIONS[gold]).replace("@", written)


def cases() -> list[tuple[str, str, str | None]]:
    """(category, text, gold letter or None), in a fixed order."""
    out: list[tuple[str, str, str | None]] = []
    for marker in MARKERS:
        for decoration in DECORATIONS:
            for g in LETTERS:
                text = _fill(marker.replace("@", decoration), g, g)
                out.append(("marker × decoration", text, g))
    for template in BOXED:
        out += [("boxed", _fill(template, g, g), g) for g in LETTERS]
    for template in LOWERCASE_LATIN:
        out += [("lowercase Latin", _fill(template, g.lower(), g), g) for g in LETTERS]
    for template in LOOKALIKES:
        out += [
            ("Cyrillic look-alike А/В/С", _fill(template, c, g), g) for g, c in CYRILLIC.items()
        ]
    for template in BARE:
        out += [("bare last line", _fill(template, g, g), g) for g in LETTERS]
    for template in LATER_LINE:
        for first, last in permutations(LETTERS, 2):
            text = template.replace("1", first).replace("2", last)
            out.append(("two letters, later line wins", text, last))
    for template in LISTED:
        for first, second in combinations(LETTERS, 2):
            text = template.replace("1", first).replace("2", second)
            out.append(("two letters listed (no answer)", text, None))
    for template in ONE_LINE_PICK:
        for first, last in combinations(LETTERS, 2):
            text = template.replace("1", first).replace("2", last)
            out.append(("two letters on one line, reader picks", text, last))
    out += [("no answer", text, None) for text in NO_ANSWER]
    out += [("lowercase Cyrillic в/с/а (no answer)", text, None) for text in LOWERCASE_CYRILLIC]
    return out


def load_extractor(path: str | None) -> Callable[[str], str | None]:
    if path is None:
        from cmoe.core.answers import extract_answer

        return extract_answer
    spec = importlib.util.spec_from_file_location("answers_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.extract_answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module",
        help="path of an answers.py to measure instead of cmoe.core.answers",
        default=None,
    )
    args = parser.parse_args()
    extract = load_extractor(args.module)

    rows: dict[str, list[int]] = {}  # category -> [lines, with gold, read, correct, wrong]
    wrong: list[tuple[str, str, str | None, str]] = []
    for category, text, gold in cases():
        got = extract(text)
        row = rows.setdefault(category, [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += gold is not None
        if got is not None:
            row[2] += 1
            row[3] += got == gold
            if got != gold:
                row[4] += 1
                wrong.append((category, text, gold, got))

    print(f"extractor: {args.module or 'cmoe.core.answers'}\n")
    print("| category | lines | gold letter | read | read correctly | read wrongly | missed |")
    print("|---|---|---|---|---|---|---|")
    total = [0, 0, 0, 0, 0]
    for category, row in rows.items():
        total = [t + r for t, r in zip(total, row, strict=True)]
        print(f"| {category} | " + " | ".join(map(str, row)) + f" | {row[1] - row[3]} |")
    print(
        "| **all** | " + " | ".join(f"**{t}**" for t in total) + f" | **{total[1] - total[3]}** |"
    )
    print("\n'missed': lines with a gold letter that were not read correctly.")
    print(f"\nwrongly read ({len(wrong)}):")
    for category, text, gold, got in wrong:
        print(f"  [{category}] {text!r}: gold {gold}, read {got}")


if __name__ == "__main__":
    main()
