"""Byte spans: each token of a completion and the UTF-8 bytes it stands for in the text.

Every completion token gets ``(start, end)``, the bytes it covers in its side's completion text:
the concatenation of its tokens' bytes (:meth:`TokenTable.spans`, from ids: the route scoring and
training take; Cyrillic letters are 2 bytes, so "Ответ" is 10). Spans of consecutive tokens tile
the text. Each token also has a *kind*:

- ``NORMAL``: a vocabulary piece; its bytes are the piece's (byte-level BPE: ``Ġ`` is a leading
  space, ``Ċ`` a newline; SentencePiece: ``▁`` a space, ``<0xNN>`` a byte).
- ``ADDED``: an added token that is not special, e.g. Qwen3's ``<think>``/``</think>``; its bytes
  are its literal, which is part of the text both sides read.
- ``CONTROL``: a special token (end of turn ``<|im_end|>``/``<|eot_id|>``, BOS, pad). Its span is
  its literal where it appears in the text (zero width for a token a post-processor inserted,
  such as Llama's BOS), but it is not text: the aligner takes it out and pairs it separately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NORMAL, ADDED, CONTROL = 0, 1, 2


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table used by byte-level BPE pieces."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


_BYTE_OF_CHAR = {c: b for b, c in _bytes_to_unicode().items()}


def _backend(tokenizer):
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(
        tokenizer, "_tokenizer", None
    )
    if backend is None:
        raise ValueError(
            f"{type(tokenizer).__name__}: cross-vocabulary KD needs a fast tokenizer "
            "(tokenizers' backend with offsets)"
        )
    return backend


def _piece_bytes(piece: str, byte_level: bool) -> bytes | None:
    if byte_level:
        try:
            return bytes(_BYTE_OF_CHAR[c] for c in piece)
        except KeyError:
            return None
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):  # byte fallback
        return bytes([int(piece[3:5], 16)])
    return piece.replace("\u2581", " ").encode("utf-8")  # SentencePiece's metaspace


@dataclass
class TokenTable:
    """A tokenizer's whole vocabulary as bytes: ``pieces[id]`` and ``kinds[id]`` (NORMAL, ADDED,
    CONTROL). Built once per tokenizer (about 0.3 s for 150k tokens) and picklable, so a
    data-loader worker can hold it."""

    pieces: list[bytes]
    kinds: np.ndarray  # int8 [V]
    eos_id: int | None = None
    name: str = ""
    byte_level: bool = True
    lengths: np.ndarray = field(init=False)  # int32 [V]

    def __post_init__(self):
        self.lengths = np.fromiter((len(p) for p in self.pieces), np.int32, len(self.pieces))
        self.kinds = np.asarray(self.kinds, dtype=np.int8)

    def __len__(self) -> int:
        return len(self.pieces)

    @classmethod
    def from_tokenizer(cls, tokenizer, name: str = "") -> TokenTable:
        backend = _backend(tokenizer)
        byte_level = "ByteLevel" in repr(backend.pre_tokenizer) or "ByteLevel" in repr(
            backend.decoder
        )
        vocab = backend.get_vocab(with_added_tokens=False)
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        size = max([len(tokenizer), *(i + 1 for i in vocab.values()), *(i + 1 for i in added)])
        pieces: list[bytes] = [b""] * size
        kinds = np.full(size, CONTROL, dtype=np.int8)  # ids with no token: never produced
        for piece, i in vocab.items():
            raw = _piece_bytes(piece, byte_level)
            if raw is None:
                raise ValueError(f"token {i} {piece!r}: not a byte-level piece")
            pieces[i], kinds[i] = raw, NORMAL
        for i, tok in added.items():
            pieces[i] = str(tok.content).encode("utf-8")
            kinds[i] = CONTROL if tok.special else ADDED
        return cls(pieces, kinds, tokenizer.eos_token_id, name, byte_level)

    def digest(self) -> str:
        """Identity of the vocabulary (bytes and kinds of every id): stored with the scores."""
        h = hashlib.sha256()
        for p in self.pieces:
            h.update(len(p).to_bytes(4, "little") + p)
        h.update(self.kinds.tobytes())
        return h.hexdigest()[:16]

    def spans(self, ids: Sequence[int]) -> TokenSpans:
        """Byte spans of ``ids`` in the text their bytes concatenate to (control tokens count
        their literal, so spans tile the text); the route scoring and training use."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.pieces)):
            raise ValueError(f"token ids outside the vocabulary of {len(self.pieces)}")
        ends = np.cumsum(self.lengths[ids], dtype=np.int64)
        spans = np.stack([ends - self.lengths[ids], ends], axis=-1).astype(np.int32)
        text = b"".join([self.pieces[i] for i in ids.tolist()])
        return TokenSpans(ids, spans, self.kinds[ids], text)

    def from_stored(self, ids: Sequence[int], spans: np.ndarray) -> TokenSpans:
        """Stored teacher ids and spans -> :class:`TokenSpans`, checking that the spans are those
        this vocabulary gives (another tokenizer version would silently misalign)."""
        got = self.spans(ids)
        if not np.array_equal(got.spans, np.asarray(spans, dtype=np.int32)):
            raise ValueError(
                "stored byte spans differ from those of this tokenizer: scored with another "
                "teacher tokenizer (or version)?"
            )
        return got


@dataclass
class TokenSpans:
    """One side's completion tokens: ``ids`` (n,), ``spans`` (n, 2) int32 byte ranges in
    ``text`` (UTF-8 bytes), ``kinds`` (n,) NORMAL / ADDED / CONTROL."""

    ids: np.ndarray
    spans: np.ndarray
    kinds: np.ndarray
    text: bytes

    def __len__(self) -> int:
        return len(self.ids)

    def token_bytes(self, i: int) -> bytes:
        s, e = self.spans[i]
        return self.text[s:e]


def nfc_rows(rows: list[dict]) -> list[dict]:
    """Chat rows with every message's text in Unicode NFC. Qwen's tokenizers normalise to NFC,
    Llama's do not: on a decomposed letter their token bytes would part, and the alignment
    would stop there. Scoring and training both read the rows this way."""
    import unicodedata

    def norm(messages):
        return [{**m, "content": unicodedata.normalize("NFC", m["content"])} for m in messages]

    return [{**r, "prompt": norm(r["prompt"]), "completion": norm(r["completion"])} for r in rows]
