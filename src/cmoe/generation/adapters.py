"""Several LoRA adapters of one base model on one generator (one vLLM engine), each answering its
own questions into its own files exactly as if it had been served alone.

:class:`AdapterView` is one adapter of a shared generator seen as a generator of its own: every
conversation goes to that adapter, its records name the adapter's folder as their model (as a
run of the adapter alone does) and its usage counts its own tokens only. :func:`generate_each`
runs the adapters one after the other through the resumable writer
(:func:`cmoe.generation.runner.generate_resumable`): the same chunks, batches and seeds as one
run per adapter, so the same bytes. Each adapter's partial file is kept until every adapter is
done, so a killed job resumes at the chunk where it stopped, the adapters already finished read
back from disk rather than generated again.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core.prompting import PromptSettings
from .base import Generator
from .runner import drop_partial, generate_resumable


class AdapterView:
    """Adapter ``name`` (folder ``folder``) of ``generator``, which serves it among others."""

    def __init__(self, generator: Generator, name: str, folder: str):
        self.generator, self.name = generator, name
        self.model_name = str(folder)
        self.chunk_size = generator.chunk_size
        self._before = generator.usage()

    def generate(self, conversations, enable_thinking, seeds, adapters=None):
        if adapters is not None:
            raise ValueError(f"a view of adapter {self.name!r} serves no other adapter")
        named = [self.name] * len(conversations)
        return self.generator.generate(conversations, enable_thinking, seeds, named)

    def usage(self) -> dict:
        """What this adapter has used since its view was made (tokens, requests)."""
        now = self.generator.usage()
        return {
            k: v - self._before.get(k, 0) if isinstance(v, int | float) else v
            for k, v in now.items()
        }


def generate_each(
    generator: Generator,
    adapters: dict[str, str],
    questions: dict[str, list[dict]],
    prompt: PromptSettings,
    outs: dict[str, str | Path],
    *,
    seed: int,
    identity: dict,
    samples: int = 1,
) -> dict[str, tuple[list[dict], float, dict]]:
    """Each adapter of ``adapters`` ({name: folder}, all served by ``generator``) answers its
    ``questions[name]`` into ``outs[name]``; per adapter (records, wall seconds, usage)."""
    done = {}
    for name, folder in adapters.items():
        view = AdapterView(generator, name, folder)
        t0 = time.perf_counter()
        records = generate_resumable(
            questions[name],
            view,
            prompt,
            outs[name],
            seed=seed,
            identity=identity,
            desc=f"generate {name}",
            samples=samples,
            keep_partial=True,
        )
        done[name] = (records, time.perf_counter() - t0, view.usage())
    for out in outs.values():
        drop_partial(out)
    return done
