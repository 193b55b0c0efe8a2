"""cmoe.core.provenance: a checkout's commit (clean, dirty, none), package versions, footers."""

import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

import cmoe
from cmoe.core import provenance as prov

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch, tmp_path):
    # git must not find a repository above the temp dirs, whatever the machine's layout
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    prov.git_commit.cache_clear()
    prov._source_checkout.cache_clear()
    yield
    prov.git_commit.cache_clear()
    prov._source_checkout.cache_clear()


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    cmd += ["-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\n")
    git(root, "add", "tracked.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


@needs_git
def test_clean_checkout_gives_head(repo):
    head = git(repo, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert prov.git_commit(str(repo)) == head
    assert prov.provenance(repo)["git_commit"] == head
    # an untracked file does not make the checkout dirty (--untracked-files=no)
    (repo / "scratch.txt").write_text("x\n")
    prov.git_commit.cache_clear()
    assert prov.provenance(repo)["git_commit"] == head


@needs_git
def test_modified_tracked_file_is_dirty(repo):
    head = git(repo, "rev-parse", "HEAD")
    (repo / "tracked.txt").write_text("two\n")
    assert prov.provenance(repo)["git_commit"] == head + "+dirty"
    # a staged change is dirty too
    git(repo, "add", "tracked.txt")
    prov.git_commit.cache_clear()
    assert prov.provenance(str(repo))["git_commit"] == head + "+dirty"
    # and committing it gives the new, clean head
    git(repo, "commit", "-q", "-m", "second")
    prov.git_commit.cache_clear()
    new_head = git(repo, "rev-parse", "HEAD")
    assert new_head != head
    assert prov.provenance(repo)["git_commit"] == new_head


@needs_git
def test_subdirectory_of_checkout_gives_its_head(repo):
    sub = repo / "sub"
    sub.mkdir()
    assert prov.provenance(sub)["git_commit"] == git(repo, "rev-parse", "HEAD")


@needs_git
def test_git_is_asked_once_per_repository(repo):
    head = git(repo, "rev-parse", "HEAD")
    assert prov.provenance(repo)["git_commit"] == head
    (repo / "tracked.txt").write_text("two\n")
    assert prov.provenance(repo)["git_commit"] == head  # cached for the process
    prov.git_commit.cache_clear()
    assert prov.provenance(repo)["git_commit"] == head + "+dirty"


@needs_git
def test_outside_a_checkout_is_unknown(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert prov.provenance(plain)["git_commit"] == "unknown"
    assert prov.provenance(tmp_path / "does-not-exist")["git_commit"] == "unknown"


@needs_git
def test_repository_without_commits_is_unknown(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert prov.provenance(empty)["git_commit"] == "unknown"


@pytest.fixture
def repo_or_dir(tmp_path):
    """A real checkout where git exists (so only the missing or hanging git makes it unknown)."""
    if shutil.which("git") is None:
        return tmp_path
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "f.txt").write_text("x\n")
    git(root, "add", "f.txt")
    git(root, "commit", "-q", "-m", "first")
    assert prov.git_commit(str(root)) != "unknown"
    prov.git_commit.cache_clear()
    return root


def test_missing_git_is_unknown(repo_or_dir, monkeypatch, tmp_path):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert prov.git_commit(str(repo_or_dir)) == "unknown"
    prov.git_commit.cache_clear()
    assert prov.provenance(repo_or_dir)["git_commit"] == "unknown"


def test_hanging_git_times_out_to_unknown(repo_or_dir, monkeypatch, tmp_path):
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    fake_git = fake_bin / "git"
    fake_git.write_text("#!/bin/sh\nexec sleep 30\n")
    fake_git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(prov, "GIT_TIMEOUT_S", 0.3)
    start = time.monotonic()
    assert prov.provenance(repo_or_dir)["git_commit"] == "unknown"
    assert time.monotonic() - start < 10


def test_record_fields_and_versions(tmp_path, monkeypatch):
    record = prov.provenance(tmp_path)
    assert list(record) == ["cmoe", "git_commit", "python", *prov.PACKAGES]
    assert record["cmoe"] == cmoe.__version__
    assert record["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    for name in ("torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        assert record[name] == metadata.version(name)
    monkeypatch.setattr(prov, "PACKAGES", ("torch", "no-such-package-cmoe-test"))
    assert prov.provenance(tmp_path)["no-such-package-cmoe-test"] == "not installed"


def test_provenance_imports_no_heavy_library(tmp_path):
    code = (
        "import sys; from cmoe.core.provenance import provenance; provenance(); "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', "
        "'accelerate') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "[]"


@needs_git
def test_default_repo_is_this_checkout():
    src_root = Path(cmoe.__file__).resolve().parents[2]
    inside = subprocess.run(
        ["git", "-C", str(src_root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if Path(cmoe.__file__).resolve().parent.parent.name != "src" or inside.stdout.strip() != "true":
        pytest.skip("cmoe is not imported from a git checkout's src/")
    assert prov.default_repo() == src_root
    head = subprocess.run(
        ["git", "-C", str(src_root), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    commit = prov.provenance()["git_commit"]
    assert commit in (head, head + "+dirty")


def test_default_repo_outside_a_checkout_is_cwd(tmp_path, monkeypatch):
    monkeypatch.setattr(prov, "_git", lambda repo, *args: None)
    monkeypatch.chdir(tmp_path)
    assert prov.default_repo() == tmp_path
    assert prov.provenance()["git_commit"] == "unknown"


def test_footer_line():
    record = {
        "cmoe": "0.1.0",
        "git_commit": "abc1234def5678abc1234def5678abc1234def56+dirty",
        "python": "3.11.7",
        "torch": "2.13.0",
        "transformers": "5.24.0",
        "trl": "1.16.0",
        "peft": "not installed",
        "datasets": "5.2.0",
        "accelerate": "1.15.0",
    }
    assert prov.footer_line(record) == (
        "cmoe 0.1.0 · commit abc1234+dirty · torch 2.13.0 · transformers 5.24.0 · trl 1.16.0"
        " · peft not installed"
    )
    assert "commit unknown" in prov.footer_line({**record, "git_commit": "unknown"})
    assert "\n" not in prov.footer_line(record)


def test_footer_line_of_real_record(tmp_path):
    record = prov.provenance(tmp_path)
    line = prov.footer_line(record)
    assert line.startswith(f"cmoe {cmoe.__version__} · commit ")
    for name in ("torch", "transformers", "trl", "peft"):
        assert f"{name} {metadata.version(name)}" in line
