"""The benchmark table: every `evaluation.benchmarks` task on every trained and base model.

``benchmarks.csv`` has one line per model × task (metric, value, stderr, n); ``benchmarks.md``
one row per model and one column per task, each cell ``value ± stderr`` in % with its n. The
stderr is lm-eval's own (the sample standard error of the mean over items; for a group, pooled
over its subtasks as lm-eval aggregates them).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..core.io import atomic_write_text, read_json
from ..core.paths import results_path

COLUMNS = ["model", "task", "metric", "value", "stderr", "n", "subtasks"]


def table_jobs(jobs) -> list[dict]:
    """What the table needs of the plan's BenchmarkJobs (a small file, so that no other setting
    re-runs the table): each job's key, model label and task."""
    return [{"key": j.key, "label": j.label, "task": j.task} for j in jobs]


def benchmark_rows(jobs: list[dict]) -> list[dict]:
    """One row per benchmark job (:func:`table_jobs`), from its scores.json, ordered by model
    (bases first) then task."""
    rows = []
    for job in jobs:
        scores = read_json(Path(results_path(job["key"])) / "scores.json")
        rows.append(
            {
                "model": job["label"],
                "task": job["task"],
                **{k: scores.get(k) for k in ("metric", "value", "stderr", "n", "subtasks")},
            }
        )
    rows.sort(key=lambda r: (not r["model"].startswith("base/"), r["model"], r["task"]))
    return rows


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    return buf.getvalue()


def _cell(r: dict) -> str:
    if r["value"] is None:
        return ""
    text = f"{100 * r['value']:.1f}"
    if r["stderr"] is not None:
        text += f" ± {100 * r['stderr']:.1f}"
    return f"{text} (n={r['n']})"


def to_markdown(rows: list[dict]) -> str:
    tasks = sorted({r["task"] for r in rows})
    metrics = {t: sorted({r["metric"] for r in rows if r["task"] == t}) for t in tasks}
    by_model: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], {})[r["task"]] = r
    header = ["model", *(f"{t} ({'/'.join(metrics[t])})" for t in tasks)]
    body = [
        [model, *(_cell(cells[t]) if t in cells else "" for t in tasks)]
        for model, cells in by_model.items()
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(line) + " |" for line in body]
    intro = [
        "lm-evaluation-harness benchmarks (`evaluation.benchmarks`) on every trained model and "
        "its base:",
        "the task's metric in % ± lm-eval's standard error, and the number of items scored. "
        "Models are named",
        "by their folder below `models/` (`base/<model>`: the untrained base).",
        "",
    ]
    return "\n".join(intro + lines) + "\n"


def write_benchmark_tables(jobs, csv_out, md_out, footer: str = "") -> list[dict]:
    rows = benchmark_rows(jobs)
    atomic_write_text(csv_out, to_csv(rows))
    atomic_write_text(md_out, to_markdown(rows) + (f"\n{footer}\n" if footer else ""))
    return rows
