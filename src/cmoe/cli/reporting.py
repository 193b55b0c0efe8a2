"""Subcommands that report: table, benchmark-table, plots, compare."""

from __future__ import annotations

import logging

from ..core.commands import command, key_value

log = logging.getLogger("cmoe")


def _table_args(p):
    p.add_argument(
        "--config",
        required=True,
        help="the resolved workflow config (JSON) the rows are planned from",
    )
    p.add_argument(
        "--protocol",
        choices=["generative", "loglik", "mera_gen"],
        default="generative",
        help="which evaluation's rows to collect",
    )
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--comparison", help="method-against-method table (Markdown)")
    p.add_argument(
        "--differences",
        help="paired differences of each row against its direct counterpart (CSV)",
    )
    p.add_argument(
        "--claims",
        help="the study's claims to judge (CSV; cmoe.reporting.claims); with --claims-csv and "
        "--claims-md",
    )
    p.add_argument("--claims-csv", help="each claim's verdict on this run (CSV)")
    p.add_argument("--claims-md", help="the same as a Markdown table")


@command(
    "table",
    "collect every planned row's scores into CSV and Markdown tables, with bootstrap intervals "
    "and chain costs",
    _table_args,
)
def table(args) -> None:
    from dataclasses import asdict

    from ..config import section
    from ..core.io import read_json
    from ..core.provenance import footer_line, provenance
    from ..plan import build_plan
    from ..reporting.tables import write_tables

    config = read_json(args.config)
    plan = build_plan(config)
    loglik = args.protocol != "generative"
    protocol = "mera" if args.protocol == "loglik" else args.protocol
    rows = write_tables(
        plan.loglik_rows if loglik else plan.rows,
        args.csv,
        args.md,
        namespace=plan.namespace,
        bootstrap=asdict(section(config, "evaluation").bootstrap),
        eval_dir=(lambda row: plan.loglik_dir(row, protocol)) if loglik else None,
        comparison_out=args.comparison,
        comparisons=plan.comparisons,
        footer=footer_line(provenance()),
    )
    log.info("wrote %d rows to %s and %s", len(rows), args.csv, args.md)
    if args.differences:
        from ..reporting.paired import write_differences

        diffs = write_differences(
            rows, args.differences, asdict(section(config, "evaluation").bootstrap)
        )
        log.info("wrote %d paired differences to %s", len(diffs), args.differences)
    if args.claims:
        from ..reporting.claims import write_claims

        claims = write_claims(
            rows, config, args.claims_csv, args.claims_md, args.claims, footer_line(provenance())
        )
        log.info("judged %d claims into %s", len(claims), args.claims_md)
    from ..core.tracking import WandbSettings, log_tables

    wandb = WandbSettings.from_env()
    if wandb.mode != "disabled":
        private = ("scores_paths", "costs_by_replicate")
        public = [{k: v for k, v in r.items() if k not in private} for r in rows]
        suffix = {"generative": "", "loglik": "-loglik"}.get(args.protocol, f"-{args.protocol}")
        name = f"tables-{plan.namespace}{suffix}"
        log_tables(asdict(wandb), name, {"scores": public}, config)


def _benchmark_table_args(p):
    p.add_argument(
        "--jobs",
        required=True,
        help="the planned benchmark jobs (JSON: key, label, task of each; see "
        "cmoe.reporting.benchmarks.table_jobs)",
    )
    p.add_argument("--csv", required=True, help="one line per model × task")
    p.add_argument("--md", required=True, help="models × tasks")


@command(
    "benchmark-table",
    "collect every lm-eval benchmark result (model × task: metric ± stderr, n) into CSV and "
    "Markdown",
    _benchmark_table_args,
)
def benchmark_table(args) -> None:
    from ..core.io import read_json
    from ..core.provenance import footer_line, provenance
    from ..reporting.benchmarks import write_benchmark_tables

    jobs = read_json(args.jobs)["benchmarks"]
    rows = write_benchmark_tables(jobs, args.csv, args.md, footer=footer_line(provenance()))
    log.info("wrote %d benchmark results to %s and %s", len(rows), args.csv, args.md)


def _plots_args(p):
    p.add_argument("--scores-csv", required=True)
    p.add_argument(
        "--model",
        type=key_value,
        nargs="*",
        default=[],
        help="NAME=trained model folder (its train_metrics.json gives the size)",
    )
    p.add_argument(
        "--traces", type=key_value, nargs="*", default=[], help="TEACHER=kept-traces.jsonl"
    )
    p.add_argument("--differences", help="differences.csv of `cmoe table`")
    p.add_argument(
        "--methods",
        nargs="*",
        default=[],
        help="the registered methods in table order: each keeps its colour and marker",
    )
    p.add_argument("--outdir", required=True)


