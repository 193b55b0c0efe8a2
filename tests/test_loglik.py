"""MERA's ruMMLU protocol: prompts, the shot sampler, one-pass scoring, the generative variant,
and agreement with lm-evaluation-harness running MERA's task definition."""

import importlib.util
import random

import pytest
import torch
from conftest import DEMO_DATA, DEMO_FEWSHOT

from cmoe.evaluation.loglik import (
    ProtocolError,
    draw_all_shots,
    evaluate_loglik,
    evaluate_mera_gen,
    first_letter,
    mera_prompt,
    mera_prompts,
    score_letters,
)

LETTERS = "ABCD"
INSTRUCTION = (
    "Вопрос по теме {subject}.\n{text}\nA {option_a}\nB {option_b}\nC {option_c}\nD {option_d}"
    "\nОтвет:"
)


def q(i, subject="astronomy", gold="A", **extra):
    return {
        "id": str(i),
        "subject": subject,
        "subject_name": "Астрономия",
        "domain": "natural_science",
        "question": f"Вопрос {i}?",
        "options": {"A": "один", "B": "два", "C": "три", "D": "четыре"},
        "gold": gold,
        "instruction": INSTRUCTION,
        **extra,
    }


def test_prompt_layout_is_meras():
    first, second, target = q(1, gold="C"), q(2, gold="B"), q(3)
    own = "Вопрос по теме Астрономия.\nВопрос {}?\nA один\nB два\nC три\nD четыре\nОтвет:"
    block = "Вопрос {}?\nA) один\nB) два\nC) три\nD) четыре\nОтвет:"
    # the first shot with its own instruction, later shots and the target instruction-free
    assert mera_prompt(target, [first, second]) == (
        f"{own.format(1)} C\n\n{block.format(2)} B\n\n{block.format(3)}"
    )
    assert mera_prompt(target, [first]) == f"{own.format(1)} C\n\n{block.format(3)}"
    assert mera_prompt(target, []) == own.format(3)  # zero-shot: the target's own instruction
    with pytest.raises(ProtocolError, match="question 3: no instruction"):
        mera_prompt({**target, "instruction": None}, [])


# A real row, as MERA's dataset card shows it (MERA-Evaluation/MERA,
# docs/dataset_cards/en/rummlu.md), and the card's second prompt variant on the same inputs.
CARD_ROW = {
    "instruction": "Задание содержит вопрос по теме {subject} и 4 варианта ответа A, B, C, D, из "
    "которых только один правильный.\n{text}\nA {option_a}\nB {option_b}\nC {option_c}\nD "
    "{option_d}\nЗапишите букву правильного ответа\nОтвет:",
    "inputs": {
        "text": "Найдите все c в Z_3 таким образом, чтобы Z_3[x]/(x ^ 2 + c) было полем.",
        "option_a": "0",
        "option_b": "1",
        "option_c": "2",
        "option_d": "3",
        "subject": "Математика",
    },
    "outputs": "B",
    "meta": {"id": 0, "domain": "abstract_algebra"},
}
CARD_VARIANT = (
    "Дан вопрос по теме {subject}: {text}. Варианты ответа:\nA {option_a}\nB {option_b}\nC "
    "{option_c}\nD {option_d}\nОпредели, какой вариант ответа правильный. Напиши только букву "
    "этого ответа: A, B, C, D. Ответ:"
)


def test_real_mera_rows_render_as_meras_templates(tmp_path):
    from conftest import write_jsonl
    from support.questions import load_questions

    from cmoe.core.domains import subject_domains
    from cmoe.data.settings import DataSettings

    second = {
        **CARD_ROW,
        "instruction": CARD_VARIANT,
        "meta": {"id": 1, "domain": "abstract_algebra"},
    }
    path = write_jsonl(tmp_path / "card.jsonl", [CARD_ROW, second])
    (row, other), bad = load_questions(DataSettings(source={"file": str(path)}), subject_domains())
    assert not bad and row["instruction"] == CARD_ROW["instruction"]
    text = CARD_ROW["inputs"]["text"]
    zero_shot = (
        "Задание содержит вопрос по теме Математика и 4 варианта ответа A, B, C, D, из которых "
        f"только один правильный.\n{text}\nA 0\nB 1\nC 2\nD 3\nЗапишите букву правильного "
        "ответа\nОтвет:"
    )
    assert mera_prompt(row, []) == zero_shot
    # MERA fills each row's instruction with str.format(**inputs) and strips it
    assert mera_prompt(row, []) == CARD_ROW["instruction"].format(**CARD_ROW["inputs"]).strip()
    variant = (
        f"Дан вопрос по теме Математика: {text}. Варианты ответа:\nA 0\nB 1\nC 2\nD 3\n"
        "Определи, какой вариант ответа правильный. Напиши только букву этого ответа: A, B, C, D."
        " Ответ:"
    )
    assert mera_prompt(other, [row]) == f"{zero_shot} B\n\n{text}\nA) 0\nB) 1\nC) 2\nD) 3\nОтвет:"
    assert mera_prompt(row, [other]).startswith(f"{variant} B\n\n{text}\nA) 0")


