import os

import pytest

from cmoe.core.errors import DataError
from cmoe.core.io import (
    atomic_directory,
    atomic_write_jsonl,
    atomic_write_text,
    read_json,
    read_jsonl,
)


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"

    def records():
        yield {"a": 1}
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError):
        atomic_write_jsonl(target, records())
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no temp file left behind either


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "x.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_atomic_directory_only_appears_complete(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError("crash")
    assert not target.exists() and os.listdir(tmp_path) == []
    with atomic_directory(target) as tmp:
        (tmp / "weights").write_text("full")
    assert (target / "weights").read_text() == "full"


def test_read_jsonl_names_line_of_broken_json(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n{"b": \n')
    with pytest.raises(DataError, match=r"x.jsonl:3: broken JSON"):
        read_jsonl(p)


def test_read_jsonl_accepts_utf8_bom(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": "\xd0\xb4\xd0\xb0"}\n{"b": 2}\n')
    assert read_jsonl(p) == [{"a": "да"}, {"b": 2}]
    j = tmp_path / "bom.json"
    j.write_bytes(b'\xef\xbb\xbf{"c": 3}\n')
    assert read_json(j) == {"c": 3}
