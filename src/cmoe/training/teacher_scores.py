"""A teacher's top-k log-probs on training traces, computed once and stored for logit distillation.

The teacher reads each training example exactly as the student's trainer tokenizes it
(:func:`.examples.example_token_ids`) and keeps, at every completion position, its ``k`` most
likely next tokens: ids as int32, log-probs as float16, plus the token actually there (int32),
which lets the student's trainer check that it sees the same tokens. Examples are keyed by a
digest of their text, so a student finds its teacher's scores whatever order or file its rows
come from, and several teachers' folders (one per CMoE specialist) serve one student.

Layout of a scores folder: ``part-NNNNN.safetensors`` (``chunk_examples`` examples each: ``ids``
and ``logprobs`` (tokens, k), ``targets`` (tokens,), ``offsets`` (examples + 1,)) and
``index.json`` (keys per part, token counts, bytes, and the manifest of :mod:`.score_manifest`:
teacher, revision, tokenizer hash, top-k, format and format version). Parts are written atomically
into ``<out>.partial/`` as they are done; a killed job starts again after its last complete
part, and the folder is renamed into place when every part is there.

Format 2, for a student of another vocabulary (``cross_vocab``): the same, with the ids in the
teacher's own vocabulary and, per token, ``target_logprobs`` (float32: the log-prob of the token
that is there, which the merging rule's chain needs) and ``spans`` (int32 (tokens, 2): its UTF-8
byte range in the completion text its tokens spell, :mod:`.cross_vocab.spans`); ``index.json``
says ``format: 2`` and gains a ``cross_vocab`` block (the teacher vocabulary's digest and size), and
the teacher's tokenizer is saved in ``teacher_tokenizer/``, so the student's trainer aligns the
scores without the teacher's weights. The teacher reads the student's rows in its own family's
framing (:func:`.cross_vocab.framing.teacher_view`, recorded as ``cross_vocab.teacher_think``)
and is cut at twice ``max_length`` of its own tokens (the aligner stops at the shorter side).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.io import atomic_write_json, dumps, read_json
from ..core.prompting import thinks_in_tags
from .examples import example_token_ids
from .score_manifest import INDEX, TOKENIZER, check_format, manifest

log = logging.getLogger(__name__)

CROSS_KEYS = ("target_logprobs", "spans")


def row_key(row: dict) -> str:
    """A training row's identity: the digest of its prompt and completion messages."""
    payload = dumps({"prompt": row["prompt"], "completion": row["completion"]})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class ScoreSettings:
    top_k: int = 20
    batch_size: int = 8
    chunk_examples: int = 64  # examples per part file: the unit of resumption
    max_length: int = 4096  # the student's: positions past it are never trained on
    dtype: str = "auto"


def _part_name(i: int) -> str:
    return f"part-{i:05d}.safetensors"


def _fingerprint(
    keys: list[str], model_path: str, settings: ScoreSettings, extra: dict | None = None
) -> str:
    what = {"keys": keys, "model": str(model_path), "settings": settings.__dict__}
    payload = dumps({**what, **extra} if extra else what)
    return hashlib.sha256(payload.encode()).hexdigest()


