"""What KARD retrieves with: the rationale (training) or the question (inference)."""

from __future__ import annotations


def question_query(record: dict) -> str:
    """A question as a query: its text and its options (KARD's questions carry their options)."""
    options = record.get("options") or {}
    return " ".join([record["question"], *(options[k] for k in sorted(options))])


def rationale_query(record: dict) -> str:
    """A trace's rationale as a query: the teacher's reasoning."""
    return record["reasoning"]
