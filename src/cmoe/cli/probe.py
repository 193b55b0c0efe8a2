"""The start-up probe: how long a job takes before its stage does real work.

With ``CMOE_STARTUP_PROBE=1`` in the environment, a subcommand stops at the first moment its
handler opens one of the run's own files (an input, a model, an output): everything before it
(the interpreter, imports, argument parsing, the handler's own imports) is start-up. The process
then reports the heavy libraries already imported and exits with status 0 before that file is
opened, so nothing is read or written. ``perf/bench_startup.py`` times every rule kind with it.

Python source and compiled modules are not real work; neither is anything outside the working
directory (the interpreter, site-packages) or the project's own ``src/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VARIABLE = "CMOE_STARTUP_PROBE"
# Libraries whose import a light job should not pay for (reported when the probe fires).
HEAVY = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "numpy",
    "pandas",
    "matplotlib",
    "lm_eval",
    "qdrant_client",
    "safetensors",
    "sklearn",
    "scipy",
    "vllm",
)
CODE_SUFFIXES = (".py", ".pyc", ".so", ".pth")


def heavy_modules() -> list[str]:
    """The libraries of :data:`HEAVY` imported in this process so far."""
    return [name for name in HEAVY if name in sys.modules]


def arm(command: str) -> None:
    """Stop this process at its first real file access, if the probe is asked for."""
    if os.environ.get(VARIABLE) != "1":
        return
    cwd = Path.cwd().resolve()
    source = cwd / "src"

    def real_work(path) -> bool:
        if isinstance(path, int):
            return False
        try:
            resolved = Path(os.fsdecode(path)).resolve()
        except (TypeError, ValueError, OSError):
            return False
        if resolved.suffix in CODE_SUFFIXES or not resolved.is_relative_to(cwd):
            return False
        return not resolved.is_relative_to(source) and ".venv" not in resolved.parts

    def hook(event: str, args: tuple) -> None:
        if event == "open" and real_work(args[0]):
            heavy = ",".join(heavy_modules()) or "-"
            sys.stderr.write(f"startup probe: {command} first opens {args[0]} | heavy: {heavy}\n")
            sys.stderr.flush()
            os._exit(0)

    sys.addaudithook(hook)
