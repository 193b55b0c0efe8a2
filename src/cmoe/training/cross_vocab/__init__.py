"""Logit distillation across vocabularies: byte spans, an aligner, and losses on stored top-k
scores of a teacher whose tokenizer is not the student's.

A teacher and a student with different tokenizers read the same completion text but cut it into
different tokens. The teacher's scores are stored in its own vocabulary with each token's byte
span in the completion text (:mod:`cmoe.training.teacher_scores`, format 2); at training time
the two cuttings are lined up on the text's UTF-8 bytes and the teacher's distributions compared
with the student's logits:

- :mod:`.spans`: a tokenizer's vocabulary as bytes, and each token's byte span;
- :mod:`.vocab_map`: teacher token -> student token where both spell the same bytes;
- :mod:`.alignment`: the aligner, grouping tokens into units whose bytes coincide (the rule);
- :mod:`.units`: the merging rule, a unit's distribution on each side, placed for a batch;
- :mod:`.losses`: ``uld`` and ``hybrid`` (``kd.cross_vocab.loss``);
- :mod:`.aligner`: the collator's side: both tables, one example at a time, cached.

Only numpy at import time; torch inside the functions that need it. No TRL GOLD piece is used at
run time: in the pinned trl its alignment and hybrid loss are private methods of an unexported
class that takes full teacher logits (see README, "Logit distillation across vocabularies").
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.settings import Settings, setting
from .aligner import CrossVocabAligner, CrossVocabCollator
from .alignment import (
    ADDED_MODES,
    UNIT_CONTROL,
    UNIT_LITERAL,
    UNIT_TEXT,
    Alignment,
    align,
    align_segments,
    find_content,
)
from .losses import LOSSES, cross_vocab_kd_loss
from .spans import ADDED, CONTROL, NORMAL, TokenSpans, TokenTable, nfc_rows
from .units import XV_KEYS, place_units, unit_teacher_targets
from .vocab_map import EXCLUDED, NO_MATCH, VocabMap


@dataclass
class CrossVocabSettings(Settings):
    """How a student learns from a teacher of another vocabulary (the config's
    `kd.cross_vocab`)."""

    loss: str = setting(
        "hybrid",
        "two vocabularies: `hybrid` (exact divergence, `divergence`/`beta`, on each unit's text "
        "and on the alternatives both vocabularies spell the same, plus ULD on the teacher's "
        "alternatives the student cannot spell) or `uld` (sorted-probability L1 only, no token "
        "correspondence)",
        enum=list(LOSSES),
    )
    uld_weight: float = setting(1.0, "`hybrid`: weight of its ULD part", minimum=0)
    added: str = setting(
        "literal",
        "a unit holding an added token (`<think>`) that the other side spells otherwise: "
        "`literal` drops it, `text` compares it as text",
        enum=list(ADDED_MODES),
    )


__all__ = [
    "ADDED",
    "CONTROL",
    "EXCLUDED",
    "LOSSES",
    "NORMAL",
    "NO_MATCH",
    "UNIT_CONTROL",
    "UNIT_LITERAL",
    "UNIT_TEXT",
    "XV_KEYS",
    "Alignment",
    "CrossVocabAligner",
    "CrossVocabCollator",
    "CrossVocabSettings",
    "TokenSpans",
    "TokenTable",
    "VocabMap",
    "align",
    "cross_vocab_kd_loss",
    "align_segments",
    "find_content",
    "nfc_rows",
    "place_units",
    "unit_teacher_targets",
]
