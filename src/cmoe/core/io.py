"""Atomic file output, and line-numbered JSONL and CSV input.

Every output goes to a temporary sibling first and is renamed into place, so a killed job never
leaves a half-written file that looks complete (rename is atomic on one filesystem).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import DataError


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def atomic_write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    n = 0
    lines = []
    for rec in records:
        lines.append(dumps(rec))
        n += 1
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return n


def read_json(path: str | Path) -> Any:
    # utf-8-sig: a leading byte-order mark (as some Windows tools write) is dropped, not an error
    with open(path, encoding="utf-8-sig") as fh:
        return json.load(fh)


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (line_number, text) for each non-blank line of a UTF-8 text file.

    A leading UTF-8 byte-order mark (as some Windows tools write) is dropped; bytes that are not
    UTF-8 raise DataError naming the file, line and byte. Lines end at ``\n`` only.
    """
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}:{lineno}: not UTF-8 (byte 0x{raw[exc.start]:02x}, the line's byte "
                    f"{exc.start + 1}); save the file as UTF-8"
                ) from None
            if line.strip():
                yield lineno, line


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line_number, object) for each non-blank line (:func:`iter_lines`); broken JSON
    raises DataError."""
    for lineno, line in iter_lines(path):
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: broken JSON ({exc.msg})") from exc


def read_jsonl(path: str | Path) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def read_csv_rows(
    path: str | Path, required: list[str], error: type[DataError] = DataError
) -> list[tuple[int, dict]]:
    """A CSV file's rows with their line numbers (a BOM is read as one); ``error``, naming the
    file, when it cannot be read or lacks a ``required`` column."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in required if f not in (reader.fieldnames or [])]
            if missing:
                raise error(f"{path}: missing column(s) {', '.join(missing)}")
            return list(enumerate(reader, start=2))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def canonical_json(obj: Any) -> str:
    """Settings as canonical JSON: what the CLI receives and what Snakemake compares."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def digest(obj: Any, length: int = 16) -> str:
    """A short stable digest of a (large) value, for rerun-triggering params and file names."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]
