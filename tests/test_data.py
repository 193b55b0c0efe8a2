import json
from collections import Counter

import pytest
from conftest import DEMO_DATA, mera_row, write_jsonl

from cmoe.data import DataSettings, normalise_text, prepare_data, read_questions
from cmoe.domains import DEFAULT_SUBJECT_DOMAINS, DOMAINS, subject_domains
from cmoe.io import DataError


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
