"""MERA's real rows: the rows MERA v1.2's dataset card prints (tests/fixtures/mera_card_rows.json,
the JSON blocks verbatim) go through the data stage as a file and render in MERA's protocols byte
for byte as lm-evaluation-harness renders them with MERA's task (tests/lmeval_tasks/rummlu_mera),
0-shot and 1-shot; and what else real rows carry (hidden rows, integer ids, newlines)."""

import importlib.util
import json

import pytest
from conftest import ROOT, write_jsonl
from support.questions import load_questions

from cmoe.core.domains import subject_domains
from cmoe.core.errors import DataError
from cmoe.data.questions import DataSettings, prepare_data, read_questions
from cmoe.evaluation.loglik import mera_prompt, mera_prompts

CARD = json.loads((ROOT / "tests" / "fixtures" / "mera_card_rows.json").read_text("utf-8"))
ROWS = [json.loads(r["verbatim_block"]) for r in CARD["rows"]]
SEED = 1234
needs_lm_eval = pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None,
    reason="lm-evaluation-harness (pip install 'lm-eval==0.4.*') is not installed",
)


def pool_rows(rows, offset=1000):
    """The card's rows again under other ids: a few-shot pool with a row of every domain."""
    return [{**r, "meta": {**r["meta"], "id": r["meta"]["id"] + offset}} for r in rows]


