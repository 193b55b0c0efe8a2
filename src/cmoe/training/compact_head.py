"""SFTTrainer with a cheaper LM head on CPU: only the completion tokens are projected.

TRL's SFTTrainer patches the model with a fused, chunked LM head (``add_fused_lm_head``) and
computes its loss from ``model(..., fused_lm_head=True)``. With Triton (GPU) that head scores only
the positions whose label counts; elsewhere it scores every position -- prompt and padding
included -- and folds each logits tile with a dozen elementwise passes, forward and again in a
recomputing backward. On the demo's tiny CPU models (vocabularies of a few thousand tokens,
hidden sizes of 64) the LM head is most of the model, and that head was about two thirds of an
SFTTrainer step (profiled with cProfile: perf/bench_sft_step.py).

On CPU, for vocabularies whose logits of the counted tokens fit a small budget, this module
answers ``fused_lm_head=True`` with the plain computation instead: the backbone's hidden states
at the counted positions, the LM head, ``log_softmax`` and the label's log-prob. The output is
the same :class:`FusedCausalLMOutput` (log_probs, entropy, is_top1, label_mask, loss) with the
same values up to float rounding, so SFTTrainer's ``compute_loss`` -- the completion-only,
token-mean loss and its ``num_items_in_batch`` handling, and its metrics -- is unchanged. Every
other case (GPU, scaled or soft-capped logits, pre-shifted labels under context parallelism,
MoE router logits, a sharded head, a large vocabulary) goes to TRL's own head.
"""

from __future__ import annotations

import functools
import types

# The counted tokens' logits in float32 are materialised once (and once more for their
# gradient): at most this many elements (64 MiB) take the compact path.
MAX_LOGITS_ELEMENTS = 16 * 1024 * 1024

# Config attributes that make TRL's head transform the logits (scale, soft-cap): a model with
# any of them set keeps TRL's head, which applies them.
_LOGIT_TRANSFORMS = (
    "final_logit_softcapping",
    "logit_scale",
    "output_multiplier",
    "lm_head_multiplier",
    "logits_scaling",
)


def add_compact_lm_head(model) -> bool:
    """Wrap ``model.forward`` (already patched by TRL's ``add_fused_lm_head``) so that
    ``fused_lm_head=True`` on CPU projects only the counted positions. Returns whether it did
    (a model whose logits TRL's head transforms is left alone)."""
    text_config = model.config.get_text_config()
    if any(getattr(text_config, a, None) is not None for a in _LOGIT_TRANSFORMS):
        return False
    trl_forward = model.forward
    backbone_attr = "base_model"

    # the original forward's signature, as TRL keeps it: `generate` validates kwargs against it
    @functools.wraps(type(model).forward)
    def _compact_forward(self, *args, fused_lm_head=False, labels=None, **kwargs):
        if not fused_lm_head or not _compact_case(self, labels, kwargs, text_config):
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, **kwargs)
        kwargs["use_cache"] = False
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        hidden = getattr(self, backbone_attr)(*args, **kwargs).last_hidden_state[:, :-1]
        labels = labels[:, 1:].to(hidden.device)
        mask = labels != -100
        return _compact_outputs(
            self.get_output_embeddings(), hidden, labels, mask, num_items_in_batch
        )

    model.forward = types.MethodType(_compact_forward, model)
    return True


def _compact_case(model, labels, kwargs: dict, text_config) -> bool:
    """Cases the compact head answers exactly like TRL's, within the logits budget: CPU, plain
    labels, no router loss and an unsharded LM head."""
    from torch.distributed.tensor import DTensor

    weight = model.get_output_embeddings().weight
    return (
        labels is not None
        and weight.device.type == "cpu"
        and not isinstance(weight, DTensor)
        and kwargs.get("shift_labels") is None
        and not kwargs.get("output_router_logits")
        and not getattr(text_config, "output_router_logits", False)
        and int((labels[:, 1:] != -100).sum()) * weight.shape[0] <= MAX_LOGITS_ELEMENTS
    )


def _compact_outputs(lm_head, hidden, labels, mask, num_items_in_batch):
    """TRL's FusedCausalLMOutput from the counted positions' full logits: per-token fields are
    zero where the label is -100, the loss is the summed NLL over ``num_items_in_batch`` (the
    counted tokens when not given), entropy and is_top1 as TRL's kernel defines them."""
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    targets = labels[mask]
    logits = lm_head(hidden[mask]).float()
    log_softmax = torch.log_softmax(logits, dim=-1)
    picked = log_softmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():  # metrics only (SFTTrainer detaches the entropy too)
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
        # argmax returns the first maximum: a tie with an earlier token is not a top-1 hit
        is_top1 = logits.argmax(-1) == targets

    def scatter(x):
        # masked_scatter keeps the output connected to the model when no label counts
        return x.new_zeros(mask.shape).masked_scatter(mask, x)

    log_probs = scatter(picked)
    denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    return FusedCausalLMOutput(
        loss=-log_probs.sum() / denominator,
        log_probs=log_probs,
        entropy=scatter(entropy),
        is_top1=scatter(is_top1),
        label_mask=mask,
    )


def counted_logits(model, inputs: dict, labels):
    """The logit distillation trainer's compact head (cmoe.training.kd): the LM head's logits at
    the positions whose next-token label counts, ``(logits (N, V), targets (N,), mask (B, T-1))``,
    from the backbone's hidden states -- the same values as ``model(**inputs).logits[:, :-1]``
    at ``mask``, without projecting prompt and padding. None where TRL's own forward must
    answer (GPU, transformed logits, router losses, a large vocabulary)."""
    from accelerate.utils import is_peft_model

    inner = model.get_base_model() if is_peft_model(model) else model
    text_config = inner.config.get_text_config()
    head = inner.get_output_embeddings()
    if (
        labels is None
        or head is None
        or any(getattr(text_config, a, None) is not None for a in _LOGIT_TRANSFORMS)
        or not _compact_case(inner, labels, {}, text_config)
    ):
        return None
    hidden = inner.base_model(**inputs, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:].to(hidden.device)
    mask = targets != -100
    return head(hidden[mask]), targets[mask], mask


@functools.cache
def sft_trainer_class():
    """TRL's SFTTrainer whose fused LM head is answered by :func:`add_compact_lm_head` where
    that is exact and cheaper; training, loss and everything else are SFTTrainer's."""
    from accelerate.utils import is_peft_model
    from trl import SFTTrainer

    class CompactHeadSFTTrainer(SFTTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            model = self.model.get_base_model() if is_peft_model(self.model) else self.model
            add_compact_lm_head(model)

    return CompactHeadSFTTrainer
