"""Provenance of a run: cmoe's version, the checkout's commit, Python and the ML stack's versions.

Cheap enough to call from any stage: package versions come from installed metadata (nothing
heavy is imported) and git is asked at most once per repository and process, with a short
timeout. Nothing here raises: what cannot be found reads "unknown" or "not installed".
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import cmoe

# The libraries whose versions decide what a trained model or a score is.
PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")
# The ones a table footer names (the rest stay in the full record).
FOOTER_PACKAGES = ("torch", "transformers", "trl", "peft")
GIT_TIMEOUT_S = 5.0
UNKNOWN = "unknown"
NOT_INSTALLED = "not installed"
# Set by git hooks and some CI wrappers; they would point git at another repository.
_GIT_ENV_OVERRIDES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


def package_version(name: str) -> str:
    """The installed distribution's version, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def _git(repo: Path, *args: str) -> str | None:
    """Stdout of `git -C repo args` stripped, or None when git is missing, fails or hangs."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_OVERRIDES}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # `git status` must not take the index lock of a live checkout
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()


@functools.lru_cache(maxsize=64)
def git_commit(repo: str) -> str:
    """`git rev-parse HEAD` of the work tree at `repo`, with "+dirty" when a tracked file differs
    from it; "unknown" outside a git work tree or without git. Cached per repository and process:
    call `git_commit.cache_clear()` to ask again."""
    path = Path(repo)
    if _git(path, "rev-parse", "--is-inside-work-tree") != "true":
        return UNKNOWN
    head = _git(path, "rev-parse", "--verify", "HEAD")
    if not head:  # no commit yet, or git failed
        return UNKNOWN
    status = _git(path, "status", "--porcelain", "--untracked-files=no")
    return head + "+dirty" if status else head


@functools.lru_cache(maxsize=1)
def _source_checkout() -> Path | None:
    """src/cmoe/../.. when cmoe's source lies in a git work tree, else None."""
    package_dir = Path(cmoe.__file__).resolve().parent
    if package_dir.parent.name != "src":
        return None
    root = package_dir.parent.parent
    return root if _git(root, "rev-parse", "--is-inside-work-tree") == "true" else None


def default_repo() -> Path:
    """The checkout cmoe runs from: src/cmoe/../.. when the package's source lies in a git work
    tree (an editable install, or PYTHONPATH=src as the workflow's rules set), else the cwd."""
    return _source_checkout() or Path.cwd()


def provenance(repo: str | Path | None = None) -> dict:
    """cmoe's version, the commit of `repo` (default: `default_repo()`), Python's version and
    the installed versions of `PACKAGES`."""
    try:
        where = Path(repo) if repo is not None else default_repo()
        commit = git_commit(str(where.resolve()))
    except (OSError, RuntimeError, ValueError):
        commit = UNKNOWN
    record = {"cmoe": cmoe.__version__, "git_commit": commit, "python": platform.python_version()}
    record.update({name: package_version(name) for name in PACKAGES})
    return record


def short_commit(commit: str) -> str:
    """A commit as a footer shows it: 7 hex digits, "+dirty" kept."""
    if commit == UNKNOWN:
        return commit
    head, plus, rest = commit.partition("+")
    return head[:7] + plus + rest


def footer_line(p: dict) -> str:
    """One human line for table footers, such as "cmoe 0.1.0 · commit abc1234 · torch 2.13.0 ·
    transformers 5.24.0 · trl 1.16.0 · peft 0.21.2" (on one line)."""
    parts = [
        f"cmoe {p.get('cmoe', UNKNOWN)}",
        f"commit {short_commit(str(p.get('git_commit', UNKNOWN)))}",
    ]
    parts += [f"{name} {p.get(name, UNKNOWN)}" for name in FOOTER_PACKAGES]
    return " · ".join(parts)
