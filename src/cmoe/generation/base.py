"""The generation interface every backend implements, and what callers share with it.

:class:`GenerationSettings` (the ``generation`` config section, with its backends' own
:class:`VLLMSettings` and :class:`OpenAISettings`), :class:`Completion` (one answer),
the :class:`Generator` protocol, :func:`question_seed` (a conversation's own sampling seed) and
(chat rendering is :mod:`cmoe.core.prompting`'s). Nothing here imports
torch, transformers or a backend's dependencies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class GenerationSettings:
    backend: str = "hf"
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 16
    seed: int = 0
    dtype: str = "auto"
    # answers per question (a teacher's or intermediate's `samples_per_question`), each seeded
    # by (question, sample index); evaluation has its own `evaluation.samples`
    samples_per_question: int = 1
    vllm: dict = field(default_factory=dict)  # VLLMSettings' keys, see cmoe.generation.vllm
    openai: dict = field(default_factory=dict)  # OpenAISettings' keys, cmoe.generation.openai


@dataclass
class VLLMSettings:
    """`generation.vllm`: vLLM engine settings; None leaves vLLM's own default."""

    tensor_parallel_size: int | None = None  # default: the job's resources.gpu
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_memory_bytes: int | None = None  # default on CPU: 1 GiB (VLLM_CPU_KVCACHE_SPACE)
    max_num_seqs: int | None = None
    max_lora_rank: int | None = None  # default: the adapter's rank
    enforce_eager: bool | None = None


@dataclass
class OpenAISettings:
    """`generation.openai`: an OpenAI-compatible chat endpoint (backend `openai`)."""

    base_url: str | None = None  # required
    model: str | None = None  # required
    api_key_env: str | None = None  # the NAME of the variable holding the key, never the key
    concurrency: int = 8
    timeout_s: float = 600.0
    max_retries: int = 8
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    price_per_million: dict | None = None  # {prompt: USD, completion: USD}
    send_enable_thinking: bool = True
    extra_body: dict | None = None


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
        self,
        conversations: Sequence[list[dict]],
        enable_thinking: bool,
        seeds: Sequence[int],
        adapters: Sequence[str | None] | None = None,
    ) -> Iterator[Completion]:
        """Yield one Completion per conversation, in input order, as they become ready.

        ``seeds[i]`` seeds conversation i; for the same conversations, seeds and settings the
        output is the same on every call. ``adapters[i]`` names the LoRA adapter (of those the
        generator was built with) that answers conversation i; None: the base model."""
        ...

    def usage(self) -> dict:
        """What this generator has consumed so far (tokens; requests and retries for APIs)."""
        ...


def question_seed(base_seed: int, question_id: str) -> int:
    """A per-question sampling seed that depends only on the run's seed and the question."""
    digest = hashlib.sha256(f"{base_seed}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
