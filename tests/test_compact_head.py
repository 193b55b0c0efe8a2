"""The compact LM head answers SFTTrainer's `fused_lm_head=True` like TRL's chunked head."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _two_heads(model_dir):
    """The same weights twice: TRL's fused head, and TRL's head wrapped by the compact one."""
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from cmoe.training.compact_head import add_compact_lm_head

    models = []
    for compact in (False, True):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
        if compact:
            assert add_compact_lm_head(model)
        models.append(model)
    return models


def _batch(vocab: int):
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(3, vocab, (3, 17), generator=gen)
    labels = input_ids.clone()
    labels[:, :6] = -100  # prompt
    labels[1, 12:] = -100  # padding
    labels[2, :] = -100  # a row that learns nothing
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 12:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@pytest.mark.parametrize("num_items_in_batch", [None, 37])
def test_compact_head_matches_trl_head(tiny_model_dir, num_items_in_batch):
    trl_model, compact_model = _two_heads(tiny_model_dir)
    batch = _batch(trl_model.config.vocab_size)
    outs = []
    for model in (trl_model, compact_model):
        out = model(**batch, fused_lm_head=True, num_items_in_batch=num_items_in_batch)
        out.loss.backward()
        outs.append(out)
    ref, got = outs
    for field in ("loss", "log_probs", "entropy"):
        torch.testing.assert_close(getattr(got, field), getattr(ref, field), atol=1e-5, rtol=1e-5)
    assert torch.equal(got.is_top1, ref.is_top1)
    assert torch.equal(got.label_mask, ref.label_mask)
    for (name, p_ref), p_got in zip(
        trl_model.named_parameters(), compact_model.parameters(), strict=True
    ):
        torch.testing.assert_close(p_got.grad, p_ref.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_compact_head_leaves_plain_forward_and_large_vocab_to_trl(tiny_model_dir, monkeypatch):
    from cmoe.training import compact_head

    trl_model, compact_model = _two_heads(tiny_model_dir)
    batch = _batch(trl_model.config.vocab_size)
    logits = compact_model(input_ids=batch["input_ids"]).logits  # generation's forward
    torch.testing.assert_close(logits, trl_model(input_ids=batch["input_ids"]).logits)
    monkeypatch.setattr(compact_head, "MAX_LOGITS_ELEMENTS", 1)
    monkeypatch.setattr(
        compact_head, "_compact_outputs", lambda *a: pytest.fail("compact head over budget")
    )
    with torch.no_grad():
        compact_model(**batch, fused_lm_head=True)


def test_sft_trainer_uses_the_compact_head(tiny_model_dir, demo_questions, tmp_path):
    from cmoe.core.prompting import PromptSettings
    from cmoe.training import TrainSettings, build_trainer, sft_examples

    rows = sft_examples(demo_questions[:4], PromptSettings(), source="reference")
    settings = TrainSettings(method="full", max_length=256, save_steps=0)
    trainer, _, _ = build_trainer(str(tiny_model_dir), rows, settings, tmp_path)
    # functools.wraps gives the wrapper the model's own name: look at where its code lives
    assert trainer.model.forward.__func__.__code__.co_name == "_compact_forward"


def test_kd_loss_on_counted_logits_matches_the_full_logits(tiny_model_dir):
    """The KD trainer's compact path (cmoe.training.compact_head.counted_logits): the same
    cross-entropy + top-k divergence, and the same gradients, as the full logits."""
    from transformers import AutoModelForCausalLM

    from cmoe.training.compact_head import counted_logits
    from cmoe.training.kd import mixed_loss, topk_kd_loss

    batch = _batch(AutoModelForCausalLM.from_pretrained(tiny_model_dir).config.vocab_size)
    labels = batch.pop("labels")
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (*labels.shape, 4), generator=gen)
    logprobs = torch.log_softmax(torch.randn(*labels.shape, 5, generator=gen), -1)[..., :4]
    losses, models = [], []
    for compact in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        if compact:
            logits, targets, counted = counted_logits(model, batch, labels)
            t_ids, t_lp = (t[:, 1:][counted] for t in (ids, logprobs))
            logits, targets, t_ids, t_lp = (x.unsqueeze(0) for x in (logits, targets, t_ids, t_lp))
            mask = torch.ones_like(targets, dtype=torch.bool)
        else:
            logits, targets = model(**batch).logits[:, :-1], labels[:, 1:]
            t_ids, t_lp, mask = ids[:, 1:], logprobs[:, 1:], targets != -100
        ce = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), ignore_index=-100
        )
        loss = mixed_loss(ce, topk_kd_loss(logits, t_ids, t_lp, mask), 0.5)
        loss.backward()
        losses.append(loss)
        models.append(model)
    torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=1e-5)
    for (name, p_ref), p_got in zip(
        models[0].named_parameters(), models[1].parameters(), strict=True
    ):
        torch.testing.assert_close(p_got.grad, p_ref.grad, atol=1e-5, rtol=1e-4, msg=name)
