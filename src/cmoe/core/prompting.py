"""The one prompt builder: a question record -> chat messages, shared by generation and eval."""

from __future__ import annotations

from dataclasses import dataclass

from .answers import format_final_answer
from .domains import DOMAINS
from .settings import Settings, setting

DEFAULT_TEMPLATE = (
    "Ответь на вопрос по теме «{subject_name}».\n\n{question}\n\n"
    "A) {A}\nB) {B}\nC) {C}\nD) {D}\n\n"
    "Рассуждай шаг за шагом. В последней строке напиши ответ в формате «Ответ: X», "
    "где X — одна из букв A, B, C, D."
)


@dataclass
class PromptSettings(Settings):
    """The `prompt` section."""

    template: str = setting(
        DEFAULT_TEMPLATE,
        "the user message. Placeholders: `{question}`, `{A}` `{B}` `{C}` `{D}`, `{subject}` "
        "(MMLU key), `{subject_name}` (MERA's Russian subject name), `{domain}`. An unknown "
        "placeholder is a config error.",
        required=True,
        minLength=1,
        doc_default="–",
    )
    system: str | None = setting(None, "optional system message")
    enable_thinking: bool = setting(
        True,
        "Qwen3's thinking switch, passed to the chat template; templates without it ignore it",
    )


# KARD: retrieved passages go into the student's prompt under this header, one per line (the
# paper's "Knowledge: ..."), before the question unless the template places `{knowledge}` itself.
KNOWLEDGE_HEADER = "Знания: "


def knowledge_block(question: dict) -> str:
    """The prompt's knowledge block for a record with a ``knowledge`` list ("" without one)."""
    passages = question.get("knowledge") or []
    return KNOWLEDGE_HEADER + "\n".join(p["text"] for p in passages) if passages else ""


