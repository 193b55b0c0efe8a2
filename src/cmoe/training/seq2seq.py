"""Encoder-decoder students (T5 family) trained with transformers' Seq2SeqTrainer.

TRL's SFT is for causal models; this is the seq2seq side of the same training entry
(:func:`cmoe.training.sft.train` with ``seq2seq`` settings), sharing its settings, checkpoints,
cost accounting and wandb. Two target formats:

- ``rationale``: the prompt in, the teacher's reasoning and then the answer line out, as one
  target (the causal students' completion);
- ``step_by_step``: distilling step-by-step (Hsieh et al., 2023). The same prompt with the
  prefix "predict: " is trained to give the answer line and with "explain: " the rationale; the
  loss is ``alpha * L_predict + (1 - alpha) * L_explain``. Only "predict: " is used at inference.

A trained model's tokenizer is saved with its format's input as its chat template (the prompt's
messages as plain text, "predict: " first for step-by-step), so generation and evaluation
render the very input it was trained on without knowing how it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.answers import format_final_answer
from ..core.prompting import PLAIN_TEMPLATE, PromptSettings, build_completion, build_messages

FORMATS = ("rationale", "step_by_step")
PREDICT, EXPLAIN = "predict: ", "explain: "


@dataclass
class Seq2SeqSettings:
    """What a seq2seq training job adds to TrainSettings (passed as `train --seq2seq`)."""

    format: str = "rationale"  # "rationale" or "step_by_step"
    alpha: float = 0.5  # step_by_step: weight of the predict loss
    # tokens added to the tokenizer (embeddings resized and trained), e.g. <think> </think> for
    # a vocabulary that cannot spell them. Added as ordinary added tokens, not special ones:
    # decoding with skip_special_tokens=True must keep them, or the reasoning loses its tags.
    special_tokens: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"seq2seq format {self.format!r} is not one of {', '.join(FORMATS)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"seq2seq alpha {self.alpha} is not in [0, 1]")


def input_template(prefix: str = "") -> str:
    """The chat template that renders messages as a seq2seq model's input text."""
    return "{{- " + repr(prefix) + " -}}" + PLAIN_TEMPLATE if prefix else PLAIN_TEMPLATE


def format_template(fmt: str) -> str:
    """The input template a model trained in format ``fmt`` is saved with (inference)."""
    return input_template(PREDICT if fmt == "step_by_step" else "")


def seq2seq_examples(records: list[dict], prompt: PromptSettings, source: str) -> list[dict]:
    """Trace records -> rows {prompt (messages), rationale, answer}; the format decides later
    which targets are learned (both come from the same records)."""
    rows = []
    for r in records:
        reasoning, letter = (
            (r["explanation"], r["gold"])
            if source == "reference"
            else (r["reasoning"], r["answer"])
        )
        rows.append(
            {
                "prompt": build_messages(r, prompt),
                "rationale": reasoning.strip(),
                "answer": format_final_answer(letter),
            }
        )
    return rows


def _encode(tokenizer, text: str, max_length: int, eos: bool) -> list[int]:
    """Token ids with the tokenizer's own special tokens (T5's appends </s>); a target always
    ends with EOS, so the model learns to stop (a GPT-2-style tokenizer adds none)."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if eos and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids = ids + [tokenizer.eos_token_id]
    if len(ids) > max_length:
        ids = ids[: max_length - 1] + [ids[-1]] if eos else ids[:max_length]
    return ids


def tokenize_rows(tokenizer, rows: list[dict], settings: Seq2SeqSettings, max_length: int):
    """Model features of every row, and the untruncated (input, target) lengths of each task."""
    from ..core.prompting import render_chat

    features, lengths = [], []
    for row in rows:
        messages = row["prompt"]
        if settings.format == "rationale":
            tasks = [(render_chat(tokenizer, messages, True), build_target(row))]
        else:
            explain = tokenizer.apply_chat_template(
                messages, chat_template=input_template(EXPLAIN), tokenize=False
            )
            tasks = [
                (render_chat(tokenizer, messages, True), row["answer"]),
                (explain, row["rationale"]),
            ]
        feature = {}
        for name, (text, target) in zip(("", "expl_"), tasks, strict=False):
            full_in = _encode(tokenizer, text, 10**9, eos=False)
            full_out = _encode(tokenizer, target, 10**9, eos=True)
            lengths.append((len(full_in), len(full_out)))
            feature[f"{name}input_ids"] = _encode(tokenizer, text, max_length, eos=False)
            feature[f"{name}attention_mask"] = [1] * len(feature[f"{name}input_ids"])
            feature[f"{name}labels"] = _encode(tokenizer, target, max_length, eos=True)
        feature["length"] = len(feature["input_ids"]) + len(feature["labels"])
        features.append(feature)
    return features, lengths


def build_target(row: dict) -> str:
    """The rationale-format target: the causal students' completion (reasoning in <think>
    tags, then the canonical answer line), so one answer extractor reads both."""
    return build_completion(row["rationale"], row["answer"].removeprefix("Ответ: "))


def length_stats(lengths: list[tuple[int, int]], max_length: int, epochs: float) -> dict:
    """train_metrics.json's token counts: input and target are truncated separately."""
    return {
        "tokens_seen": int(
            sum(min(i, max_length) + min(t, max_length) for i, t in lengths) * epochs
        ),
        "truncated_examples": sum(i > max_length or t > max_length for i, t in lengths),
        "dropped_examples": 0,  # a truncated seq2seq example still has a target to learn
        "max_example_tokens": max(max(i, t) for i, t in lengths),
    }


