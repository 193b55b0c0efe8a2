"""Loading models and tokenizers the same way for hub ids, local folders and LoRA adapters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def adapter_base(path: str | Path) -> str:
    with open(Path(path) / "adapter_config.json") as fh:
        return json.load(fh)["base_model_name_or_path"]


def adapter_revision(path: str | Path) -> str | None:
    """The commit of its hub base an adapter was trained on (PEFT's ``revision``), or None."""
    with open(Path(path) / "adapter_config.json") as fh:
        return json.load(fh).get("revision")


def _revision(revision: str | None) -> dict:
    """from_pretrained's ``revision`` keyword, only when one is given (local folders take none)."""
    return {"revision": revision} if revision else {}


def check_model_source(path: str | Path) -> None:
    """Fail in one line when a model can be neither a local folder nor a hub id."""
    from .paths import looks_like_path

    if looks_like_path(str(path)) and not Path(path).expanduser().is_dir():
        raise FileNotFoundError(f"model folder {str(path)!r} does not exist")


def _unresolved(path, exc: Exception) -> OSError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OSError(
        f"cannot load model {str(path)!r}: no such local folder, and the hub id did not resolve "
        f"({detail}); log in (`huggingface-cli login` or HF_TOKEN), pre-download it, or set "
        "HF_HUB_OFFLINE=1 with it in the cache"
    )


def load_tokenizer(
    path: str | Path, trust_remote_code: bool = False, padding_side: str = "left", revision=None
):
    """A model's tokenizer; ``revision``: the hub commit (a hub id's only)."""
    from transformers import AutoTokenizer

    check_model_source(path)
    try:
        tok = AutoTokenizer.from_pretrained(
            str(path),
            trust_remote_code=trust_remote_code,
            padding_side=padding_side,
            **_revision(revision),
        )
    except (OSError, ValueError) as exc:
        if Path(path).is_dir():
            raise
        raise _unresolved(path, exc) from None
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        # A pad equal to EOS would be masked out of the labels, and the model would never learn
        # to stop. Fall back to a distinct special token the tokenizer already has.
        for candidate in ("<|endoftext|>", "<|finetune_right_pad_id|>", "<pad>"):
            if candidate in tok.get_vocab() and candidate != tok.eos_token:
                tok.pad_token = candidate
                break
    return tok


ARCHS = ("causal", "seq2seq")


def model_config(path: str | Path, trust_remote_code: bool = False, revision: str | None = None):
    """A model's transformers config (a LoRA adapter's: its base's, at its recorded commit)."""
    from transformers import AutoConfig

    check_model_source(path)
    source = adapter_base(path) if is_adapter(path) else str(path)
    if is_adapter(path):
        revision = adapter_revision(path)
    try:
        return AutoConfig.from_pretrained(
            source, trust_remote_code=trust_remote_code, **_revision(revision)
        )
    except (OSError, ValueError) as exc:
        if Path(source).is_dir():
            raise
        raise _unresolved(source, exc) from None


def config_arch(config) -> str:
    """ "seq2seq" for an encoder-decoder config (T5, BART), "causal" otherwise."""
    return "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"


def check_arch(
    path: str | Path, declared: str, trust_remote_code: bool = False, revision: str | None = None
) -> None:
    """Fail in one line when a model's config.json contradicts its declared `arch`."""
    if declared not in ARCHS:
        raise ValueError(f"model {str(path)!r}: arch {declared!r} is not one of {', '.join(ARCHS)}")
    config = model_config(path, trust_remote_code, revision)
    actual = config_arch(config)
    if actual != declared:
        said = (
            f"is_encoder_decoder={bool(getattr(config, 'is_encoder_decoder', False))}, "
            f"architectures={getattr(config, 'architectures', None)}"
        )
        raise ValueError(
            f"model {str(path)!r} is declared arch: {declared}, but its config.json says {said} "
            f"(a {actual} model): fix `arch` in its `models` entry"
        )


def auto_class(arch: str):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if arch == "seq2seq" else AutoModelForCausalLM


def load_causal_lm(
    path: str | Path,
    dtype: str = "auto",
    trust_remote_code: bool = False,
    merge: bool = True,
    revision: str | None = None,
):
    """Load a language model for inference; a LoRA adapter folder is applied to its base in
    memory. An encoder-decoder (config.json's ``is_encoder_decoder``) loads with
    AutoModelForSeq2SeqLM, any other model with AutoModelForCausalLM.

    Merging in memory (not on disk) keeps the pipeline free of a separate merge step while
    generating about 1.4x faster than through the PeftModel wrapper. ``revision``: a hub id's
    commit (an adapter's base is loaded at the commit its adapter_config.json records).
    """
    auto = auto_class(config_arch(model_config(path, trust_remote_code, revision)))
    kwargs = {"dtype": resolve_dtype(dtype), "trust_remote_code": trust_remote_code}
    if torch.cuda.device_count() > 1:
        # A model too large for one GPU (a 70B teacher) is spread over all visible GPUs.
        kwargs["device_map"] = "auto"
    if is_adapter(path):
        from peft import PeftModel

        base = auto.from_pretrained(
            adapter_base(path), **kwargs, **_revision(adapter_revision(path))
        )
        resize_to_tokenizer(base, load_tokenizer(path, trust_remote_code))
        model = PeftModel.from_pretrained(base, str(path))
        if merge:
            model = model.merge_and_unload()
    else:
        model = auto.from_pretrained(str(path), **kwargs, **_revision(revision))
    if "device_map" not in kwargs:
        model = model.to(device())
    return model.eval()


def resize_to_tokenizer(model, tokenizer) -> bool:
    """Grow the embeddings to the tokenizer's vocabulary (tokens added for training); a
    vocabulary already padded past it (T5's 32128 rows) is left as it is. True if resized."""
    if len(tokenizer) <= model.get_input_embeddings().weight.shape[0]:
        return False
    model.resize_token_embeddings(len(tokenizer))
    return True


def local_config(spec: dict):
    """A `models` entry's transformers config when the model is on this machine (a local folder
    or the hub cache), else None (a tiny model the workflow builds later, or not downloaded)."""
    from transformers import AutoConfig

    path = spec.get("path")
    if not path:
        return None
    try:
        return AutoConfig.from_pretrained(
            path,
            local_files_only=True,
            trust_remote_code=spec["trust_remote_code"],
            **_revision(spec.get("revision")),
        )
    except (OSError, ValueError):
        return None


def meta_model(model_config, auto=None):
    """A model built from its config on the meta device (no weights): its modules, not its
    numbers. ``auto``: the transformers auto class (default: the config's language model)."""
    with torch.device("meta"):
        return (auto or auto_class(config_arch(model_config))).from_config(model_config)


def check_lora_targets(targets, model, name: str, key: str) -> None:
    """Raise ConfigError naming ``key`` for a LoRA target that matches no module of ``model``
    as PEFT matches them (a module's full name or its last dotted parts): PEFT itself trains
    the targets that exist and drops a misspelt one silently. A string ("all-linear", a
    regular expression) is PEFT's to resolve."""
    from .errors import ConfigError

    if isinstance(targets, str):
        return
    modules = dict(model.named_modules())
    unknown = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in modules)]
    if unknown:
        linear = sorted(
            {n.rpartition(".")[2] for n, m in modules.items() if isinstance(m, torch.nn.Linear)}
        )
        raise ConfigError(
            f"{', '.join(unknown)} not in model {name} (its linear layers: "
            f"{', '.join(linear) or 'none found'})",
            key=key,
        )


