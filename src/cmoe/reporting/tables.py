"""Score tables: one row per evaluated model, domains + overall + n + the cost of its chain.

``scores.csv`` / ``scores.md`` hold every row; ``comparison.md`` shows the comparisons the
methods planned (the study's own layout among them), then every trained model with its paired
comparisons.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..core.domains import DOMAINS
from ..core.io import atomic_write_text, read_jsonl
from ..core.scoring import BOOTSTRAP_DEFAULTS, reasoning_language, replicate_score, score
from .comparison import to_comparison
from .costs import chain_cost
from .markdown import COSTS, acc_cell, fmt_cell, md_table

LABELS = ["namespace", "method", "teacher", "via", "model"]
ACCURACIES = [*DOMAINS, "overall"]
CIS = [f"{c}_{end}" for c in ACCURACIES for end in ("ci_low", "ci_high")]
DOMAIN_NS = [f"{d}_n" for d in DOMAINS]
# k > 1 (`evaluation.samples`): accuracies are avg@k and `majority` is majority@k (empty for
# k = 1); `cyrillic` is the share of Cyrillic letters in the reasoning (cmoe.core.scoring).
SAMPLING = ["k", "majority", "cyrillic"]
# training replicates (`replicates`): how many, and each one's overall accuracy
REPLICATES = ["replicates", "overall_by_replicate"]
COLUMNS = [*LABELS, *DOMAINS, "overall", "n", *COSTS, *CIS, *DOMAIN_NS, *SAMPLING, *REPLICATES]
HEADERS = {
    "majority": "majority@k",
    "cyrillic": "Cyrillic %",
    "replicates": "seeds",
    "overall_by_replicate": "overall, each seed",
}


def table_rows(rows, namespace: str = "main", bootstrap: dict | None = None, eval_dir=None):
    """One table row per plan row (:class:`cmoe.core.jobs.Row`), in table order (its method's
    rank, then teacher, via, model): labels from the plan, accuracies and bootstrap intervals
    from its predictions, costs from its chain. Plan rows of the same labels are the training
    replicates of one table row: it shows their mean, an interval that covers them
    (cmoe.core.scoring.replicate_score) and each replicate's overall accuracy.

    Intervals are computed here, not by the evaluation jobs, so that statistics settings
    (`evaluation.bootstrap`) re-run only the tables.
    """
    eval_dir = eval_dir or (lambda r: r.eval_dir)
    groups: dict[tuple, list] = {}
    for plan_row in rows:
        groups.setdefault(tuple(plan_row.labels.values()), []).append(plan_row)
    out = []
    for replicates in groups.values():
        replicates.sort(key=lambda r: r.replicate)
        plan_row = replicates[0]
        folders = [Path(eval_dir(r)) for r in replicates]
        records = [read_jsonl(f / "predictions.jsonl") for f in folders]
        settings = {**BOOTSTRAP_DEFAULTS, **(bootstrap or {})}
        if len(records) == 1:
            s = score(records[0], settings)
            s["overall"]["by_replicate"] = [s["overall"]["accuracy"]]
        else:
            s = replicate_score(records, settings)
        row = {
            "namespace": namespace,
            **plan_row.labels,
            # not columns: each replicate's scores, and what differences.csv compares to
            "scores_paths": [str(f / "scores.json") for f in folders],
            "reference": plan_row.reference,
            "rank": plan_row.rank,  # nor this: its method's place in the table
        }
        cells = {**s["domains"], "overall": s["overall"]}
        for c in ACCURACIES:
            cell = cells.get(c) or {}
            row[c] = cell.get("accuracy")
            row[f"{c}_ci_low"], row[f"{c}_ci_high"] = cell.get("ci_low"), cell.get("ci_high")
            row[f"{c}_n"], row[f"{c}_small"] = cell.get("n"), cell.get("flag_small_n", False)
        # not columns (kinds are the data's own): each question kind's cell, as `kind:<kind>`
        row["kinds"] = sorted(s.get("kinds", {}))
        for kind, cell in s.get("kinds", {}).items():
            c = f"kind:{kind}"
            row[c], row[f"{c}_ci_low"], row[f"{c}_ci_high"] = (
                cell.get(x) for x in ("accuracy", "ci_low", "ci_high")
            )
            row[f"{c}_n"], row[f"{c}_small"] = cell["n"], cell.get("flag_small_n", False)
        row["n"] = s["overall"]["n"]
        row["replicates"] = len(records)
        row["overall_by_replicate"] = s["overall"]["by_replicate"]
        row["k"] = s["overall"].get("k", 1)
        row["majority"] = s["overall"].get("majority_accuracy")
        row["cyrillic"] = _mean([reasoning_language(r) for r in records])
        costs = [chain_cost(r.chain) if r.chain else None for r in replicates]
        row["costs_by_replicate"] = costs  # not a column: the claims judge costs per replicate
        for column, field, scale in COST_FIELDS:
            row[column] = _mean([c[field] / scale for c in costs if c]) if costs[0] else None
        out.append(row)
    out.sort(key=lambda r: (r["rank"], r["teacher"], r["via"], r["model"]))
    return out


# each cost column, the chain cost's field (cmoe.reporting.costs.chain_cost) and its unit
COST_FIELDS = [
    ("device_h", "device_hours", 1),
    ("train_device_h", "train_device_hours", 1),
    ("critical_path_h", "critical_path_s", 3600),
    ("train_critical_path_h", "train_critical_path_s", 3600),
    ("api_usd", "api_cost_usd", 1),
]


def _mean(values: list) -> float | None:
    """The mean of the values that are not None (None when none is)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([fmt_cell(r[c], c, as_percent=False) for c in COLUMNS])
    return buf.getvalue()


