"""Byte spans from a fast tokenizer's character offsets: a second route to the spans that
:meth:`cmoe.training.cross_vocab.TokenTable.spans` computes from token ids, which the tests hold
the package's route against (the package itself only takes the ids route)."""

from __future__ import annotations

import numpy as np

from cmoe.training.cross_vocab.spans import CONTROL, NORMAL, TokenSpans, TokenTable, _backend


def char_to_byte_offsets(text: str) -> np.ndarray:
    """``table[c]``: the byte offset of character ``c`` of ``text`` in its UTF-8 encoding
    (``len(text) + 1`` entries: the last is the byte length)."""
    sizes = np.fromiter((len(ch.encode("utf-8")) for ch in text), np.int64, len(text))
    table = np.zeros(len(text) + 1, dtype=np.int64)
    np.cumsum(sizes, out=table[1:])
    return table


def spans_from_text(
    tokenizer, text: str, table: TokenTable | None = None, add_special_tokens: bool = False
) -> TokenSpans:
    """Tokenize ``text`` with a fast tokenizer and give each token its UTF-8 byte span.

    Character offsets are converted to byte offsets; for a byte-level tokenizer each normal
    token's span is then made exact from its piece's bytes where the text's bytes match them
    (a character split over several tokens -- a rare letter in a small vocabulary -- has one
    character offset for all of them, and ByteLevel offset trimming can leave gaps). Where a
    normaliser changed the text (Qwen's NFC on decomposed letters) the character offsets are
    kept. Special tokens that are in the text get their literal's span; inserted ones (BOS)
    get a zero-width span. Kinds as in :class:`TokenTable`.
    """
    table = table or TokenTable.from_tokenizer(tokenizer)
    enc = _backend(tokenizer).encode(text, add_special_tokens=add_special_tokens)
    ids = np.asarray(enc.ids, dtype=np.int64)
    c2b = char_to_byte_offsets(text)
    offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
    spans = c2b[offsets] if len(offsets) else np.zeros((0, 2), np.int64)
    raw = text.encode("utf-8")
    kinds = table.kinds[ids] if len(ids) else np.zeros(0, np.int8)
    # tokens a post-processor inserted (BOS) cover no characters
    inserted = (kinds == CONTROL) & (offsets[:, 0] == offsets[:, 1])
    cursor = 0
    for i, tok in enumerate(ids.tolist()):
        s, e = int(spans[i, 0]), int(spans[i, 1])
        if inserted[i]:
            s = e = cursor
        elif kinds[i] == NORMAL and table.byte_level:
            piece = table.pieces[tok]
            if raw.startswith(piece, cursor) and cursor + len(piece) <= max(e, cursor + 1):
                s, e = cursor, cursor + len(piece)
            elif raw.startswith(piece, s):
                e = s + len(piece)
        spans[i] = (s, e)
        cursor = e
    _close_gaps(spans, inserted, len(raw))
    return TokenSpans(ids, spans.astype(np.int32), kinds, raw)


def _close_gaps(spans: np.ndarray, inserted: np.ndarray, size: int) -> None:
    """Make the spans of the tokens that are in the text tile it (in place): bytes no token
    covers go to the token before them (a combining mark a normaliser composed into the previous
    letter), leading ones to the first token; an overlap is cut from the later token."""
    real = np.flatnonzero(~inserted)
    if not len(real):
        return
    spans[real[0], 0] = 0
    for prev, cur in zip(real[:-1].tolist(), real[1:].tolist(), strict=True):
        if spans[cur, 0] > spans[prev, 1]:
            spans[prev, 1] = spans[cur, 0]
        elif spans[cur, 0] < spans[prev, 1]:
            spans[cur, 0] = spans[prev, 1]
            spans[cur, 1] = max(spans[cur, 1], spans[cur, 0])
    spans[real[-1], 1] = max(spans[real[-1], 1], size)
