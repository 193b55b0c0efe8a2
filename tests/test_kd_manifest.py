"""The manifest of stored teacher scores: a KD job refuses scores made by another teacher,
revision, tokenizer, top-k, format or version, or changed since, in one line and before it
loads its student."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from cmoe.core.errors import DataError

REDO = ": delete them or rerun the score_teacher job"


def _rows(questions):
    from cmoe.core.prompting import PromptSettings
    from cmoe.training import sft_examples

    traces = [{**q, "reasoning": q["explanation"], "answer": q["gold"]} for q in questions]
    return sft_examples(traces, PromptSettings(), "traces")


@pytest.fixture
def scored(tiny_model_dir, demo_questions, tmp_path):
    """A teacher (a copy of the tiny model, so its tokenizer can change in place) and its scores
    at top_k 4, and what a KD job of that teacher at top_k 4 expects."""
    from cmoe.training.teacher_scores import ScoreSettings, score_rows

    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_model_dir, teacher)
    folder = tmp_path / "scores"
    settings = ScoreSettings(top_k=4, chunk_examples=2, max_length=512)
    score_rows(str(teacher), _rows(demo_questions[:3]), folder, settings, teacher="tiny-teacher")
    spec = {"teacher": "tiny-teacher", "model": str(teacher), "revision": None}
    return teacher, folder, spec


def _refusal(folder, expect) -> str:
    from cmoe.training.score_manifest import check_scores

    with pytest.raises(DataError) as err:
        check_scores(folder, expect)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_scores_carry_their_manifest(scored):
    from cmoe.core.models import load_tokenizer, tokenizer_digest
    from cmoe.training.score_manifest import FORMAT_VERSION, check_scores, expected

    teacher, folder, spec = scored
    index = json.loads((folder / "index.json").read_text())
    assert {k: index[k] for k in ("teacher", "model", "revision", "top_k", "format")} == {
        "teacher": "tiny-teacher",
        "model": str(teacher),
        "revision": None,
        "top_k": 4,
        "format": 1,
    }
    assert index["format_version"] == FORMAT_VERSION
    assert index["tokenizer_hash"] == tokenizer_digest(load_tokenizer(teacher))
    check_scores(folder, expected(spec, 4, cross=False))  # matching scores pass


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        (lambda e: e.update(top_k=8), "top_k 4, this job expects 8"),
        (lambda e: e.update(teacher="other"), "teacher 'tiny-teacher', this job expects 'other'"),
        (lambda e: e.update(model="elsewhere"), "model '{teacher}', this job expects 'elsewhere'"),
        (lambda e: e.update(revision="v2"), "revision none, this job expects 'v2'"),
        (lambda e: e.update(format=2), "format 1, this job expects 2"),
        (
            lambda e: e.update(top_k=8, revision="v2"),
            "revision none, this job expects 'v2'; top_k 4, this job expects 8",
        ),
    ],
    ids=["top_k", "teacher", "model", "revision", "format", "two-fields"],
)
def test_each_field_that_differs_is_named_in_one_line(scored, change, differs):
    from cmoe.training.score_manifest import expected

    teacher, folder, spec = scored
    expect = expected(spec, 4, cross=False)
    change(expect)
    message = _refusal(folder, expect)
    differs = differs.format(teacher=teacher)
    assert message == f"teacher scores at {folder} were made with {differs}{REDO}"


def test_a_tokenizer_changed_in_place_is_refused(scored):
    """The teacher's chat template patched on the hub (here: in its folder) after scoring."""
    from cmoe.core.models import load_tokenizer
    from cmoe.training.score_manifest import expected

    teacher, folder, spec = scored
    tokenizer = load_tokenizer(teacher)
    tokenizer.chat_template = tokenizer.chat_template.replace("<|im_start|>", "<|im_start|> ")
    tokenizer.save_pretrained(teacher)
    message = _refusal(folder, expected(spec, 4, cross=False))
    assert message.startswith(f"teacher scores at {folder} were made with tokenizer hash '")
    assert message.endswith(REDO) and message.count("this job expects") == 1


def test_older_or_other_versions_and_changed_parts_are_refused(scored):
    from cmoe.training.score_manifest import expected
    from cmoe.training.teacher_scores import TeacherScores

    _, folder, spec = scored
    expect = expected(spec, 4, cross=False)
    index_file = folder / "index.json"
    index = json.loads(index_file.read_text())
    part = folder / index["parts"][0]["file"]
    part.write_bytes(part.read_bytes()[:-8])
    assert _refusal(folder, expect) == (
        f"teacher scores at {folder} changed since they were written "
        f"({index['bytes'] - 8} bytes, not {index['bytes']}){REDO}"
    )
    index_file.write_text(json.dumps({**index, "format_version": 0}))
    assert _refusal(folder, expect) == (
        f"teacher scores at {folder} were made with format version 0, this job expects 1{REDO}"
    )
    del index["format_version"]  # made before scores had a manifest
    index_file.write_text(json.dumps(index))
    older = f"teacher scores at {folder} were made by an older cmoe{REDO}"
    assert _refusal(folder, expect) == older
    with pytest.raises(DataError) as err:
        TeacherScores([folder])  # the trainer's reader refuses them too
    assert str(err.value) == older


def test_the_tokenizer_hash_is_the_same_in_another_process(tiny_model_dir):
    from cmoe.core.models import load_tokenizer, tokenizer_digest

    code = (
        "import sys; from cmoe.core.models import load_tokenizer, tokenizer_digest; "
        "print(tokenizer_digest(load_tokenizer(sys.argv[1], padding_side='right')))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model_dir)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},  # other set and dict orders
    ).stdout.strip()
    assert other == tokenizer_digest(load_tokenizer(tiny_model_dir))


def test_a_kd_job_refuses_other_scores_before_it_loads_its_student(
    scored, demo_questions, tmp_path, capsys, monkeypatch
):
    """`cmoe train --kd`, as the workflow runs it: one line, and nothing trained or loaded."""
    import cmoe.training
    from cmoe.cli import main

    teacher, folder, spec = scored
    loaded = []

    def rows(*args, **kwargs):
        loaded.append("rows")
        return []

    def train(*args, **kwargs):
        loaded.append("student")
        return {"examples": 0, "wall_time_s": 0.0, "final_train_loss": 0.0}

    monkeypatch.setattr(cmoe.training, "load_training_rows", rows)
    monkeypatch.setattr(cmoe.training, "train", train)
    data = tmp_path / "traces.jsonl"
    rows = [{**q, "reasoning": q["explanation"], "answer": q["gold"], "correct": True}
            for q in demo_questions[:3]]  # fmt: skip
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    kd = {"settings": {"top_k": 8}, "scores": [str(folder)], "manifests": [spec]}
    argv = ["train", "--model", str(teacher), "--data", str(data), "--prompt", "{}"]
    assert main([*argv, "--kd", json.dumps(kd), "--out", str(tmp_path / "student")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"cmoe train: error: teacher scores at {folder} were made with top_k 4, this job "
        f"expects 8{REDO}"
    ]
    assert loaded == [] and not (tmp_path / "student").exists()
    kd["settings"]["top_k"] = 4  # the scores' own: the job goes on to its rows and student
    assert main([*argv, "--kd", json.dumps(kd), "--out", str(tmp_path / "student")]) == 0
    assert loaded == ["rows", "student"]
