"""The one answer extractor, used by trace filtering and by evaluation alike.

A model's answer is read, never guessed: if no explicit answer marker or final bare letter is
found, the result is ``None`` and the record counts as unparseable.
"""

from __future__ import annotations

import re

# Cyrillic capitals that look like Latin answer letters; Russian models often emit them.
_LOOKALIKES = str.maketrans({"А": "A", "В": "B", "С": "C"})
_LETTER = r"[ABCDАВС]"
_NOT_WORD = r"(?![0-9A-Za-zА-Яа-яЁё])"
_DECOR = r"[\s*_`\"«»“”'\(\[]*"

# "Ответ: B", "**Ответ:** (B)", "Правильный ответ — B", "Answer: (B)", "Correct answer is B",
# "Правильный вариант: B". The keyword is case-insensitive; the letter must be a capital,
# because a lowercase Cyrillic "в"/"с" after "ответ" is a preposition, not an answer.
_MARKED = re.compile(
    r"(?i:ответ(?:ом)?|answer|вариант)"
    r"[\s*_`]*(?:[:：=]|—|–|-|\s(?i:это|будет|is))?"
    + _DECOR
    + r"(?:(?i:вариант|option)\s*)?"
    + rf"({_LETTER}){_NOT_WORD}"
)
# A last line made of one letter and decoration only: "B", "(B)", "**B.**", "B)".
_BARE_LAST_LINE = re.compile(rf"^[\s*_`\"«»\(\[]*({_LETTER})[\s*_`\"«»\.\)\]:]*$")

_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def split_reasoning(text: str) -> tuple[str, str]:
    """Split a model output into (reasoning, final part).

    With ``<think>…</think>`` the reasoning is inside the tags and the final part follows them.
    Without tags (e.g. Llama teachers) the reasoning is everything before the last answer marker.
    """
    match = _THINK.search(text)
    if match:
        return match.group(1).strip(), text[match.end() :].strip()
    if "<think>" in text:  # opened but never closed: the model ran out of tokens while thinking
        return text.split("<think>", 1)[1].strip(), ""
    markers = list(_MARKED.finditer(text))
    if markers:
        start = text.rfind("\n", 0, markers[-1].start()) + 1
        return text[:start].strip(), text[start:].strip()
    return text.strip(), ""


def extract_answer(text: str | None) -> str | None:
    """Return the answer letter A-D from a model output, or None if there is none."""
    if not text:
        return None
    # With a think block only the text after it counts: a letter the model considered while
    # reasoning (or one inside unfinished reasoning) is not its answer.
    scope = split_reasoning(text)[1] if "<think>" in text else text
    found = _MARKED.findall(scope)
    if found:
        return found[-1].translate(_LOOKALIKES)
    lines = [line for line in scope.splitlines() if line.strip()]
    if lines:
        bare = _BARE_LAST_LINE.match(lines[-1])
        if bare:
            return bare.group(1).translate(_LOOKALIKES)
    return None


def format_final_answer(letter: str) -> str:
    """The canonical final line that students are trained to produce."""
    return f"Ответ: {letter}"
