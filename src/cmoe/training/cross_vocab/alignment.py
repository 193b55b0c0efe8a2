"""The aligner: teacher and student tokens of one text grouped into units whose bytes coincide.

Both sides' texts minus their control tokens ("content") must agree; the aligner compares them
byte for byte and aligns their longest common prefix (a truncated side, or a trailing template
newline such as Qwen's ``<|im_end|>\\n``, ends it; tokens past it are dropped and counted).
Where a template writes text before the shared content on one side only (Qwen3 renders an empty
``<think>\\n\\n</think>\\n\\n`` before an answer without reasoning), ``starts``
(:func:`find_content`) says where it begins on each side; tokens before it are dropped.

The rule. A *unit* is a minimal pair of token runs, one per side, whose byte ranges coincide:
the units' boundaries are exactly the byte offsets where a token ends on both sides. So units
are one-to-one ("Ответ" | "Ответ"), one-to-many (Llama "201" | Qwen "2" "0" "1"), many-to-one
("При" "вет" | "Привет") or many-to-many ("ab" "cd" | "a" "bc" "d"), and every aligned byte
belongs to exactly one unit on each side.

- Control tokens at the same content offset pair into a one-to-one *control unit* when they are
  equivalent: the same literal, or a listed pair (:class:`.vocab_map.VocabMap` lists the two
  end-of-turn tokens, ``<|eot_id|>`` ~ ``<|im_end|>``). Unpaired control tokens are dropped (the
  student still gets cross-entropy there); a unit with a control token strictly inside is too.
- A unit holding an ``ADDED`` token (``<think>``) is kept as a *literal unit* only when both
  sides spell it as one token with the same literal; otherwise it is dropped
  (``added="literal"``, the default) or kept as ordinary text (``added="text"``). A Qwen3
  student's ``<think>`` against Llama's ``<th`` ``ink`` ``>\\n`` is dropped.
- Whitespace needs no special case: " мир" | " " "мир" is one-to-many, "\\n\\n" | "\\n" "\\n" too.
- Multi-digit numbers: Llama-3 writes up to 3 digits per token, Qwen one; "1453" is
  "145" "3" | "1" "4" "5" "3": two units, "145" (one-to-three) and "3".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .spans import ADDED, CONTROL, TokenSpans

UNIT_TEXT, UNIT_CONTROL, UNIT_LITERAL = 0, 1, 2
ADDED_MODES = ("literal", "text")


@dataclass
class Alignment:
    """Units of an alignment, in text order. Unit ``j`` covers teacher tokens
    ``t_start[j]:t_end[j]`` and student tokens ``s_start[j]:s_end[j]`` (token indices, half-open,
    contiguous) and has ``kind`` UNIT_TEXT, UNIT_CONTROL or UNIT_LITERAL. ``common_bytes``: the
    content bytes both sides agree on; ``dropped``: tokens left out per reason."""

    t_start: np.ndarray
    t_end: np.ndarray
    s_start: np.ndarray
    s_end: np.ndarray
    kind: np.ndarray
    common_bytes: int
    dropped: dict[str, int]

    def __len__(self) -> int:
        return len(self.kind)

    def groups(self) -> list[tuple[list[int], list[int]]]:
        """Units as (teacher token indices, student token indices)."""
        return [
            (list(range(a, b)), list(range(c, d)))
            for a, b, c, d in zip(
                self.t_start.tolist(),
                self.t_end.tolist(),
                self.s_start.tolist(),
                self.s_end.tolist(),
                strict=False,
            )
        ]


def _content(side: TokenSpans):
    """Content coordinates: (end offset of each token in the text without control tokens,
    is-content mask, content bytes). Raises when the spans do not tile the text."""
    widths = (side.spans[:, 1] - side.spans[:, 0]).astype(np.int64)
    is_content = side.kinds != CONTROL
    ends = np.cumsum(np.where(is_content, widths, 0))
    if not len(side):
        return ends, is_content, b""
    pos, stop = int(side.spans[0, 0]), int(side.spans[-1, 1])
    pieces = []
    for a, b in side.spans[~is_content].tolist():  # cut the control tokens' literals out
        pieces.append(side.text[pos:a])
        pos = max(pos, b)
    pieces.append(side.text[pos:stop])
    content = b"".join(pieces)
    if len(content) != ends[-1]:
        raise ValueError("token spans do not tile the text")
    return ends, is_content, content


def _sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Values in both of two sorted arrays, once each (faster than np.intersect1d here)."""
    if not len(a) or not len(b):
        return a[:0]
    idx = np.minimum(np.searchsorted(b, a), len(b) - 1)
    hits = a[b[idx] == a]
    if len(hits) > 1:
        hits = hits[np.concatenate([[True], hits[1:] != hits[:-1]])]
    return hits