def through_the_data_stage(tmp_path, rows, pool):
    """Rows -> prepare-data's test split file -> question records; the pool as prepare-fewshot
    reads it: the path a real run takes."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = write_jsonl(tmp_path / "rummlu.jsonl", rows)
    # every row in the test split: round(n * 0.999) is n for any subject under 500 rows
    settings = DataSettings(source={"file": str(source)}, test_fraction=0.999)
    out = {"train": tmp_path / "train.jsonl", "test": tmp_path / "test.jsonl"}
    prepare_data(settings, subject_domains(), {**out, "summary": tmp_path / "summary.json"})
    questions = read_questions(out["test"])
    shots, bad = load_questions(
        DataSettings(source={"file": str(write_jsonl(tmp_path / "pool.jsonl", pool))}),
        subject_domains(),
    )
    assert not bad
    return questions, shots


def test_card_rows_carry_what_real_rows_carry():
    by_id = {r["meta"]["id"]: r for r in ROWS}
    assert all(type(r["meta"]["id"]) is int for r in ROWS)  # JSON integers
    assert by_id[666]["inputs"]["text"].endswith("?\n")  # stored with a trailing newline
    assert by_id[666]["inputs"]["subject"] == "математика"  # and a lowercase subject


def test_card_rows_render_as_meras_task_yaml_says_zero_shot(tmp_path):
    """0-shot: the row's instruction filled from its inputs as stored, then stripped; for the
    row whose text ends in a newline, a blank line before the options stays inside."""
    questions, _ = through_the_data_stage(tmp_path, ROWS, pool_rows(ROWS))
    want = {
        json.loads(r["verbatim_block"])["meta"]["id"]: r["lmeval_0shot_context"]
        for r in CARD["rows"]
    }
    prompts = mera_prompts(questions, [], 0, SEED)
    assert {int(q["id"]): p for q, p in zip(questions, prompts, strict=True)} == want
    row_666 = prompts[[q["id"] for q in questions].index("666")]
    assert "(m, n) \\in A}?\n\nA -5\n" in row_666
    # the chain-of-thought prompt still sees the cleaned text
    assert next(q for q in questions if q["id"] == "666")["question"].endswith("A}?")


def test_card_one_shot_example_as_meras_sampler_builds_it(tmp_path):
    """1-shot, read off MERA's yaml and custom_samplers.py (the fixture's one_shot_example):
    shot 4 with its own instruction and " A", then 666 as the instruction-free block, its
    stored trailing newline leaving a blank line before "A)"."""
    example = CARD["one_shot_example"]
    questions, _ = through_the_data_stage(tmp_path, ROWS, pool_rows(ROWS))
    by_id = {q["id"]: q for q in questions}
    shot, target = by_id[str(example["shot_id"])], by_id[str(example["target_id"])]
    assert mera_prompt(target, [shot]) == example["context"]


@pytest.mark.slow
@needs_lm_eval
@pytest.mark.parametrize("k", [0, 1])
def test_card_rows_prompts_string_equal_to_lm_eval(tiny_model_dir, tmp_path, k):
    """lm-eval runs MERA's task on the card's rows (seed 1234), k shots from a pool holding a
    row of each one's domain; its prompts are ours, string for string, for the log-likelihood
    task and rummlu_gen. k = 1 with the pool being the test rows themselves: lm-eval never
    shows a row as its own shot, and neither do we."""
    from support.lmeval_mera import GEN_TASK, TASK, simple_evaluate, write_task

    for name, pool in (("other", pool_rows(ROWS)), ("same", ROWS)):
        questions, shots = through_the_data_stage(tmp_path / name, ROWS, pool)
        ours = mera_prompts(questions, shots, k, SEED)
        by_id = {r["meta"]["id"]: r for r in ROWS}
        # lm-eval scores the documents in our order, drawing shots from the pool in its order
        task_dir = write_task([by_id[int(q["id"])] for q in questions], pool, tmp_path / name / "t")
        results = simple_evaluate(
            task_dir,
            tiny_model_dir,
            [TASK, GEN_TASK],
            num_fewshot=k,
            gen_kwargs="max_gen_toks=2",
        )
        for task in (TASK, GEN_TASK):
            samples = sorted(results["samples"][task], key=lambda s: s["doc_id"])
            theirs = [s["arguments"][0][0] for s in samples]
            assert theirs == ours, (task, name)
        if k == 1 and name == "other":
            shot_666 = ours[[q["id"] for q in questions].index("666")]
            # the shot is 666's copy: its own instruction, a blank line inside, then the target
            assert shot_666.count("(m, n) \\in A}?\n\n") == 2
        if k == 1 and name == "same":
            assert sum(p.count("Ответ:") for p in ours) < 2 * len(ours)  # some lost their shot


def test_hidden_rows_and_ids_as_real_rows_have_them(tmp_path):
    """A hidden row (empty `outputs`, MERA's closed test) is named as such; ids are JSON
    integers or strings (an int64 from pandas too), never floats or booleans."""
    import numpy as np

    hidden = {**ROWS[0], "outputs": "", "meta": {**ROWS[0]["meta"], "id": 9999}}
    path = write_jsonl(tmp_path / "hidden.jsonl", [ROWS[1], hidden])
    with pytest.raises(DataError, match=r"hidden\.jsonl:2: outputs is empty: a hidden row"):
        load_questions(DataSettings(source={"file": str(path)}), subject_domains())
    questions, bad = load_questions(
        DataSettings(source={"file": str(path)}, on_bad_row="skip"), subject_domains()
    )
    assert [q["id"] for q in questions] == ["4"] and "hidden row" in bad[0]
    from cmoe.data.questions import _question_id

    assert _question_id({"id": np.int64(7)}) == "7" and _question_id({"id": "x7"}) == "x7"
    for bad_id in (7.0, True):
        with pytest.raises(ValueError, match="meta.id must be an integer or a string"):
            _question_id({"id": bad_id})


def test_newlines_inside_options_reach_meras_prompt_as_stored(tmp_path):
    row = json.loads(json.dumps(ROWS[1]))
    row["inputs"]["option_b"] = " 3\nили 4 "
    questions, bad = load_questions(
        DataSettings(source={"file": str(write_jsonl(tmp_path / "r.jsonl", [row]))}),
        subject_domains(),
    )
    assert not bad and questions[0]["options"]["B"] == "3\nили 4"  # cleaned for the CoT prompt
    assert "\nB  3\nили 4 \nC 12" in mera_prompts(questions, [], 0, SEED)[0]  # as stored
