"""The ``hf`` generation backend: transformers ``generate`` on CPU, one GPU, or a model spread
over several GPUs; decoder-only and encoder-decoder (T5) models alike. torch and transformers
are imported on first use, not with this module."""

from __future__ import annotations

from ..core.prompting import end_of_turn, render_chat
from .base import Completion, GenerationSettings


class HFGenerator:
    """transformers ``generate`` in batches with left padding (CPU, one GPU, or a model spread
    over several GPUs by ``device_map="auto"``).

    A batch shares one random stream, seeded by its first conversation's seed; resumable runs
    hand over whole batches (``chunk_size == batch_size``), so batches, and output, repeat."""

    def __init__(
        self,
        model_path: str,
        settings: GenerationSettings,
        trust_remote_code=False,
        adapters: dict[str, str] | None = None,
        revision: str | None = None,
    ):
        from ..core.models import load_causal_lm, load_tokenizer

        self.model_name = str(model_path)
        # LoRA adapters of this model, each merged into its own copy when first asked for (the
        # merged path, against which vLLM's unmerged adapters on one engine are compared)
        self.adapters = dict(adapters or {})
        self.trust_remote_code = trust_remote_code
        self._merged: dict[str, object] = {}
        self.settings = settings
        self.chunk_size = settings.batch_size
        self.tokenizer = load_tokenizer(model_path, trust_remote_code, "left", revision)
        self.model = load_causal_lm(
            model_path, settings.dtype, trust_remote_code, revision=revision
        )
        # An encoder-decoder reads the prompt with its tokenizer's own special tokens (T5's
        # closing </s>, as in training) and returns only new tokens, after the decoder start.
        self.seq2seq = bool(self.model.config.is_encoder_decoder)
        if self.seq2seq and not self.tokenizer.chat_template:
            from ..core.prompting import PLAIN_TEMPLATE

            self.tokenizer.chat_template = PLAIN_TEMPLATE  # a hub T5 has none: plain text
        # Stop at the end of the assistant turn, as the chat template closes it, and at every
        # EOS the tokenizer and the checkpoint's generation config name.
        turn_end = end_of_turn(self.tokenizer)
        eos = {self.tokenizer.eos_token_id}
        if turn_end is not None:
            eos.add(self.tokenizer.convert_tokens_to_ids(turn_end))
        gen_eos = self.model.generation_config.eos_token_id
        eos.update(
            gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else []
        )
        self.eos_ids = sorted(i for i in eos if i is not None)
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def usage(self) -> dict:
        return dict(self._usage)

    def _model_for(self, adapter: str | None):
        if adapter is None:
            return self.model
        if adapter not in self.adapters:
            served = ", ".join(self.adapters) or "none"
            raise ValueError(f"no adapter {adapter!r} here (adapters: {served})")
        if adapter not in self._merged:
            from ..core.models import load_causal_lm

            self._merged[adapter] = load_causal_lm(
                self.adapters[adapter], self.settings.dtype, self.trust_remote_code
            )
        return self._merged[adapter]

    def generate(self, conversations, enable_thinking, seeds, adapters=None):
        if adapters is None:
            yield from self._generate(self.model, conversations, enable_thinking, seeds)
            return
        # each adapter's conversations in their own batches, answers back in input order
        done: dict[int, Completion] = {}
        for adapter in dict.fromkeys(adapters):
            idx = [i for i, a in enumerate(adapters) if a == adapter]
            completions = self._generate(
                self._model_for(adapter),
                [conversations[i] for i in idx],
                enable_thinking,
                [seeds[i] for i in idx],
            )
            done.update(zip(idx, completions, strict=True))
        yield from (done[i] for i in range(len(conversations)))

    def _generate(self, model, conversations, enable_thinking, seeds):
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
                prompts, return_tensors="pt", padding=True, add_special_tokens=self.seq2seq
            ).to(model.device)
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=s.max_new_tokens,
                    eos_token_id=self.eos_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    **sampling,
                )
            new_tokens = out[:, 1:] if self.seq2seq else out[:, enc["input_ids"].shape[1] :]
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
