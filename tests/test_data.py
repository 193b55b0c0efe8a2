import json
from collections import Counter

import pytest
from conftest import DEMO_DATA, mera_row, write_jsonl

from cmoe.core.domains import DEFAULT_SUBJECT_DOMAINS, DOMAINS, subject_domains
from cmoe.core.errors import DataError
from cmoe.data.questions import DataSettings, normalise_text, prepare_data, read_questions


def _prepare(tmp_path, source_file, **kw):
    settings = DataSettings(source={"file": str(source_file)}, **kw)
    outputs = {
        k: tmp_path / f"{k}.json{'l' if k != 'summary' else ''}"
        for k in ("train", "test", "summary")
    }
    summary = prepare_data(settings, subject_domains(settings.domain_map), outputs)
    return summary, read_questions(outputs["train"]), read_questions(outputs["test"])


def test_default_domain_table_covers_all_57_subjects():
    assert len(DEFAULT_SUBJECT_DOMAINS) == 57
    assert set(DEFAULT_SUBJECT_DOMAINS.values()) == set(DOMAINS)


def test_domain_override_and_bad_domain():
    assert subject_domains({"astronomy": "other"})["astronomy"] == "other"
    with pytest.raises(ValueError, match="data.domain_map.astronomy"):
        subject_domains({"astronomy": "space"})


def test_demo_data_meets_spec():
    rows = [json.loads(line) for line in DEMO_DATA.read_text("utf-8").splitlines()]
    assert len(rows) >= 240
    subjects = Counter(r["meta"]["domain"] for r in rows)
    assert len(subjects) >= 12
    assert {DEFAULT_SUBJECT_DOMAINS[s] for s in subjects} == set(DOMAINS)
    assert all(r["outputs"] in "ABCD" and r["explanation"].strip() for r in rows)
    assert len({normalise_text(r["inputs"]["text"]) for r in rows}) == len(rows)
    # MERA's style: every row its own instruction, several variants
    assert len({r["instruction"] for r in rows}) >= 3


def test_question_records_keep_meras_instruction_and_subject_and_the_pool_is_apart(tmp_path):
    from conftest import DEMO_FEWSHOT

    from cmoe.data.questions import prepare_fewshot

    settings = DataSettings(
        source={"file": str(DEMO_DATA)}, fewshot_source={"file": str(DEMO_FEWSHOT)}
    )
    _, train, test = _prepare(tmp_path, DEMO_DATA)
    rows = {
        str(json.loads(x)["meta"]["id"]): json.loads(x) for x in DEMO_DATA.open(encoding="utf-8")
    }
    for q in train + test:
        assert q["instruction"] == rows[q["id"]]["instruction"]
        assert q["subject_name"] == rows[q["id"]]["inputs"]["subject"]
    summary = prepare_fewshot(settings, subject_domains(), tmp_path / "fewshot.jsonl")
    pool = read_questions(tmp_path / "fewshot.jsonl")
    raw = [json.loads(x) for x in DEMO_FEWSHOT.open(encoding="utf-8")]
    assert [q["id"] for q in pool] == [str(r["meta"]["id"]) for r in raw]  # source order
    assert summary["total"] == len(pool) and set(summary["subjects"].values()) == {2}
    texts = {normalise_text(q["question"]) for q in train + test}
    assert not texts & {normalise_text(q["question"]) for q in pool}  # never mixed
    missing = {"file": str(tmp_path / "nope.jsonl")}
    with pytest.raises(FileNotFoundError, match="data.fewshot_source.file: .*nope.jsonl"):
        prepare_fewshot(
            DataSettings(source=missing, fewshot_source=missing),  # as fewshot_settings gives
            subject_domains(),
            tmp_path / "x.jsonl",
        )


