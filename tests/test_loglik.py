"""MERA log-likelihood evaluator: prompts, shots, one-pass scoring, agreement with lm-eval."""

import importlib.util
import json
import random
import time

import pytest
import torch

from cmoe.loglik import evaluate_loglik, mera_prompt, score_letters, select_shots

LETTERS = "ABCD"


def q(i, subject="astronomy", gold="A", **extra):
    return {
        "id": str(i),
        "subject": subject,
        "subject_name": "Астрономия",
        "domain": "STEM",
        "question": f"Вопрос {i}?",
        "options": {"A": "один", "B": "два", "C": "три", "D": "четыре"},
        "gold": gold,
        **extra,
    }


def test_prompt_layout_is_meras():
    shot = q(1, gold="C")
    target = q(2)
    head = (
        "Задание содержит вопрос по теме Астрономия и 4 варианта ответа A, B, C, D, "
        "из которых только один правильный.\n"
    )
    tail = "A один\nB два\nC три\nD четыре\nЗапишите букву правильного ответа\nОтвет:"
    expected = f"{head}Вопрос 1?\n{tail} C\n\n{head}Вопрос 2?\n{tail}"
    assert mera_prompt(target, [shot]) == expected
    assert mera_prompt(target, []) == f"{head}Вопрос 2?\n{tail}"


def test_select_shots_same_subject_never_itself_deterministic():
    pool = [q(i) for i in range(10)] + [q(i, subject="virology") for i in range(10, 20)]
    target = pool[3]  # the question itself sits in the pool: it must never be drawn
    shots = select_shots(target, pool, 4, seed=0)
    assert len(shots) == 4
    assert all(s["subject"] == "astronomy" and s["id"] != "3" for s in shots)
    assert len({s["id"] for s in shots}) == 4
    shuffled = pool[:]
    random.Random(1).shuffle(shuffled)
    assert select_shots(target, shuffled, 4, seed=0) == shots  # pool order does not matter
    draws = {tuple(s["id"] for s in select_shots(target, pool, 4, seed=s)) for s in range(10)}
    assert len(draws) > 1  # the seed matters
    assert len(select_shots(target, pool, 50, seed=0)) == 9  # fewer when the subject is short
    assert select_shots(q(99, subject="law"), pool, 2, seed=0) == []


def naive_scores(model, tokenizer, prompt):
    """Four unpadded full passes, one per letter, tokenized like lm-eval's causal _encode_pair."""
    out = {}
    for letter in LETTERS:
        ctx = tokenizer.encode(prompt)
        cont = tokenizer.encode(prompt + " " + letter)[len(ctx) :]
        ids = torch.tensor([ctx + cont][0][:-1]).unsqueeze(0)
        with torch.no_grad():
            lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        out[letter] = sum(lp[len(ctx) - 1 + t, tok].item() for t, tok in enumerate(cont))
    return out


# Two tiny tokenizers that split the letters: one merges only " A" (so " B".." D" need two
# tokens after the common prefix: the extra pass), one merges none (so the lone "Ġ" belongs
# to the shared prefix and every letter reads one token at the last position).
@pytest.mark.parametrize(
    "texts, split",
    [
        (["Ответ: A " * 30, "задание вопрос ответ"], {"A": 1, "B": 2, "C": 2, "D": 2}),
        (["задание вопрос ответ " * 5], {"A": 2, "B": 2, "C": 2, "D": 2}),
    ],
    ids=["only-A-merged", "none-merged"],
)
def test_split_letters_score_like_naive_full_passes(texts, split):
    from cmoe.tiny import TinyModelSpec, build_tiny_model, train_tokenizer

    tokenizer = train_tokenizer(texts, vocab_size=275)
    assert {x: len(tokenizer.encode(" " + x)) for x in LETTERS} == split  # the premise holds
    model = build_tiny_model(tokenizer, TinyModelSpec(seed=1)).eval()
    # different lengths, so the batch of 3 is left padded
    prompts = [mera_prompt(q(i), [q(j, gold="B") for j in range(i % 3)]) for i in range(5)]
    got = score_letters(model, tokenizer, prompts, batch_size=3)
    for prompt, scores in zip(prompts, got, strict=True):
        want = naive_scores(model, tokenizer, prompt)
        for letter in LETTERS:
            assert scores[letter] == pytest.approx(want[letter], abs=1e-4)


