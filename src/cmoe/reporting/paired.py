"""Paired comparisons of score-table rows on the same test items.

Every row the plan gives a reference is compared with it: the baseline method's row of the same
teacher and the same model (a routed mixture: the intermediate trained on the undivided data,
the study's "one model on the undivided data"). The difference carries a paired-bootstrap interval
and McNemar's exact test (:mod:`cmoe.core.stats`); ``comparison.md`` and ``differences.csv``
both come from :func:`paired_difference`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..core.io import atomic_write_text, read_jsonl

COLUMNS = [
    "method",
    "teacher",
    "via",
    "model",
    "reference",
    "diff",
    "ci_low",
    "ci_high",
    "level",
    "p_value",
    "b10",
    "b01",
    "n",
]


def correct_by_id(row: dict) -> dict[str, bool]:
    """Per-item correctness of a table row (its predictions beside its scores.json)."""
    predictions = Path(row["scores_path"]).with_name("predictions.jsonl")
    return {r["id"]: bool(r["correct"]) for r in read_jsonl(predictions)}


def paired_difference(
    a: dict, b: dict, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict | None:
    """acc(a) − acc(b) over the same items, its paired-bootstrap interval and McNemar's exact
    test; None when the rows were scored on different items."""
    from ..core.stats import mcnemar_exact, paired_bootstrap_diff

    ca, cb = correct_by_id(a), correct_by_id(b)
    if set(ca) != set(cb):
        return None
    ids = sorted(ca)
    xa, xb = [ca[i] for i in ids], [cb[i] for i in ids]
    diff = paired_bootstrap_diff(xa, xb, resamples=resamples, seed=seed, level=level)
    test = mcnemar_exact(xa, xb)
    return {**diff, "level": level, **test, "n": len(ids)}


def differences(rows: list[dict], bootstrap: dict | None = None) -> list[dict]:
    """One record per row whose reference row (``row["reference"]``, planned) is in ``rows``."""
    settings = {"resamples": 1000, "seed": 0, "level": 0.95, **(bootstrap or {})}
    by_key = {(r["method"], r["teacher"], r["via"], r["model"]): r for r in rows}
    out = []
    for r in rows:
        key = r.get("reference")
        reference = by_key.get(tuple(key)) if key else None
        if reference is None:
            continue
        d = paired_difference(
            r, reference, settings["resamples"], settings["seed"], settings["level"]
        )
        if d is None:
            continue
        labels = {k: r[k] for k in ("method", "teacher", "via", "model")}
        out.append({**labels, "reference": f"{key[0]} / {key[1]} / {key[3]}", **d})
    return out


def write_differences(rows: list[dict], out: str | Path, bootstrap: dict | None = None) -> list:
    """``differences.csv``: accuracy differences as fractions (like ``scores.csv``)."""
    records = differences(rows, bootstrap)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow(
            {k: f"{rec[k]:.6g}" if isinstance(rec[k], float) else rec[k] for k in COLUMNS}
        )
    atomic_write_text(out, buf.getvalue())
    return records
