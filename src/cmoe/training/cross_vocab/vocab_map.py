"""Which teacher token is which student token: the tokens both vocabularies spell the same."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .spans import CONTROL, TokenTable

NO_MATCH, EXCLUDED = -1, -2  # teacher alternative -> student id codes (xv_alt_student)


@dataclass
class VocabMap:
    """Teacher id -> student id for the tokens both vocabularies spell the same (decoded bytes
    compared, so ``Ġмир`` and ``▁мир`` match), built once from the two :class:`TokenTable`s.

    ``teacher_to_student`` (Vt,) int64, ``NO_MATCH`` where none; ``student_unmatched`` (Vs,) bool:
    student tokens no teacher token spells (the student side of the hybrid's ULD part);
    ``control_pairs``: (teacher literal, student literal) of control tokens taken as the same
    event (same literal, both end-of-turn tokens, or given). Normal and added tokens match by
    bytes; control tokens only through ``control_pairs``."""

    teacher_to_student: np.ndarray
    student_unmatched: np.ndarray
    control_pairs: set[tuple[bytes, bytes]]

    @property
    def shared(self) -> int:
        return int((self.teacher_to_student >= 0).sum())

    @classmethod
    def build(
        cls,
        teacher: TokenTable,
        student: TokenTable,
        control_pairs: Iterable[tuple[str, str]] = (),
        pair_eos: bool = True,
    ) -> VocabMap:
        text_ids: dict[bytes, int] = {}
        control_ids: dict[bytes, int] = {}
        for i, (p, k) in enumerate(zip(student.pieces, student.kinds.tolist(), strict=True)):
            if not p:
                continue
            (control_ids if k == CONTROL else text_ids).setdefault(p, i)
        pairs = {(a.encode(), b.encode()) for a, b in control_pairs}
        if pair_eos and teacher.eos_id is not None and student.eos_id is not None:
            pairs.add((teacher.pieces[teacher.eos_id], student.pieces[student.eos_id]))
        teacher_pieces = set(teacher.pieces)
        pairs |= {(p, p) for p in control_ids if p in teacher_pieces}
        by_teacher = dict(pairs)
        mapping = np.full(len(teacher), NO_MATCH, dtype=np.int64)
        used: set[int] = set()
        for i, (p, k) in enumerate(zip(teacher.pieces, teacher.kinds.tolist(), strict=True)):
            if not p:
                continue
            if k == CONTROL:
                j = control_ids.get(by_teacher.get(p, b"\x00"), NO_MATCH)
            else:
                j = text_ids.get(p, NO_MATCH)
            if j != NO_MATCH and j not in used:  # one teacher id per student id
                mapping[i] = j
                used.add(j)
        unmatched = np.array([bool(p) for p in student.pieces], dtype=bool)
        unmatched[list(used)] = False
        return cls(mapping, unmatched, pairs)