def test_split_is_seeded_stratified_and_leak_free(tmp_path):
    summary, train, test = _prepare(tmp_path, DEMO_DATA, test_fraction=0.5, seed=7)
    assert not {normalise_text(q["question"]) for q in train} & {
        normalise_text(q["question"]) for q in test
    }
    # every subject appears on both sides, in about the requested proportion
    tr, te = Counter(q["subject"] for q in train), Counter(q["subject"] for q in test)
    assert set(tr) == set(te)
    for subject in tr:
        assert abs(tr[subject] - te[subject]) <= 1
    assert summary["splits"]["train"]["total"] == len(train)
    _, train2, _ = _prepare(tmp_path / "again", DEMO_DATA, test_fraction=0.5, seed=7)
    assert [q["id"] for q in train2] == [q["id"] for q in train]
    _, train3, _ = _prepare(tmp_path / "other", DEMO_DATA, test_fraction=0.5, seed=8)
    assert [q["id"] for q in train3] != [q["id"] for q in train]


def test_duplicates_removed_and_same_text_never_split(tmp_path):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(20)]
    rows.append(mera_row(100, text="вопрос 3 ?"))  # same normalised text and options: duplicate
    other = mera_row(101, text="ВОПРОС 5?")  # same stem, different options: kept, same split
    other["inputs"]["option_a"] = "Плутон"
    rows.append(other)
    src = write_jsonl(tmp_path / "src.jsonl", rows)
    summary, train, test = _prepare(tmp_path, src, test_fraction=0.5, seed=1)
    assert summary["removed_duplicates"] == 1
    assert len(train) + len(test) == 21
    side = {q["id"]: ("train" if q in train else "test") for q in train + test}
    assert side["5"] == side["101"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["inputs"].pop("option_c"), "missing option inputs.option_c"),
        (lambda r: r.update(outputs="E"), "answer (outputs) must be one of A-D"),
        (lambda r: r["meta"].update(domain="astrology"), "subject 'astrology' has no domain"),
        (
            lambda r: r.update(instruction="Тема {topic}: {text}"),
            "instruction names {topic}, not a field of inputs",
        ),
    ],
)
def test_bad_row_names_file_and_line(tmp_path, mutate, message):
    rows = [mera_row(i) for i in range(5)]
    mutate(rows[3])
    src = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as err:
        _prepare(tmp_path, src)
    assert f"{src}:4" in str(err.value)
    assert message in str(err.value)


def test_broken_json_names_line_and_skip_mode_counts(tmp_path):
    src = tmp_path / "broken.jsonl"
    lines = [json.dumps(mera_row(i, text=f"Q{i}?"), ensure_ascii=False) for i in range(6)]
    lines[2] = lines[2][:-5]  # truncated line
    src.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(DataError, match=rf"{src}:3: broken JSON"):
        _prepare(tmp_path, src)
    summary, train, test = _prepare(tmp_path, src, on_bad_row="skip")
    assert summary["skipped_bad_rows"] == 1
    assert len(train) + len(test) == 5
    assert summary["bad_rows"][0].startswith(f"{src}:3")


def test_missing_source_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.source.file"):
        _prepare(tmp_path, tmp_path / "nope.jsonl")


def test_parquet_source_through_datasets(tmp_path):
    import datasets

    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(8)]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "src.parquet"))
    summary, train, test = _prepare(tmp_path, tmp_path / "src.parquet")
    assert len(train) + len(test) == 8
    assert train[0]["options"]["A"] == "Меркурий"


# --- hardening: BOM, repeated rows, null ids, identical options, numeric options ---


def test_jsonl_with_utf8_bom_reads_first_row(tmp_path):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(4)]
    src = tmp_path / "bom.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    src.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    summary, train, test = _prepare(tmp_path, src)
    assert sorted(q["id"] for q in train + test) == ["0", "1", "2", "3"]
    summary, train, test = _prepare(tmp_path / "skip", src, on_bad_row="skip")
    assert summary["skipped_bad_rows"] == 0  # the first question is not silently dropped
    assert len(train) + len(test) == 4


def test_exact_repeated_row_is_dropped_and_counted(tmp_path):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(6)]
    rows.insert(4, rows[1])  # the very same row again (same id, same content)
    src = write_jsonl(tmp_path / "rep.jsonl", rows)
    summary, train, test = _prepare(tmp_path, src)
    assert summary["removed_duplicates"] == 1
    assert summary["skipped_bad_rows"] == 0
    assert sorted(int(q["id"]) for q in train + test) == list(range(6))


