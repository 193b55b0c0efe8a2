"""The one generation interface, shared by trace generation and evaluation.

Callers build chat messages with :mod:`cmoe.prompting` and hand them to a :class:`Generator`;
they never see which backend runs. ``make_generator`` picks the backend from settings:

- ``hf``: transformers ``generate`` (CPU, one GPU, or a model spread over GPUs);
- ``vllm``: vLLM's offline engine, with LoRA adapters served unmerged (:mod:`cmoe.vllm_backend`);
- ``openai``: any OpenAI-compatible chat endpoint (:mod:`cmoe.openai_backend`).

Every conversation comes with its own seed (:func:`question_seed`), so sampled output does not
depend on what else is generated in the same run: resumed and sharded runs reproduce an
uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

BACKENDS = ("hf", "vllm", "openai")


@dataclass
class GenerationSettings:
    backend: str = "hf"
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 16
    seed: int = 0
    dtype: str = "auto"
    vllm: dict = field(default_factory=dict)  # engine settings, see cmoe.vllm_backend
    openai: dict = field(default_factory=dict)  # endpoint settings, see cmoe.openai_backend


@dataclass
class Completion:
    prompt: str  # the prompt as the model saw it (chat template applied, where known locally)
    text: str
    prompt_tokens: int
    completion_tokens: int


class Generator(Protocol):
    model_name: str
    # How many conversations a resumable run hands over at once. Output is written per chunk,
    # so this is also how much work a killed job can lose.
    chunk_size: int

    def generate(
        self, conversations: Sequence[list[dict]], enable_thinking: bool, seeds: Sequence[int]
    ) -> Iterator[Completion]:
        """Yield one Completion per conversation, in input order, as they become ready.

        ``seeds[i]`` seeds conversation i; for the same conversations, seeds and settings the
        output is the same on every call."""
        ...

    def usage(self) -> dict:
        """What this generator has consumed so far (tokens; requests and retries for APIs)."""
        ...


def question_seed(base_seed: int, question_id: str) -> int:
    """A per-question sampling seed that depends only on the run's seed and the question."""
    digest = hashlib.sha256(f"{base_seed}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def render_chat(tokenizer, messages: list[dict], enable_thinking: bool) -> str:
    # Extra template variables are ignored by templates that do not use them (e.g. Llama's).
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking
    )


class HFGenerator:
    """transformers ``generate`` in batches with left padding (CPU, one GPU, or a model spread
    over several GPUs by ``device_map="auto"``).

    A batch shares one random stream, seeded by its first conversation's seed; resumable runs
    hand over whole batches (``chunk_size == batch_size``), so batches, and output, repeat."""

    def __init__(self, model_path: str, settings: GenerationSettings, trust_remote_code=False):
        from .models import load_causal_lm, load_tokenizer

        self.model_name = str(model_path)
        self.settings = settings
        self.chunk_size = settings.batch_size
        self.tokenizer = load_tokenizer(model_path, trust_remote_code, padding_side="left")
        self.model = load_causal_lm(model_path, settings.dtype, trust_remote_code)
        eos = {self.tokenizer.eos_token_id}
        gen_eos = self.model.generation_config.eos_token_id
        eos.update(
            gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else []
        )
        self.eos_ids = sorted(i for i in eos if i is not None)
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def usage(self) -> dict:
        return dict(self._usage)

    def generate(self, conversations, enable_thinking, seeds):
        import torch

        s = self.settings
        sampling = (
            {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p}
            if s.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        for start in range(0, len(conversations), s.batch_size):
            batch = conversations[start : start + s.batch_size]
            torch.manual_seed(seeds[start])
            prompts = [render_chat(self.tokenizer, m, enable_thinking) for m in batch]
            enc = self.tokenizer(
                prompts, return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.model.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **enc,
                    max_new_tokens=s.max_new_tokens,
                    eos_token_id=self.eos_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **sampling,
                )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            for i, prompt in enumerate(prompts):
                ids = new_tokens[i].tolist()
                n = len(ids)
                for j, tok in enumerate(ids):
                    if tok in self.eos_ids:
                        n = j + 1
                        break
                completion = Completion(
                    prompt=prompt,
                    text=self.tokenizer.decode(ids[:n], skip_special_tokens=True),
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=n,
                )
                self._usage["prompt_tokens"] += completion.prompt_tokens
                self._usage["completion_tokens"] += completion.completion_tokens
                yield completion


def backend_available(backend: str) -> bool:
    """Whether a backend's optional dependency is importable here (vLLM is GPU-only)."""
    import importlib.util

    if backend == "vllm":
        return importlib.util.find_spec("vllm") is not None
    return backend in BACKENDS


def make_generator(
    model_path: str, settings: GenerationSettings, trust_remote_code: bool = False
) -> Generator:
    if settings.backend == "hf":
        return HFGenerator(model_path, settings, trust_remote_code)
    if settings.backend == "vllm":
        if not backend_available("vllm"):
            raise RuntimeError(
                "generation backend 'vllm' is selected but vLLM is not installed here: run with"
                " `--sdm conda` (envs/generate-vllm.yaml) or `pip install vllm` on a GPU machine"
            )
        from .vllm_backend import VLLMGenerator

        return VLLMGenerator(model_path, settings, trust_remote_code)
    if settings.backend == "openai":
        from .openai_backend import OpenAIGenerator

        return OpenAIGenerator(model_path, settings)
    raise ValueError(f"generation backend {settings.backend!r} is not available (have: {BACKENDS})")
