"""Export questions as a local lm-evaluation-harness task with our exact MERA prompts.

The prompt (shots included) is rendered here with ``mera_prompt`` and stored per doc, so
lm-eval and ``cmoe.loglik`` see byte-identical contexts; lm-eval adds only the " A".." D"
continuations (``target_delimiter`` " " + choice) and runs with ``num_fewshot`` 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cmoe.data import LETTERS
from cmoe.loglik import mera_prompt, select_shots

TASK_NAME = "cmoe_rummlu"


def export_task(
    questions: list[dict], pool: list[dict], k: int, seed: int, outdir: str | Path
) -> Path:
    """Write ``<outdir>/cmoe_rummlu.jsonl`` and ``cmoe_rummlu.yaml``; return the YAML path."""
    outdir = Path(outdir).resolve()  # lm-eval resolves data_files from its own cwd: go absolute
    outdir.mkdir(parents=True, exist_ok=True)
    data = outdir / f"{TASK_NAME}.jsonl"
    with open(data, "w", encoding="utf-8") as fh:
        for q in questions:
            doc = {
                "id": q["id"],
                "subject": q["subject"],
                "prompt": mera_prompt(q, select_shots(q, pool, k, seed)),
                "label": LETTERS.index(q["gold"]),
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    task = {
        "task": TASK_NAME,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "{{prompt}}",
        "doc_to_choice": list(LETTERS),
        "target_delimiter": " ",
        "doc_to_target": "label",  # a column name: lm-eval reads the gold index from it
        "num_fewshot": 0,  # the shots are already inside the prompt
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    path = outdir / f"{TASK_NAME}.yaml"
    path.write_text(yaml.safe_dump(task, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
