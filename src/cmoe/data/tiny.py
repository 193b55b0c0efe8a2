"""Tiny random models of the study's families and byte-level BPE tokenizers trained on the corpus.

Decoder-only models copy a family: its architecture, special tokens, end-of-turn token (also EOS)
and published chat template (verbatim in ``cmoe/templates/``); ``arch: t5`` builds an
encoder-decoder (the seq2seq students) with a plain-text template. The result is an ordinary
model folder, loaded with ``from_pretrained(path)`` as ``Qwen/Qwen3-4B`` is from the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..core.io import atomic_directory, iter_jsonl
from ..core.prompting import DEFAULT_TEMPLATE, PLAIN_TEMPLATE
from ..core.settings import Settings, setting

THINK_TOKENS = ["<think>", "</think>"]
_SPECS = {"type": "object", "additionalProperties": {"$ref": "#/$defs/tiny_spec"}}
ARCHES = ["qwen3", "t5"]  # decoder-only, or an encoder-decoder gated-GELU T5 (v1.1, FRED-T5)


@dataclass(frozen=True)
class Family:
    """What a tiny model copies from the real checkpoints of its family."""

    template: str  # file in cmoe/templates/, the family's published chat template, verbatim
    special_tokens: list[str]
    eos: str  # the template's end-of-turn token: generation stops on it, labels end with it
    pad: str | None  # None: the tokenizer has no pad token, as Llama 3's has none
    bos: str | None  # prepended by the tokenizer itself (add_special_tokens=True), as Llama's
    end_of_text: str  # also stops generation (the real generation configs list it)
    # The pre-tokenizer's split before byte-level BPE, copied from the family's tokenizer.json.
    # Llama 3's keeps a run of newlines whole whether a word follows or not (GPT-2's splits
    # "\n\n" before a word into "\n" "\n"), so its generation prompt, which ends in "\n\n",
    # can tokenize the same alone and followed by the answer. None: GPT-2's split (the tiny
    # Qwen3's, whose trained turn starts with the <think> token, a boundary either way).
    split: str | None = None
    config_class: str = "Qwen3Config"
    model_class: str = "Qwen3ForCausalLM"
    think_tokens: bool = False  # <think>/</think> as added tokens (the template handles them)


FAMILIES = {
    # Qwen/Qwen3-*: ChatML, reasoning in <think> tags, enable_thinking switch
    "qwen3": Family(
        template="qwen3.jinja",
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        eos="<|im_end|>",
        pad="<|endoftext|>",
        bos=None,
        end_of_text="<|endoftext|>",
        think_tokens=True,
    ),
    # meta-llama/Llama-3.1-*-Instruct and Llama-3.3-70B-Instruct (one template): no thinking
    "llama3": Family(
        template="llama3.jinja",
        special_tokens=[
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|eom_id|>",
            "<|python_tag|>",
            "<|finetune_right_pad_id|>",
        ],
        eos="<|eot_id|>",
        pad=None,
        bos="<|begin_of_text|>",
        end_of_text="<|end_of_text|>",
        split=(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
            r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
        ),
        config_class="LlamaConfig",
        model_class="LlamaForCausalLM",
    ),
}


def chat_template(name: str) -> str:
    """A published chat template kept in ``cmoe/templates/`` (e.g. ``"qwen3.jinja"``)."""
    return resources.files("cmoe").joinpath("templates", name).read_text(encoding="utf-8")


@dataclass
class TinyModelSpec(Settings):
    """`tiny_models.specs.<name>`: a random model of this shape."""

    family: str = setting("qwen3", "`qwen3` or `llama3`: the family it copies", enum=[*FAMILIES])
    hidden_size: int = setting(64, "hidden size", required=True, minimum=8)
    num_hidden_layers: int = setting(2, "layers (`t5`: per stack)", required=True, minimum=1)
    num_attention_heads: int = setting(4, "attention heads", minimum=1)
    num_key_value_heads: int = setting(2, "key-value heads (unused by `t5`)", minimum=1)
    intermediate_size: int = setting(192, "MLP size", minimum=8)
    seed: int = setting(0, "initialisation seed")
    arch: str = setting("qwen3", "`qwen3` (decoder-only) or `t5` (encoder-decoder)", enum=ARCHES)
    vocab_size: int | None = setting(
        None, "its own BPE size (default the section's)", nullable=False, minimum=300
    )

    def shape_problem(self) -> str | None:
        """Why a model of this shape cannot be built or run, or None."""
        heads, kv = self.num_attention_heads, self.num_key_value_heads
        if self.hidden_size % heads:
            return (
                f"hidden_size {self.hidden_size} does not split into {heads} attention heads "
                "(head dimension = hidden_size / num_attention_heads must be a whole number)"
            )
        head_dim = self.hidden_size // heads
        if self.arch != "t5" and head_dim % 2:
            return (
                f"head dimension {self.hidden_size} / {heads} = {head_dim} is odd; rotary "
                "position embeddings rotate pairs of dimensions and need an even one"
            )
        if self.arch != "t5" and heads % kv:
            return f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}"
        return None


def corpus_texts(corpus: str | Path, extra: list[str] = ()) -> list[str]:
    """Every piece of text the demo will feed a model: questions, options, explanations."""
    texts = list(extra) + [DEFAULT_TEMPLATE]
    for _, row in iter_jsonl(corpus):
        inputs = row.get("inputs", {})
        texts.extend(str(v) for v in inputs.values())
        texts.append(str(row.get("explanation", "")))
    texts.extend(f"Ответ: {x}" for x in "ABCD")
    return texts


def train_tokenizer(texts: list[str], vocab_size: int, family: str = "qwen3"):
    """A byte-level BPE trained on ``texts`` with the special tokens and chat template of
    ``family``; the families' vocabularies differ (their special tokens and splits do)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    fam = FAMILIES[family]
    bpe = Tokenizer(models.BPE())
    if fam.split is None:
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        bpe.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(fam.split), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=fam.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    if fam.bos is not None:
        bos_id = bpe.token_to_id(fam.bos)
        bpe.post_processor = processors.TemplateProcessing(
            single=f"{fam.bos} $A",
            pair=f"{fam.bos} $A {fam.bos} $B",
            special_tokens=[(fam.bos, bos_id)],
        )
    named = {fam.eos, fam.pad, fam.bos}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token=fam.eos,
        pad_token=fam.pad,
        bos_token=fam.bos,
        padding_side="left",  # set in the constructor: assigned later it is not saved
        additional_special_tokens=[t for t in fam.special_tokens if t not in named],
    )
    if fam.think_tokens:
        # Like Qwen3: <think> tags are added tokens but not special ones, so decoding with
        # skip_special_tokens=True keeps them and the reasoning stays delimited.
        tok.add_tokens(THINK_TOKENS)
    tok.chat_template = chat_template(fam.template)
    return tok


