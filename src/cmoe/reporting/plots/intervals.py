"""Dot-and-interval figures (every row's accuracy; each row's paired difference to its
reference) and the per-domain heatmap."""

from __future__ import annotations

from pathlib import Path

from ...core.domains import DOMAINS
from .style import (
    _COLUMNS,
    _FONT,
    BASE_COLOR,
    CHANCE,
    _label,
    _num,
    _pct,
    _pyplot,
    _save,
    method_order,
    method_styles,
)

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
    """Each method's row minus its reference row (differences.csv: the baseline method's row of
    the same teacher and model; a mixture: minus the intermediate trained on the undivided
    data), in points, with the paired-bootstrap interval."""
    plt = _pyplot()
    # the baseline method, named by the first part of each difference's reference
    baseline = diffs[0]["reference"].split(" / ")[0] if diffs else "baseline"
    styles = method_styles([*methods, *(d["method"] for d in diffs)])
    value, low, high = _pct("diff"), _pct("ci_low"), _pct("ci_high")
    groups = _grouped(diffs, value, styles)
    fig, ax = plt.subplots(figsize=(7.5, _height(groups)))
    if groups:
        _interval_plot(
            ax, groups, value, low, high, styles, header_suffix=lambda m: f"{m} − {baseline}"
        )
        span = max(5.0, *(abs(x) for d in diffs for x in (low(d), high(d)) if x is not None))
        ax.set_xlim(-1.08 * span, 1.08 * span)
    else:
        ax.text(0.5, 0.5, "no row has a reference row", ha="center", fontsize=_FONT + 1)
        ax.set_yticks([])
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_xlabel(
        f"accuracy difference to the {baseline} row of the same teacher and model, points\n"
        f"(a mixture: to the {baseline} intermediate); "
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