def _score_chunk(model, tokenizer, rows, settings: ScoreSettings, device, table=None) -> dict:
    """Top-k log-probs of the teacher at every completion position of ``rows``; with ``table``
    (the teacher's :class:`.cross_vocab.TokenTable`) also each token's own log-prob and byte
    span (format 2)."""
    import numpy as np
    import torch

    ids_out, lps_out, targets_out, lengths = [], [], [], []
    own_out, spans_out = [], []
    limit = settings.max_length * (2 if table is not None else 1)
    for start in range(0, len(rows), settings.batch_size):
        batch = rows[start : start + settings.batch_size]
        encoded = [example_token_ids(tokenizer, row) for row in batch]
        encoded = [(ids[:limit], begin) for ids, begin in encoded]
        width = max(len(ids) for ids, _ in encoded)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for b, (ids, _) in enumerate(encoded):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            attention[b, : len(ids)] = 1
        with torch.no_grad():
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention.to(device)
            ).logits
        for b, (ids, begin) in enumerate(encoded):
            # the logits at position p predict the token at p + 1
            positions = slice(max(begin, 1) - 1, len(ids) - 1)
            logprobs = torch.log_softmax(logits[b, positions].float(), dim=-1)
            top = logprobs.topk(settings.top_k, dim=-1)
            ids_out.append(top.indices.to(torch.int32).cpu().numpy())
            lps_out.append(top.values.to(torch.float16).cpu().numpy())
            targets_out.append(np.asarray(ids[max(begin, 1) :], dtype=np.int32))
            lengths.append(len(targets_out[-1]))
            if table is not None:
                there = torch.from_numpy(targets_out[-1]).long().to(logprobs.device)
                own = logprobs.gather(-1, there[:, None])[:, 0]
                own_out.append(own.cpu().numpy().astype(np.float32))
                spans_out.append(table.spans(targets_out[-1]).spans)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    k = settings.top_k
    arrays = {
        "ids": np.concatenate(ids_out) if ids_out else np.zeros((0, k), np.int32),
        "logprobs": np.concatenate(lps_out) if lps_out else np.zeros((0, k), np.float16),
        "targets": np.concatenate(targets_out) if targets_out else np.zeros(0, np.int32),
        "offsets": offsets,
    }
    if table is not None:
        arrays["target_logprobs"] = np.concatenate(own_out) if own_out else np.zeros(0, np.float32)
        arrays["spans"] = np.concatenate(spans_out) if spans_out else np.zeros((0, 2), np.int32)
    return arrays


def _write_part(path: Path, arrays: dict) -> None:
    """One part file, atomically: a kill never leaves a torn part that looks complete."""
    from safetensors.numpy import save_file

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(arrays, str(tmp))
    os.replace(tmp, path)


def score_rows(
    model_path: str,
    rows: list[dict],
    out: str | Path,
    settings: ScoreSettings,
    trust_remote_code: bool = False,
    teacher: str | None = None,
    cross_vocab_for: str | None = None,
    revision: str | None = None,
    commit: str | None = None,
) -> dict:
    """Score ``rows`` with the teacher at ``model_path`` into the folder ``out``; return the index.

    Resumes from ``<out>.partial/`` when it was made for the same rows, teacher and settings.
    ``teacher``: its `models` key for the manifest (default: the path); ``revision``: the hub
    revision the model is loaded at, as its `models` entry gives it (None: a folder); ``commit``:
    the hub commit it names now, which is loaded.
    ``cross_vocab_for``: the student of another vocabulary the rows were written for (format 2).
    """
    import torch

    from ..core.models import load_causal_lm, load_tokenizer

    t0 = time.perf_counter()
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    keys = [row_key(r) for r in rows]
    if len(set(keys)) != len(keys):
        # the same trace twice: score it once (a student would learn it twice either way)
        unique = dict(zip(keys, rows, strict=True))
        keys, rows = list(unique), list(unique.values())
    table = None
    tokenizer = load_tokenizer(model_path, trust_remote_code, "right", commit)
    teacher = teacher or str(model_path)
    made = manifest(teacher, model_path, revision, tokenizer, settings.top_k, bool(cross_vocab_for))
    # another revision, commit or tokenizer: the parts are not resumed
    extra = {"manifest": made, **({"commit": commit} if commit else {})}
    if cross_vocab_for is not None:
        from .cross_vocab import TokenTable
        from .cross_vocab.framing import teacher_view

        table = TokenTable.from_tokenizer(tokenizer)
        think = thinks_in_tags(tokenizer.chat_template)
        view = {"student": str(cross_vocab_for), "vocab": table.digest(), "teacher_think": think}
        extra["cross_vocab"] = view
    fingerprint = _fingerprint(keys, model_path, settings, extra)
    meta = partial / "fingerprint.json"
    if partial.exists() and (not meta.exists() or read_json(meta)["fingerprint"] != fingerprint):
        log.warning("%s: made for other rows, teacher or settings; starting over", partial)
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    atomic_write_json(meta, {"fingerprint": fingerprint})

    size = max(1, settings.chunk_examples)
    chunks = [(i, slice(s, s + size)) for i, s in enumerate(range(0, len(rows), size))]
    todo = [(i, sl) for i, sl in chunks if not (partial / _part_name(i)).exists()]
    if len(todo) < len(chunks):
        log.info(
            "%s: resuming, %d of %d parts already scored", out, len(chunks) - len(todo), len(chunks)
        )
    if todo:
        model = load_causal_lm(model_path, settings.dtype, trust_remote_code, revision=commit)
        where = model.device
        for i, sl in todo:
            chunk = rows[sl] if table is None else [teacher_view(r, think) for r in rows[sl]]
            arrays = _score_chunk(model, tokenizer, chunk, settings, where, table)
            _write_part(partial / _part_name(i), arrays)
        del model
    tokens = 0
    for i, _ in chunks:
        from safetensors import safe_open

        with safe_open(str(partial / _part_name(i)), framework="numpy") as fh:
            tokens += int(fh.get_slice("targets").get_shape()[0])
    size_bytes = sum((partial / _part_name(i)).stat().st_size for i, _ in chunks)
    index = {
        **made,
        "examples": len(rows),
        "tokens": tokens,
        "bytes": size_bytes,
        "bytes_per_1000_tokens": round(1000 * size_bytes / tokens, 1) if tokens else None,
        "parts": [{"file": _part_name(i), "keys": keys[sl]} for i, sl in chunks],
    }
    if table is not None:
        index["student"] = str(cross_vocab_for)
        index["cross_vocab"] = {
            "spans": "utf-8 byte range of each completion token in its tokens' concatenation",
            "vocab_digest": table.digest(),
            "vocab_size": len(table),
            "tokenizer": TOKENIZER,
            "teacher_think": think,
        }
        tokenizer.save_pretrained(partial / TOKENIZER)
    atomic_write_json(partial / INDEX, index)
    meta.unlink()
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    cuda = torch.cuda.is_available()
    cost = {
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "device_count": 1,
        "examples_scored": len(rows),
        "tokens_scored": tokens,
    }
    return {"index": index, "cost": cost}


