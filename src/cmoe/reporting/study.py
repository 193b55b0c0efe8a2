"""The run beside the study it reproduces.

``data/study_reference.csv`` holds the study's numbers (accuracy in %, as the study reports them)
with its model names and each number's role: method, teacher and student. A run row and a study
row have the same role when the method is the same, the teacher is the same model (where the
study names one) and the student is the same model or one of the same size (a routed mixture:
the same routing). ``study_comparison.md`` puts each run row beside its study row and says plainly
when the run's models are not the study's.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.domains import DOMAINS
from ..core.errors import DataError
from ..core.io import atomic_write_text, read_csv_rows

REFERENCE = Path(__file__).resolve().parents[3] / "data" / "study_reference.csv"
_FIELDS = [
    "role",
    "method",
    "teacher",
    "teacher_name",
    "via_name",
    "model",
    "model_name",
    "overall",
]
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([BM])(?![a-z])", re.IGNORECASE)


class StudyReferenceError(DataError):
    """The study's reference table cannot be read (file and line named)."""


def load_reference(path: str | Path = REFERENCE) -> list[dict]:
    """The study's rows; accuracies as floats in % (None where the study gives none)."""
    rows = []
    for line, row in read_csv_rows(path, _FIELDS, StudyReferenceError):
        for c in ("overall", *DOMAINS):
            value = (row.get(c) or "").strip()
            try:
                row[c] = float(value) if value else None
            except ValueError:
                raise StudyReferenceError(
                    f"{path}:{line}: column {c}: not a number: {value!r}"
                ) from None
        rows.append(row)
    return rows


def size_of(name: str) -> float | None:
    """Parameters from a model name ('Qwen/Qwen3-1.7B' -> 1.7e9), the first size it states."""
    m = _SIZE.search(name.rsplit("/", 1)[-1])
    if not m:
        return None
    return float(m.group(1)) * (1e9 if m.group(2).upper() == "B" else 1e6)


def model_id(config: dict, name: str) -> str:
    """What a table label loads: a students/intermediates/teachers key or a `models` key, as its
    hub id or folder (a tiny model the workflow builds: ``tiny:<name>``)."""
    for role in ("students", "intermediates", "teachers"):
        if name in config.get(role, {}):
            name = config[role][name]["model"]
            break
    spec = config.get("models", {}).get(name)
    if spec is None:
        return name  # a mixture, or a label the config does not know
    return spec.get("path") or f"tiny:{name}"


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def match(run: dict, study: dict, config: dict) -> str | None:
    """None when the rows' roles differ; else 'the study's models' or how the models differ."""
    if run["method"] != study["method"]:
        return None
    teacher = model_id(config, run["teacher"]) if run["teacher"] != "-" else ""
    if study["teacher"] and not _same(teacher, study["teacher"]):
        return None
    if study["model"].startswith("mixture:") or run["model"].startswith("mixture:"):
        return "the study's routing" if run["model"] == study["model"] else None
    model = model_id(config, run["model"])
    if not study["model"] and not study["teacher"]:
        return "same method; the study names neither teacher nor student"
    if study["model"] and _same(model, study["model"]):
        return "the study's models" if study["teacher"] else "the study's student"
    size = size_of(model)
    if size is not None and study["model"] and size == size_of(study["model"]):
        return f"same size, other student ({model})"
    return None


def _pct(value) -> str:
    return "" if value in (None, "") else f"{100 * float(value):.1f}"


def _run_cell(row: dict, column: str = "overall") -> str:
    if row.get(column) in (None, ""):
        return ""
    text = _pct(row[column])
    lo, hi = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    return f"{text} [{_pct(lo)}, {_pct(hi)}]" if lo not in (None, "") else text


def _in_ci(row: dict, study_value: float, column: str = "overall") -> str:
    lo, hi = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    if lo in (None, "") or study_value is None:
        return ""
    return "yes" if 100 * float(lo) <= study_value <= 100 * float(hi) else "no"


def _label(row: dict) -> str:
    return " / ".join(p for p in (row["teacher"], row["via"], row["model"]) if p != "-")


def _study_label(s: dict) -> str:
    parts = [s["teacher_name"], s["via_name"], s["model_name"]]
    return " → ".join(p for p in parts if p and p != "-")


def _table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(line) + " |" for line in lines]