def test_sampler_is_meras_one_generator_same_domain():
    pool = [q(i) for i in range(6)] + [q(i, subject="virology") for i in range(6, 9)]
    questions = [q(100), q(101, subject="virology"), q(102), q(103, subject="law")]
    shots = draw_all_shots(questions[:3], pool, 2, seed=1234)
    # one generator seeded once, random.sample over the same-domain rows in pool order
    rng = random.Random(1234)
    want = [rng.sample(pool[:6], 2), rng.sample(pool[6:], 2), rng.sample(pool[:6], 2)]
    assert shots == want
    # a question's shots depend on those drawn before it (as in lm-eval), and on the seed
    assert draw_all_shots(questions[2:3], pool, 2, seed=1234)[0] == want[0] != want[2]
    assert draw_all_shots(questions[:1], pool, 2, seed=1)[0] != want[0]
    # zero-shot draws nothing and consumes nothing
    assert draw_all_shots(questions, pool, 0, seed=1234) == [[]] * 4
    with pytest.raises(ProtocolError, match="0 question.* of subject 'law'; 2 shot"):
        draw_all_shots(questions, pool, 2, seed=1234)
    with pytest.raises(ProtocolError, match="3 question.* of subject 'virology'; 5 shot"):
        mera_prompts(questions[1:2], pool, 5, seed=1234)


def test_sampler_never_draws_the_question_from_its_own_split():
    pool = [q(i) for i in range(4)]
    for seed in range(20):  # k + 1 drawn, the question dropped (or the last draw cut)
        for question, shots in zip(pool, draw_all_shots(pool, pool, 3, seed, True), strict=True):
            assert len(shots) == 3 and question not in shots
    with pytest.raises(ProtocolError, match="has 4 question.*4 shot.* need 5"):
        draw_all_shots(pool, pool, 4, 0, same_split=True)


def test_first_letter_is_rummlu_gens_regex():
    assert first_letter(" B") == "B"
    assert first_letter("Ответ: C, не D") == "C"
    assert first_letter("ABBA или D") == "D"  # letters inside words are not answers
    assert first_letter("А") is None  # Cyrillic А is not a Latin answer letter
    assert first_letter("::::") is None


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
    from cmoe.data.tiny import TinyModelSpec, build_tiny_model, train_tokenizer

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
    from cmoe.core.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir, padding_side="left")
    model = load_causal_lm(tiny_model_dir, dtype="float32")
    items, pool = demo_questions[:6], demo_questions[6:]
    prompts = [mera_prompts([x], pool, i % 3, 0)[0] for i, x in enumerate(items)]
    for scores, prompt in zip(score_letters(model, tokenizer, prompts, 4), prompts, strict=True):
        want = naive_scores(model, tokenizer, prompt)
        assert all(scores[x] == pytest.approx(want[x], abs=1e-4) for x in LETTERS)


@pytest.fixture(scope="module")
def demo_split(tmp_path_factory):
    """The demo's test split (its seed) and MERA-style few-shot pool, as the workflow writes
    them: (questions, pool)."""
    from cmoe.core.domains import subject_domains
    from cmoe.data.questions import DataSettings, prepare_data, prepare_fewshot, read_questions

    out = tmp_path_factory.mktemp("data")
    settings = DataSettings(
        source={"file": str(DEMO_DATA)}, seed=13, fewshot_source={"file": str(DEMO_FEWSHOT)}
    )
    files = {name: out / f"{name}.jsonl" for name in ("train", "test", "summary")}
    prepare_data(settings, subject_domains(), files)
    prepare_fewshot(settings, subject_domains(), out / "fewshot.jsonl")
    return read_questions(files["test"]), read_questions(out / "fewshot.jsonl")


def test_evaluate_loglik_records(tiny_model_dir, demo_split):
    items, pool = demo_split[0][:5], demo_split[1]
    records = evaluate_loglik(tiny_model_dir, items, pool, k=2, seed=1234, batch_size=2)
    for rec, item, prompt in zip(records, items, mera_prompts(items, pool, 2, 1234), strict=True):
        assert rec["id"] == item["id"] and rec["prompt"] == prompt
        assert rec["prompt"].count("Ответ:") == 3 and rec["prompt"].endswith("\nОтвет:")
        assert rec["answer"] == max(LETTERS, key=rec["loglik"].get)
        assert rec["correct"] == (rec["answer"] == item["gold"])


def test_evaluate_mera_gen_records(tiny_model_dir, demo_split):
    items, pool = demo_split[0][:4], demo_split[1]
    records = evaluate_mera_gen(
        tiny_model_dir, items, pool, k=1, seed=1234, batch_size=3, max_new_tokens=4
    )
    for rec in records:
        assert "\n" not in rec["output"] and rec["answer"] == first_letter(rec["output"])
        assert rec["correct"] == (rec["answer"] == rec["gold"])