def to_markdown(rows: list[dict]) -> str:
    replicated = any(r["replicates"] > 1 for r in rows)
    hidden = {"namespace", *CIS, *DOMAIN_NS, *([] if replicated else REPLICATES)}
    shown = [c for c in COLUMNS if c not in hidden]
    header = [DOMAINS.get(c, HEADERS.get(c, c)) for c in shown]
    lines = [
        [acc_cell(r, c) if c in ACCURACIES else fmt_cell(r[c], c, as_percent=True) for c in shown]
        for r in rows
    ]
    namespace = rows[0]["namespace"] if rows else "main"
    text = [
        f"Accuracy in % on the held-out test split (namespace `{namespace}`; n = test questions),",
        "with its 95% bootstrap interval in brackets and its number of items; † marks a cell with",
        "fewer items than the small-n threshold (`evaluation.bootstrap.min_n`).",
        "Costs are the chain that produced each model (teacher traces included, evaluation not):",
        "device-hours summed over jobs, the critical path in hours with jobs in parallel, and what",
        "OpenAI-compatible APIs billed in US dollars (`api_usd`, from `price_per_million`).",
        "With k sampled answers per question (`evaluation.samples`, column k) accuracies are",
        "avg@k, their intervals resample questions with all their samples, and majority@k is the",
        "accuracy of the majority answer. Cyrillic % is the share of Cyrillic letters among the",
        "letters of each answer's reasoning, averaged over questions (drift into other languages).",
        *(REPLICATED_NOTE if replicated else []),
        "",
        *md_table(header, lines),
    ]
    return "\n".join(text) + "\n"


# what a table of replicated rows says about its intervals
REPLICATED_NOTE = [
    "Rows trained several times (`replicates`, column seeds > 1: each model a training seed",
    "changes, trained with seeds s, s+1, ...) show the mean over their replicates, each",
    "replicate's overall accuracy, and an interval from a two-level bootstrap (replicates, then",
    "questions) that covers training seeds as well as test questions. Rows with one seed (the",
    "untrained bases, the teachers) have intervals over test questions only.",
]


def write_tables(
    rows,
    csv_out,
    md_out,
    *,
    namespace: str = "main",
    bootstrap: dict | None = None,
    eval_dir=None,
    comparison_out=None,
    comparisons=None,
    footer: str = "",
) -> list:
    """scores.csv, scores.md (and the comparison) for plan rows; ``footer`` (provenance) ends
    each Markdown file."""
    table = table_rows(rows, namespace, bootstrap, eval_dir)
    end = f"\n{footer}\n" if footer else ""
    atomic_write_text(csv_out, to_csv(table))
    atomic_write_text(md_out, to_markdown(table) + end)
    if comparison_out:
        comparison = to_comparison(table, comparisons)
        atomic_write_text(comparison_out, comparison + end)
    return table


def compare_namespaces(csv_paths, md_out) -> list[dict]:
    """Put the score tables of several namespaces (main run and ablations) side by side."""
    rows = []
    for path in csv_paths:
        with open(path, encoding="utf-8", newline="") as fh:
            rows.extend(csv.DictReader(fh))
    if not rows:
        raise ValueError("no rows in the given score tables")
    rows.sort(key=lambda r: (r["method"], r["teacher"], r["via"], r["model"], r["namespace"]))
    header = [DOMAINS.get(c, c) for c in COLUMNS]

    def cell(r, c):
        value = r.get(c, "")
        return f"{100 * float(value):.1f}" if value and (c in DOMAINS or c == "overall") else value

    text = [
        "Score tables side by side (accuracy in %); one namespace per run or ablation.",
        "",
        *md_table(header, [[cell(r, c) for c in COLUMNS] for r in rows]),
    ]
    atomic_write_text(md_out, "\n".join(text) + "\n")
    return rows
