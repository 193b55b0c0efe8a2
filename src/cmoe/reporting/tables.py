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
from ..core.scoring import BOOTSTRAP_DEFAULTS, reasoning_language, score
from .costs import chain_cost

LABELS = ["namespace", "method", "teacher", "via", "model"]
COSTS = ["device_h", "train_device_h", "critical_path_h", "train_critical_path_h", "api_usd"]
ACCURACIES = [*DOMAINS, "overall"]
CIS = [f"{c}_{end}" for c in ACCURACIES for end in ("ci_low", "ci_high")]
DOMAIN_NS = [f"{d}_n" for d in DOMAINS]
# k > 1 (`evaluation.samples`): accuracies are avg@k and `majority` is majority@k (empty for
# k = 1); `cyrillic` is the share of Cyrillic letters in the reasoning (cmoe.core.scoring).
SAMPLING = ["k", "majority", "cyrillic"]
COLUMNS = [*LABELS, *DOMAINS, "overall", "n", *COSTS, *CIS, *DOMAIN_NS, *SAMPLING]
HEADERS = {"majority": "majority@k", "cyrillic": "Cyrillic %"}


def table_rows(rows, namespace: str = "main", bootstrap: dict | None = None, eval_dir=None):
    """One table row per plan row (:class:`cmoe.core.jobs.Row`), in table order (its method's
    rank, then teacher, via, model): labels from the plan, accuracies and bootstrap intervals
    from its predictions, costs from its chain.

    Intervals are computed here, not by the evaluation jobs, so that statistics settings
    (`evaluation.bootstrap`) re-run only the tables.
    """
    eval_dir = eval_dir or (lambda r: r.eval_dir)
    out = []
    for plan_row in rows:
        folder = Path(eval_dir(plan_row))
        records = read_jsonl(folder / "predictions.jsonl")
        s = score(records, {**BOOTSTRAP_DEFAULTS, **(bootstrap or {})})
        row = {
            "namespace": namespace,
            **plan_row.labels,
            "scores_path": str(folder / "scores.json"),
            "reference": plan_row.reference,  # not a column: what differences.csv compares to
            "rank": plan_row.rank,  # nor this: its method's place in the table
        }
        cells = {**s["domains"], "overall": s["overall"]}
        for c in ACCURACIES:
            cell = cells.get(c) or {}
            row[c] = cell.get("accuracy")
            row[f"{c}_ci_low"], row[f"{c}_ci_high"] = cell.get("ci_low"), cell.get("ci_high")
            row[f"{c}_n"], row[f"{c}_small"] = cell.get("n"), cell.get("flag_small_n", False)
        row["n"] = s["overall"]["n"]
        row["k"] = s["overall"].get("k", 1)
        row["majority"] = s["overall"].get("majority_accuracy")
        row["cyrillic"] = reasoning_language(records)
        cost = chain_cost(plan_row.chain) if plan_row.chain else None
        row["device_h"] = cost["device_hours"] if cost else None
        row["train_device_h"] = cost["train_device_hours"] if cost else None
        row["critical_path_h"] = cost["critical_path_s"] / 3600 if cost else None
        row["train_critical_path_h"] = cost["train_critical_path_s"] / 3600 if cost else None
        row["api_usd"] = cost["api_cost_usd"] if cost else None
        out.append(row)
    out.sort(key=lambda r: (r["rank"], r["teacher"], r["via"], r["model"]))
    return out


def _fmt(value, column: str, as_percent: bool) -> str:
    if value is None:
        return ""
    if column in COSTS:
        return f"{value:.4g}"
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
    shown = [c for c in COLUMNS if c != "namespace" and c not in CIS and c not in DOMAIN_NS]
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
        "",
        *_md_table(header, lines),
    ]
    return "\n".join(text) + "\n"


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
    """One bullet per control: recovered when the paired 95% interval of a − b lies above 0."""
    from .paired import paired_difference

    out = []
    for p in controls:
        d = paired_difference(by_key[p.a], by_key[p.b])
        verdict = "recovered" if d and d["ci_low"] > 0 else "**not recovered**"
        out.append(f"- {verdict}: {paired_sentence(p.name, by_key[p.a], by_key[p.b])}")
    return out


def paired_sentence(name: str, a: dict, b: dict, resamples: int = 1000, seed: int = 0) -> str:
    """Paired bootstrap CI of the accuracy difference and McNemar's exact test, same items."""
    from .paired import paired_difference

    d = paired_difference(a, b, resamples=resamples, seed=seed)
    if d is None:
        return f"{name}: not compared (the two rows were scored on different items)."
    return (
        f"{name}: {100 * d['diff']:+.1f} points, paired-bootstrap 95% CI "
        f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]; McNemar exact "
        f"p = {d['p_value']:.3g} ({d['b10']} items only the first got right, "
        f"{d['b01']} only the second; n = {d['n']})."
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
