"""The study's claims, judged on a run: ``claims.csv`` and ``claims.md``.

``data/study_claims.csv`` (beside ``study_reference.csv``; a user may add lines) states each
claim of the study as a paired comparison with a direction: row a ``above`` or ``below`` row b,
in accuracy or in the training critical path. A row is named by its labels (method, via,
model) with placeholders that bind to the config's names: ``{intermediate}``, ``{student}``
and ``{other_student}`` (a student other than ``{student}``); a and b share their teacher.
Every binding whose two rows are in the table is judged:

- accuracy: the paired difference a − b and its interval (the two-level bootstrap over seeds
  and questions where the rows have replicates; :func:`cmoe.reporting.paired.paired_difference`):
  **reproduced** when the interval lies on the claimed side of zero, **opposite** when it lies
  on the other, else **inconclusive**;
- train_critical_path: the ratio a ÷ b of the training critical path (teacher traces through
  the model, as in the score table) in each replicate: reproduced when every replicate lies on
  the claimed side of 1, opposite when every one lies on the other, else inconclusive.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

from ..core.errors import DataError
from ..core.io import atomic_write_text, read_csv_rows

CLAIMS = Path(__file__).resolve().parents[3] / "data" / "study_claims.csv"
FIELDS = [
    "claim",
    "study",
    "measure",
    "a_method",
    "a_via",
    "a_model",
    "relation",
    "b_method",
    "b_via",
    "b_model",
]
MEASURES = ("accuracy", "train_critical_path")
RELATIONS = ("above", "below")
PLACEHOLDERS = ("{intermediate}", "{student}", "{other_student}")
COLUMNS = ["claim", "study", "teacher", "a", "b", "measure", "relation", "value", "ci_low"]
COLUMNS += ["ci_high"]
COLUMNS += ["replicates", "verdict"]


class ClaimsError(DataError):
    """The claims file cannot be read (file, line and column named)."""


def load_claims(path: str | Path = CLAIMS) -> list[dict]:
    """The claims, each line checked: a known measure and relation, known placeholders."""
    rows = read_csv_rows(path, FIELDS, ClaimsError)
    return [_checked(row, f"{path}:{line}") for line, row in rows]


def _checked(row: dict, where: str) -> dict:
    row = {k: (row.get(k) or "").strip() for k in FIELDS}
    for column, allowed in (("measure", MEASURES), ("relation", RELATIONS)):
        if row[column] not in allowed:
            raise ClaimsError(
                f"{where}: column {column}: {row[column]!r} is not one of {', '.join(allowed)}"
            )
    for column in FIELDS[3:]:
        value = row[column]
        if "{" in value and value not in PLACEHOLDERS:
            raise ClaimsError(
                f"{where}: column {column}: {value!r}; placeholders are {', '.join(PLACEHOLDERS)}"
            )
        if not value:
            raise ClaimsError(f"{where}: column {column} is empty")
    return row


def _bindings(config: dict):
    """Every assignment of the placeholders to the config's names."""
    intermediates = list(config.get("intermediates", {})) or ["-"]
    students = list(config["students"])
    for intermediate, student in itertools.product(intermediates, students):
        # a claim without {other_student} is judged with one student too
        for other in [s for s in students if s != student] or ["-"]:
            yield {"{intermediate}": intermediate, "{student}": student, "{other_student}": other}


def _labels(claim: dict, side: str, teacher: str, binding: dict) -> tuple[str, str, str, str]:
    method, via, model = (claim[f"{side}_{c}"] for c in ("method", "via", "model"))
    return (method, teacher, binding.get(via, via), binding.get(model, model))


