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
from ..core.io import atomic_write_text, read_json, read_jsonl
from ..core.scoring import BOOTSTRAP_DEFAULTS, reasoning_language, replicate_score, score
from .costs import chain_cost

LABELS = ["namespace", "method", "teacher", "via", "model"]
COSTS = ["device_h", "train_device_h", "critical_path_h", "train_critical_path_h", "api_usd"]
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
            "scores_path": str(folders[0] / "scores.json"),
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


def _fmt(value, column: str, as_percent: bool) -> str:
    if value is None:
        return ""
    if column in COSTS:
        return f"{value:.4g}"
    if isinstance(value, list):  # each replicate's accuracy
        return (" / " if as_percent else " ").join(_fmt(v, column, as_percent) for v in value)
    if isinstance(value, float):
        return f"{100 * value:.1f}" if as_percent else f"{value:.4f}"
    return str(value)


def _acc_cell(row: dict, column: str) -> str:
    """'23.4 [16.4, 31.2]' in Markdown; † marks a cell whose n is below the small-n threshold."""
    text = _fmt(row[column], column, True)
    if text and row.get(f"{column}_ci_low") is not None:
        text += f" [{100 * row[f'{column}_ci_low']:.1f}, {100 * row[f'{column}_ci_high']:.1f}]"
    if text and column in DOMAINS and row.get(f"{column}_n") is not None:
        text += f" n={row[f'{column}_n']}"  # the overall n has its own column
    if text and row.get(f"{column}_small"):
        text += " †"
    return text


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_fmt(r[c], c, as_percent=False) for c in COLUMNS])
    return buf.getvalue()


