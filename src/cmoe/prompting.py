"""The one prompt builder: a question record -> chat messages, shared by generation and eval."""

from __future__ import annotations

from dataclasses import dataclass

from .answers import format_final_answer
from .domains import DOMAINS

DEFAULT_TEMPLATE = (
    "Ответь на вопрос по теме «{subject_name}».\n\n{question}\n\n"
    "A) {A}\nB) {B}\nC) {C}\nD) {D}\n\n"
    "Рассуждай шаг за шагом. В последней строке напиши ответ в формате «Ответ: X», "
    "где X — одна из букв A, B, C, D."
)


@dataclass
class PromptSettings:
    template: str = DEFAULT_TEMPLATE
    system: str | None = None
    enable_thinking: bool = True


def template_fields(question: dict) -> dict[str, str]:
    fields = {
        "question": question["question"],
        "subject": question["subject"],
        "subject_name": question.get("subject_name") or question["subject"].replace("_", " "),
        "domain": DOMAINS.get(question["domain"], question["domain"]),
        **question["options"],
    }
    return fields


def build_messages(question: dict, prompt: PromptSettings) -> list[dict[str, str]]:
    messages = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    messages.append(
        {"role": "user", "content": prompt.template.format_map(template_fields(question))}
    )
    return messages


def build_completion(reasoning: str, letter: str) -> str:
    """The assistant turn a student is trained on: the teacher's reasoning, then the answer.

    Reasoning goes inside <think> tags (Qwen3's format, also used by the tiny demo models), and
    the final line is always the canonical one, whatever phrasing the teacher used.
    """
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{format_final_answer(letter)}"


def check_template(template: str) -> None:
    """Raise KeyError/ValueError now (at config validation) for an unknown placeholder."""
    sample = {
        "question": "q",
        "subject": "s",
        "subject_name": "s",
        "domain": "other",
        "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
    }
    template.format_map(template_fields(sample))
