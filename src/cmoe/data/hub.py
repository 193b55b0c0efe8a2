"""Loading a split of a hub dataset (``hub: {path, name, split}``), whether ``path`` is a hub id
or a local copy laid out as the hub's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def load_hub_split(hub: dict[str, Any]):
    """The ``datasets.Dataset`` of ``hub``'s split (default ``test``).

    ``datasets`` caches a local folder's prepared split under the folder's name and its
    config's file patterns, not its files' content: a copy edited in place, or another folder
    of the same name, would be read from the stale cache. A local copy therefore gets a cache
    of its own, keyed by its files' paths, sizes and modification times, so what is read is
    what is there now (an edited copy leaves its old cache behind)."""
    import datasets

    path, kwargs = hub["path"], {}
    if Path(path).is_dir():
        cache = Path(datasets.config.HF_DATASETS_CACHE) / "cmoe-local" / _fingerprint(Path(path))
        kwargs["cache_dir"] = str(cache)
    return datasets.load_dataset(path, hub.get("name"), split=hub.get("split", "test"), **kwargs)


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if f.is_file() and not any(part.startswith(".") for part in rel.parts):
            stat = f.stat()
            digest.update(f"{rel.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
