"""The golden dataset's two reports: the data card (every source, its licence, and what each
curation step removed) and the teacher economics table (what a correct trace cost)."""

from __future__ import annotations

import csv
import io

from ..core.io import atomic_write_text, read_json

MAX_LISTED = 200  # removed contaminated items listed in the card; the count is always complete


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _steps_table(steps: list[dict]) -> list[str]:
    lines = ["| step | in | removed | out |", "|---|---:|---:|---:|"]
    lines += [f"| {s['step']} | {s['in']} | {s['dropped']} | {s['out']} |" for s in steps]
    examples = [
        f"- removed by `{s['step']}`: `{ex['id']}` — {' '.join(ex['text'].split())[:120]}"
        for s in steps
        for ex in s.get("examples", [])
    ]
    return lines + ([""] + examples if examples else [])


def data_card(teachers: dict[str, str], extra: str | None, index: str | None, out) -> str:
    """``teachers``: name -> merged stats (cmoe.traces.curation.merge_stats); ``extra``: the
    extra sources' stats (cmoe.traces.extra_sources.curate_sources); ``index``: the
    contamination index."""
    teacher_stats = {t: read_json(p) for t, p in teachers.items()}
    extra_stats = read_json(extra) if extra else None
    lines = ["# Data card: the golden dataset", "", "## Sources", ""]
    lines += [
        "| source | kind | licence | weight | before curation | after curation | in training |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for t, s in teacher_stats.items():
        o = s["overall"]
        lines.append(
            f"| {t} | teacher traces ({o.get('samples_per_question', 1)} per question) | "
            f"the teacher model's licence | 1 | {o.get('generated', o['n'])} | {o['kept']} | "
            f"{o['kept']} |"
        )
    for src in (extra_stats or {}).get("sources", []):
        lines.append(
            f"| {src['name']} | extra source ({src['origin']}) | {src['licence']} | "
            f"{src['weight']} | {src['rows']} | {src['kept']} | {src['in_training']} |"
        )
    if index:
        sources = read_json(index)
        described = ", ".join(f"{k}: {v} items" for k, v in sources["sources"].items())
        lines += ["", f"Decontaminated against word {sources['n']}-grams of {described}."]
    removed = []
    for t, s in teacher_stats.items():
        lines += ["", f"## Curation of {t}'s traces", "", *_steps_table(s.get("curation", []))]
        removed += [{"from": t, **item} for item in s.get("decontaminated", [])]
    if extra_stats:
        lines += ["", "## Curation of the extra sources (together)", ""]
        lines += _steps_table(extra_stats["curation"])
        removed += [{"from": "extra", **item} for item in extra_stats["decontaminated"]]
    lines += ["", f"## Removed as contaminated ({len(removed)})", ""]
    if removed:
        lines += ["| from | item | overlaps | in | shared n-gram |", "|---|---|---|---|---|"]
        lines += [
            f"| {r['from']} | {r['id']} | {r['matched']} | {r['source']} | {r['ngram']} |"
            for r in removed[:MAX_LISTED]
        ]
        if len(removed) > MAX_LISTED:
            lines.append(f"\n… and {len(removed) - MAX_LISTED} more (see the stats files).")
    else:
        lines.append("None.")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out, text)
    return text


ECONOMICS_COLUMNS = (
    "teacher",
    "backend",
    "samples_per_question",
    "questions",
    "pass_at_1",
    "pass_at_n",
    "yield",
    "correct_traces",
    "correct_per_question",
    "kept",
    "tokens",
    "device_hours",
    "usd",
    "device_hours_per_1k_correct",
    "usd_per_1k_correct",
)


def economics_rows(teachers: dict[str, dict]) -> list[dict]:
    """One row per teacher from ``{stats, costs: [cost files], price_per_device_hour}``.

    API teachers are priced by what their endpoint billed (generation.openai
    .price_per_million, in the cost files); local ones by device-hours, in USD only where
    ``price_per_device_hour`` is configured."""
    rows = []
    for teacher, spec in teachers.items():
        o = read_json(spec["stats"])["overall"]
        costs = [read_json(p) for p in spec["costs"]]
        hours = sum(c["wall_time_s"] * c.get("device_count", 1) for c in costs) / 3600
        tokens = sum(c["prompt_tokens"] + c["completion_tokens"] for c in costs)
        backends = sorted({c.get("backend", "hf") for c in costs})
        if any("api_cost_usd" in c for c in costs):
            usd = sum(c.get("api_cost_usd", 0.0) for c in costs)
        elif spec.get("price_per_device_hour") is not None:
            usd = hours * spec["price_per_device_hour"]
        else:
            usd = None
        correct = o.get("correct_traces", o["correct"])
        questions = o.get("questions", o["n"])
        per_1k = 1000 / correct if correct else None
        rows.append(
            {
                "teacher": teacher,
                "backend": "+".join(backends),
                "samples_per_question": o.get("samples_per_question", 1),
                "questions": questions,
                "pass_at_1": o.get("pass_at_1", o["accuracy"]),
                "pass_at_n": o.get("pass_at_n", o["accuracy"]),
                "yield": o.get("yield", o["correct"]),
                "correct_traces": correct,
                "correct_per_question": correct / questions if questions else None,
                "kept": o["kept"],
                "tokens": tokens,
                "device_hours": hours,
                "usd": usd,
                "device_hours_per_1k_correct": hours * per_1k if per_1k else None,
                "usd_per_1k_correct": usd * per_1k if per_1k and usd is not None else None,
            }
        )
    return rows


def write_economics(teachers: dict[str, dict], csv_out, md_out) -> list[dict]:
    rows = economics_rows(teachers)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ECONOMICS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_out, buf.getvalue())
    head = (
        "| teacher | backend | n | pass@1 | pass@n | yield | correct traces | correct/question "
        "| kept | tokens | device-h | USD | device-h / 1k correct | USD / 1k correct |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        cells = [
            r["teacher"],
            r["backend"],
            r["samples_per_question"],
            _fmt(r["pass_at_1"]),
            _fmt(r["pass_at_n"]),
            r["yield"],
            r["correct_traces"],
            _fmt(r["correct_per_question"], 2),
            r["kept"],
            r["tokens"],
            _fmt(r["device_hours"], 4),
            _fmt(r["usd"], 2),
            _fmt(r["device_hours_per_1k_correct"], 4),
            _fmt(r["usd_per_1k_correct"], 2),
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    note = (
        "\n\nyield: questions with at least one correct trace; pass@1 scores each question's "
        "first sample. USD: an API teacher's bill (generation.openai.price_per_million), a local "
        "teacher's device-hours times `price_per_device_hour` (— where none is configured).\n"
    )
    atomic_write_text(md_out, "\n".join(lines) + note)
    return rows
