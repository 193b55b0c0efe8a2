"""The curation chain: each step keeps what it must and removes what it must, and counts it."""

import json

import pytest

from cmoe.config import load_config, validate_config
from cmoe.core.errors import ConfigError
from cmoe.reporting.golden import data_card, economics_rows
from cmoe.traces.contamination import ContaminationIndex, evaluated_items
from cmoe.traces.curation import Chain, CurationSettings, filter_traces, question_stats, select
from cmoe.traces.extra_sources import SourceError, curate_sources, load_source, parse_sources

RU = "Сначала вспомним определение, затем проверим каждый вариант по очереди и выберем верный."
EN = "First recall the definition, then check every option in turn and pick the right one."


def trace(id_, reasoning=RU, correct=True, sample=None, answer="A", **extra):
    r = {
        "id": id_,
        "domain": "other",
        "subject": "global_facts",
        "question": f"Вопрос номер {id_} о чём-то своём?",
        "reasoning": reasoning,
        "output": reasoning,
        "answer": answer if correct or answer is None else "B",
        "gold": "A",
        "correct": correct,
        "prompt_tokens": 10,
        "completion_tokens": len(reasoning.split()),
        **extra,
    }
    if sample is not None:
        r["sample"] = sample
    return r


def run(records, steps, length=None, contamination=None, max_length=1000, **settings):
    chain = Chain(CurationSettings(steps=steps, **settings), max_length, length, contamination)
    kept, counts = chain.run(records)
    return kept, counts, chain


def ids(records):
    return [(r["id"], r.get("sample")) for r in records]


def test_correct_keeps_correct_and_drops_wrong_and_unparseable():
    records = [trace("1"), trace("2", correct=False), trace("3", correct=False, answer=None)]
    kept, counts, _ = run(records, ["correct"])
    assert ids(kept) == [("1", None)]
    assert counts[0] | {"examples": None} == {
        "step": "correct",
        "in": 3,
        "dropped": 2,
        "out": 1,
        "examples": None,
    }
    assert [e["id"] for e in counts[0]["examples"]] == ["2", "3"]


def test_length_bounds_in_student_tokens_never_above_max_length():
    records = [trace("short", "а " * 5), trace("ok", "б " * 50), trace("long", "в " * 500)]

    def length(r):
        return len(r["reasoning"].split())

    kept, counts, _ = run(records, ["length"], length, min_tokens=10, max_length=100)
    assert ids(kept) == [("ok", None)]
    assert counts[0]["dropped"] == 2
    # a max_tokens above max_length is clipped to it (and the config rejects it, below)
    kept, _, _ = run(records, ["length"], length, max_tokens=10_000, max_length=100)
    assert ids(kept) == [("short", None), ("ok", None)]
    with pytest.raises(ValueError, match="tokenizer"):
        run(records, ["length"])


def test_language_keeps_russian_reasoning_and_drops_english():
    records = [trace("ru", RU), trace("en", EN), trace("mixed", RU[:20] + " " + EN)]
    kept, counts, _ = run(records, ["language"], min_cyrillic=0.5)
    assert ids(kept) == [("ru", None)]
    assert counts[0]["dropped"] == 2


def test_dedup_removes_near_duplicates_and_keeps_distinct_traces():
    other = "Переберём варианты: первый противоречит условию, второй подходит по всем признакам."
    records = [
        trace("1", RU, sample=0),
        trace("1", RU + " ", sample=1),  # a repeated sample (greedy decoding)
        trace("1", RU.replace("затем", "потом"), sample=2),  # one word changed
        trace("1", other, sample=3),
        trace("2", "Площадь круга равна пи, умноженному на квадрат радиуса."),
    ]
    kept, counts, _ = run(records, ["dedup"], dedup_threshold=0.5)
    assert ids(kept) == [("1", 0), ("1", 3), ("2", None)]
    assert counts[0]["dropped"] == 2


TEST = [
    {
        "id": "t631",
        "question": "Злоумышленник незаметно встраивается в канал связи между двумя сторонами, "
        "перехватывая и, возможно, изменяя их сообщения. Как называется такая атака?",
        "options": {"A": "Перебор", "B": "Человек посередине", "C": "XSS", "D": "DoS"},
    }
]


def test_decontamination_removes_a_planted_test_question_rewritten_with_small_edits():
    index = ContaminationIndex(evaluated_items(TEST, {"bench": ["Сколько сторон у куба?"]}), 8)
    planted = trace(
        "planted",
        "Злоумышленник незаметно встраивается в канал связи между двумя сторонами перехватывая "
        "и возможно подменяя их сообщения. Как называют такую атаку? Это MITM.",
    )
    clean = trace("clean", "Канал связи защищают шифрованием, чтобы никто не прочитал сообщения.")
    kept, counts, chain = run([planted, clean], ["decontaminate"], contamination=index)
    assert ids(kept) == [("clean", None)]
    assert counts[0]["dropped"] == 1
    assert chain.removed[0]["id"] == "planted" and chain.removed[0]["matched"] == "t631"
    assert chain.removed[0]["source"] == "test"


