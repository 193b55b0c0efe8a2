"""The one answer extractor, used by trace filtering and by evaluation alike.

A model's answer is read, never guessed: if no explicit answer statement or final bare letter is
found, the result is ``None`` and the record counts as unparseable.

An *answer statement* is a marker followed by a letter ("Ответ: B", "**Answer:** (b)",
"Правильный ответ — B)") or a LaTeX box holding a letter (``\\boxed{B}``, ``$\\boxed{\\text{B}}$``,
the usual final form of Qwen-family reasoning models). When there are several:

- the statement on the last line that has one decides (a self-correction on a later line wins:
  "Ответ: A" … "Ответ: C" reads C);
- if that line names two different letters, the answer is ambiguous and reads ``None``: a
  statement listing letters ("Ответ: A или B", "Answer: A, B", ``\\boxed{A, B}``), or two
  statements that disagree ("Ответ: B, а не вариант A", "Ответ: A. Нет, ответ: B").

A marker and letter that the text then dismisses ("вариант B неверен", "option C is wrong") name
a rejected option, not a statement: "Вариант B неверен. Ответ: D" reads D, and a lone
"Вариант B неверен." reads ``None``.
"""

from __future__ import annotations

import re

# The Cyrillic capitals that look like the Latin answer letters A-D (there is none for D);
# Russian models often emit them. Е, Н and the like look like Latin letters that name no option.
_LOOKALIKES = str.maketrans({"А": "A", "В": "B", "С": "C"})
_NOT_WORD = r"(?![0-9A-Za-zА-Яа-яЁё])"
# A look-alike followed on its line by a Russian word or a number is the preposition or the
# conjunction it spells ("В этом случае", "С учётом", "А также", "В 1945 году"), unless the word
# says what an answer letter is ("В является верным", "С подходит").
_CYRILLIC_WORD = r"(?![ \t]+(?!(?i:является|подходит)(?![А-Яа-яЁё]))[0-9А-Яа-яЁё])"
# An answer letter: a capital (Latin, or a Cyrillic look-alike that is not a word as above)
# that does not start a word ("Вода"), or a lowercase Latin one that stands alone (closed by a
# bracket or a full stop, or last on its line), so the English article in "the answer is a
# tree" is not read. A lowercase Cyrillic "в"/"с"/"а" is never read: after "ответ" it is a
# preposition or a conjunction, and in "а) б) в) г)" numbering "в)" is the third option, not B.
_LOWER = r"[abcd](?=[\)\]]|\.(?!\S)|[ \t*_`\"»”'!?;:]*$)"
_LETTER = rf"(?:[ABCD]{_NOT_WORD}|[АВС]{_NOT_WORD}{_CYRILLIC_WORD}|{_LOWER})"
# After "вариант"/"option" a look-alike names an option even before a word ("вариант В верен").
_OPTION_LETTER = rf"(?:[ABCDАВС]{_NOT_WORD}|{_LOWER})"
_DECOR = r"[\s*_`\"«»“”'\(\[]*"
_SEPARATOR = r"[\s*_`]*(?:[:：=]|—|–|-|\s(?i:это|будет|is))?" + _DECOR

