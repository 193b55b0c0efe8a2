"""Figures for the report, from the score table, the paired differences and the trace files.

Every figure is written as SVG and PNG and is built to stay readable from a handful of rows to
~10 methods × 2 teachers × 3 students: one line per row instead of clustered bars, values
written in heatmap cells, and labels only where they can be placed without touching another.
One colour (and one marker) per method, from the colour-blind-safe Okabe–Ito palette, is the
same in every figure. Before a figure is saved its text is measured with the renderer
(:func:`label_overlaps`, :func:`small_fonts`); the findings go to ``layout.json``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..domains import DOMAINS
from ..io import atomic_write_json, read_json, read_jsonl

_COLUMNS = [*DOMAINS, "overall"]
# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency. Grey (not in the palette) is kept for the untrained base models.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
BASE_COLOR = "#8c8c8c"
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "*"]
CHANCE = 25.0  # four options
MIN_FONT_PT = 7.0  # the smallest text any figure may carry, at its saved size
_FONT = 8.0  # tick labels, cell values and point labels
DPI = 150


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    return plt


def _rows(csv_path: str | Path) -> list[dict]:
    with open(csv_path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _num(value) -> float | None:
    if value in ("", None):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _label(row: dict, with_method: bool = True) -> str:
    parts = [row["method"]] if with_method else []
    parts += [p for p in (row["teacher"], row["via"], row["model"]) if p != "-"]
    return " / ".join(parts) if with_method else " → ".join(parts)


# --- one style per method -----------------------------------------------------------------------


def method_order(methods) -> list[str]:
    """Methods in table order: bases, then registered methods, then any others by name."""
    from ..methods import REGISTRY

    known = ["base", *REGISTRY]
    return sorted(set(methods), key=lambda m: (known.index(m), "") if m in known else (99, m))


def method_styles(methods) -> dict[str, dict]:
    """{method: {color, marker}}. A registered method has a fixed slot (its registration order),
    others follow by name, so every figure gives a method the same colour and marker, and a
    registered method keeps them in every table."""
    from ..methods import REGISTRY

    methods = list(methods)
    others = sorted(m for m in set(methods) if m != "base" and m not in REGISTRY)
    slots = {m: i for i, m in enumerate([*REGISTRY, *others])}
    styles = {}
    for m in method_order(methods):
        if m == "base":
            styles[m] = {"color": BASE_COLOR, "marker": "d"}
        else:
            i = slots[m]
            styles[m] = {
                "color": OKABE_ITO[i % len(OKABE_ITO)],
                "marker": _MARKERS[i % len(_MARKERS)],
            }
    return styles


# --- measuring text -----------------------------------------------------------------------------


def _texts(fig) -> list:
    from matplotlib.text import Text

    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.figure is not None:
            out.append(t)
    return out


def label_overlaps(fig, pad_px: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of visible texts whose drawn bounding boxes intersect (measured with the figure's
    renderer at its saved size, ``pad_px`` shrunk from each side to ignore touching edges)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for t in _texts(fig):
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            boxes.append((t.get_text(), bb.expanded(1.0, 1.0).padded(-pad_px)))
    pairs = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1 :]:
            if a.overlaps(b):
                pairs.append((ta, tb))
    return pairs


def small_fonts(fig, floor: float = MIN_FONT_PT) -> list[tuple[str, float]]:
    """Visible texts smaller than ``floor`` points (figures are saved at their drawn size)."""
    return [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < floor]


def _save(fig, out_svg: str | Path) -> dict:
    """Measure the figure's text, then write SVG and a PNG beside it (same stem); rename-into-place
    keeps both atomic. Returns the layout findings."""
    import os

    out_svg = Path(out_svg)
    checks = {
        "overlaps": [list(p) for p in label_overlaps(fig)],
        "small_fonts": [list(p) for p in small_fonts(fig)],
        "min_font_pt": min((t.get_fontsize() for t in _texts(fig)), default=None),
        "size_in": [round(float(x), 2) for x in fig.get_size_inches()],
    }
    for path in (out_svg, out_svg.with_suffix(".png")):
        tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
        os.replace(tmp, path)
    _pyplot().close(fig)
    return checks


# --- dot-and-interval plots ---------------------------------------------------------------------


def _grouped(rows: list[dict], value, styles) -> list[tuple[str, list[dict]]]:
    """Rows grouped by method (table order), each group sorted by ``value``, highest first."""
    groups = []
    for m in method_order(r["method"] for r in rows):
        members = [r for r in rows if r["method"] == m and value(r) is not None]
        members.sort(key=lambda r: (-value(r), _label(r)))
        if members:
            groups.append((m, members))
    return groups


def _text_color(color: str) -> str:
    """A method's colour for text: the palette's yellow and the base grey are too light."""
    return {"#F0E442": "#8a7d00", BASE_COLOR: "#555555"}.get(color, color)


def _interval_plot(ax, groups, value, low, high, styles, header_suffix=None) -> None:
    """One line per row, a bold header line per method; returns nothing, sets the y axis."""
    y, ticks, labels, header_ys, header_index = 0, [], [], [], []
    for method, members in groups:
        style = styles[method]
        header = method if header_suffix is None else header_suffix(method)
        header_index.append(len(ticks))
        ticks.append(y)
        labels.append(header)
        header_ys.append((y, style["color"]))
        y += 1
        for r in members:
            v, lo, hi = value(r), low(r), high(r)
            err = None
            if lo is not None and hi is not None:
                err = [[max(v - lo, 0)], [max(hi - v, 0)]]
            ax.errorbar(
                [v],
                [y],
                xerr=err,
                fmt=style["marker"],
                color=style["color"],
                ms=5,
                capsize=2,
                lw=1.2,
                mec="black" if style["color"] == "#F0E442" else style["color"],
            )
            ticks.append(y)
            labels.append(_label(r, with_method=False))
            y += 1
        y += 0.4  # a little air between methods
    ax.set_yticks(ticks, labels, fontsize=_FONT)
    heads = {i: m for i, (m, _) in zip(header_index, groups, strict=True)}
    for i, tick in enumerate(ax.get_yticklabels()):
        if i in heads:
            tick.set_fontweight("bold")
            tick.set_color(_text_color(styles[heads[i]]["color"]))
    for hy, color in header_ys:
        ax.axhspan(hy - 0.5, hy + 0.5, color=color, alpha=0.08, lw=0)
    ax.set_ylim(y - 0.4, -1)  # first group on top
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)


def _height(groups) -> float:
    lines = sum(1 + len(members) for _, members in groups)
    return max(2.6, 0.24 * lines + 1.3)


def _pct(column: str):
    return lambda r: None if _num(r.get(column)) is None else 100 * _num(r[column])


def accuracy_forest(rows: list[dict], out_svg: str | Path) -> dict:
    """Overall accuracy with its 95% bootstrap interval, one line per row, grouped by method and
    sorted; the chance level and the untrained base models are marked."""
    plt = _pyplot()
    styles = method_styles(r["method"] for r in rows)
    value, low, high = _pct("overall"), _pct("overall_ci_low"), _pct("overall_ci_high")
    groups = _grouped(rows, value, styles)
    fig, ax = plt.subplots(figsize=(7.5, _height(groups)))
    _interval_plot(
        ax,
        groups,
        value,
        low,
        high,
        styles,
        header_suffix=lambda m: "base (untrained)" if m == "base" else m,
    )
    ax.axvline(CHANCE, color="black", lw=0.8, ls="--")
    for r in rows:
        if r["method"] == "base" and value(r) is not None:
            ax.axvline(value(r), color=BASE_COLOR, lw=0.8, ls=":")
    ax.set_xlim(-2, 100)  # a row at 0% stays visible
    ax.set_xlabel(
        "overall accuracy on the test split, % (95% bootstrap interval)\n"
        "dashed: chance (25%); dotted grey: untrained base models",
        fontsize=_FONT + 1,
    )
    ax.tick_params(axis="x", labelsize=_FONT)
    return _save(fig, out_svg)


def paired_differences(diffs: list[dict], out_svg: str | Path, methods=()) -> dict:
    """Each method's row minus the direct row of the same teacher and model (a mixture: minus
    the direct intermediate), in points, with the paired-bootstrap interval."""
    plt = _pyplot()
    styles = method_styles([*methods, *(d["method"] for d in diffs)])
    value, low, high = _pct("diff"), _pct("ci_low"), _pct("ci_high")
    groups = _grouped(diffs, value, styles)
    fig, ax = plt.subplots(figsize=(7.5, _height(groups)))
    if groups:
        _interval_plot(
            ax, groups, value, low, high, styles, header_suffix=lambda m: f"{m} − direct"
        )
        span = max(5.0, *(abs(x) for d in diffs for x in (low(d), high(d)) if x is not None))
        ax.set_xlim(-1.08 * span, 1.08 * span)
    else:
        ax.text(0.5, 0.5, "no row has a direct counterpart", ha="center", fontsize=_FONT + 1)
        ax.set_yticks([])
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_xlabel(
        "accuracy difference to the direct row of the same teacher and model, points\n"
        "(a mixture: to the direct intermediate); "
        "paired bootstrap, 95% interval; > 0: the method helps",
        fontsize=_FONT + 1,
    )
    ax.tick_params(axis="x", labelsize=_FONT)
    return _save(fig, out_svg)


# --- per-domain heatmap -------------------------------------------------------------------------


def accuracy_heatmap(rows: list[dict], out_svg: str | Path) -> dict:
    """Rows × (domains, overall), the accuracy written in each cell; a colour strip on the left
    names the method."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    plt = _pyplot()
    styles = method_styles(r["method"] for r in rows)
    order = [r for m in method_order(r["method"] for r in rows) for r in rows if r["method"] == m]
    values = np.array(
        [[np.nan if _num(r.get(c)) is None else 100 * _num(r[c]) for c in _COLUMNS] for r in order]
    ).reshape(len(order), len(_COLUMNS))
    height = max(2.4, 0.26 * len(order) + 1.6)
    fig, (strip, ax) = plt.subplots(
        1,
        2,
        figsize=(8.0, height),
        gridspec_kw={"width_ratios": [0.25, len(_COLUMNS)], "wspace": 0.02},
    )
    cmap = plt.get_cmap("cividis")  # perceptually uniform, colour-blind safe
    image = ax.imshow(values, cmap=cmap, vmin=0, vmax=100, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isnan(values[i, j]):
                light = values[i, j] > 55  # cividis turns yellow: dark text above ~55
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.1f}",
                    ha="center",
                    va="center",
                    fontsize=_FONT,
                    color="black" if light else "white",
                )
    ax.set_xticks(range(len(_COLUMNS)), [DOMAINS.get(c, "Overall") for c in _COLUMNS])
    ax.tick_params(
        axis="x", labelsize=_FONT, top=True, labeltop=True, bottom=False, labelbottom=False
    )
    ax.set_yticks([])
    ax.axvline(len(_COLUMNS) - 1.5, color="white", lw=2)  # overall apart from the domains
    for i in range(1, len(order)):
        if order[i]["method"] != order[i - 1]["method"]:
            ax.axhline(i - 0.5, color="white", lw=2)  # methods apart
    methods = method_order(r["method"] for r in order)
    strip.imshow(
        np.array([[methods.index(r["method"])] for r in order]).reshape(-1, 1),
        cmap=ListedColormap([styles[m]["color"] for m in methods]),
        vmin=-0.5,
        vmax=len(methods) - 0.5,
        aspect="auto",
    )
    strip.set_xticks([])
    strip.set_yticks(range(len(order)), [_label(r) for r in order], fontsize=_FONT)
    cbar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    cbar.set_label("accuracy on the test split, %", fontsize=_FONT)
    cbar.ax.tick_params(labelsize=_FONT)
    return _save(fig, out_svg)


