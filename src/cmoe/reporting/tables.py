"""Score tables: one row per evaluated model, domains + overall + n + the cost of its chain.

``scores.csv`` / ``scores.md`` hold every row; ``comparison.md`` mirrors the study's layout:
the CMoE mixture against one intermediate trained on the undivided data, then the students of
each method, with the training-cost ratio.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..domains import DOMAINS
from ..io import atomic_write_text, read_json, read_jsonl
from ..methods import method_rank
from ..scoring import BOOTSTRAP_DEFAULTS, reasoning_language, score
from .costs import chain_cost

LABELS = ["namespace", "method", "teacher", "via", "model"]
COSTS = ["device_h", "train_device_h", "critical_path_h", "train_critical_path_h", "api_usd"]
ACCURACIES = [*DOMAINS, "overall"]
CIS = [f"{c}_{end}" for c in ACCURACIES for end in ("ci_low", "ci_high")]
DOMAIN_NS = [f"{d}_n" for d in DOMAINS]
# k > 1 (`evaluation.samples`): accuracies are avg@k and `majority` is majority@k (empty for
# k = 1); `cyrillic` is the share of Cyrillic letters in the reasoning (cmoe.scoring).
SAMPLING = ["k", "majority", "cyrillic"]
COLUMNS = [*LABELS, *DOMAINS, "overall", "n", *COSTS, *CIS, *DOMAIN_NS, *SAMPLING]
HEADERS = {"majority": "majority@k", "cyrillic": "Cyrillic %"}


def table_rows(rows, namespace: str = "main", bootstrap: dict | None = None, eval_dir=None):
    """One table row per plan row (:class:`cmoe.plan.Row`): labels from the plan, accuracies
    and bootstrap intervals from its predictions, costs from its chain.

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
    out.sort(key=lambda r: (method_rank(r["method"]), r["teacher"], r["via"], r["model"]))
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


def to_comparison(rows: list[dict], routes: dict | None = None) -> str:
    """The study's comparison: CMoE mixture vs one model on undivided data, then students."""
    by_key = {(r["method"], r["teacher"], r["via"], r["model"]): r for r in rows}
    out = ["# Method against method", ""]
    if routes is not None:
        out += [
            f"Learned router accuracy on the test split: {100 * routes['accuracy']:.1f}% "
            f"(n = {routes['n']}).",
            "",
        ]
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

    mixtures = sorted({(r["teacher"], r["via"]) for r in rows if r["model"].startswith("mixture:")})
    for teacher, inter in mixtures:
        direct = by_key.get(("direct", teacher, "-", inter))
        oracle = by_key.get(("cmoe", teacher, inter, "mixture:oracle"))
        learned = by_key.get(("cmoe", teacher, inter, "mixture:learned"))
        lines = []
        if direct:
            lines.append(line(f"direct: {inter} on undivided data", direct))
        if oracle:
            lines.append(line("CMoE mixture, oracle routing", oracle))
        if learned:
            lines.append(line("CMoE mixture, learned routing", learned))
        if direct and oracle:
            delta = [
                f"{100 * (oracle[c] - direct[c]):+.1f}"
                if oracle[c] is not None and direct[c] is not None
                else ""
                for c in [*DOMAINS, "overall"]
            ]
            lines.append(["Δ CMoE (oracle) − direct, points", *delta, "", "", ""])
        out += [f"## Teacher `{teacher}`, intermediate `{inter}`", "", *_md_table(header, lines)]
        if direct and oracle:
            out += ["", paired_sentence("CMoE (oracle) − direct", oracle, direct)]
            out += [
                "",
                f"Training cost, direct ÷ CMoE: device-hours "
                f"{_ratio(direct['train_device_h'], oracle['train_device_h'])}, critical path "
                f"{_ratio(direct['train_critical_path_h'], oracle['train_critical_path_h'])}.",
            ]
        out.append("")
    trained = [r for r in rows if r["method"] != "base" and ":" not in r["model"]]
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
        # Each chained student against the direct student of the same teacher and size.
        for r in trained:
            if r["method"] in ("cascade", "cmoe"):
                direct = by_key.get(("direct", r["teacher"], "-", r["model"]))
                if direct:
                    name = f"{r['model']}, {r['method']} via {r['via']} − direct ({r['teacher']})"
                    out += [f"- {paired_sentence(name, r, direct)}"]
        out += _architecture_sentences(trained)
        out.append("")
    return "\n".join(out)


def _architecture_sentences(trained: list[dict]) -> list[str]:
    """Each seq2seq student against the causal students trained on the same data: a
    teacher's traces (the direct students) or the specialists' traces (the cmoe students), so
    a gap is the architecture's, not the data's."""
    out = []
    for r in trained:
        if not r["method"].startswith("seq2seq ("):
            continue
        same_data = "cmoe" if r["via"] != "-" else "direct"
        for c in trained:
            if (c["method"], c["teacher"], c["via"]) == (same_data, r["teacher"], r["via"]):
                data = f"{r['via']} specialists' traces" if r["via"] != "-" else "teacher traces"
                name = (
                    f"{r['model']}, {r['method']} − {c['model']}, {same_data} "
                    f"(same {data}, {r['teacher']})"
                )
                out.append(f"- {paired_sentence(name, r, c)}")
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
    routes=None,
    footer: str = "",
) -> list:
    """scores.csv, scores.md (and the comparison) for plan rows; ``footer`` (provenance) ends
    each Markdown file."""
    table = table_rows(rows, namespace, bootstrap, eval_dir)
    end = f"\n{footer}\n" if footer else ""
    atomic_write_text(csv_out, to_csv(table))
    atomic_write_text(md_out, to_markdown(table) + end)
    if comparison_out:
        comparison = to_comparison(table, read_json(routes) if routes else None)
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