def test_loglik_is_one_forward_pass_per_question(tiny_model_dir, demo_split):
    """The speed claim: scoring runs the model once per question (plus, only for letters the
    tokenizer splits after the shared prefix, one extra batched pass)."""
    from cmoe.core.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir, padding_side="left")
    model = load_causal_lm(tiny_model_dir, dtype="float32")
    prompts = mera_prompts(demo_split[0][:8], demo_split[1], 1, 1234)
    calls = []
    model.register_forward_hook(lambda module, args, kwargs, out: calls.append(1), with_kwargs=True)
    score_letters(model, tokenizer, prompts, batch_size=4)
    assert len(calls) == 2  # 8 questions, batches of 4


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None,
    reason="lm-evaluation-harness (pip install 'lm-eval==0.4.*') is not installed",
)
def test_same_prompts_and_predictions_as_lm_eval_on_meras_task(
    tiny_model_dir, demo_split, tmp_path
):
    """lm-eval runs MERA v1.2's ruMMLU task (tests/lmeval_tasks/rummlu_mera: its yaml semantics
    and same-domain sampler) on the demo's raw rows, seed 1234; item by item, its prompts are
    string-equal to ours and its predictions equal, for the log-likelihood task and rummlu_gen."""
    from support.lmeval_mera import GEN_TASK, TASK, raw_rows, simple_evaluate, write_task

    items, pool = demo_split
    rows, pool_rows = raw_rows(DEMO_DATA), list(raw_rows(DEMO_FEWSHOT).values())
    assert [str(r["meta"]["id"]) for r in pool_rows] == [p["id"] for p in pool]  # source order
    task_dir = write_task([rows[x["id"]] for x in items], pool_rows, tmp_path / "task")

    ours = evaluate_loglik(
        tiny_model_dir, items, pool, k=1, seed=1234, batch_size=8, dtype="float32"
    )
    gen_items = items[:24]  # generation is the slow part: a prefix of the same order
    ours_gen = evaluate_mera_gen(
        tiny_model_dir,
        gen_items,
        pool,
        k=1,
        seed=1234,
        batch_size=8,
        max_new_tokens=8,
        dtype="float32",
    )
    results = simple_evaluate(task_dir, tiny_model_dir, [TASK], batch_size=8)
    samples = sorted(results["samples"][TASK], key=lambda s: s["doc_id"])
    assert len(samples) == len(ours) == len(items)
    max_diff = 0.0
    for rec, sample in zip(ours, samples, strict=True):
        assert str(sample["doc"]["meta"]["id"]) == rec["id"]
        assert all(arg[0] == rec["prompt"] for arg in sample["arguments"])  # string-equal
        assert [arg[1] for arg in sample["arguments"]] == [f" {x}" for x in LETTERS]
        lls = [float(resp[0]) for resp in sample["filtered_resps"]]
        assert LETTERS[lls.index(max(lls))] == rec["answer"]
        max_diff = max(
            max_diff, *(abs(a - rec["loglik"][x]) for a, x in zip(lls, LETTERS, strict=True))
        )
    assert max_diff < 1e-3
    acc = sum(r["correct"] for r in ours) / len(ours)
    assert results["results"][TASK]["acc,none"] == pytest.approx(acc)

    gen_dir = write_task([rows[x["id"]] for x in gen_items], pool_rows, tmp_path / "gen")
    results = simple_evaluate(
        gen_dir, tiny_model_dir, [GEN_TASK], batch_size=8, gen_kwargs="max_gen_toks=8"
    )
    samples = sorted(results["samples"][GEN_TASK], key=lambda s: s["doc_id"])
    assert len(samples) == len(ours_gen)
    for rec, sample in zip(ours_gen, samples, strict=True):
        assert sample["arguments"][0][0] == rec["prompt"]
        assert sample["resps"][0][0].split("\n")[0] == rec["output"]
        theirs = sample["filtered_resps"][0]
        assert (None if theirs == "-1" else theirs) == rec["answer"]


def test_lora_adapter_scores_like_its_merged_model(tiny_model_dir, demo_split, tmp_path):
    """An adapter folder is scored on its base with the adapter applied: the same
    log-likelihoods as the merged model saved as a plain one."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(tmp_path / "adapter")
    peft_model.merge_and_unload().save_pretrained(tmp_path / "merged")
    for folder in ("adapter", "merged"):
        AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / folder)
    items, pool = demo_split[0][:6], demo_split[1]
    kwargs = {"k": 1, "seed": 1234, "batch_size": 3, "dtype": "float32"}
    adapter = evaluate_loglik(tmp_path / "adapter", items, pool, **kwargs)
    merged = evaluate_loglik(tmp_path / "merged", items, pool, **kwargs)
    plain = evaluate_loglik(tiny_model_dir, items, pool, **kwargs)
    for a, m, p in zip(adapter, merged, plain, strict=True):
        assert all(a["loglik"][x] == pytest.approx(m["loglik"][x], abs=1e-4) for x in LETTERS)
        assert a["loglik"] != p["loglik"]  # the adapter changes the model
