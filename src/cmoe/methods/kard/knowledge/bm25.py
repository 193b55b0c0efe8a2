"""BM25 as Qdrant sparse vectors: the term-frequency half in each passage's vector, the IDF half
computed by Qdrant itself (`modifier: idf`) from the collection, so the dot product of a query's
term counts with a passage's vector is the Okapi BM25 score (Lucene's IDF, ln(1 + (N - n + 0.5) /
(n + 0.5))).

Terms: lower-cased word characters, ё folded to е, cut to `stem_chars` characters — a crude
stemmer that lets Russian inflections (императора, императором) meet. A term's index is its
CRC-32, so no vocabulary is stored and a query needs nothing but the text.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str, stem_chars: int = 6) -> list[str]:
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return [w[:stem_chars] for w in words] if stem_chars else words


def term_index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def _sparse(weights: dict[int, float]):
    from qdrant_client import models

    indices = sorted(weights)
    return models.SparseVector(indices=indices, values=[float(weights[i]) for i in indices])


def passage_vector(terms: list[str], avg_len: float, k1: float, b: float):
    """tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len)) per term (Qdrant adds the IDF)."""
    norm = k1 * (1 - b + b * len(terms) / max(avg_len, 1e-9))
    weights: dict[int, float] = {}
    for term, tf in Counter(terms).items():
        idx = term_index(term)
        weights[idx] = weights.get(idx, 0.0) + tf * (k1 + 1) / (tf + norm)
    return _sparse(weights)


def query_vector(text: str, stem_chars: int):
    """Each query term weighted by its count, as a Lucene query of the same words scores."""
    weights: dict[int, float] = {}
    for term, count in Counter(tokenize(text, stem_chars)).items():
        idx = term_index(term)
        weights[idx] = weights.get(idx, 0.0) + count
    return _sparse(weights)