def unreadable(spec: dict, offline: bool) -> str | None:
    """Why a `models` entry's `path` cannot be read on this machine, or None when it can (or
    when it has no `path`: a tiny model the workflow builds). A local folder must hold a
    readable config.json (or a LoRA adapter's adapter_config.json); a hub id must be in the
    local cache or, unless ``offline``, resolve on the hub (asked once, 10 s at most)."""
    from .paths import looks_like_path

    path = spec.get("path")
    if not path:
        return None
    folder = Path(path).expanduser()
    if looks_like_path(path) or folder.is_dir():
        if not folder.is_dir():
            return f"{path!r} is not a model folder"
        files = [folder / name for name in ("config.json", "adapter_config.json")]
        if not any(f.is_file() for f in files):
            return f"model folder {path!r} has no config.json"
        if not any(os.access(f, os.R_OK) for f in files if f.is_file()):
            return f"model folder {path!r}: config.json cannot be read (permissions)"
        return None
    if local_config(spec) is not None:
        return None  # in the local cache
    if offline:
        return (
            f"hub id {path!r} is not in the local cache and HF_HUB_OFFLINE is set; "
            f"pre-download it (`huggingface-cli download {path}`) or unset HF_HUB_OFFLINE"
        )
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(path, timeout=10)
    except Exception as exc:  # any failure means the first job would fail the same way
        return (
            f"hub id {path!r} cannot be resolved ({type(exc).__name__}); log in "
            "(`huggingface-cli login` or HF_TOKEN), pre-download it, or set HF_HUB_OFFLINE=1 "
            "with it in the cache"
        )
    return None


def hub_offline(environ=None) -> bool:
    """Whether HF_HUB_OFFLINE is set (in ``environ``, default the process's)."""
    value = (os.environ if environ is None else environ).get("HF_HUB_OFFLINE", "")
    return value.lower() in ("1", "true", "yes")


# The parts of a fast tokenizer's tokenizer.json that decide its tokens (not its truncation or
# padding settings, which the loader sets).
_TOKENIZER_PARTS = ("normalizer", "pre_tokenizer", "model", "post_processor", "decoder")


def tokenizer_digest(tokenizer) -> str:
    """A tokenizer's identity, the same in every process and after save_pretrained: a digest of
    its vocabulary and merges (with its normalizer, pre-tokenizer, post-processor and decoder),
    its added and special tokens, and its chat template. Stored with what a tokenizer made
    (teacher scores), and compared with the tokenizer a later job loads."""
    from .io import digest

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        body = {part: spec.get(part) for part in _TOKENIZER_PARTS}
    else:  # a slow (Python) tokenizer: its vocabulary only
        body = {"vocab": sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])}
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    body["added_tokens"] = [[i, str(t.content), bool(t.special)] for i, t in sorted(added.items())]
    body["special_tokens"] = tokenizer.special_tokens_map
    body["chat_template"] = tokenizer.chat_template
    return digest(body, 16)