def compare(rows: list[dict], config: dict, reference: list[dict]) -> dict:
    """Pairs of (run row, study row, how they match), and what matched nothing."""
    pairs, unmatched_runs = [], []
    for r in rows:
        found = [(s, how) for s in reference if (how := match(r, s, config))]
        if found:
            pairs += [(r, s, how) for s, how in found]
        else:
            unmatched_runs.append(r)
    matched = {id(s) for _, s, _ in pairs}
    study_models = {s[k].lower() for s in reference for k in ("teacher", "model") if s[k]}
    run_models = {
        model_id(config, name)
        for r in rows
        for name in (r["teacher"], r["model"])
        if name != "-" and not name.startswith("mixture:")
    }
    return {
        "pairs": pairs,
        "unmatched_runs": unmatched_runs,
        "unmatched_study": [s for s in reference if id(s) not in matched],
        "shared_models": sorted(m for m in run_models if m.lower() in study_models),
        "run_models": sorted(run_models),
    }


def headline(result: dict) -> str:
    """One sentence: how much of the run can be read against the study."""
    if not result["shared_models"]:
        return (
            "None of this run's models is one of the study's ("
            + ", ".join(f"`{m}`" for m in result["run_models"])
            + "), so its numbers cannot be compared with the study's; the study's numbers are "
            "listed for reference only."
        )
    n = len({id(r) for r, _, _ in result["pairs"]})
    return (
        f"{n} run row(s) have the role of a study row; this run shares these models with the "
        "study: " + ", ".join(f"`{m}`" for m in result["shared_models"]) + "."
    )


def to_markdown(rows: list[dict], config: dict, reference: list[dict], source: str) -> str:
    result = compare(rows, config, reference)
    out = [
        "# The run beside the study",
        "",
        f"Study numbers from `{source}` (accuracy in %, as the study reports them, without",
        "intervals); run numbers are this run's accuracy on its held-out test split in % with the",
        "95% bootstrap interval. A run row has a study row's role when the method is the same, the",
        "teacher is the same model (where the study names one) and the student is the same model",
        "or one of the same size (a routed mixture: oracle routing, the study's).",
        "",
        f"**{headline(result)}**",
        "",
        "## Run rows with a study counterpart",
        "",
    ]
    if result["pairs"]:
        lines = []
        for r, s, how in result["pairs"]:
            delta = (
                f"{100 * float(r['overall']) - s['overall']:+.1f}"
                if r.get("overall") not in (None, "") and s["overall"] is not None
                else ""
            )
            lines.append(
                [
                    r["method"],
                    _label(r),
                    _run_cell(r),
                    _study_label(s),
                    f"{s['overall']:g}" if s["overall"] is not None else "",
                    delta,
                    _in_ci(r, s["overall"]),
                    how,
                ]
            )
        header = ["method", "run row", "run", "study row", "study", "run − study", "study in CI"]
        out += _table([*header, "models"], lines)
        per_domain = [(r, s) for r, s, _ in result["pairs"] if any(s[d] for d in DOMAINS)]
        for r, s in per_domain:
            out += ["", f"Per domain, {r['method']} {_label(r)} against {_study_label(s)}:", ""]
            out += _table(
                ["", *DOMAINS.values()],
                [
                    ["run", *(_run_cell(r, d) for d in DOMAINS)],
                    ["study", *(f"{s[d]:g}" if s[d] is not None else "" for d in DOMAINS)],
                ],
            )
    else:
        out.append("No run row has the role of a study row.")
    out += ["", "## Run rows without a study counterpart", ""]
    if result["unmatched_runs"]:
        out += _table(
            ["method", "run row", "run"],
            [[r["method"], _label(r), _run_cell(r)] for r in result["unmatched_runs"]],
        )
    else:
        out.append("Every run row has a study counterpart.")
    out += ["", "## The study's numbers", ""]
    out += _table(
        ["role", "method", "study row", "overall", *DOMAINS.values(), "in this run", "note"],
        [
            [
                s["role"],
                s["method"],
                _study_label(s),
                f"{s['overall']:g}" if s["overall"] is not None else "",
                *(f"{s[d]:g}" if s[d] is not None else "" for d in DOMAINS),
                "no" if s in result["unmatched_study"] else "yes",
                s.get("note", ""),
            ]
            for s in reference
        ],
    )
    return "\n".join(out) + "\n"


def write_study_comparison(
    rows: list[dict], config: dict, out: str | Path, reference=REFERENCE, footer: str = ""
) -> dict:
    """``study_comparison.md`` for score-table rows; returns :func:`compare`'s result."""
    study = load_reference(reference)
    shown = "data/study_reference.csv" if Path(reference) == REFERENCE else str(reference)
    text = to_markdown(rows, config, study, shown)
    atomic_write_text(out, text + (f"\n{footer}\n" if footer else ""))
    return compare(rows, config, study)
