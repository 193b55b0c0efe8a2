"""comparison.md: the comparisons the methods planned, between rows of the score table
(``cmoe.reporting.tables.table_rows``): the controls first, then the study's own layout,
then every trained model with its paired comparisons."""

from __future__ import annotations

from ..core.domains import DOMAINS
from ..core.io import read_json
from .markdown import acc_cell, fmt_cell, md_table


def _ratio(a, b) -> str:
    return f"{a / b:.2f}×" if a and b else "n/a"


def _key(r: dict) -> tuple[str, str, str, str]:
    return (r["method"], r["teacher"], r["via"], r["model"])


def to_comparison(rows: list[dict], comparisons=None) -> str:
    """comparison.md: what the methods planned to compare (:class:`cmoe.core.jobs.Comparisons`):
    notes, sections of rows side by side (the study's own comparison), then every trained
    model with the paired comparisons under it. A comparison whose rows are not in the table
    is left out."""
    by_key = {_key(r): r for r in rows}
    out = ["# Method against method", ""]
    controls = [
        p
        for p in (comparisons.pairs if comparisons else [])
        if p.control and {p.a, p.b} <= by_key.keys()
    ]
    if controls:
        out += [CONTROLS, "", *control_lines(controls, by_key), ""]
    for note in comparisons.notes if comparisons else []:
        result = read_json(note.file)
        out += [f"{note.label}: {100 * result['accuracy']:.1f}% (n = {result['n']}).", ""]
    header = ["", *DOMAINS.values(), "overall", "n", "train device-h", "train critical path h"]

    def line(name, r):
        return [
            name,
            *(acc_cell(r, d) for d in DOMAINS),
            acc_cell(r, "overall"),
            str(r["n"]),
            fmt_cell(r["train_device_h"], "train_device_h", True),
            fmt_cell(r["train_critical_path_h"], "train_critical_path_h", True),
        ]

    for block in comparisons.blocks if comparisons else []:
        lines = [line(name, by_key[k]) for name, k in block.lines if k in by_key]
        if not lines:
            continue
        a, b = (by_key.get(k) for k in block.delta[1:]) if block.delta else (None, None)
        if a and b:
            delta = [
                f"{100 * (a[c] - b[c]):+.1f}" if a[c] is not None and b[c] is not None else ""
                for c in [*DOMAINS, "overall"]
            ]
            lines.append([block.delta[0], *delta, "", "", ""])
        out += [f"## {block.title}", "", *md_table(header, lines)]
        if block.pair and {block.pair.a, block.pair.b} <= by_key.keys():
            out += [
                "",
                paired_sentence(block.pair.name, by_key[block.pair.a], by_key[block.pair.b]),
            ]
        if block.cost and {block.cost[1], block.cost[2]} <= by_key.keys():
            x, y = by_key[block.cost[1]], by_key[block.cost[2]]
            out += [
                "",
                f"{block.cost[0]}: device-hours "
                f"{_ratio(x['train_device_h'], y['train_device_h'])}, critical path "
                f"{_ratio(x['train_critical_path_h'], y['train_critical_path_h'])}.",
            ]
        out.append("")
    trained = [r for r in rows if r["method"] not in ("base", "teacher") and ":" not in r["model"]]
    if trained:
        chain = [line(_label(r), r) for r in trained]
        out += ["## Every trained model, by method", "", *md_table(header, chain), ""]
        order = {_key(r): i for i, r in enumerate(rows)}
        pairs = [
            p
            for p in (comparisons.pairs if comparisons else [])
            if not p.control and {p.a, p.b} <= order.keys()
        ]
        for p in sorted(pairs, key=lambda p: (order[p.a], order[p.b])):
            out.append(f"- {paired_sentence(p.name, by_key[p.a], by_key[p.b], items=p.items)}")
        out.append("")
    return "\n".join(out + by_kind(rows))


def _label(r: dict) -> str:
    return " → ".join(
        x for x in (r["method"] + ": " + r["teacher"], r["via"], r["model"]) if x != "-"
    )


def by_kind(rows: list[dict]) -> list[str]:
    """Every row's accuracy on each question kind (the data's ``meta.kind``), when the
    questions have kinds: the control tasks plant different effects in their rule and
    knowledge questions, which the overall column mixes."""
    kinds = sorted({k for r in rows for k in r.get("kinds", [])})
    if not kinds:
        return []
    header = ["", *kinds, "overall", "n"]
    lines = [
        [_label(r), *(acc_cell(r, f"kind:{k}") if f"kind:{k}" in r else "" for k in kinds)]
        + [acc_cell(r, "overall"), str(r["n"])]
        for r in rows
    ]
    return ["## Every row by question kind", "", *md_table(header, lines), ""]


# comparison.md's section of controls, which the report's summary quotes
CONTROLS = "## Controls: effects a working pipeline must show"


def control_lines(controls, by_key: dict) -> list[str]:
    """One bullet per control: recovered when the paired 95% interval of a − b lies above 0
    (for replicated rows, the interval that covers the training seeds), on the questions the
    control names (its ``items``) where the data has them."""
    out = []
    for p in controls:
        sentence, d = _paired(p.name, by_key[p.a], by_key[p.b], items=p.items)
        verdict = "recovered" if d and d["ci_low"] > 0 else "**not recovered**"
        out.append(f"- {verdict}: {sentence}")
    return out


def paired_sentence(
    name: str, a: dict, b: dict, resamples: int = 1000, seed: int = 0, items=None
) -> str:
    """The paired difference of two rows as a sentence: the paired-bootstrap interval and
    McNemar's exact test on the same items (``items``: a subset, cmoe.core.jobs.Pair), or,
    for rows trained several times, the two-level bootstrap over replicates and items with
    its bootstrap p."""
    return _paired(name, a, b, resamples, seed, items)[0]


def _paired(name: str, a: dict, b: dict, resamples: int = 1000, seed: int = 0, items=None):
    from .paired import paired_difference

    d = paired_difference(a, b, resamples=resamples, seed=seed, items=items)
    if d is None:
        return f"{name}: not compared (the two rows were scored on different items).", None
    if items and d["n"] < a["n"]:  # the data had the field: a subset was compared
        name += f", on the {' and '.join(items[1])} questions"
    head = f"{name}: {100 * d['diff']:+.1f} points"
    interval = f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"
    if d["b10"] is None:
        return (
            f"{head}, two-level paired bootstrap 95% CI {interval} over seeds and questions; "
            f"bootstrap p = {d['p_value']:.3g} ({d['replicates']} replicates; n = {d['n']}).",
            d,
        )
    return (
        f"{head}, paired-bootstrap 95% CI {interval}; McNemar exact "
        f"p = {d['p_value']:.3g} ({d['b10']} items only the first got right, "
        f"{d['b01']} only the second; n = {d['n']}).",
        d,
    )