def test_select_policies():
    lengths = {0: 30, 1: 10, 2: 20, 3: 50}
    records = [trace("q", "х " * n, sample=k, tokens=n) for k, n in lengths.items()]
    records.append(trace("p", "у " * 7, sample=0, tokens=7))
    assert len(select(records, "all", 1)[0]) == 5
    assert ids(select(records, "shortest", 1)[0]) == [("q", 1), ("p", 0)]
    # median of 10, 20, 30, 50 is 25: 20 and 30 are nearest, the shorter wins
    assert ids(select(records, "median", 1)[0]) == [("q", 2), ("p", 0)]
    assert ids(select(records, "first", 2)[0]) == [("q", 0), ("q", 1), ("p", 0)]
    assert ids(select(records, "shortest", 2)[0]) == [("q", 1), ("q", 2), ("p", 0)]


def test_question_stats_pass_at_1_pass_at_n_and_yield():
    records = [
        trace("a", sample=0, correct=False),
        trace("a", sample=1, correct=True),
        trace("b", sample=0, correct=True),
        trace("b", sample=1, correct=True),
        trace("c", sample=0, correct=False),
        trace("c", sample=1, correct=False),
    ]
    s = question_stats(records)
    assert s["pass_at_1"] == pytest.approx(1 / 3)
    assert s["pass_at_n"] == pytest.approx(2 / 3)
    assert s["yield"] == 2 and s["correct_traces"] == 3
    assert s["pass_rates"] == {"a": 0.5, "b": 1.0, "c": 0.0}


def test_filter_traces_writes_each_steps_counts(tmp_path):
    raw = tmp_path / "raw.jsonl"
    records = [
        trace("1", sample=0, correct=False, tokens=1),
        trace("1", sample=1),
        trace("2", sample=0),
        trace("2", sample=1, reasoning=RU + " Проверим ещё раз подробнее."),
        trace("3", sample=0, reasoning=EN),
        trace("3", sample=1, reasoning=EN),
    ]
    raw.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    settings = CurationSettings(steps=["correct", "language", "select"], select="shortest")
    stats = filter_traces(raw, tmp_path / "kept.jsonl", tmp_path / "s.json", 100, settings)
    assert [(s["step"], s["dropped"]) for s in stats["curation"]] == [
        ("correct", 1),
        ("language", 2),
        ("select", 1),
    ]
    assert stats["kept"] == 2 and stats["generated"] == 6
    assert stats["overall"]["accuracy"] == pytest.approx(2 / 3)  # pass@1: first samples
    assert stats["pass_at_n"] == 1.0 and stats["yield"] == 3
    kept = [json.loads(line) for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert [(r["id"], r["sample"], r["pass_rate"]) for r in kept] == [("1", 1, 0.5), ("2", 0, 1.0)]


def _source(tmp_path, name, rows, **extra):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return {
        "name": name,
        "file": str(path),
        "fields": {"prompt": "q", "response": "a"},
        "licence": "CC0-1.0",
        **extra,
    }


PAIRS = [
    {"q": "Что такое фотосинтез?", "a": "Превращение углекислого газа и воды в сахара на свету."},
    {"q": "Сколько будет дважды два?", "a": "Дважды два — четыре, это знает каждый школьник."},
    {"q": "Кто написал «Войну и мир»?", "a": "Роман написал Лев Николаевич Толстой."},
]


def test_duplicates_across_two_sources_are_removed_once(tmp_path):
    first = _source(tmp_path, "first", PAIRS[:2])
    second = _source(tmp_path, "second", [PAIRS[1], PAIRS[2]], weight=2.0)
    settings = CurationSettings(steps=["dedup"])
    out, stats_out = tmp_path / "extra.jsonl", tmp_path / "extra.stats.json"
    stats = curate_sources([first, second], settings, 512, out, stats_out)
    assert stats["curation"][0]["dropped"] == 1
    assert stats["curation"][0]["by_source"] == {"second": 1}
    assert [(s["name"], s["rows"], s["kept"], s["in_training"]) for s in stats["sources"]] == [
        ("first", 2, 2, 2),
        ("second", 2, 1, 2),  # weight 2: each kept row twice
    ]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["messages"][0]["content"] for r in rows].count(PAIRS[1]["q"]) == 1
    assert all(r["correct"] and r["messages"][-1]["role"] == "assistant" for r in rows)


def test_fractional_weight_samples_the_source(tmp_path):
    rows = [{"q": f"Вопрос {i}", "a": f"Ответ номер {i}"} for i in range(10)]
    source = _source(tmp_path, "s", rows, weight=0.3)
    stats = curate_sources(
        [source], CurationSettings(steps=[]), 512, tmp_path / "o.jsonl", tmp_path / "o.json"
    )
    assert stats["sources"][0]["in_training"] == 3


