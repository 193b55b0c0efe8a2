"""How a teacher of another family reads a student's training text, and which pieces of it both
sides spell. The two families frame reasoning differently (Qwen3 in <think> tags, Llama 3 as
plain text), so the teacher scores the completion in its own framing, and the aligner pairs the
pieces both share (:func:`.alignment.align_segments`)."""

from __future__ import annotations

from ...core.prompting import recast_completion, split_completion


def teacher_view(row: dict, think: bool) -> dict:
    """A student's training row as a teacher of another family reads it: the same messages, the
    completion's reasoning in <think> tags when ``think`` (the teacher's template has them) and
    plain otherwise. A Qwen3 teacher shown plain reasoning renders an empty thinking block
    before it and then predicts the answer line at every reasoning token."""
    *before, last = row["completion"]
    last = {**last, "content": recast_completion(last["content"], think)}
    return {**row, "completion": [*before, last]}


def shared_segments(row: dict, teacher_think: bool) -> list[str]:
    """The pieces of a row's completion that the teacher's view (:func:`teacher_view`) and the
    student's both spell: the whole text when the view is the same, else the reasoning and the
    final line, aligned apart (:func:`.cross_vocab.alignment.align_segments`)."""
    content = row["completion"][-1]["content"]
    parts = split_completion(content)
    if parts is None or recast_completion(content, teacher_think) == content:
        return [content]
    return list(parts)