def test_padded_batches_match_naive_on_tiny_model(tiny_model_dir, demo_questions):
    from cmoe.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir, padding_side="left")
    model = load_causal_lm(tiny_model_dir, dtype="float32")
    prompts = [
        mera_prompt(x, select_shots(x, demo_questions, i % 3, 0))
        for i, x in enumerate(demo_questions[:6])
    ]
    for scores, prompt in zip(score_letters(model, tokenizer, prompts, 4), prompts, strict=True):
        want = naive_scores(model, tokenizer, prompt)
        assert all(scores[x] == pytest.approx(want[x], abs=1e-4) for x in LETTERS)


def split_demo(questions, n=40):
    """Every 6th question is evaluated (spread over subjects); the rest is the shot pool."""
    chosen = {x["id"] for x in questions[::6][:n]}
    return [x for x in questions if x["id"] in chosen], [
        x for x in questions if x["id"] not in chosen
    ]


def test_evaluate_loglik_records(tiny_model_dir, demo_questions):
    items, pool = split_demo(demo_questions, n=5)
    records = evaluate_loglik(tiny_model_dir, items, pool, k=2, seed=0, batch_size=2)
    for rec, item in zip(records, items, strict=True):
        assert rec["id"] == item["id"] and rec["prompt"].endswith("Ответ:")
        assert rec["prompt"].count("Ответ:") == 1 + len(select_shots(item, pool, 2, 0))
        assert rec["answer"] == max(LETTERS, key=rec["loglik"].get)
        assert rec["correct"] == (rec["answer"] == item["gold"])


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None,
    reason="lm-evaluation-harness (pip install 'lm-eval==0.4.*') is not installed",
)
def test_same_predictions_as_lm_eval(tiny_model_dir, demo_questions, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager
    from support.lmeval_export import TASK_NAME, export_task

    items, pool = split_demo(demo_questions, n=40)
    start = time.perf_counter()
    ours = evaluate_loglik(tiny_model_dir, items, pool, k=2, seed=0, batch_size=8, dtype="float32")
    ours_s = time.perf_counter() - start

    yaml_path = export_task(items, pool, k=2, seed=0, outdir=tmp_path / "task")
    docs = [json.loads(line) for line in (yaml_path.parent / f"{TASK_NAME}.jsonl").open()]
    assert [d["prompt"] for d in docs] == [r["prompt"] for r in ours]  # identical contexts

    start = time.perf_counter()
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model_dir},dtype=float32",
        tasks=[TASK_NAME],
        task_manager=TaskManager(include_path=str(yaml_path.parent)),
        log_samples=True,
        batch_size=8,
        device="cpu",
    )
    theirs_s = time.perf_counter() - start
    samples = {s["doc"]["id"]: s for s in results["samples"][TASK_NAME]}
    assert len(samples) == len(ours)

    agree, max_diff = 0, 0.0
    for rec in ours:
        sample = samples[rec["id"]]
        assert sample["arguments"][0][0] == rec["prompt"]  # lm-eval scored our exact prompt
        lls = [float(resp[0]) for resp in sample["filtered_resps"]]
        diffs = [abs(a - rec["loglik"][x]) for a, x in zip(lls, LETTERS, strict=True)]
        max_diff = max(max_diff, *diffs)
        agree += LETTERS[lls.index(max(lls))] == rec["answer"]
    print(
        f"\nlm-eval agreement: {agree}/{len(ours)} items, max |loglik diff| {max_diff:.2e}; "
        f"cmoe {ours_s:.2f}s vs lm-eval {theirs_s:.2f}s"
    )
    assert agree == len(ours)
    assert max_diff < 1e-3
    acc = sum(r["correct"] for r in ours) / len(ours)
    assert results["results"][TASK_NAME]["acc,none"] == pytest.approx(acc)