class Seq2SeqCollator:
    """Pads a batch's model inputs (the length column only guides the sampler); with
    step-by-step, the predict and explain halves of each example as two batches."""

    KEYS = ("input_ids", "attention_mask", "labels")

    def __init__(self, base, step_by_step: bool):
        self.base, self.step_by_step = base, step_by_step

    def __call__(self, features: list[dict]) -> dict:
        predict = self.base([{k: f[k] for k in self.KEYS} for f in features])
        if not self.step_by_step:
            return predict
        explain = self.base([{k: f[f"expl_{k}"] for k in self.KEYS} for f in features])
        return {"predict": predict, "explain": explain}


def step_by_step_loss(model, inputs: dict, alpha: float):
    """alpha * L_predict + (1 - alpha) * L_explain, each the model's mean token loss over its
    own batch (as in Hsieh et al.'s TaskPrefixTrainer); returns (loss, predict outputs)."""
    predict = model(**inputs["predict"])
    explain = model(**inputs["explain"])
    return alpha * predict.loss + (1.0 - alpha) * explain.loss, predict


def _lora_config(lora, tokens_added: bool, model):
    from peft import LoraConfig

    from ..core.models import check_lora_targets

    check_lora_targets(lora.target_modules, model, model.name_or_path, "lora.target_modules")
    modules_to_save = list(lora.modules_to_save or [])
    if tokens_added:
        # The new tokens' embedding rows start random: LoRA alone could not train them.
        wanted = {id(model.get_input_embeddings()), id(model.get_output_embeddings())}
        for name, module in model.named_modules():
            leaf = name.rpartition(".")[2]
            if id(module) in wanted and leaf not in modules_to_save:
                modules_to_save.append(leaf)
                wanted.discard(id(module))
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        modules_to_save=modules_to_save or None,
        task_type="SEQ_2_SEQ_LM",
    )


def build_seq2seq_trainer(
    model_path: str,
    rows: list[dict],
    settings,
    seq2seq: Seq2SeqSettings,
    output_dir,
    report_to=("none",),
    run_name: str = "seq2seq",
    trust_remote_code: bool = False,
    revision: str | None = None,
):
    """The configured Seq2SeqTrainer, the tokenizer to save, and the length metrics."""
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import (
        AutoModelForSeq2SeqLM,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
    )

    from ..core.models import check_arch, load_tokenizer, resize_to_tokenizer, resolve_dtype
    from .arguments import trainer_arguments

    if not rows:
        raise ValueError("no training examples (did the filter keep any traces?)")
    check_arch(model_path, "seq2seq", trust_remote_code, revision)
    tokenizer = load_tokenizer(model_path, trust_remote_code, "right", revision)
    if seq2seq.special_tokens:
        tokenizer.add_tokens(list(seq2seq.special_tokens))
    tokenizer.chat_template = format_template(seq2seq.format)
    features, lengths = tokenize_rows(tokenizer, rows, seq2seq, settings.max_length)
    model = AutoModelForSeq2SeqLM.from_pretrained(
        model_path,
        dtype=resolve_dtype(settings.dtype),
        trust_remote_code=trust_remote_code,
        **({"revision": revision} if revision else {}),
    )
    tokens_added = resize_to_tokenizer(model, tokenizer) or bool(seq2seq.special_tokens)
    if settings.method == "lora":
        lora = _lora_config(settings.lora, tokens_added, model)
        lora.revision = revision  # the adapter's base is loaded at this commit again
        model = get_peft_model(model, lora)
    args = Seq2SeqTrainingArguments(
        # padding-free packing is a causal-model technique: seq2seq batches are padded,
        # grouped by length unless `random` is asked for
        **trainer_arguments(settings, output_dir, run_name, report_to),
        remove_unused_columns=False,  # the step-by-step columns are not forward() arguments
    )
    step_by_step = seq2seq.format == "step_by_step"
    collator = Seq2SeqCollator(
        DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100), step_by_step
    )
    trainer_cls = _step_by_step_trainer(seq2seq.alpha) if step_by_step else Seq2SeqTrainer
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(features),
        processing_class=tokenizer,
        data_collator=collator,
    )
    return trainer, tokenizer, length_stats(lengths, settings.max_length, settings.epochs)


def _step_by_step_trainer(alpha: float):
    from transformers import Seq2SeqTrainer

    class StepByStepTrainer(Seq2SeqTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, outputs = step_by_step_loss(model, inputs, alpha)
            return (loss, outputs) if return_outputs else loss

    return StepByStepTrainer
