"""The one generation interface, shared by trace generation and evaluation.

Callers build chat messages with :mod:`cmoe.prompting` and hand them to a :class:`Generator`;
they never see which backend runs. ``make_generator`` picks the backend from settings, so the
vLLM and OpenAI-compatible backends plug in here without touching callers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

BACKENDS = ("hf",)


@dataclass
class GenerationSettings:
    backend: str = "hf"
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 16
    seed: int = 0
    dtype: str = "auto"


@dataclass
class Completion:
    prompt: str  # the prompt exactly as the model saw it (chat template applied)
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float  # wall time of the request (for batched backends: of its batch)


class Generator(Protocol):
    model_name: str

    def generate(
        self, conversations: Sequence[list[dict]], enable_thinking: bool
    ) -> Iterator[Completion]:
        """Yield one Completion per conversation, in input order, as they become ready."""
        ...


def render_chat(tokenizer, messages: list[dict], enable_thinking: bool) -> str:
    # Extra template variables are ignored by templates that do not use them (e.g. Llama's).
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=enable_thinking
    )


class HFGenerator:
    """transformers ``generate`` in batches with left padding (CPU, one GPU, or a model spread
    over several GPUs by ``device_map="auto"``)."""

    def __init__(self, model_path: str, settings: GenerationSettings, trust_remote_code=False):
        from .models import load_causal_lm, load_tokenizer

        self.model_name = str(model_path)
        self.settings = settings
        self.tokenizer = load_tokenizer(model_path, trust_remote_code, padding_side="left")
        self.model = load_causal_lm(model_path, settings.dtype, trust_remote_code)
        eos = {self.tokenizer.eos_token_id}
        gen_eos = self.model.generation_config.eos_token_id
        eos.update(
            gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else []
        )
        self.eos_ids = sorted(i for i in eos if i is not None)

    def generate(self, conversations, enable_thinking):
        import torch

        s = self.settings
        torch.manual_seed(s.seed)
        sampling = (
            {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p}
            if s.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        for start in range(0, len(conversations), s.batch_size):
            batch = conversations[start : start + s.batch_size]
            prompts = [render_chat(self.tokenizer, m, enable_thinking) for m in batch]
            enc = self.tokenizer(
                prompts, return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.model.device)
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = self.model.generate(
                    **enc,
                    max_new_tokens=s.max_new_tokens,
                    eos_token_id=self.eos_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **sampling,
                )
            latency = time.perf_counter() - t0
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            for i, prompt in enumerate(prompts):
                ids = new_tokens[i].tolist()
                n = len(ids)
                for j, tok in enumerate(ids):
                    if tok in self.eos_ids:
                        n = j + 1
                        break
                yield Completion(
                    prompt=prompt,
                    text=self.tokenizer.decode(ids[:n], skip_special_tokens=True),
                    prompt_tokens=int(enc["attention_mask"][i].sum()),
                    completion_tokens=n,
                    latency_s=round(latency, 4),
                )


def make_generator(
    model_path: str, settings: GenerationSettings, trust_remote_code: bool = False
) -> Generator:
    if settings.backend == "hf":
        return HFGenerator(model_path, settings, trust_remote_code)
    raise ValueError(f"generation backend {settings.backend!r} is not available (have: {BACKENDS})")
