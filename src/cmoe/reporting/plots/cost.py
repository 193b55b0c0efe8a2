"""Accuracy against training cost, with the Pareto front and labels placed where they touch
nothing."""

from __future__ import annotations

from pathlib import Path

from .style import (
    _FONT,
    CHANCE,
    _label,
    _num,
    _pct,
    _pyplot,
    _save,
    _texts,
    method_order,
    method_styles,
)

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
