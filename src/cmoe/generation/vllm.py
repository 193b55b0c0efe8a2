"""The ``vllm`` generation backend: vLLM's offline engine on one node's GPUs.

Settings (``generation.vllm`` in config; all optional):

- ``tensor_parallel_size``: GPUs the model is sharded over. The workflow defaults it to the GPUs
  the job asks for (``resources.gpu``), so a 235B teacher on 8 GPUs needs no extra key.
- ``max_model_len``: context length the KV cache is sized for (prompt + ``max_new_tokens``).
- ``gpu_memory_utilization``: fraction of GPU memory vLLM may take (vLLM's default 0.9).
- ``max_num_seqs``: sequences in flight at once.
- ``max_lora_rank``: the largest adapter rank to serve (default: the adapter's own ``r``).
- ``enforce_eager``: skip CUDA graphs (faster start, slower decoding).

A trained LoRA specialist or student is served as a ``LoRARequest`` on top of its base model,
with no merge step. Prompts are rendered by the shared chat template (:func:`render_chat`) and
passed as token ids, exactly as the hf backend tokenizes them, so the two backends see the same
tokens and write the same record format. Each request carries its own seed.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from ..core.prompting import render_chat
from .base import Completion, GenerationSettings, VLLMSettings

ENGINE_KEYS = tuple(f.name for f in fields(VLLMSettings))  # None: vLLM's own default


def engine_arguments(
    model_path: str, settings: GenerationSettings, trust_remote_code: bool = False
) -> tuple[dict, str | None]:
    """(keyword arguments for ``vllm.LLM``, adapter folder or None) for a model path."""
    unknown = sorted(set(settings.vllm) - set(ENGINE_KEYS))
    if unknown:
        raise ValueError(f"unknown generation.vllm key(s): {', '.join(unknown)}")
    adapter_file = Path(model_path) / "adapter_config.json"
    adapter = None
    base = str(model_path)
    args = {k: settings.vllm[k] for k in ENGINE_KEYS if settings.vllm.get(k) is not None}
    if adapter_file.exists():
        adapter_config = json.loads(adapter_file.read_text("utf-8"))
        adapter, base = str(model_path), adapter_config["base_model_name_or_path"]
        args["enable_lora"] = True
        args.setdefault("max_lora_rank", int(adapter_config.get("r", 16)))
        args["max_loras"] = 1
    args.update(
        model=base,
        dtype=settings.dtype,
        seed=settings.seed,
        trust_remote_code=trust_remote_code,
    )
    return args, adapter


class VLLMGenerator:
    def __init__(self, model_path: str, settings: GenerationSettings, trust_remote_code=False):
        from vllm import LLM

        from ..core.models import load_tokenizer

        self.model_name = str(model_path)
        self.settings = settings
        # vLLM batches continuously inside a call; a chunk is what a killed job can lose.
        self.chunk_size = settings.batch_size
        args, adapter = engine_arguments(model_path, settings, trust_remote_code)
        self.lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(Path(adapter).name, 1, adapter)
        # The adapter folder carries the tokenizer (and chat template) it was trained with.
        self.tokenizer = load_tokenizer(model_path, trust_remote_code)
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
            skip_special_tokens=True,  # as the hf backend decodes
        )

    def generate(self, conversations, enable_thinking, seeds):
        prompts = [render_chat(self.tokenizer, m, enable_thinking) for m in conversations]
        # Token ids, not text: vLLM would otherwise add a second BOS to Llama's template.
        token_prompts = [
            {"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]}
            for p in prompts
        ]
        outputs = self.llm.generate(
            token_prompts,
            [self.sampling_params(seed) for seed in seeds],
            lora_request=self.lora,
            use_tqdm=False,
        )
        for prompt, token_prompt, out in zip(prompts, token_prompts, outputs, strict=True):
            best = out.outputs[0]
            completion = Completion(
                prompt=prompt,
                text=best.text,
                prompt_tokens=len(token_prompt["prompt_token_ids"]),
                completion_tokens=len(best.token_ids),
            )
            self._usage["prompt_tokens"] += completion.prompt_tokens
            self._usage["completion_tokens"] += completion.completion_tokens
            yield completion
