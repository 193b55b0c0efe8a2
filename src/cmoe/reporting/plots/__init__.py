"""Figures for the report, from the score table, the paired differences and the trace files.

Every figure is written as SVG and PNG and is built to stay readable from a handful of rows to
~10 methods × 2 teachers × 3 students: one line per row instead of clustered bars, values
written in heatmap cells, and labels only where they can be placed without touching another.
One colour (and one marker) per method, from the colour-blind-safe Okabe–Ito palette, is the
same in every figure. Before a figure is saved its text is measured with the renderer
(:func:`label_overlaps`, :func:`small_fonts`); the findings go to ``layout.json``.
"""

from __future__ import annotations

from pathlib import Path

from ...core.io import atomic_write_json, read_json, read_jsonl
from .cost import accuracy_vs_cost, pareto_front
from .intervals import accuracy_forest, accuracy_heatmap, paired_differences
from .style import (
    _FONT,
    CHANCE,
    MIN_FONT_PT,
    OKABE_ITO,
    REGISTERED,
    _pct,
    _pyplot,
    _rows,
    _save,
    label_overlaps,
    method_order,
    method_styles,
    small_fonts,
)

# --- size, traces -------------------------------------------------------------------------------


def accuracy_vs_size(rows: list[dict], model_params: dict[str, int], out_svg: str | Path) -> dict:
    """Overall accuracy against parameters, one line per (method, teacher): colour = method,
    line style = teacher; read with the legend, no point labels."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    styles = method_styles(r["method"] for r in rows)
    rows = [r for r in rows if r["model"] in model_params and _pct("overall")(r) is not None]
    teachers = sorted({r["teacher"] for r in rows})
    dashes = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for m in method_order(r["method"] for r in rows):
        for k, t in enumerate(teachers):
            line = sorted(
                (model_params[r["model"]], _pct("overall")(r))
                for r in rows
                if r["method"] == m and r["teacher"] == t
            )
            if line:
                ax.plot(
                    *zip(*line, strict=True),
                    ls=dashes[k % len(dashes)],
                    marker=styles[m]["marker"],
                    color=styles[m]["color"],
                    ms=5,
                    lw=1,
                )
    ax.set_xscale("log")
    ax.axhline(CHANCE, color="black", lw=0.8, ls="--")
    ax.set_ylim(-3, 100)
    ax.set_xlabel("parameters of the evaluated model (log scale)", fontsize=_FONT + 1)
    ax.set_ylabel("overall accuracy, %", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    methods = method_order(r["method"] for r in rows)
    handles = [
        Line2D([], [], marker=styles[m]["marker"], color=styles[m]["color"], label=m)
        for m in methods
    ]
    handles += [
        Line2D([], [], color="#555555", ls=dashes[k % len(dashes)], label=f"teacher {t}")
        for k, t in enumerate(teachers)
    ]
    ax.legend(
        handles=handles, fontsize=_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    return _save(fig, out_svg)


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
    ax.set_xlabel("passages in the knowledge base", fontsize=_FONT + 1)
    ax.set_ylabel("overall accuracy, % (mean over teachers and students)", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    ax.set_ylim(0, 100)
    ax.axhline(CHANCE, color="k", lw=0.6, ls=":", label="chance (25%)")
    ax.legend(fontsize=_FONT)
    _save(fig, out_svg)  # closes the figure
    return drawn


def trace_lengths(teacher_traces: dict[str, list[str]], out_svg: str | Path) -> dict:
    """Histogram of the reasoning length (completion tokens) of each teacher's kept traces."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (teacher, paths) in enumerate(teacher_traces.items()):
        lengths = [r["completion_tokens"] for p in paths for r in read_jsonl(p)]
        if lengths:
            ax.hist(
                lengths,
                bins=30,
                alpha=0.55,
                color=OKABE_ITO[k % len(OKABE_ITO)],
                label=f"{teacher} (n={len(lengths)})",
            )
    ax.set_xlabel("completion tokens per kept trace", fontsize=_FONT + 1)
    ax.set_ylabel("traces", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=_FONT)
    return _save(fig, out_svg)


# --- all of them --------------------------------------------------------------------------------

PLOTS = [
    "accuracy_forest",
    "paired_differences",
    "accuracy_vs_cost",
    "accuracy_by_domain",
    "accuracy_vs_size",
    "trace_lengths",
]


def make_plots(
    scores_csv,
    model_params: dict[str, int],
    teacher_traces: dict[str, list[str]],
    outdir: str | Path,
    differences_csv=None,
    registered: list[str] = (),
) -> dict[str, dict]:
    """Every report figure (see :data:`PLOTS`), and ``layout.json``: for each figure the text
    pairs that overlap and the texts below the font-size floor (both empty when it reads well).
    ``model_params`` maps a table model name to its parameter count; ``registered``: the
    registered methods in table order (see :data:`REGISTERED`)."""
    REGISTERED[:] = registered
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = _rows(scores_csv)
    diffs = _rows(differences_csv) if differences_csv else []
    methods = [r["method"] for r in rows]
    layout = {
        "accuracy_forest": accuracy_forest(rows, outdir / "accuracy_forest.svg"),
        "paired_differences": paired_differences(diffs, outdir / "paired_differences.svg", methods),
        "accuracy_vs_cost": accuracy_vs_cost(rows, outdir / "accuracy_vs_cost.svg"),
        "accuracy_by_domain": accuracy_heatmap(rows, outdir / "accuracy_by_domain.svg"),
        "accuracy_vs_size": accuracy_vs_size(rows, model_params, outdir / "accuracy_vs_size.svg"),
        "trace_lengths": trace_lengths(teacher_traces, outdir / "trace_lengths.svg"),
    }
    atomic_write_json(outdir / "layout.json", layout)
    return layout


def parameter_count(model_dir: str | Path) -> int | None:
    """Total parameters of a trained model, from its train_metrics.json."""
    metrics = Path(model_dir) / "train_metrics.json"
    return read_json(metrics)["total_params"] if metrics.exists() else None


__all__ = [
    "MIN_FONT_PT",
    "PLOTS",
    "REGISTERED",
    "accuracy_vs_kb_size",
    "label_overlaps",
    "make_plots",
    "method_styles",
    "parameter_count",
    "pareto_front",
    "small_fonts",
]