def _md_table(header: list[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return out


def to_markdown(rows: list[dict]) -> str:
    replicated = any(r["replicates"] > 1 for r in rows)
    hidden = {"namespace", *CIS, *DOMAIN_NS, *([] if replicated else REPLICATES)}
    shown = [c for c in COLUMNS if c not in hidden]
    header = [DOMAINS.get(c, HEADERS.get(c, c)) for c in shown]
    lines = [
        [_acc_cell(r, c) if c in ACCURACIES else _fmt(r[c], c, as_percent=True) for c in shown]
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
        *_md_table(header, lines),
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


def _ratio(a, b) -> str:
    return f"{a / b:.2f}×" if a and b else "n/a"


def _key(r: dict) -> tuple[str, str, str, str]:
    return (r["method"], r["teacher"], r["via"], r["model"])


def to_comparison(rows: list[dict], comparisons=None) -> str:
    """comparison.md: what the methods planned to compare (:class:`cmoe.core.jobs.Comparisons`):
    notes, sections of rows side by side (the study's own comparison), then every trained
    model with the paired comparisons under it. A comparison whose rows are not in the table
    is left out."""
    by_key = {_key(r): r for r in rows}
    out = ["# Method against method", ""]
    controls = [
        p
        for p in (comparisons.pairs if comparisons else [])
        if p.control and {p.a, p.b} <= by_key.keys()
    ]
    if controls:
        out += [CONTROLS, "", *control_lines(controls, by_key), ""]
    for note in comparisons.notes if comparisons else []:
        result = read_json(note.file)
        out += [f"{note.label}: {100 * result['accuracy']:.1f}% (n = {result['n']}).", ""]
    header = ["", *DOMAINS.values(), "overall", "n", "train device-h", "train critical path h"]

    def line(name, r):
        return [
            name,
            *(_acc_cell(r, d) for d in DOMAINS),
            _acc_cell(r, "overall"),
            str(r["n"]),
            _fmt(r["train_device_h"], "train_device_h", True),
            _fmt(r["train_critical_path_h"], "train_critical_path_h", True),
        ]

    for block in comparisons.blocks if comparisons else []:
        lines = [line(name, by_key[k]) for name, k in block.lines if k in by_key]
        if not lines:
            continue
        a, b = (by_key.get(k) for k in block.delta[1:]) if block.delta else (None, None)
        if a and b:
            delta = [
                f"{100 * (a[c] - b[c]):+.1f}" if a[c] is not None and b[c] is not None else ""
                for c in [*DOMAINS, "overall"]
            ]
            lines.append([block.delta[0], *delta, "", "", ""])
        out += [f"## {block.title}", "", *_md_table(header, lines)]
        if block.pair and {block.pair.a, block.pair.b} <= by_key.keys():
            out += [
                "",
                paired_sentence(block.pair.name, by_key[block.pair.a], by_key[block.pair.b]),
            ]
        if block.cost and {block.cost[1], block.cost[2]} <= by_key.keys():
            x, y = by_key[block.cost[1]], by_key[block.cost[2]]
            out += [
                "",
                f"{block.cost[0]}: device-hours "
                f"{_ratio(x['train_device_h'], y['train_device_h'])}, critical path "
                f"{_ratio(x['train_critical_path_h'], y['train_critical_path_h'])}.",
            ]
        out.append("")
    trained = [r for r in rows if r["method"] not in ("base", "teacher") and ":" not in r["model"]]
    if trained:
        chain = [
            line(
                " → ".join(
                    x for x in (r["method"] + ": " + r["teacher"], r["via"], r["model"]) if x != "-"
                ),
                r,
            )
            for r in trained
        ]
        out += ["## Every trained model, by method", "", *_md_table(header, chain), ""]
        order = {_key(r): i for i, r in enumerate(rows)}
        pairs = [
            p
            for p in (comparisons.pairs if comparisons else [])
            if not p.control and {p.a, p.b} <= order.keys()
        ]
        for p in sorted(pairs, key=lambda p: (order[p.a], order[p.b])):
            out.append(f"- {paired_sentence(p.name, by_key[p.a], by_key[p.b])}")
        out.append("")
    return "\n".join(out)


# comparison.md's section of controls, which the report's summary quotes
CONTROLS = "## Controls: effects a working pipeline must show"


def control_lines(controls, by_key: dict) -> list[str]:
    """One bullet per control: recovered when the paired 95% interval of a − b lies above 0
    (for replicated rows, the interval that covers the training seeds)."""
    out = []
    for p in controls:
        sentence, d = _paired(p.name, by_key[p.a], by_key[p.b])
        verdict = "recovered" if d and d["ci_low"] > 0 else "**not recovered**"
        out.append(f"- {verdict}: {sentence}")
    return out


def paired_sentence(name: str, a: dict, b: dict, resamples: int = 1000, seed: int = 0) -> str:
    """The paired difference of two rows as a sentence: the paired-bootstrap interval and
    McNemar's exact test on the same items, or, for rows trained several times, the two-level
    bootstrap over replicates and items with its bootstrap p."""
    return _paired(name, a, b, resamples, seed)[0]


def _paired(name: str, a: dict, b: dict, resamples: int = 1000, seed: int = 0):
    from .paired import paired_difference

    d = paired_difference(a, b, resamples=resamples, seed=seed)
    if d is None:
        return f"{name}: not compared (the two rows were scored on different items).", None
    head = f"{name}: {100 * d['diff']:+.1f} points"
    interval = f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"
    if d["b10"] is None:
        return (
            f"{head}, two-level paired bootstrap 95% CI {interval} over seeds and questions; "
            f"bootstrap p = {d['p_value']:.3g} ({d['replicates']} replicates; n = {d['n']}).",
            d,
        )
    return (
        f"{head}, paired-bootstrap 95% CI {interval}; McNemar exact "
        f"p = {d['p_value']:.3g} ({d['b10']} items only the first got right, "
        f"{d['b01']} only the second; n = {d['n']}).",
        d,
    )


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
        *_md_table(header, [[cell(r, c) for c in COLUMNS] for r in rows]),
    ]
    atomic_write_text(md_out, "\n".join(text) + "\n")
    return rows
