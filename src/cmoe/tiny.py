"""Tiny random Qwen3 (decoder-only) or T5 (encoder-decoder) models and a byte-level BPE
tokenizer trained on the demo corpus.

The result is an ordinary model folder: everything downstream loads it with
``from_pretrained(path)``, exactly as it loads ``Qwen/Qwen3-4B`` from the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .io import atomic_directory, iter_jsonl
from .prompting import DEFAULT_TEMPLATE

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]

# ChatML like Qwen3's, with Qwen3's switch: enable_thinking=false pre-fills an empty think block.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and not enable_thinking -%}"
    "{{- '<think>\\n\\n</think>\\n\\n' -}}"
    "{%- endif -%}"
    "{%- endif -%}"
)


@dataclass
class TinyModelSpec:
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 192
    seed: int = 0
    # "qwen3" (decoder-only) or "t5" (encoder-decoder, gated-GELU like T5 v1.1 and FRED-T5;
    # num_hidden_layers in each stack, num_key_value_heads unused)
    arch: str = "qwen3"


def corpus_texts(corpus: str | Path, extra: list[str] = ()) -> list[str]:
    """Every piece of text the demo will feed a model: questions, options, explanations."""
    texts = list(extra) + [DEFAULT_TEMPLATE]
    for _, row in iter_jsonl(corpus):
        inputs = row.get("inputs", {})
        texts.extend(str(v) for v in inputs.values())
        texts.append(str(row.get("explanation", "")))
    texts.extend(f"Ответ: {x}" for x in "ABCD")
    return texts


def train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",  # set in the constructor: assigned later it is not saved
        additional_special_tokens=["<|im_start|>"],
    )
    # Like Qwen3: <think> tags are added tokens but not special ones, so decoding with
    # skip_special_tokens=True keeps them and the reasoning stays delimited.
    tok.add_tokens(THINK_TOKENS)
    tok.chat_template = CHAT_TEMPLATE
    return tok


TINY_ARCHS = ("qwen3", "t5")
# A seq2seq model reads its prompt as plain text: the messages' contents, one after another.
# Its tokenizer carries this as its chat template, so every caller renders prompts the same way.
PLAIN_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if not loop.first -%}{{- '\n\n' -}}{%- endif -%}"
    "{{- message['content'] -}}"
    "{%- endfor -%}"
)


def build_tiny_t5(tokenizer, spec: TinyModelSpec):
    import torch
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    torch.manual_seed(spec.seed)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=spec.hidden_size,
        d_kv=spec.hidden_size // spec.num_attention_heads,
        d_ff=spec.intermediate_size,
        num_layers=spec.num_hidden_layers,
        num_decoder_layers=spec.num_hidden_layers,
        num_heads=spec.num_attention_heads,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=True,
        dropout_rate=0.0,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,  # T5's convention: the pad token
    )
    model = T5ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return model


def build_tiny_model(tokenizer, spec: TinyModelSpec):
    import torch

    if spec.arch not in TINY_ARCHS:
        raise ValueError(f"tiny_models.specs: arch {spec.arch!r} is not one of {TINY_ARCHS}")
    if spec.arch == "t5":
        return build_tiny_t5(tokenizer, spec)
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(spec.seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def make_tiny_model(
    corpus: str | Path, out: str | Path, spec: TinyModelSpec, vocab_size: int
) -> int:
    """Write tokenizer + random model to ``out`` atomically; return the parameter count."""
    tokenizer = train_tokenizer(corpus_texts(corpus), vocab_size)
    if spec.arch == "t5":
        tokenizer.chat_template = PLAIN_TEMPLATE
    model = build_tiny_model(tokenizer, spec)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return sum(p.numel() for p in model.parameters())
