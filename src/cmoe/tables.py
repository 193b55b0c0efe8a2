"""Score tables: one row per (method, teacher, model), domains + overall + n as columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .domains import DOMAINS
from .io import atomic_write_text, read_json

COLUMNS = ["method", "teacher", "model", *DOMAINS, "overall", "n"]


def table_rows(score_paths: list[str | Path]) -> list[dict]:
    rows = []
    for path in score_paths:
        s = read_json(path)
        row = {k: s["labels"].get(k, "-") for k in ("method", "teacher", "model")}
        for d in DOMAINS:
            cell = s["domains"].get(d)
            row[d] = cell["accuracy"] if cell else None
        row["overall"] = s["overall"]["accuracy"]
        row["n"] = s["overall"]["n"]
        rows.append(row)
    order = {"base": 0, "direct": 1, "cascade": 2, "cmoe": 3}
    rows.sort(key=lambda r: (order.get(r["method"], 9), r["method"], r["teacher"], r["model"]))
    return rows


def _fmt(value, as_percent: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{100 * value:.1f}" if as_percent else f"{value:.4f}"
    return str(value)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_fmt(r[c], as_percent=False) for c in COLUMNS])
    return buf.getvalue()


def to_markdown(rows: list[dict]) -> str:
    header = ["method", "teacher", "model", *DOMAINS.values(), "overall", "n"]
    lines = [
        "Accuracy in % on the held-out test split (n = number of test questions).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[c], as_percent=True) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def write_tables(score_paths: list[str | Path], csv_out: str | Path, md_out: str | Path) -> list:
    rows = table_rows(score_paths)
    atomic_write_text(csv_out, to_csv(rows))
    atomic_write_text(md_out, to_markdown(rows))
    return rows