def test_a_missing_mapped_field_names_the_source_and_row(tmp_path):
    rows = [PAIRS[0], {"q": "Без ответа"}]
    (source,) = parse_sources([_source(tmp_path, "broken", rows)])
    with pytest.raises(SourceError, match=r"extra source broken, .*broken.jsonl:2: no field 'a'"):
        list(load_source(source))
    (source,) = parse_sources([_source(tmp_path, "renamed", PAIRS, fields={"messages": "chat"})])
    with pytest.raises(SourceError, match=r"renamed.jsonl:1: no field 'chat'"):
        list(load_source(source))


def test_config_requires_a_licence_and_checks_rows_before_any_job(tmp_path):
    def config(**source):
        c = load_config("config/demo_rummlu.yaml")
        c["data"]["extra_sources"] = [source]
        return c

    good = _source(tmp_path, "good", PAIRS)
    validate_config(config(**good))
    with pytest.raises(ConfigError, match="licence"):
        validate_config(config(**{k: v for k, v in good.items() if k != "licence"}))
    bad = _source(tmp_path, "bad", [PAIRS[0], {"q": "нет ответа"}])
    with pytest.raises(ConfigError, match=r"extra source bad, .*bad.jsonl:2: no field 'a'"):
        validate_config(config(**bad))


def test_config_rejects_max_tokens_above_max_length():
    c = load_config("config/demo_rummlu.yaml")
    c["curation"]["max_tokens"] = c["training"]["max_length"] + 1
    with pytest.raises(ConfigError, match="curation.max_tokens"):
        validate_config(c)


def test_economics_prices_api_teachers_by_their_bill_and_local_ones_by_device_hours(tmp_path):
    stats = {
        "overall": {
            "n": 10,
            "correct": 8,
            "accuracy": 0.8,
            "kept": 15,
            "questions": 10,
            "samples_per_question": 2,
            "pass_at_1": 0.8,
            "pass_at_n": 0.9,
            "yield": 9,
            "correct_traces": 16,
        }
    }
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    api = {"wall_time_s": 36, "prompt_tokens": 1000, "completion_tokens": 3000, "api_cost_usd": 0.4}
    local = {"wall_time_s": 3600, "device_count": 2, "prompt_tokens": 10, "completion_tokens": 30}
    (tmp_path / "api.json").write_text(json.dumps({**api, "backend": "openai"}))
    (tmp_path / "local.json").write_text(json.dumps({**local, "backend": "vllm"}))
    rows = economics_rows(
        {
            "api": {"stats": str(tmp_path / "stats.json"), "costs": [str(tmp_path / "api.json")]},
            "local": {
                "stats": str(tmp_path / "stats.json"),
                "costs": [str(tmp_path / "local.json")],
                "price_per_device_hour": 2.5,
            },
            "unpriced": {
                "stats": str(tmp_path / "stats.json"),
                "costs": [str(tmp_path / "local.json")],
            },
        }
    )
    api_row, local_row, unpriced = rows
    assert api_row["usd"] == pytest.approx(0.4)
    assert api_row["usd_per_1k_correct"] == pytest.approx(0.4 * 1000 / 16)
    assert api_row["tokens"] == 4000 and api_row["correct_per_question"] == 1.6
    assert local_row["device_hours"] == pytest.approx(2.0)
    assert local_row["usd"] == pytest.approx(5.0)
    assert local_row["device_hours_per_1k_correct"] == pytest.approx(2.0 * 1000 / 16)
    assert unpriced["usd"] is None and unpriced["usd_per_1k_correct"] is None


def test_data_card_lists_sources_steps_and_removed_items(tmp_path):
    teacher = {
        "overall": {"n": 4, "correct": 3, "accuracy": 0.75, "kept": 2, "generated": 8},
        "curation": [{"step": "correct", "in": 8, "dropped": 5, "out": 3, "examples": []}],
        "decontaminated": [{"id": "q1", "matched": "t9", "source": "test", "ngram": "а б в"}],
    }
    extra = {
        "sources": [
            {
                "name": "pairs",
                "origin": "pairs.jsonl",
                "licence": "CC0-1.0",
                "weight": 0.5,
                "rows": 10,
                "kept": 6,
                "in_training": 3,
            }
        ],
        "curation": [{"step": "dedup", "in": 10, "dropped": 4, "out": 6, "examples": []}],
        "decontaminated": [],
    }
    (tmp_path / "t.json").write_text(json.dumps(teacher))
    (tmp_path / "e.json").write_text(json.dumps(extra))
    text = data_card(
        {"ta": str(tmp_path / "t.json")}, str(tmp_path / "e.json"), None, tmp_path / "c.md"
    )
    assert "| pairs | extra source (pairs.jsonl) | CC0-1.0 | 0.5 | 10 | 6 | 3 |" in text
    assert "| correct | 8 | 5 | 3 |" in text and "| dedup | 10 | 4 | 6 |" in text
    assert "| ta | q1 | t9 | test | а б в |" in text
