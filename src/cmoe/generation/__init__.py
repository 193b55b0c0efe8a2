"""The one generation interface, shared by trace generation and evaluation.

Callers build chat messages with :mod:`cmoe.core.prompting` and hand them to a :class:`Generator`
from :func:`make_generator`; they never see which backend runs. The package:

- :mod:`~cmoe.generation.base`: :class:`GenerationSettings`, :class:`Completion`, the
  :class:`Generator` protocol and :func:`question_seed` (no heavy imports; the chat template
  is applied by :func:`cmoe.core.prompting.render_chat`);
- :mod:`~cmoe.generation.registry`: backend name -> implementation, :func:`make_generator` and
  :func:`backend_available`;
- the backends, each imported only when built: ``hf`` (transformers ``generate``: CPU, one GPU,
  or a model spread over GPUs; :mod:`~cmoe.generation.hf`), ``vllm`` (vLLM's offline engine,
  LoRA adapters served unmerged; :mod:`~cmoe.generation.vllm`) and ``openai`` (any
  OpenAI-compatible chat endpoint; :mod:`~cmoe.generation.openai`);
- :mod:`~cmoe.generation.runner`: questions -> trace records, and the resumable, sharded
  writer (``answer_questions``, ``generate_resumable``, ``shard_questions``, ``run_cost``).

Every conversation comes with its own seed (:func:`question_seed`), so sampled output does not
depend on what else is generated in the same run: resumed and sharded runs reproduce an
uninterrupted one exactly.
"""

from .base import Completion, GenerationSettings, Generator, question_seed
from .registry import BACKENDS, backend_available, make_generator

__all__ = [
    "BACKENDS",
    "Completion",
    "GenerationSettings",
    "Generator",
    "backend_available",
    "make_generator",
    "question_seed",
]
