"""A question source parsed without writing a split: the rows the tests look at."""

from __future__ import annotations

from cmoe.data.questions import DataSettings, _load_rows


def load_questions(settings: DataSettings, subject_domains: dict[str, str]):
    """Parse every row of ``settings.source``; returns (questions, bad_row_messages). An exact
    repeat of an earlier row (same meta.id, same content) is dropped, as the data stage does."""
    questions, bad, _ = _load_rows(settings, subject_domains)
    return questions, bad