class TeacherScores:
    """Stored top-k scores of one or more teachers, looked up by :func:`row_key`. Folders of
    format 2 (another vocabulary than the student's) all share one teacher vocabulary."""

    def __init__(self, folders):
        from safetensors.numpy import load_file

        self.top_k: int | None = None
        self.cross_vocab: dict | None = None  # format 2: the index's cross_vocab block
        self.tokenizer_dir: Path | None = None  # format 2: the teacher's saved tokenizer
        self._rows: dict[str, dict] = {}
        formats = set()
        for folder in folders:
            folder = Path(folder)
            index = read_json(folder / INDEX)
            if self.top_k not in (None, index["top_k"]):
                raise ValueError(
                    f"{folder}: top_k={index['top_k']}, but other scores have top_k={self.top_k}"
                )
            self.top_k = index["top_k"]
            check_format(folder, index)  # older scores (the student's framing, no manifest)
            formats.add(index["format"])
            if "cross_vocab" in index:
                digest = index["cross_vocab"]["vocab_digest"]
                if self.cross_vocab not in (None,) and self.cross_vocab["vocab_digest"] != digest:
                    raise ValueError(
                        f"{folder}: scored in another teacher vocabulary than the rest"
                    )
                self.cross_vocab = index["cross_vocab"]
                self.tokenizer_dir = folder / index["cross_vocab"]["tokenizer"]
            if len(formats) > 1:
                raise ValueError(f"{folder}: scores of one student mix formats {sorted(formats)}")
            keys = ("ids", "logprobs", "targets", *(CROSS_KEYS if "cross_vocab" in index else ()))
            for part in index["parts"]:
                arrays = load_file(str(folder / part["file"]))
                offsets = arrays["offsets"]
                for j, key in enumerate(part["keys"]):
                    a, b = int(offsets[j]), int(offsets[j + 1])
                    self._rows[key] = {name: arrays[name][a:b] for name in keys}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def get(self, key: str) -> tuple:
        """(ids (n, k) int32, logprobs (n, k) float16, targets (n,) int32) of one example."""
        row = self._rows[key]
        return row["ids"], row["logprobs"], row["targets"]

    def get_row(self, key: str) -> dict:
        """One example's arrays by name; format 2 adds ``target_logprobs`` and ``spans``."""
        return self._rows[key]
