"""Figures for the report, from the score table and the trace files (matplotlib, SVG + PNG)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..domains import DOMAINS
from ..io import read_json, read_jsonl

_COLUMNS = [*DOMAINS, "overall"]
_COLORS = {"base": "#9e9e9e", "direct": "#1f77b4", "cascade": "#ff7f0e", "cmoe": "#2ca02c"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _rows(csv_path: str | Path) -> list[dict]:
    with open(csv_path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _num(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def _label(row: dict) -> str:
    parts = [row["method"], row["teacher"], row["via"], row["model"]]
    return " / ".join(p for p in parts if p != "-")


def _save(fig, out_svg: str | Path) -> None:
    """Write SVG and a PNG beside it (same stem); rename-into-place keeps both atomic."""
    import os

    out_svg = Path(out_svg)
    for path in (out_svg, out_svg.with_suffix(".png")):
        tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)


def accuracy_by_domain(rows: list[dict], out_svg: str | Path) -> None:
    """Grouped bars: each evaluated model's accuracy per domain and overall, with 95% CIs."""
    plt = _pyplot()
    rows = [r for r in rows if not r["model"].startswith("specialist:")]
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(_COLUMNS) + 0.25 * len(rows)), 4.8))
    for i, r in enumerate(rows):
        xs, ys, err = [], [], [[], []]
        for j, c in enumerate(_COLUMNS):
            acc = _num(r[c])
            if acc is None:
                continue
            lo, hi = _num(r.get(f"{c}_ci_low", "")), _num(r.get(f"{c}_ci_high", ""))
            xs.append(j - 0.4 + (i + 0.5) * width)
            ys.append(100 * acc)
            err[0].append(100 * (acc - lo) if lo is not None else 0)
            err[1].append(100 * (hi - acc) if hi is not None else 0)
        ax.bar(
            xs,
            ys,
            width,
            yerr=err,
            capsize=2,
            label=_label(r),
            color=_COLORS.get(r["method"], "#7f7f7f"),
            alpha=0.35 + 0.65 * (i + 1) / len(rows),
        )
    ax.set_xticks(range(len(_COLUMNS)), [DOMAINS.get(c, "Overall") for c in _COLUMNS])
    ax.set_ylabel("accuracy on the test split, % (95% bootstrap CI)")
    ax.set_ylim(0, 100)
    ax.axhline(25, color="k", lw=0.6, ls=":", label="chance (25%)")
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, out_svg)
    plt.close(fig)


def accuracy_vs(rows: list[dict], x_of, xlabel: str, out_svg: str | Path, logx=False) -> None:
    """Overall accuracy (with CI) against a per-row quantity, one colour per method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        x, acc = x_of(r), _num(r["overall"])
        if x is None or acc is None:
            continue
        lo, hi = _num(r.get("overall_ci_low", "")), _num(r.get("overall_ci_high", ""))
        yerr = [[100 * (acc - lo)], [100 * (hi - acc)]] if lo is not None else None
        ax.errorbar(
            [x],
            [100 * acc],
            yerr=yerr,
            fmt="o",
            capsize=3,
            color=_COLORS.get(r["method"], "#7f7f7f"),
        )
        ax.annotate(
            _label(r), (x, 100 * acc), fontsize=6, xytext=(4, 2), textcoords="offset points"
        )
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("overall accuracy, % (95% CI)")
    ax.set_ylim(0, 100)
    _save(fig, out_svg)
    plt.close(fig)


def accuracy_vs_kb_size(points: list[dict], out_svg: str | Path) -> list[dict]:
    """KARD's knowledge-base-size ablation: overall accuracy against the number of passages in
    the knowledge base, one line per (n_knowledge, with or without the reranker), averaged over
    teachers and students. ``points``: {scores, index, n_knowledge, reranker} per evaluation
    (scores.json, and the index folder whose manifest counts the passages). Returns the lines'
    points as drawn."""
    from collections import defaultdict

    groups: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        size = read_json(Path(p["index"]) / "manifest.json")["passages"]
        accuracy = read_json(p["scores"])["overall"]["accuracy"]
        groups[(p["n_knowledge"], bool(p["reranker"]))][size].append(accuracy)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = []
    for (k, reranked), by_size in sorted(groups.items()):
        sizes = sorted(by_size)
        ys = [100 * sum(by_size[s]) / len(by_size[s]) for s in sizes]
        label = f"k={k}, {'reranker' if reranked else 'no reranker'}"
        ax.plot(sizes, ys, "o-" if reranked else "s--", label=label)
        drawn += [
            {"line": label, "passages": s, "accuracy": y / 100}
            for s, y in zip(sizes, ys, strict=True)
        ]
    sizes = sorted({d["passages"] for d in drawn})
    if sizes and sizes[-1] > 10 * sizes[0]:
        ax.set_xscale("log")
    ax.set_xlabel("passages in the knowledge base")
    ax.set_ylabel("overall accuracy, % (mean over teachers and students)")
    ax.set_ylim(0, 100)
    ax.axhline(25, color="k", lw=0.6, ls=":", label="chance (25%)")
    ax.legend(fontsize=7)
    _save(fig, out_svg)
    plt.close(fig)
    return drawn


def trace_lengths(teacher_traces: dict[str, list[str]], out_svg: str | Path) -> None:
    """Histogram of the reasoning length (completion tokens) of each teacher's kept traces."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for teacher, paths in teacher_traces.items():
        lengths = [r["completion_tokens"] for p in paths for r in read_jsonl(p)]
        if lengths:
            ax.hist(lengths, bins=30, alpha=0.5, label=f"{teacher} (n={len(lengths)})")
    ax.set_xlabel("completion tokens per kept trace")
    ax.set_ylabel("traces")
    ax.legend(fontsize=8)
    _save(fig, out_svg)
    plt.close(fig)


def make_plots(
    scores_csv,
    model_params: dict[str, int],
    teacher_traces: dict[str, list[str]],
    outdir: str | Path,
) -> list[Path]:
    """All report figures; ``model_params`` maps a table model name to its parameter count."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = _rows(scores_csv)
    accuracy_by_domain(rows, outdir / "accuracy_by_domain.svg")
    students = [r for r in rows if r["model"] in model_params]
    accuracy_vs(
        students,
        lambda r: model_params[r["model"]],
        "parameters (model size)",
        outdir / "accuracy_vs_size.svg",
        logx=True,
    )
    accuracy_vs(
        rows,
        lambda r: _num(r["train_device_h"]) or None,
        "training device-hours of the chain",
        outdir / "accuracy_vs_cost.svg",
    )
    trace_lengths(teacher_traces, outdir / "trace_lengths.svg")
    return sorted(outdir.glob("*.svg"))


def parameter_count(model_dir: str | Path) -> int | None:
    """Total parameters of a trained model, from its train_metrics.json."""
    metrics = Path(model_dir) / "train_metrics.json"
    return read_json(metrics)["total_params"] if metrics.exists() else None