def test_same_id_different_content_names_both_lines(tmp_path):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(6)]
    rows[4] = mera_row(1, text="Вопрос 1?", gold="B")  # line 5 reuses the id of line 2
    src = write_jsonl(tmp_path / "clash.jsonl", rows)
    with pytest.raises(DataError) as err:
        _prepare(tmp_path, src)
    message = str(err.value)
    assert message.startswith(
        f"{src}:5: duplicate meta.id 1 with different content than {src}:2 (differs in: gold)"
    )
    assert "\n" not in message
    summary, train, test = _prepare(tmp_path / "skip", src, on_bad_row="skip")
    assert summary["skipped_bad_rows"] == 1 and summary["removed_duplicates"] == 0
    assert len(train) + len(test) == 5


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["meta"].update(id=None), "meta.id is null"),
        (lambda r: r["meta"].pop("id"), "missing meta.id"),
        (lambda r: r["meta"].update(id="  "), "meta.id is empty"),
        (lambda r: r["meta"].update(id=[1]), "meta.id must be an integer or a string, got [1]"),
    ],
)
def test_null_or_missing_id_is_an_error_not_the_id_none(tmp_path, mutate, message):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(5)]
    mutate(rows[2])
    src = write_jsonl(tmp_path / "ids.jsonl", rows)
    with pytest.raises(DataError) as err:
        _prepare(tmp_path, src)
    assert str(err.value).startswith(f"{src}:3: {message} (set data.on_bad_row: skip")
    summary, train, test = _prepare(tmp_path / "skip", src, on_bad_row="skip")
    assert summary["skipped_bad_rows"] == 1
    assert summary["bad_rows"] == [f"{src}:3: {message}"]
    assert "None" not in {q["id"] for q in train + test}
    assert len(train) + len(test) == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"option_c": "Меркурий"}, "options A and C are identical ('Меркурий')"),
        ({"option_d": " Венера  "}, "options B and D are identical ('Венера')"),
        (
            {"option_a": "да", "option_b": "да", "option_c": "да", "option_d": "да"},
            "options A, B, C and D are identical ('да')",
        ),
        ({"option_b": 7, "option_d": "7"}, "options B and D are identical ('7')"),
    ],
)
def test_identical_options_name_the_line(tmp_path, options, message):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(5)]
    rows[1]["inputs"].update(options)
    src = write_jsonl(tmp_path / "opts.jsonl", rows)
    with pytest.raises(DataError) as err:
        _prepare(tmp_path, src)
    assert str(err.value).startswith(f"{src}:2: {message} (set data.on_bad_row: skip")
    summary, train, test = _prepare(tmp_path / "skip", src, on_bad_row="skip")
    assert summary["skipped_bad_rows"] == 1
    assert summary["bad_rows"] == [f"{src}:2: {message}"]
    assert len(train) + len(test) == 4


def test_numeric_options_become_text(tmp_path):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(4)]
    rows[0]["inputs"].update(option_a=0, option_b=42, option_c=3.5, option_d=-1)
    src = write_jsonl(tmp_path / "num.jsonl", rows)
    summary, train, test = _prepare(tmp_path, src)
    (q,) = [q for q in train + test if q["id"] == "0"]
    assert q["options"] == {"A": "0", "B": "42", "C": "3.5", "D": "-1"}
    assert summary["skipped_bad_rows"] == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing option inputs.option_b"),
        ("", "missing option inputs.option_b"),
        ("   ", "missing option inputs.option_b"),
        (True, "option inputs.option_b must be text or a number, got True"),
        ({"x": 1}, "option inputs.option_b must be text or a number, got {'x': 1}"),
    ],
)
def test_null_or_empty_option_stays_missing(tmp_path, value, message):
    rows = [mera_row(i, text=f"Вопрос {i}?") for i in range(4)]
    rows[3]["inputs"]["option_b"] = value
    src = write_jsonl(tmp_path / "miss.jsonl", rows)
    with pytest.raises(DataError) as err:
        _prepare(tmp_path, src)
    assert str(err.value).startswith(f"{src}:4: {message} (set data.on_bad_row: skip")
    summary, _, _ = _prepare(tmp_path / "skip", src, on_bad_row="skip")
    assert summary["bad_rows"] == [f"{src}:4: {message}"]