# "Ответ: B", "**Ответ:** (B)", "Правильный ответ — B", "Answer: (b)", "Correct answer is C",
# "Ответ: вариант В", "Правильный вариант: B". The keyword is case-insensitive. The letter is
# the one group that matched (``m.lastindex``): after "ответ"/"answer", or after an option word.
_MARKED = re.compile(
    r"(?:(?i:ответ(?:ом)?|answer)"
    + _SEPARATOR
    + rf"(?:({_LETTER})|(?i:вариант|option)\s*({_OPTION_LETTER}))"
    + r"|(?i:вариант)"
    + _SEPARATOR
    + rf"({_OPTION_LETTER}))",
    re.M,
)
# A letter the text goes on to dismiss ("вариант B неверен", "вариант C — тоже не подходит",
# "option A is incorrect"): a statement followed by this names a rejected option, not the answer.
# Only a word right after the letter dismisses it ("Ответ: B, исключая остальные" reads B).
_DISMISSED = re.compile(
    r"[ \t*_`\"»”'\)\]]*(?:[—–:-][ \t]*)?"
    r"(?:(?i:тоже|также|явно|точно|очевидно|also|clearly)\s+)?"
    r"(?i:не\s*вер|неправил|ошибоч|не\s+подход|не\s+явля|отпада|исключ(?!ительн)|отбрас"
    r"|incorrect|wrong|is\s+not|can\s*not|cannot)"
)
# \boxed{...} with up to two levels of braces inside (\boxed{\text{B}}).
_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}")
_LATEX_TEXT = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit)\s*\{([^{}]*)\}")
_BOX_LETTER = re.compile(rf"[\s*\(\[]*({_LETTER})", re.M)
# A second letter listed right after the first, on the same line: "A или B", "A, B", "A/B".
_ALSO = re.compile(
    r"[ \t*_`\"»”'.\)\]]*"
    r"(?:[,/;&]|(?<=\s)(?i:или|либо|or|and|и)(?=\s))"
    r"[ \t*_`\"«»“”'\(\[]*"
    rf"({_LETTER})",
    re.M,
)
# A last line made of one letter and decoration only: "B", "(B)", "**B.**", "B)".
_BARE_LAST_LINE = re.compile(r"^[\s*_`\"«»\(\[]*([ABCDАВС])[\s*_`\"«»\.\)\]:]*$")

_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def _normal(letter: str) -> str:
    return letter.translate(_LOOKALIKES).upper()


def _statements(text: str) -> list[tuple[int, str | None]]:
    """Answer statements in ``text`` as (start, letter), in order; letter None if it lists two."""
    found = []
    for m in _MARKED.finditer(text):
        end = m.end(m.lastindex)  # the letter's group: the only one that matched
        if _DISMISSED.match(text, end):  # "вариант B неверен": a rejected option
            continue
        also = _ALSO.match(text, end)
        letters = {_normal(m.group(m.lastindex))} | ({_normal(also.group(1))} if also else set())
        found.append((m.start(), letters.pop() if len(letters) == 1 else None))
    for m in _BOXED.finditer(text):
        content = m.group(1)
        while True:  # \text{\textbf{B}} -> B
            plain = _LATEX_TEXT.sub(r"\1", content)
            if plain == content:
                break
            content = plain
        first = _BOX_LETTER.match(content)
        if not first:  # \boxed{42}: not an answer letter
            continue
        also = _ALSO.match(content, first.end(1))
        letters = {_normal(first.group(1))} | ({_normal(also.group(1))} if also else set())
        found.append((m.start(), letters.pop() if len(letters) == 1 else None))
    return sorted(found)


def split_reasoning(text: str) -> tuple[str, str]:
    """Split a model output into (reasoning, final part).

    With ``<think>…</think>`` the reasoning is inside the tags and the final part follows them.
    Without tags (e.g. Llama teachers) the reasoning is everything before the line of the last
    answer statement.
    """
    match = _THINK.search(text)
    if match:
        return match.group(1).strip(), text[match.end() :].strip()
    if "<think>" in text:  # opened but never closed: the model ran out of tokens while thinking
        return text.split("<think>", 1)[1].strip(), ""
    statements = _statements(text)
    if statements:
        start = text.rfind("\n", 0, statements[-1][0]) + 1
        return text[:start].strip(), text[start:].strip()
    return text.strip(), ""


def extract_answer(text: str | None) -> str | None:
    """Return the answer letter A-D from a model output, or None if there is none."""
    if not text:
        return None
    # With a think block only the text after it counts: a letter the model considered while
    # reasoning (or one inside unfinished reasoning) is not its answer.
    scope = split_reasoning(text)[1] if "<think>" in text else text
    statements = _statements(scope)
    if statements:
        line_start = scope.rfind("\n", 0, statements[-1][0]) + 1
        letters = {letter for start, letter in statements if start >= line_start}
        return letters.pop() if len(letters) == 1 else None  # {None} or two letters: ambiguous
    lines = [line for line in scope.splitlines() if line.strip()]
    if lines:
        bare = _BARE_LAST_LINE.match(lines[-1])
        if bare:
            return _normal(bare.group(1))
    return None


def format_final_answer(letter: str) -> str:
    """The canonical final line that students are trained to produce."""
    return f"Ответ: {letter}"