def _units_holding(tokens: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The units (token runs ``lo[j]:hi[j]``, in order) that hold any of ``tokens``; a token
    before the first unit, between two or past the last is in none."""
    j = np.searchsorted(hi, tokens, side="right")
    inside = j < len(lo)
    j = j[inside]
    return j[lo[j] <= tokens[inside]]


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.frombuffer(a, np.uint8, n) != np.frombuffer(b, np.uint8, n))
    return int(diff[0]) if len(diff) else n


class ContentNotFound(ValueError):
    """A side's tokens do not spell the text looked for."""


def find_content(side: TokenSpans, content: bytes | str, probe: int = 64, after: int = 0) -> int:
    """Where ``content`` (the assistant message, as both sides render it) starts in a side's
    text without its control tokens: the ``starts`` :func:`align` takes when a chat template
    puts text before it on one side (Qwen3's template writes ``<think>\n\n</think>\n\n``
    before an answer that has no reasoning; Llama's writes nothing). Only its first ``probe``
    bytes are looked for, so a side cut short (a student's ``max_length``) still finds it;
    ``after``: the content offset to look from (past an earlier segment)."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    text = _content(side)[2]
    at = text.find(content[:probe], after)
    if at < 0:  # a side that ends within the probe: where its tail begins the content
        tails = range(max(after, len(text) - probe), len(text))
        at = next((i for i in tails if content.startswith(text[i:])), -1)
    if at < 0:
        raise ContentNotFound("the completion's tokens do not spell the given content")
    return at


def align(
    teacher: TokenSpans,
    student: TokenSpans,
    equivalent_controls: Iterable[tuple[bytes, bytes]] = (),
    added: str = "literal",
    starts: tuple[int, int] = (0, 0),
) -> Alignment:
    """Group teacher and student tokens into units whose byte ranges coincide (see the module
    docstring: content, control and literal units, what is dropped). ``equivalent_controls``:
    (teacher literal, student literal) pairs, e.g. ``VocabMap.control_pairs``. ``starts``:
    content offsets where the shared text begins on each side (:func:`find_content`); the
    alignment starts at the first offset from there where a token starts on both sides."""
    if added not in ("literal", "text"):
        raise ValueError(f"added={added!r}: expected 'literal' or 'text'")
    t_ends, t_content, t_text = _content(teacher)
    s_ends, s_content, s_text = _content(student)
    t_all, s_all = np.flatnonzero(t_content), np.flatnonzero(s_content)
    t_begin = t_ends[t_all] - (teacher.spans[t_all, 1] - teacher.spans[t_all, 0])
    s_begin = s_ends[s_all] - (student.spans[s_all, 1] - student.spans[s_all, 0])
    first = _sorted_intersection(
        t_begin[t_begin >= starts[0]] - starts[0], s_begin[s_begin >= starts[1]] - starts[1]
    )
    lead = int(first[0]) if len(first) else 0
    t_off, s_off = starts[0] + lead, starts[1] + lead
    t_idx, s_idx = t_all[t_begin >= t_off], s_all[s_begin >= s_off]
    before = len(t_all) - len(t_idx) + len(s_all) - len(s_idx)
    common = _common_prefix(t_text[t_off:], s_text[s_off:]) if len(first) else 0
    t_cend, s_cend = t_ends[t_idx] - t_off, s_ends[s_idx] - s_off
    bounds = _sorted_intersection(t_cend[t_cend <= common], s_cend[s_cend <= common])
    # for each boundary, how many content tokens end at or before it
    t_cut = np.searchsorted(t_cend, bounds, side="right")
    s_cut = np.searchsorted(s_cend, bounds, side="right")
    t_lo = np.concatenate([[0], t_cut[:-1]]) if len(bounds) else np.zeros(0, np.int64)
    s_lo = np.concatenate([[0], s_cut[:-1]]) if len(bounds) else np.zeros(0, np.int64)
    units_t0, units_t1 = t_idx[t_lo], t_idx[t_cut - 1] + 1
    units_s0, units_s1 = s_idx[s_lo], s_idx[s_cut - 1] + 1
    kind = np.zeros(len(bounds), dtype=np.int8)
    keep = np.ones(len(bounds), dtype=bool)
    aligned_end = int(bounds[-1]) if len(bounds) else 0
    dropped = {
        "before_common_text": before,
        "past_common_text": int((t_cend > aligned_end).sum() + (s_cend > aligned_end).sum()),
        "control_inside_unit": 0,
        "added_token": 0,
        "control": 0,
    }

    content_tokens = (t_cut - t_lo) + (s_cut - s_lo)  # per unit, both sides
    # a control token strictly inside a unit's token run: the unit cannot be compared cleanly
    t_ctrl = np.flatnonzero(~t_content)
    s_ctrl = np.flatnonzero(~s_content)
    for ctrl, lo, hi in ((t_ctrl, units_t0, units_t1), (s_ctrl, units_s0, units_s1)):
        if len(ctrl) and len(lo):
            j = np.searchsorted(hi, ctrl, side="right")
            inside = (j < len(lo)) & (lo[np.minimum(j, len(lo) - 1)] < ctrl)
            bad = np.unique(j[inside])
            bad = bad[keep[bad]]
            dropped["control_inside_unit"] += int(content_tokens[bad].sum())
            keep[bad] = False

    # units with an added (non-special) token: same single literal on both sides, or dropped
    flagged = np.union1d(
        _units_holding(np.flatnonzero(teacher.kinds == ADDED), units_t0, units_t1),
        _units_holding(np.flatnonzero(student.kinds == ADDED), units_s0, units_s1),
    )
    for j in flagged.tolist():
        one_each = units_t1[j] - units_t0[j] == 1 and units_s1[j] - units_s0[j] == 1
        if one_each and teacher.token_bytes(int(units_t0[j])) == student.token_bytes(
            int(units_s0[j])
        ):
            kind[j] = UNIT_LITERAL
        elif added == "literal" and keep[j]:
            keep[j] = False
            dropped["added_token"] += int(content_tokens[j])

    # control tokens: pair equivalent ones at the same content offset, in order
    pairs = set(equivalent_controls)
    t_pos = t_ends[t_ctrl] - t_off  # the content offset before it, from the aligned start
    s_pos = s_ends[s_ctrl] - s_off
    ctrl_units = []
    used = set()
    for ti, tp in zip(t_ctrl.tolist(), t_pos.tolist(), strict=True):
        if not 0 <= tp <= aligned_end:
            continue
        tb = teacher.token_bytes(ti)
        for si, sp in zip(s_ctrl.tolist(), s_pos.tolist(), strict=True):
            if sp == tp and si not in used:
                sb = student.token_bytes(si)
                if sb == tb or (tb, sb) in pairs:
                    ctrl_units.append((ti, si))
                    used.add(si)
                    break
    dropped["control"] = int(len(t_ctrl) + len(s_ctrl) - 2 * len(ctrl_units))

    t0, t1 = units_t0[keep], units_t1[keep]
    s0, s1 = units_s0[keep], units_s1[keep]
    kind = kind[keep]
    if ctrl_units:
        ct, cs = (np.asarray(x, dtype=np.int64) for x in zip(*ctrl_units, strict=True))
        t0, t1 = np.concatenate([t0, ct]), np.concatenate([t1, ct + 1])
        s0, s1 = np.concatenate([s0, cs]), np.concatenate([s1, cs + 1])
        kind = np.concatenate([kind, np.full(len(ct), UNIT_CONTROL, np.int8)])
        order = np.argsort(s0, kind="stable")
        t0, t1, s0, s1, kind = t0[order], t1[order], s0[order], s1[order], kind[order]
    return Alignment(
        t0.astype(np.int64),
        t1.astype(np.int64),
        s0.astype(np.int64),
        s1.astype(np.int64),
        kind,
        common,
        dropped,
    )


def align_segments(
    teacher: TokenSpans,
    student: TokenSpans,
    segments: list[str],
    equivalent_controls: Iterable[tuple[bytes, bytes]] = (),
    added: str = "literal",
) -> Alignment:
    """:func:`align` over texts that agree only in pieces: each of ``segments`` (in order) is
    found on both sides past the one before and aligned from there, and the units are joined.
    A teacher of another family reads a student's completion in its own format (reasoning in
    <think> tags or not), so the reasoning and the final line are aligned apart; the text
    between them (tags, separators) is in no unit. ``dropped`` keeps the first segment's
    tokens before it, the last's past it, and counts the rest ``between_segments``."""
    parts, after = [], (0, 0)
    for segment in segments:
        raw = segment.encode("utf-8")
        starts = (
            find_content(teacher, raw, after=after[0]),
            find_content(student, raw, after=after[1]),
        )
        parts.append(align(teacher, student, equivalent_controls, added, starts))
        after = (starts[0] + len(raw), starts[1] + len(raw))
    if len(parts) == 1:
        return parts[0]
    fields = ("t_start", "t_end", "s_start", "s_end", "kind")
    joined = {f: np.concatenate([getattr(a, f) for a in parts]) for f in fields}
    order = np.argsort(joined["s_start"], kind="stable")
    joined = {f: v[order] for f, v in joined.items()}
    dropped = {r: sum(a.dropped[r] for a in parts) for r in ("control_inside_unit", "added_token")}
    dropped["before_common_text"] = parts[0].dropped["before_common_text"]
    dropped["past_common_text"] = parts[-1].dropped["past_common_text"]
    controls = int((teacher.kinds == CONTROL).sum() + (student.kinds == CONTROL).sum())
    paired = int((joined["kind"] == UNIT_CONTROL).sum())
    dropped["control"] = controls - 2 * paired
    in_units = int(
        (joined["t_end"] - joined["t_start"]).sum() + (joined["s_end"] - joined["s_start"]).sum()
    )
    dropped["between_segments"] = len(teacher) + len(student) - in_units - sum(dropped.values())
    return Alignment(**joined, common_bytes=sum(a.common_bytes for a in parts), dropped=dropped)
