"""The opening page of the HTML report (`snakemake --report`): what was run, on which data, and
the headline comparison, then the sections of tables and figures.

``cmoe summary`` writes it as reStructuredText after the tables and figures; the Snakefile makes
it the report's landing text (:func:`landing_text`), headed by the config files of the run.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..core.domains import DOMAINS
from ..core.io import atomic_write_text, read_json

# (file, what it shows): the report's sections, in the order the summary lists them
TABLES = [
    ("scores.csv", "accuracy of every row per domain and overall, intervals, n and chain costs"),
    ("comparison.md", "the comparisons the methods plan, the study's own among them"),
    ("differences.csv", "each row minus its reference row (same teacher and model)"),
    ("study_comparison.md", "each run row beside the study row with the same role"),
    ("claims.md", "the study's claims, each judged reproduced, opposite or inconclusive"),
]
# Tables a config writes only when it asks for them: (file, what it shows, is it asked for?)
OPTIONAL_TABLES = [
    (
        "scores_loglik.csv",
        "MERA's log-likelihood protocol, per domain and overall",
        lambda c: c["evaluation"]["loglik"]["enabled"],
    ),
    (
        "scores_mera_gen.csv",
        "MERA's generative variant (greedy, first letter)",
        lambda c: c["evaluation"]["loglik"]["enabled"] and c["evaluation"]["loglik"]["mera_gen"],
    ),
    (
        "benchmarks.csv",
        "lm-eval benchmarks, model × task",
        lambda c: bool(c["evaluation"].get("benchmarks")),
    ),
]


def report_tables(config: dict) -> list[tuple[str, str]]:
    """The tables of this run's report, in the order the summary lists them."""
    return TABLES + [(name, what) for name, what, asked in OPTIONAL_TABLES if asked(config)]


FIGURES = [
    ("accuracy_forest.svg", "overall accuracy per row, grouped by method"),
    ("paired_differences.svg", "does a method help? its paired difference to the baseline"),
    ("accuracy_vs_cost.svg", "accuracy against training cost, with the Pareto front"),
    ("accuracy_by_domain.svg", "accuracy per domain, rows × domains"),
    ("accuracy_vs_size.svg", "accuracy against model size"),
    ("trace_lengths.svg", "length of the teachers' kept traces"),
]


