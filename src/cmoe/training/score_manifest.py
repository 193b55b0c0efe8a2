"""The manifest of stored teacher scores: who made them and how, kept in their ``index.json``.

:func:`.teacher_scores.score_rows` writes, beside the parts and token counts, the teacher (its
`models` key and model path), the revision it was loaded at (None for a local folder or a folder
this workflow trained), a digest of its tokenizer (:func:`cmoe.core.models.tokenizer_digest`),
``top_k``, ``format`` (1: the student's vocabulary, 2: the teacher's, with byte spans) and the
layout's ``format_version``. A KD job compares them with what it expects (:func:`check_scores`)
before it loads its student, and refuses other scores in one line naming what differs.

Snakemake reruns a scoring job whose settings change; the manifest guards what it cannot see:
scores copied in from another run, scores made by an older cmoe, and scores changed underneath
(a part replaced or cut short, a teacher whose tokenizer changed in place on the hub).
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import DataError
from ..core.io import read_json

INDEX = "index.json"
TOKENIZER = "teacher_tokenizer"  # format 2: the teacher's tokenizer, saved with its scores
# The version of the scores' layout and manifest: a change to either bumps it, and scores of
# another version (or none: made before there was a manifest) are refused, never misread.
FORMAT_VERSION = 1
# The manifest's fields, in the order a refusal names them, with their names in that line.
FIELDS = {
    "format_version": "format version",
    "teacher": "teacher",
    "model": "model",
    "revision": "revision",
    "tokenizer_hash": "tokenizer hash",
    "top_k": "top_k",
    "format": "format",
}
REDO = "delete them or rerun the score_teacher job"


def manifest(
    teacher: str, model: str, revision: str | None, tokenizer, top_k: int, cross: bool
) -> dict:
    """The manifest of scores ``teacher`` (its `models` key) made with the model at ``model``."""
    from ..core.models import tokenizer_digest

    return {
        "format_version": FORMAT_VERSION,
        "teacher": teacher,
        "model": str(model),
        "revision": revision,
        "tokenizer_hash": tokenizer_digest(tokenizer),
        "top_k": top_k,
        "format": 2 if cross else 1,
    }


def expected(spec: dict, top_k: int, cross: bool) -> dict:
    """What a KD job expects of one scores folder: ``spec`` (the plan's ``teacher``, ``model``,
    ``revision`` and ``trust_remote_code``), the job's ``top_k`` and vocabulary path, and the
    digest of the teacher's tokenizer as it loads now (the tokenizer only, not the weights)."""
    from ..core.models import load_tokenizer

    tokenizer = load_tokenizer(spec["model"], bool(spec.get("trust_remote_code", False)))
    return manifest(spec["teacher"], spec["model"], spec.get("revision"), tokenizer, top_k, cross)


def check_format(folder: str | Path, index: dict) -> None:
    """Refuse scores of another layout version than this cmoe's (or of none)."""
    version = index.get("format_version")
    if version is None:
        raise DataError(f"teacher scores at {folder} were made by an older cmoe: {REDO}")
    if version != FORMAT_VERSION:
        raise DataError(
            f"teacher scores at {folder} were made with format version {version}, this job "
            f"expects {FORMAT_VERSION}: {REDO}"
        )


def _show(value) -> str:
    return "none" if value is None else repr(value) if isinstance(value, str) else str(value)


def check_scores(folder: str | Path, expect: dict) -> None:
    """Refuse, in one line naming what differs, scores at ``folder`` that were not made as
    ``expect`` (:func:`expected`) says, or whose files changed since they were written."""
    from ..core.models import load_tokenizer, tokenizer_digest

    folder = Path(folder)
    if not (folder / INDEX).is_file():
        raise DataError(f"teacher scores at {folder}: no {INDEX}: {REDO}")
    index = read_json(folder / INDEX)
    check_format(folder, index)
    differ = [
        f"{label} {_show(index.get(key))}, this job expects {_show(expect[key])}"
        for key, label in FIELDS.items()
        if index.get(key) != expect[key]
    ]
    if differ:
        raise DataError(f"teacher scores at {folder} were made with {'; '.join(differ)}: {REDO}")
    parts = [folder / part["file"] for part in index["parts"]]
    missing = [p.name for p in parts if not p.is_file()]
    size = sum(p.stat().st_size for p in parts if p.is_file())
    if missing or size != index["bytes"]:
        what = f"{', '.join(missing)} missing" if missing else f"{size} bytes, not {index['bytes']}"
        raise DataError(
            f"teacher scores at {folder} changed since they were written ({what}): {REDO}"
        )
    if index["format"] == 2:
        saved = tokenizer_digest(load_tokenizer(folder / TOKENIZER))
        if saved != index["tokenizer_hash"]:
            raise DataError(
                f"teacher scores at {folder}: the tokenizer saved with them has hash {saved!r}, "
                f"their manifest says {index['tokenizer_hash']!r}: {REDO}"
            )
