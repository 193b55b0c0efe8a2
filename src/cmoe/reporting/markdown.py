"""Cells and tables of the Markdown score tables (scores.md, comparison.md)."""

from __future__ import annotations

COSTS = ["device_h", "train_device_h", "critical_path_h", "train_critical_path_h", "api_usd"]


def fmt_cell(value, column: str, as_percent: bool) -> str:
    if value is None:
        return ""
    if column in COSTS:
        return f"{value:.4g}"
    if isinstance(value, list):  # each replicate's accuracy
        return (" / " if as_percent else " ").join(fmt_cell(v, column, as_percent) for v in value)
    if isinstance(value, float):
        return f"{100 * value:.1f}" if as_percent else f"{value:.4f}"
    return str(value)


def acc_cell(row: dict, column: str) -> str:
    """'23.4 [16.4, 31.2]' in Markdown; † marks a cell whose n is below the small-n threshold."""
    text = fmt_cell(row[column], column, True)
    if text and row.get(f"{column}_ci_low") is not None:
        text += f" [{100 * row[f'{column}_ci_low']:.1f}, {100 * row[f'{column}_ci_high']:.1f}]"
    if text and column != "overall" and row.get(f"{column}_n") is not None:
        text += f" n={row[f'{column}_n']}"  # the overall n has its own column
    if text and row.get(f"{column}_small"):
        text += " †"
    return text


def md_table(header: list[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return out