def template_fields(question: dict) -> dict[str, str]:
    fields = {
        "knowledge": knowledge_block(question),
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
    fields = template_fields(question)
    content = prompt.template.format_map(fields)
    if fields["knowledge"] and "{knowledge}" not in prompt.template:
        content = f"{fields['knowledge']}\n\n{content}"
    messages.append({"role": "user", "content": content})
    return messages


def fit_knowledge(record: dict, length, budget: int) -> tuple[dict, dict]:
    """``record`` with its knowledge cut until ``length(record) <= budget`` tokens.

    Passages go first, lowest-ranked first; the last one left is then cut word by word (binary
    search on its length); if the prompt is still too long without any, none is kept. Returns the
    record and what was cut: {"passages_dropped", "passages_cut"} (counts of this record).
    """
    passages = list(record.get("knowledge") or [])
    stats = {"passages_dropped": 0, "passages_cut": 0}
    if not passages or length(record) <= budget:
        return record, stats
    while len(passages) > 1:
        passages.pop()
        stats["passages_dropped"] += 1
        if length({**record, "knowledge": passages}) <= budget:
            return {**record, "knowledge": passages}, stats
    words = passages[0]["text"].split()
    lo, hi = 0, len(words) - 1  # the longest prefix that fits, by binary search
    while lo < hi:
        mid = (lo + hi + 1) // 2
        cut = [{**passages[0], "text": " ".join(words[:mid])}]
        if length({**record, "knowledge": cut}) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        stats["passages_dropped"] += 1
        return {**record, "knowledge": []}, stats
    stats["passages_cut"] += 1
    return {**record, "knowledge": [{**passages[0], "text": " ".join(words[:lo])}]}, stats


def fit_all_knowledge(records, length, budget: int, unit: str) -> tuple[list[dict], dict]:
    """:func:`fit_knowledge` over ``records``, with the counts summed: how many ``unit``s (e.g.
    "examples", "questions") carried knowledge, how many were cut, and the passages dropped and
    cut."""
    totals = {f"{unit}_with_knowledge": 0, f"{unit}_cut": 0}
    out = []
    for record in records:
        if record.get("knowledge"):
            totals[f"{unit}_with_knowledge"] += 1
            record, stats = fit_knowledge(record, length, budget)
            totals[f"{unit}_cut"] += any(stats.values())
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
        out.append(record)
    return out, totals


def build_completion(reasoning: str, letter: str, think: bool = True) -> str:
    """The assistant turn a student is trained on: the teacher's reasoning, then the answer.

    With ``think`` (a family whose chat template handles reasoning, see :func:`thinks_in_tags`)
    the reasoning goes inside <think> tags, Qwen3's format; otherwise (Llama 3) it is plain text
    before the answer, which the answer extractor reads the same way. The final line is always the
    canonical one, whatever phrasing the teacher used.
    """
    return _join_completion(reasoning.strip(), format_final_answer(letter), think)


def _join_completion(reasoning: str, answer: str, think: bool) -> str:
    if think:
        return f"<think>\n{reasoning}\n</think>\n\n{answer}"
    return f"{reasoning}\n\n{answer}"


def split_completion(content: str) -> tuple[str, str] | None:
    """The (reasoning, final line) of a completion :func:`build_completion` wrote, in either
    format; None for another text (an extra source's chat turn)."""
    reasoning, sep, answer = content.rpartition("\n\n")
    if not sep or not reasoning:
        return None
    if reasoning.startswith("<think>\n") and reasoning.endswith("\n</think>"):
        reasoning = reasoning[len("<think>\n") : -len("\n</think>")]
    return reasoning, answer


def recast_completion(content: str, think: bool) -> str:
    """A completion rewritten in the other family's format (reasoning in <think> tags or not):
    how a teacher of another family reads a student's training text (cross-vocabulary KD)."""
    parts = split_completion(content)
    return content if parts is None else _join_completion(*parts, think)


def thinks_in_tags(chat_template: str | dict | None) -> bool:
    """Whether a tokenizer's chat template handles reasoning in <think> tags (Qwen3's splits them
    out of an assistant turn and has an ``enable_thinking`` switch); Llama 3's has no such tags,
    and a model of that family would be taught tags its template never shows it."""
    if isinstance(chat_template, dict):  # named templates: the one apply_chat_template uses
        chat_template = chat_template.get("default")
    return "</think>" in (chat_template or "")


def check_template(template: str) -> None:
    """Raise KeyError/ValueError now (at config validation) for an unknown placeholder."""
    sample = {
        "knowledge": [{"text": "k"}],
        "question": "q",
        "subject": "s",
        "subject_name": "s",
        "domain": "other",
        "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
    }
    template.format_map(template_fields(sample))


# --- the chat template, as every local model applies it ---------------------------------------

# A seq2seq model reads its prompt as plain text: the messages' contents, one after another.
# Its tokenizer carries this as its chat template, so every caller renders prompts the same way.
PLAIN_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if not loop.first -%}{{- '\n\n' -}}{%- endif -%}"
    "{{- message['content'] -}}"
    "{%- endfor -%}"
)


def render_chat(tokenizer, messages: list[dict], enable_thinking: bool) -> str:
    # Extra template variables are ignored by templates that do not use them (e.g. Llama's).
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking
    )


def end_of_turn(tokenizer) -> str | None:
    """The special token that closes an assistant turn in the tokenizer's chat template (Qwen3's
    ``<|im_end|>``, Llama 3's ``<|eot_id|>``), or None where the template shows none.

    Generation stops on it even where a checkpoint's ``eos_token`` is another token (a base
    model's tokenizer with an instruct template): it is what the model learned to end turns with.
    """
    from jinja2 import TemplateError

    marker = "END-OF-ANSWER"
    messages = [{"role": "user", "content": "?"}, {"role": "assistant", "content": marker}]
    try:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    except (TemplateError, ValueError):  # no finished turn to render: no end to stop on
        return None
    if marker not in rendered:
        return None
    ids = tokenizer(rendered.split(marker, 1)[1], add_special_tokens=False)["input_ids"]
    # a special added token, named or not (Llama 3's <|eot_id|> is neither eos nor "additional"
    # in a base model's tokenizer)
    token = tokenizer.added_tokens_decoder.get(ids[0]) if ids else None
    return token.content if token is not None and token.special else None
