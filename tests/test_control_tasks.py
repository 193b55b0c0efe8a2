"""The control tasks (data/control): the committed files are what the seeded generator writes,
they load through the project's MERA reader, and the effects they plant hold in the data."""

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict

import pytest
from conftest import ROOT
from support.questions import load_questions

from cmoe.core.domains import subject_domains
from cmoe.data.questions import DataSettings, split_questions

CONTROL = ROOT / "data" / "control"
FILES = ("control_tasks.jsonl", "control_tasks_noisy.jsonl", "control_fewshot.jsonl")
TARGET = re.compile(r"ищем (\S+)\.")


def _rows(name):
    return [json.loads(line) for line in (CONTROL / name).read_text("utf-8").splitlines()]


def _questions(name):
    questions, bad = load_questions(
        DataSettings(source={"file": str(CONTROL / name)}), subject_domains()
    )
    assert not bad
    return questions


def test_the_generator_writes_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(CONTROL / "make_control_tasks.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in (*FILES, "knowledge.jsonl"):
        assert (tmp_path / name).read_bytes() == (CONTROL / name).read_bytes(), name


def test_rows_load_in_all_four_domains_with_reference_reasoning():
    questions = _questions("control_tasks.jsonl")
    assert len(questions) == len(_rows("control_tasks.jsonl"))
    assert Counter(q["domain"] for q in questions) == {
        d: 76 for d in ("social_humanities", "natural_science", "math_cs", "other")
    }
    # meta.kind is kept on the question record (the tables score the kinds apart)
    assert Counter(q["kind"] for q in questions) == {"rule": 240, "knowledge": 64}
    for q in questions:
        # the explanation names the gold option in capitals and says "да" at its letter
        target = TARGET.search(q["explanation"]).group(1)
        assert target == q["options"][q["gold"]].upper()
        assert q["explanation"].splitlines()[-1].startswith(f"{q['gold']}) ")
        assert q["explanation"].endswith(" да")


def test_rules_conflict_each_answer_is_the_other_rules_distractor():
    rows = [r for r in _rows("control_tasks.jsonl") if r["meta"]["kind"] == "rule"]
    # a rule question's month and its four options: one answer per rule for that month
    by_month = defaultdict(set)
    for r in rows:
        month = re.search(r"«(.+?)»", r["inputs"]["text"]).group(1)
        options = frozenset(r["inputs"][f"option_{x}"] for x in "abcd")
        by_month[month].add(options)
        gold = r["inputs"][f"option_{r['outputs'].lower()}"]
        by_month[(month, r["meta"]["domain"])].add(gold)
    months = [m for m in by_month if isinstance(m, str)]
    for month in months:
        assert len(by_month[month]) == 1  # the same four options whatever the domain
        golds = {next(iter(by_month[k])) for k in by_month if k[0] == month and k != month}
        assert golds == next(iter(by_month[month]))  # each option is one domain's answer


def test_split_puts_new_combinations_in_test_and_every_rule_month_in_train():
    questions = _questions("control_tasks.jsonl")
    split = split_questions(questions, test_fraction=0.5, seed=13)  # the demo's split
    train_texts = {q["question"] for q in split["train"]}
    assert not train_texts & {q["question"] for q in split["test"]}

    def rule_month(q):
        return q["domain"], re.search(r"«(.+?)»", q["question"]).group(1)

    rules = [q for q in split["test"] if q["id"].startswith("r-")]
    seen = {rule_month(q) for q in split["train"] if q["id"].startswith("r-")}
    assert rules and all(rule_month(q) in seen for q in rules)


def test_knowledge_facts_live_only_in_the_knowledge_base():
    rows = _rows("control_tasks.jsonl")
    passages = [r["text"] for r in _rows("knowledge.jsonl")]
    others = [r["inputs"]["text"] for r in rows] + [
        r.get("explanation", "") for r in _rows("control_fewshot.jsonl")
    ]
    knowledge = [r for r in rows if r["meta"]["kind"] == "knowledge"]
    assert len(knowledge) == 64
    for r in knowledge:
        entity = re.search(r"«(.+?)»", r["inputs"]["text"]).group(1)
        answer = r["inputs"][f"option_{r['outputs'].lower()}"]
        held = [p for p in passages if entity in p]
        assert len(held) == 1 and answer in held[0], entity
        # no other question (nor a few-shot explanation) names the entity
        assert sum(entity in text for text in others) == 1, entity
    assert len(passages) > 2 * len(knowledge)  # distractor passages: about unasked entities


def test_teacher_b_is_wrong_on_a_planted_quarter():
    clean, noisy = _questions("control_tasks.jsonl"), _questions("control_tasks_noisy.jsonl")
    flagged = {r["meta"]["id"] for r in _rows("control_tasks.jsonl") if r["meta"]["noisy"]}
    wrong = set()
    for a, b in zip(clean, noisy, strict=True):
        assert (a["id"], a["gold"], a["options"]) == (b["id"], b["gold"], b["options"])
        if TARGET.search(b["explanation"]).group(1) != a["options"][a["gold"]].upper():
            wrong.add(a["id"])
    assert wrong == flagged
    assert len(wrong) == pytest.approx(len(clean) / 4, abs=1)
