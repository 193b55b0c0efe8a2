"""Loading a split of a hub dataset (``hub: {path, name, split, revision}``), whether ``path`` is
a hub id or a local copy laid out as the hub's."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def resolve_hub(hub: dict[str, Any]) -> dict[str, Any]:
    """``hub`` with its revision resolved to a commit (a local copy: as it is), so that a job
    loads one commit throughout and its outputs can record it."""
    from ..core.revisions import job_revision

    commit = job_revision(hub["path"], hub.get("revision"), "dataset")
    return {**hub, "revision": commit} if commit else dict(hub)


def load_hub_split(hub: dict[str, Any]):
    """The ``datasets.Dataset`` of ``hub``'s split (default ``test``), at its ``revision``.

    ``datasets`` offline does not read a revision from the hub cache (it falls back to the
    last split it prepared, whatever its revision): offline, a hub id's commit is read from
    its snapshot folder in the cache, as a local copy.

    ``datasets`` caches a local folder's prepared split under the folder's name and its
    config's file patterns, not its files' content: a copy edited in place, or another folder
    of the same name, would be read from the stale cache. A local copy therefore gets a cache
    of its own, keyed by its files' paths, sizes and modification times, so what is read is
    what is there now (an edited copy leaves its old cache behind)."""
    import datasets

    from ..core.revisions import cached_commit, is_hub_id

    hub = resolve_hub(hub)
    path, kwargs = hub["path"], {}
    if is_hub_id(path):
        from huggingface_hub import constants, snapshot_download

        commit = hub["revision"]
        if constants.is_offline_mode() and cached_commit(path, commit, "dataset"):
            path = snapshot_download(path, repo_type="dataset", revision=commit)
        else:
            kwargs["revision"] = commit
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
