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
from dataclasses import dataclass
from typing import Protocol

from ..core.settings import DTYPES, Settings, defined, setting


@dataclass
class GenerationSettings(Settings):
    """A `generation` block (`evaluation.generation`, a teacher's or intermediate's)."""

    backend: str = setting(
        "hf",
        "`hf`: transformers, batched with left padding; `vllm`: vLLM's offline engine (GPU); "
        "`openai`: any OpenAI-compatible chat endpoint",
    )  # its names: cmoe.generation.registry (the config's schema lists them)
    temperature: float = setting(0.0, "0 means greedy decoding", minimum=0)
    top_p: float = setting(1.0, "nucleus sampling", exclusiveMinimum=0, maximum=1)
    max_new_tokens: int = setting(512, "generation budget per question", minimum=1)
    batch_size: int = setting(
        16,
        "questions handed to the backend at once, and written to disk at once: the most a "
        "killed job loses (`hf`: also the forward batch)",
        minimum=1,
    )
    seed: int = setting(
        0, "sampling seed; each question gets its own seed derived from it and the question id"
    )
    dtype: str = setting("auto", "as for training (`hf`, `vllm`)", enum=DTYPES)
    # answers per question (a teacher's or intermediate's `samples_per_question`), each seeded
    # by (question, sample index); evaluation has its own `evaluation.samples`
    samples_per_question: int = setting(1, in_config=False)
    vllm: dict = defined("vllm", "`backend: vllm` only, below", doc_default="")
    openai: dict = defined("openai", "`backend: openai` only, below", doc_default="")


def _engine(doc_default: str, help: str, **keywords):
    """A vLLM engine argument: left out (None), vLLM's own default (``doc_default``) holds."""
    return setting(None, help, nullable=False, doc_default=doc_default, **keywords)


@dataclass
class VLLMSettings(Settings):
    """`generation.vllm`: vLLM engine settings (cmoe.generation.vllm)."""

    tensor_parallel_size: int | None = _engine(
        "the job's `resources.gpu`", "GPUs the model is sharded over", minimum=1
    )
    max_model_len: int | None = _engine(
        "the model's", "context the KV cache is sized for (prompt + `max_new_tokens`)", minimum=16
    )
    gpu_memory_utilization: float | None = _engine(
        "vLLM's (0.9)", "share of GPU memory vLLM takes", exclusiveMinimum=0, maximum=1
    )
    kv_cache_memory_bytes: int | None = _engine(
        "vLLM's; on CPU 1 GiB (`VLLM_CPU_KVCACHE_SPACE` if set)",
        "the KV cache's size in bytes",
        minimum=1,
    )
    max_num_seqs: int | None = _engine("vLLM's", "sequences in flight", minimum=1)
    max_lora_rank: int | None = _engine(
        "the adapters' largest `r`",
        "LoRA specialists and students are served as adapters (`enable_lora`, `LoRARequest`), "
        "never merged",
        minimum=1,
    )
    enforce_eager: bool | None = _engine(
        "vLLM's (false)", "skip CUDA graphs (faster start, slower decoding)"
    )


@dataclass
class OpenAISettings(Settings):
    """`generation.openai`: an OpenAI-compatible chat endpoint (backend `openai`)."""

    base_url: str | None = setting(
        None,
        "the API root, e.g. `http://127.0.0.1:8000/v1`",
        required=True,
        nullable=False,
        pattern="^https?://",
    )
    model: str | None = setting(
        None,
        "the model name the server serves (`--served-model-name` for vLLM); records keep the "
        "model path the workflow passes",
        required=True,
        nullable=False,
        minLength=1,
    )
    api_key_env: str | None = setting(
        None,
        "the *name* of the environment variable holding the key, sent as `Authorization: "
        "Bearer`. The key is read from the environment at run time and never written to config, "
        "logs, results or wandb. A run whose variable is unset stops before its first job",
        nullable=False,
        pattern="^[A-Za-z_][A-Za-z0-9_]*$",
    )
    concurrency: int = setting(8, "requests in flight at once", minimum=1)
    timeout_s: float = setting(
        600.0,
        "per request (connect, and each wait for response bytes)",
        exclusiveMinimum=0,
    )
    connect_timeout_s: float | None = setting(
        None,
        "seconds to wait for a connection, so an unreachable server fails (and is retried) "
        "at once rather than after `timeout_s`; left out: `timeout_s`",
        nullable=False,
        exclusiveMinimum=0,
    )
    max_retries: int = setting(
        8,
        "retries on 429, 408, 5xx, timeouts, dropped connections and broken JSON, with "
        "exponential backoff and full jitter (and `Retry-After` when sent); other 4xx fail at once",
        minimum=0,
    )
    backoff_s: float = setting(
        1.0,
        "first backoff: before retry k, sleep uniform(0, min(max_backoff_s, backoff_s · 2^k))",
        minimum=0,
    )
    max_backoff_s: float = setting(
        60.0, "largest backoff (a `Retry-After` header is honoured up to it)", minimum=0
    )
    price_per_million: dict | None = setting(
        None,
        "`{prompt: USD, completion: USD}` per million tokens: fills the `api_usd` cost column",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "prompt": {"type": "number", "minimum": 0},
                "completion": {"type": "number", "minimum": 0},
            },
        },
    )
    send_enable_thinking: bool = setting(
        True,
        "send `chat_template_kwargs.enable_thinking` (vLLM and SGLang servers); set false for "
        "APIs that reject unknown fields",
    )
    extra_body: dict | None = setting(
        None,
        "merged into every request body, last (e.g. `top_k`, `repetition_penalty`)",
        nullable=False,
    )


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
