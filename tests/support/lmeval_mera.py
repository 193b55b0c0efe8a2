"""Run lm-evaluation-harness on MERA's ruMMLU task as reproduced in tests/lmeval_tasks/.

The task folder is copied next to the data it is given (MERA-schema rows, in the order lm-eval
is to score them, and the few-shot pool in its own order), and lm-eval runs from that folder, so
the task's relative ``data_files`` resolve there and nothing is written into the repository.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

TASKS = Path(__file__).resolve().parents[1] / "lmeval_tasks" / "rummlu_mera"
TASK, GEN_TASK = "rummlu_mera", "rummlu_mera_gen"
MERA_FIELDS = ("instruction", "inputs", "outputs", "meta")


def raw_rows(path: str | Path) -> dict[str, dict]:
    """MERA-schema rows of a JSONL file by their id (as question records name it)."""
    rows = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows[str(row["meta"]["id"])] = row
    return rows


def write_task(test_rows: list[dict], train_rows: list[dict], outdir: str | Path) -> Path:
    """The task folder with its two data files; returns the folder."""
    outdir = Path(outdir)
    shutil.copytree(TASKS, outdir, dirs_exist_ok=True)
    for name, rows in (("rummlu_test.jsonl", test_rows), ("rummlu_train.jsonl", train_rows)):
        # MERA's fields only (the demo's extra `explanation` would give the splits two schemas)
        rows = [{k: r[k] for k in MERA_FIELDS} for r in rows]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (outdir / name).write_text(text, "utf-8")
    return outdir


@contextmanager
def _cwd(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def simple_evaluate(task_dir: Path, model, tasks: list[str], batch_size: int = 8, **kwargs):
    """lm_eval.simple_evaluate on the task folder with seed 1234 (MERA's ``--seed 1234``);
    ``model`` is a model folder or an already loaded ``lm_eval`` HFLM."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    if isinstance(model, (str, Path)):
        kwargs.update(model="hf", model_args=f"pretrained={model},dtype=float32", device="cpu")
    else:
        kwargs["model"] = model
    with _cwd(task_dir):
        return lm_eval.simple_evaluate(
            tasks=tasks,
            task_manager=TaskManager(include_path=str(task_dir)),
            log_samples=True,
            batch_size=batch_size,
            random_seed=1234,
            numpy_random_seed=1234,
            torch_random_seed=1234,
            fewshot_random_seed=1234,
            **kwargs,
        )