def judge(rows: list[dict], config: dict, claims: list[dict]) -> list[dict]:
    """One record per claim and binding whose rows are both in the table (score-table rows of
    :func:`cmoe.reporting.tables.table_rows`)."""
    by_key = {(r["method"], r["teacher"], r["via"], r["model"]): r for r in rows}
    teachers = list(dict.fromkeys(r["teacher"] for r in rows))
    out = []
    for claim in claims:
        seen = set()
        for teacher, binding in itertools.product(teachers, _bindings(config)):
            a, b = (_labels(claim, side, teacher, binding) for side in ("a", "b"))
            if (a, b) in seen or a not in by_key or b not in by_key:
                continue
            seen.add((a, b))
            judged = _judge(claim, by_key[a], by_key[b])
            if judged is not None:
                out.append(
                    {
                        "claim": claim["claim"],
                        "study": claim["study"],
                        "teacher": teacher,
                        "a": _name(a),
                        "b": _name(b),
                        "relation": claim["relation"],
                        "measure": claim["measure"],
                        **judged,
                    }
                )
    return out


def _name(labels) -> str:
    method, _, via, model = labels
    return " → ".join(x for x in (method, via, model) if x != "-")


def _verdict(low: float, high: float, relation: str, neutral: float) -> str:
    """Reproduced when the whole interval is on the claimed side of ``neutral``."""
    above, below = low > neutral, high < neutral
    if (above and relation == "above") or (below and relation == "below"):
        return "reproduced"
    if above or below:
        return "opposite"
    return "inconclusive"


def _judge(claim: dict, a: dict, b: dict) -> dict | None:
    if claim["measure"] == "accuracy":
        from .paired import paired_difference

        d = paired_difference(a, b)
        if d is None:
            return None
        return {
            "value": d["diff"],
            "ci_low": d["ci_low"],
            "ci_high": d["ci_high"],
            "replicates": d["replicates"],
            "verdict": _verdict(d["ci_low"], d["ci_high"], claim["relation"], 0.0),
        }
    ca, cb = a["costs_by_replicate"], b["costs_by_replicate"]
    if not ca[0] or not cb[0] or len(ca) != len(cb):
        return None
    ratios = [
        x["train_critical_path_s"] / y["train_critical_path_s"] for x, y in zip(ca, cb, strict=True)
    ]
    return {
        "value": sum(ratios) / len(ratios),
        "ci_low": min(ratios),  # the range over replicates, not a bootstrap interval
        "ci_high": max(ratios),
        "replicates": f"{len(ca)}×{len(cb)}",
        "verdict": _verdict(min(ratios), max(ratios), claim["relation"], 1.0),
    }


def _value(record: dict) -> str:
    if record["measure"] == "accuracy":
        return (
            f"{100 * record['value']:+.1f} points [{100 * record['ci_low']:+.1f}, "
            f"{100 * record['ci_high']:+.1f}]"
        )
    return f"{record['value']:.2f}× (replicates {record['ci_low']:.2f}–{record['ci_high']:.2f}×)"


def to_markdown(records: list[dict]) -> str:
    lines = [
        "# The study's claims, judged on this run",
        "",
        "Each claim of the study (`data/study_claims.csv`) as a paired comparison of two rows of",
        "this run, a against b, with the same teacher. Accuracy: a − b in points and its 95%",
        "interval (over training seeds and test questions where the rows have several",
        "replicates, else over test questions only). Training critical path: a ÷ b, the mean and",
        "range over replicates. **reproduced**: the interval lies on the claimed side (of 0, or",
        "of 1×); **opposite**: on the other side; **inconclusive**: it spans it.",
        "",
        "| claim | study | teacher | a | b | a − b (or a ÷ b) | replicates | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        cells = [r["claim"], r["study"], r["teacher"], r["a"], r["b"], _value(r)]
        lines.append("| " + " | ".join([*cells, r["replicates"], f"**{r['verdict']}**"]) + " |")
    if not records:
        lines.append("| (no claim's two rows are in this run) | | | | | | | |")
    return "\n".join(lines) + "\n"


def to_csv(records: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: f"{r[k]:.6g}" if isinstance(r[k], float) else r[k] for k in COLUMNS})
    return buf.getvalue()


def write_claims(
    rows: list[dict], config: dict, csv_out, md_out, source: str | Path = CLAIMS, footer=""
) -> list[dict]:
    """claims.csv and claims.md of a run's score-table rows."""
    records = judge(rows, config, load_claims(source))
    end = f"\n{footer}\n" if footer else ""
    atomic_write_text(csv_out, to_csv(records))
    atomic_write_text(md_out, to_markdown(records) + end)
    return records