def _csv(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _pct(value) -> str:
    return f"{100 * float(value):.1f}"


def _label(r: dict) -> str:
    return " / ".join(p for p in (r["method"], r["teacher"], r["via"], r["model"]) if p != "-")


def _rst_table(header: list[str], lines: list[list[str]]) -> list[str]:
    """A reStructuredText grid-free 'simple' table would break on empty cells: use list-table."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for line in [header, *lines]:
        out.append("   * - " + (line[0] or "\\ "))
        out += [f"     - {c or chr(92) + ' '}" for c in line[1:]]
    return out


def headline_lines(scores: list[dict], diffs: list[dict], headline=()) -> list[str]:
    """Bullets: the comparisons the methods put in the headline (``headline``: pairs of row
    labels, named; their paired differences from differences.csv), then each method's best
    row, from the score table."""
    out = []
    names = {tuple(p.a): p.name for p in headline}
    for d in diffs:
        name = names.get((d["method"], d["teacher"], d["via"], d["model"]))
        if name:
            # rows trained once: McNemar's test; replicated rows: the two-level bootstrap's p
            single = d.get("replicates", "1×1") == "1×1"
            kind = "paired-bootstrap" if single else "two-level paired bootstrap (seeds, questions)"
            test = "McNemar p" if single else f"bootstrap p ({d['replicates']} replicates)"
            out.append(
                f"- {name} − {d['reference']}: "
                f"**{100 * float(d['diff']):+.1f} points**, {kind} "
                f"{100 * float(d['level']):.0f}% interval [{100 * float(d['ci_low']):+.1f}, "
                f"{100 * float(d['ci_high']):+.1f}], {test} = {float(d['p_value']):.3g} "
                f"(n = {d['n']})."
            )
    best: dict[str, dict] = {}
    for r in scores:
        if not r["overall"]:
            continue
        if r["method"] not in best or float(r["overall"]) > float(best[r["method"]]["overall"]):
            best[r["method"]] = r
    for method, r in best.items():
        out.append(
            f"- Best {method} row: ``{_label(r)}``, {_pct(r['overall'])}% "
            f"[{_pct(r['overall_ci_low'])}, {_pct(r['overall_ci_high'])}] of {r['n']} test items."
        )
    return out


def _source(config: dict) -> str:
    source = config["data"]["source"]
    if "hub" in source:
        hub = source["hub"]
        return f"``{hub['path']}`` ({hub.get('name') or ''} {hub.get('split') or ''})".replace(
            " )", ")"
        )
    return f"``{Path(source['file']).name}``"


def to_rst(
    config: dict,
    data_summary: dict,
    scores: list[dict],
    diffs: list[dict],
    study: str,
    headline=(),
    controls=(),
    claims=(),
):
    ns = config["namespace"]
    splits = data_summary["splits"]
    title = f"cmoe run ``{ns}``"
    out = [title, "=" * len(title), ""]
    out += [
        f"**Config**: namespace ``{ns}``; teachers {', '.join(config['teachers'])}; "
        f"intermediates {', '.join(config.get('intermediates', {})) or 'none'}; students "
        f"{', '.join(config['students'])}; methods {', '.join(config['methods'])}.",
        "",
        f"**Data**: {_source(config)}, split by subject with test fraction "
        f"{data_summary['test_fraction']}, seed {data_summary['seed']}: "
        f"{splits['train']['total']} train questions (teachers answer them, students learn from "
        f"the traces), {splits['test']['total']} held-out test questions (every number below).",
        "",
    ]
    out += _rst_table(
        ["split", *DOMAINS.values(), "total"],
        [
            [
                name,
                *(str(splits[name]["domains"].get(d, {}).get("total", 0)) for d in DOMAINS),
                str(splits[name]["total"]),
            ]
            for name in ("train", "test")
        ],
    )
    out += ["", "Headline", "--------", ""]
    out += headline_lines(scores, diffs, headline) or ["- No trained row was scored."]
    if controls:
        recovered = sum(line.startswith("- recovered") for line in controls)
        out.append(
            f"- Controls, effects a working pipeline must show: **{recovered} of "
            f"{len(controls)} recovered** (paired 95% interval above 0; over training seeds "
            "and test questions where the rows have replicates):"
        )
        out += ["", *(f"  {line}" for line in controls), ""]
    out += [f"- Against the study: {study}", ""]
    if claims:
        out += ["- The study's claims, judged on this run (``claims.md``):", ""]
        out += [
            f"  - **{c['verdict']}**: {c['claim']} ({c['teacher']}: {c['a']} against {c['b']}; "
            f"study: {c['study']}; {_claim_value(c)})."
            for c in claims
        ]
        out.append("")
    out += ["Sections", "--------", ""]
    # `name`_ links to the report's own entry of each file (Snakemake defines one target per
    # result): a table or figure missing from the report is an unresolved link, not a silent gap.
    out += ["Tables (category *Tables*; each with a caption saying how it was computed):", ""]
    out += [f"- `{name}`_: {what}." for name, what in report_tables(config)]
    out += ["", "Figures (category *Figures*; click one for its caption):", ""]
    out += [f"- `{name}`_: {what}." for name, what in FIGURES]
    return "\n".join(out) + "\n"


def _claim_value(c: dict) -> str:
    """A claims.csv record's value: points and interval, or a ratio and its range."""
    value, low, high = (float(c[k]) for k in ("value", "ci_low", "ci_high"))
    if c["measure"] == "train_critical_path":
        return f"{value:.2f}× [{low:.2f}, {high:.2f}]"
    return f"{100 * value:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]"


def control_bullets(comparison_md: str | Path) -> list[str]:
    """The bullets of comparison.md's section of controls (empty when it has none)."""
    from .comparison import CONTROLS

    lines = Path(comparison_md).read_text("utf-8").splitlines()
    if CONTROLS not in lines:
        return []
    section = lines[lines.index(CONTROLS) + 1 :]
    end = next((i for i, line in enumerate(section) if line.startswith("#")), len(section))
    return [line for line in section[:end] if line.startswith("- ")]


def write_summary(
    config_path,
    data_summary,
    scores_csv,
    differences_csv,
    study_md,
    out,
    headline=(),
    comparison_md=None,
    claims_csv=None,
) -> str:
    """The opening page; ``headline``: the planned headline comparisons
    (:attr:`cmoe.core.jobs.Comparisons.headline`); ``comparison_md``: comparison.md, whose
    controls the headline counts."""
    study = next(
        (
            line.strip("*")
            for line in Path(study_md).read_text("utf-8").splitlines()
            if line.startswith("**")
        ),
        "see study_comparison.md.",
    )
    text = to_rst(
        read_json(config_path),
        read_json(data_summary),
        _csv(scores_csv),
        _csv(differences_csv),
        study.replace("`", "``"),
        headline,
        control_bullets(comparison_md) if comparison_md else [],
        _csv(claims_csv) if claims_csv else [],
    )
    atomic_write_text(out, text)
    return text


def landing_text(summary: str | Path, configfiles, fallback: str) -> str:
    """The report's landing text: the run's summary headed by its config files once the summary
    exists (written beside Snakemake's metadata, named by its content), else ``fallback``."""
    import hashlib

    summary = Path(summary)
    if not summary.exists():
        return fallback
    names = ", ".join(f"``{Path(f).name}``" for f in configfiles) or "the default config"
    body = summary.read_text("utf-8")
    title, rule, rest = body.split("\n", 2)
    text = f"{title}\n{rule}\n\n**Config files**: {names}.\n{rest}"
    name = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = Path(".snakemake/cmoe/report") / f"{name}.rst"
    if not path.exists():
        atomic_write_text(path, text)
    return str(path.resolve())