TINY_ARCHS = ("qwen3", "t5")


def tiny_config(spec: TinyModelSpec, vocab_size: int, tokenizer=None):
    """The transformers config of a tiny model (its special token ids from ``tokenizer``, none
    without one: enough to list its modules before the model is built)."""
    import transformers

    if spec.arch not in TINY_ARCHS:
        raise ValueError(f"tiny_models.specs: arch {spec.arch!r} is not one of {TINY_ARCHS}")
    ids = {
        f"{t}_token_id": getattr(tokenizer, f"{t}_token_id", None) for t in ("eos", "pad", "bos")
    }
    if spec.arch == "t5":
        return transformers.T5Config(
            vocab_size=vocab_size,
            d_model=spec.hidden_size,
            d_kv=spec.hidden_size // spec.num_attention_heads,
            d_ff=spec.intermediate_size,
            num_layers=spec.num_hidden_layers,
            num_decoder_layers=spec.num_hidden_layers,
            num_heads=spec.num_attention_heads,
            feed_forward_proj="gated-gelu",
            tie_word_embeddings=True,
            dropout_rate=0.0,
            eos_token_id=ids["eos_token_id"],
            pad_token_id=ids["pad_token_id"],
            decoder_start_token_id=ids["pad_token_id"],  # T5's convention: the pad token
        )
    return getattr(transformers, FAMILIES[spec.family].config_class)(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        **ids,
    )


def entry_config(config: dict, name: str):
    """The transformers config of the `models` entry ``name`` when it is known before any job:
    a tiny spec's, a local folder's or a cached hub model's; None for a hub id not downloaded."""
    from ..core.models import local_config

    spec = config["models"][name]
    if "tiny" not in spec:
        return local_config(spec)
    tiny = config["tiny_models"]
    return tiny_config(TinyModelSpec(**tiny["specs"][spec["tiny"]]), tiny.get("vocab_size", 2048))


def build_tiny_t5(tokenizer, spec: TinyModelSpec):
    import torch
    from transformers import GenerationConfig, T5ForConditionalGeneration

    torch.manual_seed(spec.seed)
    model = T5ForConditionalGeneration(tiny_config(spec, len(tokenizer), tokenizer))
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return model


def build_tiny_model(tokenizer, spec: TinyModelSpec):
    import torch
    import transformers
    from transformers import GenerationConfig

    config = tiny_config(spec, len(tokenizer), tokenizer)
    if spec.arch == "t5":
        return build_tiny_t5(tokenizer, spec)

    fam = FAMILIES[spec.family]
    torch.manual_seed(spec.seed)
    # As the real checkpoints: generation stops at the end of a turn or of the text.
    stop = [tokenizer.convert_tokens_to_ids(t) for t in dict.fromkeys([fam.eos, fam.end_of_text])]
    model = getattr(transformers, fam.model_class)(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def make_tiny_model(
    corpus: str | Path, out: str | Path, spec: TinyModelSpec, vocab_size: int
) -> int:
    """Write tokenizer + random model to ``out`` atomically; return the parameter count.
    ``vocab_size``: the BPE's size unless the spec sets its own."""
    size = spec.vocab_size or vocab_size
    tokenizer = train_tokenizer(corpus_texts(corpus), size, spec.family)
    if spec.arch == "t5":
        tokenizer.chat_template = PLAIN_TEMPLATE
    model = build_tiny_model(tokenizer, spec)
    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return sum(p.numel() for p in model.parameters())


@dataclass
class TinyModelsSettings(Settings):
    """The `tiny_models` section: the tokenizers' corpus and each tiny model's spec."""

    corpus: str = setting("", "MERA-schema JSONL whose text trains the BPE", required=True)
    vocab_size: int = setting(2048, "BPE vocabulary size", minimum=300)
    specs: dict[str, TinyModelSpec] = setting(
        help="`<name>: spec`, below", factory=dict, required=True, schema=_SPECS
    )
