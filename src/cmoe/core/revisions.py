"""Hub revisions: which commit of a hub model or dataset a job loads, and what its outputs record.

A `models` entry or a `hub:` block may name a ``revision`` (a commit hash, a tag or a branch);
without one the hub's ``main`` is loaded, and may change under the same id. A job resolves the
revision it is given to a commit once (:func:`resolve_revision`) and loads that commit, so a
tag moved while a job runs changes nothing, and its outputs record the commit
(:func:`model_provenance`). Resolution works offline from the Hugging Face
cache: a tag or branch reads the cache's ``refs/<revision>`` (where huggingface_hub writes what
it resolved), a commit hash is itself. Local folders have no revision.
"""

from __future__ import annotations

import re
from pathlib import Path

COMMIT = re.compile(r"^[0-9a-f]{40}$")
KINDS = {"model": "model", "dataset": "dataset"}


def is_hub_id(path: str | None) -> bool:
    """A hub id ("org/name" or "name"), not a local folder."""
    from .paths import looks_like_path

    return bool(path) and not looks_like_path(str(path)) and not Path(str(path)).is_dir()


def _offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


def cached_commit(repo_id: str, revision: str, repo_type: str = "model") -> str | None:
    """The commit the local cache holds for ``revision`` of ``repo_id``, or None."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    repo = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    commit = revision
    if not COMMIT.match(revision):
        ref = repo / "refs" / revision
        commit = ref.read_text("utf-8").strip() if ref.is_file() else ""
    return commit if commit and (repo / "snapshots" / commit).is_dir() else None


def resolve_revision(repo_id: str, revision: str | None = None, repo_type: str = "model") -> str:
    """The commit that ``revision`` (None: ``main``) of hub repo ``repo_id`` names.

    A commit hash is itself. Online the hub answers, and the cache is the fallback when it
    cannot be reached; with HF_HUB_OFFLINE set, only the cache. Raises OSError in one line when
    neither knows it."""
    rev = revision or "main"
    if COMMIT.match(rev):
        return rev
    kind = KINDS[repo_type]
    cached = cached_commit(repo_id, rev, repo_type)
    if _offline():
        if cached is None:
            raise OSError(
                f"{kind} {repo_id!r} revision {rev!r} is not in the local cache and "
                "HF_HUB_OFFLINE is set; download it or unset HF_HUB_OFFLINE"
            )
        return cached
    try:
        from huggingface_hub import HfApi

        return HfApi().repo_info(repo_id, repo_type=repo_type, revision=rev, timeout=10).sha
    except Exception as exc:  # the hub unreachable, the id or revision unknown, no access
        if cached is not None:
            return cached
        raise OSError(
            f"cannot resolve {kind} {repo_id!r} revision {rev!r} ({type(exc).__name__}); log "
            "in (`huggingface-cli login` or HF_TOKEN), or download it into the cache"
        ) from None


def job_revision(path: str, revision: str | None, repo_type: str = "model") -> str | None:
    """The commit a job loads for ``path``: None for a local folder (which takes no revision)."""
    if not is_hub_id(path):
        if revision:
            raise ValueError(f"{path} is a local folder: a revision applies to hub ids only")
        return None
    return resolve_revision(str(path), revision, repo_type)


def model_revision(path: str | Path, revision: str | None) -> str | None:
    """The hub commit a job loads for model ``path`` (None for a local folder), resolved once
    when the job starts; a hub id that does not resolve fails as a load would, in one line."""
    from .models import _unresolved, check_model_source

    check_model_source(path)
    try:
        return job_revision(str(path), revision)
    except OSError as exc:
        raise _unresolved(path, exc) from None


def model_provenance(path: str | Path, commit: str | None) -> dict:
    """What an output records of the model it came from: its id or folder and the hub commit
    loaded (None for a local folder); a LoRA adapter adds its base and the base's commit."""
    from .models import adapter_base, adapter_revision, is_adapter

    record = {"path": str(path), "revision": commit}
    if is_adapter(path):
        record.update(base=adapter_base(path), base_revision=adapter_revision(path))
    return record
