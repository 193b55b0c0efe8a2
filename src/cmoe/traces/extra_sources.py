"""`data.extra_sources`: instruction data from outside the study (hub datasets such as
t-tech/T-Wix, local JSONL or Parquet) mixed into every student's training data.

Each source maps its own fields onto a chat: ``fields: {messages: COLUMN}`` (a list of
``{role, content}`` turns ending with the assistant's) or ``fields: {prompt: COLUMN, response:
COLUMN}``. Rows become records ``{id, source, messages, correct: true}`` that the training
examples take as they are. All sources go through the curation chain together (so a row two
sources share is kept once, and nothing that overlaps the test split or a benchmark survives),
then each is repeated by its ``weight``: the expected number of times each kept row appears in
the training data, beside the teacher's traces at weight 1.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import ConfigError
from ..data.questions import iter_source_rows
from ..data.settings import ExtraSource

ROLES = ("system", "user", "assistant")


class SourceError(ConfigError):
    """A source or one of its rows that cannot be mapped: names the source and row."""


def parse_sources(raw: list[dict]) -> list[ExtraSource]:
    sources = []
    for i, entry in enumerate(raw or []):
        where = f"config key data.extra_sources[{i}]"
        source = ExtraSource(**entry)
        if bool(source.file) == bool(source.hub):
            raise SourceError(f"{where} ({source.name}): give exactly one of `file` and `hub`")
        if set(source.fields) not in ({"messages"}, {"prompt", "response"}):
            raise SourceError(
                f"{where}.fields ({source.name}): map either `messages` or both `prompt` and "
                f"`response` onto the source's columns, not {sorted(source.fields)}"
            )
        if not source.licence.strip():
            raise SourceError(f"{where}.licence ({source.name}): a licence is required")
        sources.append(source)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise SourceError("data.extra_sources: two sources share a name")
    return sources


def _row(location: str, row) -> dict:
    if isinstance(row, str):  # a JSONL line
        try:
            row = json.loads(row)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{location}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise SourceError(f"{location}: a row must be an object")
    return row


def _messages(source: ExtraSource, location: str, row: dict) -> list[dict]:
    def field_(key: str):
        column = source.fields[key]
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise SourceError(
                f"extra source {source.name}, {location}: no field {column!r} "
                f"(fields.{key}); the row has {sorted(row)}"
            )
        return value

    if "messages" in source.fields:
        turns = field_("messages")
        ok = isinstance(turns, list) and all(
            isinstance(t, dict)
            and t.get("role") in ROLES
            and isinstance(t.get("content"), str)
            and t["content"].strip()
            for t in turns
        )
        if not ok or not turns or turns[-1]["role"] != "assistant":
            raise SourceError(
                f"extra source {source.name}, {location}: field {source.fields['messages']!r} "
                "must be a list of {role, content} turns ending with the assistant's"
            )
        return [{"role": t["role"], "content": t["content"]} for t in turns]
    prompt, response = field_("prompt"), field_("response")
    if not isinstance(prompt, str) or not isinstance(response, str):
        raise SourceError(f"extra source {source.name}, {location}: prompt/response not text")
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def load_source(source: ExtraSource) -> Iterator[dict]:
    """The source's rows as training records; a bad row is a SourceError naming its location."""
    for i, (location, row) in enumerate(
        iter_source_rows(source.source, f"extra source {source.name}")
    ):
        if source.max_rows is not None and i >= source.max_rows:
            break
        yield {
            "id": f"{source.name}/{i}",
            "source": source.name,
            "messages": _messages(source, location, _row(location, row)),
            "correct": True,
        }


def check_local_sources(raw: list[dict]) -> None:
    """Read every row of every local source (cheap, before any job); hub sources are read by
    their curation job, the first job that needs them."""
    for source in parse_sources(raw):
        if source.file:
            for _ in load_source(source):
                pass


def weighted(records: list[dict], sources: list[ExtraSource], seed: int) -> list[dict]:
    """Each source's kept rows, repeated ``floor(weight)`` times plus a seeded sample of the
    fractional part."""
    out = []
    for source in sources:
        rows = [r for r in records if r["source"] == source.name]
        whole, part = divmod(source.weight, 1)
        out += rows * int(whole)
        extra = math.floor(part * len(rows) + 0.5)
        out += random.Random(f"{seed}:{source.name}").sample(rows, extra) if extra else []
    return out


# Extra sources have no gold answer and no samples: only these steps apply to them.
SOURCE_STEPS = ("length", "language", "dedup", "decontaminate")


def curate_sources(
    raw: list[dict],
    settings,
    max_length: int,
    out: str | Path,
    stats_out: str | Path,
    length=None,
    contamination=None,
    seed: int = 0,
) -> dict:
    """Load, curate (all sources together) and weight the extra sources into ``out``."""
    from ..core.io import atomic_write_json, atomic_write_jsonl
    from .curation import Chain

    sources = parse_sources(raw)
    records = [r for s in sources for r in load_source(s)]
    chain = Chain(settings, max_length, length, contamination)
    kept, steps = chain.run(records, [s for s in settings.steps if s in SOURCE_STEPS])
    mixed = weighted(kept, sources, seed)
    for r in mixed:
        r.pop("tokens", None)
    atomic_write_jsonl(out, mixed)
    stats = {
        "sources": [
            {
                "name": s.name,
                "origin": s.file or s.hub["path"],
                "licence": s.licence,
                "weight": s.weight,
                "rows": sum(r["source"] == s.name for r in records),
                "kept": sum(r["source"] == s.name for r in kept),
                "in_training": sum(r["source"] == s.name for r in mixed),
            }
            for s in sources
        ],
        "curation": steps,
        "decontaminated": chain.removed,
    }
    atomic_write_json(stats_out, stats)
    return stats
