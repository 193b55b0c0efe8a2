"""What every report figure shares: one colour and marker per method, reading the tables, and
measuring each figure's text before it is saved (overlaps and fonts below the floor)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ...core.domains import DOMAINS

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


# The registered methods in table order (`cmoe plots --methods`, from the method registry): each
# keeps its slot, so its colour and marker, in every figure of every run.
REGISTERED: list[str] = []


def method_order(methods) -> list[str]:
    """Methods in table order: bases, then registered methods, then any others by name."""
    known = ["base", *REGISTERED]
    return sorted(set(methods), key=lambda m: (known.index(m), "") if m in known else (99, m))


def method_styles(methods) -> dict[str, dict]:
    """{method: {color, marker}}. A registered method has a fixed slot (its registration order),
    others follow by name, so every figure gives a method the same colour and marker, and a
    registered method keeps them in every table."""
    methods = list(methods)
    others = sorted(m for m in set(methods) if m != "base" and m not in REGISTERED)
    slots = {m: i for i, m in enumerate([*REGISTERED, *others])}
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


def _pct(column: str):
    return lambda r: None if _num(r.get(column)) is None else 100 * _num(r[column])
