# Over 300 lines as one module: the KD loss and the trainers that apply it.
"""Logit distillation: the loss between a student and a teacher's stored top-k log-probs.

The teacher's distribution at every completion position is kept as its k most likely token ids
and their log-probs (:mod:`.teacher_scores` writes them offline, so the teacher is not loaded
while the student trains). Both distributions are compared on k + 1 outcomes: the teacher's k
tokens and "any other token", whose probability is what the k leave (for the student, from its
softmax over the whole vocabulary). Without that last outcome a student would only learn the
order among the k tokens, never to put its mass on them. The k + 1 log-probs then go through
TRL's generalised Jensen-Shannon divergence (GKD, arXiv 2306.13649), whose ``beta`` picks the
divergence (0: forward KL(teacher || student), 1: reverse KL, in between: generalised JSD).
At ``temperature`` T the student's softmax is taken at T over the vocabulary and the teacher's
k + 1 log-probs are rescaled by 1/T and renormalised (exact at T = 1: the stored log-probs are
the teacher's at T = 1, its tail is known only as one number).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.settings import OPEN_UNIT, UNIT, Settings, setting
from .divergence import DIVERGENCES, divergence_beta

__all__ = ["DIVERGENCES", "divergence_beta"]


def topk_kd_loss(
    student_logits,
    teacher_topk_ids,
    teacher_topk_logprobs,
    mask,
    divergence: str = "forward_kl",
    beta: float = 0.5,
    temperature: float = 1.0,
):
    """Mean divergence per masked position between student and teacher on the teacher's top k.

    ``student_logits`` (B, T, V): the student's logits at the positions that predict each token;
    ``teacher_topk_ids`` (B, T, k) and ``teacher_topk_logprobs`` (B, T, k): the teacher's at the
    same positions (any values where ``mask`` is False); ``mask`` (B, T): positions that count.
    Returns a scalar: the divergence over the k ids and the rest, averaged over masked
    positions (0 with a gradient path when none is masked).
    """
    import torch
    from trl.experimental.gkd import GKDTrainer

    student = torch.log_softmax(student_logits / temperature, dim=-1).gather(
        -1, teacher_topk_ids.long()
    )
    teacher = teacher_topk_logprobs.to(student.dtype)
    teacher = torch.log_softmax(_with_rest(teacher) / temperature, dim=-1)
    per_outcome = GKDTrainer.generalized_jsd_loss(
        _with_rest(student),
        teacher,
        beta=divergence_beta(divergence, beta),
        temperature=1.0,  # both are log-probs at the temperature already
        reduction="none",
    )
    per_position = per_outcome.sum(-1)
    mask = mask.bool()
    return per_position[mask].sum() / mask.sum().clamp_min(1)


def _with_rest(logprobs):
    """k log-probs -> k + 1: the last is log(1 - their total), the rest of the vocabulary
    (floored: float16 teacher log-probs can add up to a hair over 1)."""
    import torch

    total = torch.logsumexp(logprobs, dim=-1, keepdim=True).clamp(max=-1e-6)
    rest = torch.log(-torch.expm1(total))
    return torch.cat([logprobs, rest], dim=-1)


def mixed_loss(ce, kd, alpha: float):
    """``alpha`` x cross-entropy on the text + (1 - ``alpha``) x the divergence to the teacher."""
    return alpha * ce + (1.0 - alpha) * kd


@dataclass
class OnPolicySettings(Settings):
    enabled: bool = setting(
        True, "also train the on-policy KD students (their rows: `(on-policy)`)"
    )
    # on the other steps the student learns from the traces' text, scored by the teacher online
    lmbda: float = setting(
        0.5,
        "GKD's lambda: the fraction of steps on which the student samples its own completions",
        **UNIT,
    )
    max_new_tokens: int = setting(128, "tokens the student samples on-policy", minimum=1)


@dataclass
class KDSettings(Settings):
    """How a student learns from its teachers' logits: the fields of the config's `kd` section
    that a KD training job is given (the section's class extends it)."""

    divergence: str = setting(
        "forward_kl",
        "`forward_kl` (KL(teacher ‖ student)), `reverse_kl` or `jsd` (generalised JSD)",
        enum=list(DIVERGENCES),
    )
    beta: float = setting(0.5, "the generalised JSD's interpolation (`jsd` only)", **OPEN_UNIT)
    temperature: float = setting(
        1.0, "softmax temperature of both distributions in the divergence", exclusiveMinimum=0
    )
    alpha: float = setting(
        0.5, "weight of cross-entropy on the text (offline KD); 1 − alpha: the divergence", **UNIT
    )
    top_k: int = setting(
        20,
        "teacher log-probs stored per token (plus the rest of the vocabulary as one outcome)",
        minimum=1,
    )
    on_policy: OnPolicySettings = setting(factory=OnPolicySettings)


@dataclass
class KDRun:
    """What one KD training job distils from: stored scores (offline) or teachers (on-policy).

    ``teachers``: model paths, one per teacher; ``row_teacher``: for each training row, the
    index of its teacher (the routed specialist), on-policy only.
    """

    settings: KDSettings
    scores: list[str] = field(default_factory=list)
    teachers: list[str] = field(default_factory=list)
    row_teacher: list[int] = field(default_factory=list)
    # scores in another vocabulary than the student's: how they are aligned and compared
    # (a CrossVocabSettings; None: its defaults, used only for scores of format 2)
    cross_vocab: object | None = None

    @property
    def on_policy(self) -> bool:
        return bool(self.teachers)


def _teacher_tensors(labels, keys, scores):
    """The stored teacher top-k of each row, placed at its completion tokens in ``labels``.

    Raises when the trainer's tokens are not the ones the teacher scored (another tokenizer,
    prompt or max_length): a silent misalignment would distil noise.
    """
    import torch

    batch, width = labels.shape
    k = scores.top_k
    ids = torch.zeros((batch, width, k), dtype=torch.long)
    logprobs = torch.zeros((batch, width, k), dtype=torch.float32)
    for b, key in enumerate(keys):
        if key not in scores:
            raise ValueError(
                f"training example {key} has no stored teacher scores: were the scores made "
                "from the same traces and prompt?"
            )
        t_ids, t_lps, targets = scores.get(key)
        positions = (labels[b] != -100).nonzero().flatten()
        n = len(positions)
        if n > len(targets) or not torch.equal(
            labels[b, positions].cpu(), torch.from_numpy(targets[:n]).long()
        ):
            raise ValueError(
                f"training example {key}: the student's completion tokens differ from those "
                "the teacher scored (another tokenizer, chat template or max_length?)"
            )
        ids[b, positions] = torch.from_numpy(t_ids[:n]).long()
        logprobs[b, positions] = torch.from_numpy(t_lps[:n]).float()
    return ids, logprobs


class KDCollator:
    """TRL's SFT collator, plus each row's stored teacher top-k aligned with its labels."""

    def __init__(self, base, scores):
        self.base, self.scores = base, scores

    def __call__(self, examples):
        keys = [e["kd_key"] for e in examples]
        batch = self.base([{k: v for k, v in e.items() if k != "kd_key"} for e in examples])
        batch["teacher_ids"], batch["teacher_logprobs"] = _teacher_tensors(
            batch["labels"], keys, self.scores
        )
        return batch


def _sft_trainer_class():
    from trl import SFTTrainer

    from .compact_head import counted_logits

    class KDTrainer(SFTTrainer):
        """TRL's SFTTrainer whose loss mixes cross-entropy on the text with a divergence to a
        teacher's stored top-k log-probs (:func:`topk_kd_loss`); everything else -- data
        preparation, LoRA, checkpoints, distributed launch -- is SFTTrainer's."""

        def __init__(self, *args, kd: KDSettings, scores, cross_vocab=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.kd, self.cross_vocab = kd, cross_vocab
            if cross_vocab is None:
                self.data_collator = KDCollator(self.data_collator, scores)
                return
            from ..core.models import load_tokenizer
            from .cross_vocab import CrossVocabAligner, CrossVocabCollator

            self.aligner = CrossVocabAligner.from_tokenizers(
                load_tokenizer(scores.tokenizer_dir), self.processing_class, added=cross_vocab.added
            )
            self.data_collator = CrossVocabCollator(self.data_collator, scores, self.aligner)
            self._student_unmatched = None

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            extra = ["kd_key"] + (["kd_content"] if self.cross_vocab is not None else [])
            self._signature_columns += [c for c in extra if c not in self._signature_columns]

        def kd_summary(self) -> dict:
            """What the alignment kept and dropped, summed over the examples (train_metrics)."""
            if self.cross_vocab is None:
                return {}
            return {"kd_alignment": dict(sorted(self.aligner.counts.items()))}

        def _cross_vocab_loss(self, logits, targets, xv: dict, tokens, mode: str):
            """The divergence to a teacher of another vocabulary, summed over aligned units and
            normalised like cross-entropy (per completion token)."""
            import torch

            from .cross_vocab import cross_vocab_kd_loss

            if self._student_unmatched is None:
                unmatched = self.aligner.vocab_map.student_unmatched
                self._student_unmatched = torch.as_tensor(unmatched, device=logits.device)
            xv = {k: v[:, 1:].to(logits.device) for k, v in xv.items()}  # shifted as the labels
            units = xv["xv_mask"].sum() / (targets != -100).sum().clamp(min=1)
            self._metrics[mode]["kd_units_per_token"].append(units.item())
            kd = cross_vocab_kd_loss(
                logits.float(),
                targets,
                xv,
                loss=self.cross_vocab.loss,
                divergence=self.kd.divergence,
                beta=self.kd.beta,
                uld_weight=self.cross_vocab.uld_weight,
                student_unmatched=self._student_unmatched,
                temperature=self.kd.temperature,
                reduction="sum",
            )
            return kd / tokens

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch
            import torch.nn.functional as F

            from .cross_vocab import XV_KEYS

            xv = {k: inputs.pop(k) for k in XV_KEYS if k in inputs}
            if not xv:
                teacher_ids = inputs.pop("teacher_ids")
                teacher_logprobs = inputs.pop("teacher_logprobs")
            labels = inputs.pop("labels")
            # On CPU the logits of the counted positions only (cmoe.training.compact_head):
            # (1, N, V) for N counted tokens, every position counting; else the full (B, T, V)
            compact = None if xv or return_outputs else counted_logits(model, inputs, labels)
            if compact is not None:
                outputs = None
                logits, targets, counted = (x.unsqueeze(0) for x in compact)
                mask = torch.ones_like(targets, dtype=torch.bool)
                teacher_ids, teacher_logprobs = (
                    t[:, 1:].to(logits.device)[counted[0]].unsqueeze(0)
                    for t in (teacher_ids, teacher_logprobs)
                )
            else:
                outputs = model(**inputs, use_cache=False)
                logits = outputs.logits[:, :-1]
                targets = labels[:, 1:]
                mask = targets != -100
                if not xv:
                    teacher_ids, teacher_logprobs = (
                        t[:, 1:].to(logits.device) for t in (teacher_ids, teacher_logprobs)
                    )
            tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
            tokens = torch.as_tensor(tokens, device=logits.device).clamp(min=1)
            ce = (
                F.cross_entropy(
                    logits.float().flatten(0, 1),
                    targets.flatten(),
                    ignore_index=-100,
                    reduction="sum",
                )
                / tokens
            )
            mode = "train" if model.training else "eval"
            if xv:
                kd = self._cross_vocab_loss(logits, targets, xv, tokens, mode)
            else:
                kd = topk_kd_loss(
                    logits.float(),
                    teacher_ids,
                    teacher_logprobs,
                    mask,
                    self.kd.divergence,
                    self.kd.beta,
                    self.kd.temperature,
                ) * (mask.sum().clamp(min=1) / tokens)  # a sum over tokens, normalised like ce
            loss = mixed_loss(ce, kd, self.kd.alpha)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            self._metrics[mode]["ce_loss"].append(ce.item())
            self._metrics[mode]["kd_loss"].append(kd.item())
            return (loss, outputs) if return_outputs else loss

    return KDTrainer


def _gkd_trainer_class():
    from trl.experimental.gkd import GKDTrainer

    class RoutedGKDTrainer(GKDTrainer):
        """TRL's GKDTrainer (on-policy: with probability lambda the student writes the
        completion) with one teacher per training row: each row's teacher is the specialist
        its question's domain is routed to. Teachers are loaded once and run in eval mode."""

        def __init__(self, *args, teachers: list, **kwargs):
            super().__init__(*args, teacher_model=teachers[0], **kwargs)
            self.teachers = [self.teacher_model] + [
                self.accelerator.prepare_model(t, evaluation_mode=True) for t in teachers[1:]
            ]
            self.data_collator = _TeacherIndexCollator(self.data_collator)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            which = inputs.pop("teacher_index")
            student = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            teacher_logits = torch.zeros_like(student.logits)
            with torch.no_grad():
                for t in which.unique().tolist():
                    rows = (which == t).nonzero().flatten()
                    teacher = self.teachers[t]
                    teacher.eval()
                    teacher_logits[rows] = teacher(
                        input_ids=inputs["input_ids"][rows],
                        attention_mask=inputs["attention_mask"][rows],
                    ).logits.to(teacher_logits.dtype)
            loss = self.generalized_jsd_loss(
                student_logits=student.logits[:, :-1],
                teacher_logits=teacher_logits[:, :-1],
                labels=inputs["labels"][:, 1:],
                beta=self.beta,
                temperature=self.temperature,
                num_items_in_batch=num_items_in_batch,
            )
            return (loss, student) if return_outputs else loss

    return RoutedGKDTrainer


class _TeacherIndexCollator:
    """GKD's chat collator, plus each row's teacher index as a tensor."""

    def __init__(self, base):
        self.base = base

    def __call__(self, examples):
        import torch

        batch = self.base(examples)
        batch["teacher_index"] = torch.tensor([e["kd_teacher"] for e in examples])
        return batch


def kd_trainer(model, args: dict, rows, tokenizer, peft_config, run: KDRun, dtype: str = "auto"):
    """The trainer of a KD job: offline (stored top-k, SFTTrainer + KD loss) or on-policy
    (teachers loaded, GKD). ``args``: the SFTConfig fields of :func:`cmoe.training.sft`."""
    from datasets import Dataset

    settings = run.settings
    if not run.on_policy:
        from trl import SFTConfig

        from .cross_vocab.framing import shared_segments
        from .teacher_scores import TeacherScores, row_key

        if args.get("padding_free"):
            raise ValueError(
                "logit distillation needs one example per row: use batching random or "
                "group_by_length, not padding_free"
            )
        scores = TeacherScores(run.scores)
        cross = None
        if scores.cross_vocab is not None:  # the teacher's vocabulary is not the student's
            from .cross_vocab import CrossVocabSettings, nfc_rows

            cross = run.cross_vocab or CrossVocabSettings()
            think = scores.cross_vocab["teacher_think"]  # TeacherScores refuses scores without
            rows = [{**row, "kd_content": shared_segments(row, think)} for row in nfc_rows(rows)]
        data = Dataset.from_list([{**row, "kd_key": row_key(row)} for row in rows])
        return _sft_trainer_class()(
            model=model,
            args=SFTConfig(**args),
            train_dataset=data,
            processing_class=tokenizer,
            peft_config=peft_config,
            kd=settings,
            scores=scores,
            cross_vocab=cross,
        )

    from trl.experimental.gkd import GKDConfig

    from ..core.models import load_causal_lm

    if len(run.row_teacher) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(run.row_teacher)} teacher indices")
    # the project's one loader: a LoRA specialist is applied to its base at the commit its
    # adapter records (transformers' own PEFT integration would load the base's `main`)
    teachers = [load_causal_lm(path, dtype) for path in run.teachers]
    args = dict(args)
    for key in ("packing", "packing_strategy", "padding_free", "completion_only_loss"):
        args.pop(key, None)
    # GKD's collator tokenizes raw messages per batch: there are no lengths to group by
    args["train_sampling_strategy"] = "random"
    config = GKDConfig(
        **args,
        lmbda=settings.on_policy.lmbda,
        beta=divergence_beta(settings.divergence, settings.beta),
        temperature=settings.temperature,
        max_new_tokens=settings.on_policy.max_new_tokens,
    )
    data = Dataset.from_list(
        [
            {"messages": row["prompt"] + row["completion"], "kd_teacher": t}
            for row, t in zip(rows, run.row_teacher, strict=True)
        ]
    )
    return _gkd_trainer_class()(
        model=model,
        args=config,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=peft_config,
        teachers=teachers,
    )
