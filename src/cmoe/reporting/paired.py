"""Paired comparisons of score-table rows on the same test items.

Every row the plan gives a reference is compared with it: the baseline method's row of the same
teacher and the same model (a routed mixture: the intermediate trained on the undivided data,
the study's "one model on the undivided data"). The difference carries a paired-bootstrap interval
and McNemar's exact test (:mod:`cmoe.core.stats`), or, for rows trained several times, a
two-level bootstrap over replicates and items; ``comparison.md`` and ``differences.csv`` both
come from :func:`paired_difference` (column ``replicates``: the two rows' replicate counts).
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
    "replicates",
    "p_value",
    "b10",
    "b01",
    "n",
]


def correct_by_id(row: dict, replicate: int = 0, items=None) -> dict[str, bool]:
    """Per-item correctness of one replicate of a table row (its predictions beside its
    scores.json); ``items`` (field, values): only the items whose field is one of the values,
    or every item when none has that field (cmoe.core.jobs.Pair)."""
    predictions = Path(row["scores_paths"][replicate]).with_name("predictions.jsonl")
    records = read_jsonl(predictions)
    if items and any(items[0] in r for r in records):
        records = [r for r in records if r.get(items[0]) in items[1]]
    return {r["id"]: bool(r["correct"]) for r in records}


def paired_difference(
    a: dict, b: dict, resamples: int = 1000, seed: int = 0, level: float = 0.95, items=None
) -> dict | None:
    """acc(a) − acc(b) over the same items (``items``: a subset, see :func:`correct_by_id`)
    and its paired interval; None when the rows were scored on different items. Two rows of
    one replicate each: a paired bootstrap over the items and McNemar's exact test. Otherwise
    (training replicates): the difference of the means over replicates, a two-level paired
    bootstrap (replicates, then items) and its two-sided p (cmoe.core.stats
    .replicate_bootstrap); McNemar's counts are left empty."""
    from ..core.stats import mcnemar_exact, paired_bootstrap_diff, replicate_bootstrap

    ra, rb = (len(r["scores_paths"]) for r in (a, b))
    ca = [correct_by_id(a, k, items) for k in range(ra)]
    cb = [correct_by_id(b, k, items) for k in range(rb)]
    ids = sorted(ca[0])
    if not ids or any(sorted(c) != ids for c in ca + cb):
        return None
    xa = [[c[i] for i in ids] for c in ca]
    xb = [[c[i] for i in ids] for c in cb]
    common = {"level": level, "n": len(ids), "replicates": f"{ra}×{rb}"}
    if ra == rb == 1:
        diff = paired_bootstrap_diff(xa[0], xb[0], resamples=resamples, seed=seed, level=level)
        return {**diff, **common, **mcnemar_exact(xa[0], xb[0])}
    d = replicate_bootstrap(xa, xb, resamples=resamples, seed=seed, level=level)
    return {
        "diff": d["value"],
        "ci_low": d["ci_low"],
        "ci_high": d["ci_high"],
        "p_value": d["p_value"],
        **common,
        "b10": None,
        "b01": None,
    }


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
        # None (McNemar's counts, which replicated rows do not have) is written empty
        writer.writerow(
            {k: f"{rec[k]:.6g}" if isinstance(rec[k], float) else rec[k] for k in COLUMNS}
        )
    atomic_write_text(out, buf.getvalue())
    return records