@command("plots", "figures for the report (SVG and PNG) and their layout check", _plots_args)
def plots(args) -> None:
    from collections import defaultdict

    from ..reporting.plots import make_plots, parameter_count

    params = {name: parameter_count(path) for name, path in args.model}
    traces = defaultdict(list)
    for teacher, path in args.traces:
        traces[teacher].append(path)
    layout = make_plots(
        args.scores_csv,
        {k: v for k, v in params.items() if v},
        traces,
        args.outdir,
        args.differences,
        args.methods,
    )
    for name, checks in layout.items():
        if checks["overlaps"] or checks["small_fonts"]:
            log.warning(
                "%s: %d overlapping text pair(s), %d text(s) below the font-size floor",
                name,
                len(checks["overlaps"]),
                len(checks["small_fonts"]),
            )
    log.info("wrote %d figures (SVG + PNG) to %s", len(layout), args.outdir)


def _compare_args(p):
    p.add_argument("tables", nargs="+", help="results/<namespace>/tables/scores.csv files")
    p.add_argument("--out", required=True, help="Markdown file to write")


@command(
    "compare", "put the score tables of several namespaces (ablations) side by side", _compare_args
)
def compare(args) -> None:
    from ..reporting.tables import compare_namespaces

    rows = compare_namespaces(args.tables, args.out)
    log.info("wrote %d rows from %d tables to %s", len(rows), len(args.tables), args.out)


def _study_args(p):
    p.add_argument("--config", required=True, help="the resolved workflow config (JSON)")
    p.add_argument("--scores-csv", required=True, help="scores.csv of `cmoe table`")
    p.add_argument(
        "--reference", help="the study's numbers (CSV; default: data/study_reference.csv)"
    )
    p.add_argument("--out", required=True, help="Markdown file to write")


@command(
    "study-comparison",
    "put each run row beside the study row with the same role (method, teacher, student)",
    _study_args,
)
def study_comparison(args) -> None:
    import csv

    from ..core.io import read_json
    from ..core.provenance import footer_line, provenance
    from ..reporting.study import REFERENCE, headline, write_study_comparison

    with open(args.scores_csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    result = write_study_comparison(
        rows,
        read_json(args.config),
        args.out,
        args.reference or REFERENCE,
        footer=footer_line(provenance()),
    )
    log.info("%s", headline(result))
    log.info("wrote %s", args.out)


def _summary_args(p):
    p.add_argument("--config", required=True, help="the resolved workflow config (JSON)")
    p.add_argument("--data-summary", required=True, help="results/data/summary.json")
    p.add_argument("--scores-csv", required=True)
    p.add_argument("--differences", required=True, help="differences.csv of `cmoe table`")
    p.add_argument("--study", required=True, help="study_comparison.md")
    p.add_argument("--comparison", help="comparison.md of `cmoe table` (its controls)")
    p.add_argument("--claims", help="claims.csv of `cmoe table` (the study's claims judged)")
    p.add_argument(
        "--headline",
        help="the planned headline comparisons (JSON: [{name, a, b}], a and b a row's labels)",
    )
    p.add_argument("--out", required=True, help="reStructuredText file to write")


@command(
    "summary",
    "the HTML report's opening page: config, data split, headline comparison, sections",
    _summary_args,
)
def summary(args) -> None:
    from ..core.io import read_json
    from ..core.jobs import Pair
    from ..reporting.summary import write_summary

    pairs = read_json(args.headline) if args.headline else []
    headline = [Pair(p["name"], tuple(p["a"]), tuple(p["b"])) for p in pairs]
    write_summary(
        args.config,
        args.data_summary,
        args.scores_csv,
        args.differences,
        args.study,
        args.out,
        headline,
        args.comparison,
        args.claims,
    )
    log.info("wrote %s", args.out)


def _data_card_args(p):
    p.add_argument("--teacher", type=key_value, nargs="*", default=[], help="NAME=stats.json")
    p.add_argument("--extra", help="the extra sources' stats (curate-extra)")
    p.add_argument("--contamination", help="the contamination index")
    p.add_argument("--out", required=True)


@command("data-card", "the golden dataset's sources, licences and curation counts", _data_card_args)
def data_card(args) -> None:
    from ..reporting.golden import data_card

    data_card(dict(args.teacher), args.extra, args.contamination, args.out)
    log.info("data card: %s", args.out)


def _economics_args(p):
    p.add_argument(
        "--teachers",
        required=True,
        help="JSON file: {teacher: {stats, costs: [...], price_per_device_hour}}",
    )
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)


@command(
    "teacher-economics",
    "per teacher: pass@1, yield, tokens, device-hours or USD, cost per 1,000 correct traces",
    _economics_args,
)
def teacher_economics(args) -> None:
    from ..core.io import read_json
    from ..reporting.golden import write_economics

    for row in write_economics(read_json(args.teachers), args.csv, args.md):
        log.info("%s: %s correct traces, %s USD", row["teacher"], row["correct_traces"], row["usd"])
