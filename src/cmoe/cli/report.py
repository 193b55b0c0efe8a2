"""Subcommands that report: table, plots, compare."""

from __future__ import annotations

import logging

from .base import command, key_value

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


@command(
    "table",
    "collect every planned row's scores into CSV and Markdown tables, with bootstrap intervals "
    "and chain costs",
    _table_args,
)
def table(args) -> None:
    from dataclasses import asdict

    from ..config import section
    from ..io import read_json
    from ..plan import build_plan
    from ..provenance import footer_line, provenance
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
        routes=plan.routes,
        footer=footer_line(provenance()),
    )
    log.info("wrote %d rows to %s and %s", len(rows), args.csv, args.md)
    from ..reporting.tracking import log_tables
    from ..training.settings import WandbSettings

    wandb = WandbSettings.from_env()
    if wandb.mode != "disabled":
        public = [{k: v for k, v in r.items() if k != "scores_path"} for r in rows]
        suffix = {"generative": "", "loglik": "-loglik"}.get(args.protocol, f"-{args.protocol}")
        name = f"tables-{plan.namespace}{suffix}"
        log_tables(asdict(wandb), name, {"scores": public}, config)


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
    p.add_argument("--outdir", required=True)


@command("plots", "figures for the report (SVG and PNG)", _plots_args)
def plots(args) -> None:
    from collections import defaultdict

    from ..reporting.plots import make_plots, parameter_count

    params = {name: parameter_count(path) for name, path in args.model}
    traces = defaultdict(list)
    for teacher, path in args.traces:
        traces[teacher].append(path)
    written = make_plots(
        args.scores_csv, {k: v for k, v in params.items() if v}, traces, args.outdir
    )
    log.info("wrote %d figures (SVG + PNG) to %s", len(written), args.outdir)


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