# --- accuracy against cost, with the Pareto front -----------------------------------------------


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: cheaper-or-equal and at least as accurate,
    better in one (lower x, higher y); ordered by cost."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (x2 <= x and y2 >= y) and (x2 < x or y2 > y)
            for j, (x2, y2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def _place_labels(ax, anchors: list[tuple[float, float, str]], avoid) -> list[str]:
    """Put each label near its point where it touches no other text, no point and stays inside
    the axes; try offsets in 8 directions at growing distances. Returns labels not placed."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = [t.get_window_extent(renderer) for t in _texts(fig)]
    taken += avoid
    offsets = [
        (dx * r, dy * r)
        for r in (6, 14, 24, 36)
        for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
    ]
    unplaced = []
    for x, y, text in anchors:
        for dx, dy in offsets:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            t = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=_FONT,
                ha=ha,
                va=va,
                arrowprops={"arrowstyle": "-", "color": "#777777", "lw": 0.5}
                if abs(dx) > 6
                else None,
            )
            bb = t.get_window_extent(renderer)
            inside = Bbox.intersection(bb, frame)
            fits = (
                inside is not None
                and inside.width >= bb.width - 0.5
                and (inside.height >= bb.height - 0.5)
            )
            if fits and not any(bb.overlaps(o) for o in taken):
                taken.append(bb)
                break
            t.remove()
        else:
            unplaced.append(text)
    return unplaced


def accuracy_vs_cost(rows: list[dict], out_svg: str | Path) -> dict:
    """Overall accuracy against the training device-hours of each row's chain; the Pareto front
    (nothing cheaper is as accurate) is drawn and its points labelled, the rest read by colour."""
    from matplotlib.lines import Line2D
    from matplotlib.transforms import Bbox

    plt = _pyplot()
    styles = method_styles(r["method"] for r in rows)
    pts = [
        (r, _num(r.get("train_device_h")), _pct("overall")(r))
        for r in rows
        if _num(r.get("train_device_h")) and _pct("overall")(r) is not None
    ]
    fig, ax = plt.subplots(figsize=(8.0, 5.2))
    costs = [x for _, x, _ in pts]
    logx = bool(costs) and max(costs) / min(costs) > 20
    for r, x, y in pts:
        style = styles[r["method"]]
        lo, hi = _pct("overall_ci_low")(r), _pct("overall_ci_high")(r)
        ax.errorbar(
            [x],
            [y],
            yerr=[[y - lo], [hi - y]] if lo is not None and hi is not None else None,
            fmt=style["marker"],
            color=style["color"],
            ms=5,
            capsize=2,
            lw=0.8,
            alpha=0.9,
            mec="black" if style["color"] == "#F0E442" else style["color"],
        )
    front = pareto_front([(x, y) for _, x, y in pts])
    if front:
        fx = [pts[i][1] for i in front]
        fy = [pts[i][2] for i in front]
        ax.step(fx, fy, where="post", color="black", lw=1.0, ls="-", zorder=0, alpha=0.6)
    if logx:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        # over one or two decades matplotlib labels the minor ticks too (3x10^-3, 4x10^-3, ...),
        # and they overlap; the decades alone are labelled (logx implies at least one)
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axhline(CHANCE, color="black", lw=0.8, ls="--")
    ax.set_ylim(-3, 100)  # a row at 0% stays visible
    ax.set_xlabel(
        "training device-hours of the row's chain (teacher traces excluded)"
        + (", log scale" if logx else ""),
        fontsize=_FONT + 1,
    )
    ax.set_ylabel("overall accuracy, % (95% bootstrap interval)", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    methods = method_order(r["method"] for r, _, _ in pts)
    handles = [
        Line2D([], [], ls="", marker=styles[m]["marker"], color=styles[m]["color"], label=m)
        for m in methods
    ]
    handles += [
        Line2D([], [], color="black", alpha=0.6, label="Pareto front (labelled)"),
        Line2D([], [], color="black", ls="--", lw=0.8, label="chance (25%)"),
    ]
    ax.legend(
        handles=handles, fontsize=_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # points (as small boxes) are obstacles too, so no label hides a marker
    avoid = []
    for _, x, y in pts:
        px, py = ax.transData.transform((x, y))
        avoid.append(Bbox.from_extents(px - 4, py - 4, px + 4, py + 4))
    anchors = [(pts[i][1], pts[i][2], _label(pts[i][0])) for i in front]
    unplaced = _place_labels(ax, anchors, avoid)
    if unplaced:  # listed under the axes rather than printed over each other
        ax.annotate(
            "on the front, not labelled for lack of room: " + "; ".join(unplaced),
            (0, 0),
            xycoords="axes fraction",
            xytext=(0, -48),
            textcoords="offset points",
            fontsize=_FONT,
            va="top",
            wrap=True,
        )
    del renderer
    return _save(fig, out_svg)


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
) -> dict[str, dict]:
    """Every report figure (see :data:`PLOTS`), and ``layout.json``: for each figure the text
    pairs that overlap and the texts below the font-size floor (both empty when it reads well).
    ``model_params`` maps a table model name to its parameter count."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = [r for r in _rows(scores_csv) if not r["model"].startswith("specialist:")]
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
