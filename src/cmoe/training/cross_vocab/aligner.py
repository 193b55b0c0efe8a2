"""What a KD collator holds to turn one example's stored teacher scores into loss targets: both
vocabularies' tables and their mapping, built once from the two tokenizers, and a cache of each
example's units (an example's alignment never changes across epochs)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from .alignment import Alignment, ContentNotFound, align, align_segments
from .spans import TokenTable
from .units import place_units, unit_teacher_targets
from .vocab_map import VocabMap


@dataclass
class CrossVocabAligner:
    """Both vocabularies as byte tables and their mapping. :meth:`row` aligns one example,
    :meth:`batch` a collated batch (its units cached by example key)."""

    teacher: TokenTable
    student: TokenTable
    vocab_map: VocabMap
    added: str = "literal"
    # per example key: (units, their positions among the completion tokens' count) and counts
    _cache: dict = field(default_factory=dict, repr=False)
    counts: Counter = field(default_factory=Counter, repr=False)

    @classmethod
    def from_tokenizers(cls, teacher_tok, student_tok, control_pairs=(), added="literal"):
        t, s = TokenTable.from_tokenizer(teacher_tok), TokenTable.from_tokenizer(student_tok)
        return cls(t, s, VocabMap.build(t, s, control_pairs), added)

    def row(
        self, stored: dict, student_ids: Sequence[int], content: str | list[str] | None = None
    ) -> tuple[dict, Alignment]:
        """``stored``: one example's scores (``targets``, ``ids``, ``logprobs``,
        ``target_logprobs``, ``spans``); ``student_ids``: the student's completion tokens;
        ``content``: the assistant message both rendered, when a template may write text
        before it on one side (see :func:`.alignment.find_content`), or its segments in order
        when the two sides frame them differently (:func:`.alignment.align_segments`)."""
        teacher = self.teacher.from_stored(stored["targets"], stored["spans"])
        student = self.student.spans(student_ids)
        if content is None:
            alignment = align(teacher, student, self.vocab_map.control_pairs, self.added)
        else:
            segments = [content] if isinstance(content, str) else list(content)
            try:
                alignment = align_segments(
                    teacher, student, segments, self.vocab_map.control_pairs, self.added
                )
            except ContentNotFound:
                raise ValueError(
                    "the teacher's scored text or the student's completion does not contain "
                    "the example's assistant message (another tokenizer version, template or "
                    "text normalisation?)"
                ) from None
        units = unit_teacher_targets(
            alignment,
            teacher.ids,
            stored["ids"],
            stored["logprobs"],
            stored["target_logprobs"],
            student.ids,
            self.vocab_map,
        )
        return units, alignment

    def batch(self, labels, stored_rows: list, contents: list | None = None, keys=None) -> dict:
        """:func:`.units.place_units` tensors for a batch whose completion tokens are where
        ``labels != -100`` (B, W). ``stored_rows``: each row's stored scores, or a callable
        that returns them (called only for rows not cached); ``contents``: each row's
        assistant message; ``keys``: each row's identity, to cache its units by."""
        units, positions = [], []
        k = 1
        for b, stored in enumerate(stored_rows):
            pos = (labels[b] != -100).nonzero().flatten()
            student_ids = labels[b, pos].cpu().numpy()
            key = None if keys is None else (keys[b], len(student_ids))
            if key is None or key not in self._cache:
                stored = stored() if callable(stored) else stored
                content = contents[b] if contents is not None else None
                u, alignment = self.row(stored, student_ids, content)
                self._count(alignment, len(student_ids))
                if key is not None:
                    self._cache[key] = u
            else:
                u = self._cache[key]
            k = max(k, int(u["alt_logprobs"].shape[1]))
            units.append(u)
            positions.append(pos.cpu().numpy())
        return place_units(units, positions, labels.shape[1], k)

    def _count(self, alignment: Alignment, student_tokens: int) -> None:
        self.counts["examples"] += 1
        self.counts["student_tokens"] += student_tokens
        self.counts["units"] += len(alignment)
        self.counts["aligned_bytes"] += alignment.common_bytes
        for reason, n in alignment.dropped.items():
            self.counts[f"dropped_{reason}"] += n


class CrossVocabCollator:
    """TRL's SFT collator, plus the loss targets of each row's stored teacher scores in another
    vocabulary (:data:`.units.XV_KEYS`), aligned with its labels. Rows carry ``kd_key`` (their
    scores' key) and ``kd_content`` (their assistant message)."""

    def __init__(self, base, scores, aligner: CrossVocabAligner):
        self.base, self.scores, self.aligner = base, scores, aligner

    def __call__(self, examples):
        keys = [e["kd_key"] for e in examples]
        contents = [e["kd_content"] for e in examples]
        for key in keys:
            if key not in self.scores:
                raise ValueError(
                    f"training example {key} has no stored teacher scores: were the scores made "
                    "from the same traces, prompt and student format?"
                )
        drop = ("kd_key", "kd_content")
        batch = self.base([{k: v for k, v in e.items() if k not in drop} for e in examples])
        stored = [partial(self.scores.get_row, key) for key in keys]
        batch.update(self.aligner.batch(batch["labels"], stored, contents, keys))
        return batch
