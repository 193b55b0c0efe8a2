"""The `cmoe` command line: one subcommand per workflow stage.

Every Snakemake rule calls exactly one of these with explicit arguments, so each stage can also
be run (and debugged) by hand. Each subcommand's arguments are declared next to its handler, in
the module of its stage (data, traces, train, evaluate, report). Structured settings are passed
as JSON (a string or @file) and checked against their typed settings before anything runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from . import data, evaluate, knowledge, report, traces, train  # noqa: F401  (registers the subcommands)
from .base import COMMANDS

# --help lists the stages in workflow order.
ORDER = [
    *("check", "prepare-data", "prepare-fewshot", "make-tiny-model"),
    *("generate", "gather", "contamination-index", "filter", "curate-extra", "merge-stats"),
    *("contamination", "score-teacher", "train"),
    *("knowledge", "index", "retrieve", "train-reranker"),
    *(
        "evaluate",
        "evaluate-loglik",
        "evaluate-benchmark",
        "route",
        "mixture",
        "table",
        "benchmark-table",
        "plots",
        "kb-size-plot",
        "study-comparison",
        "summary",
        "data-card",
        "teacher-economics",
        "compare",
    ),
]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: `cmoe STAGE: error: ...` (see --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="cmoe",
        description="Cascade mixture-of-experts reasoning distillation. Each subcommand is one "
        "stage of the Snakemake workflow; run `snakemake` for the whole study, or a stage by hand.",
    )
    p.add_argument("--version", action="version", version=f"cmoe {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="STAGE", parser_class=_Parser)
    for c in sorted(COMMANDS, key=lambda c: ORDER.index(c.name)):
        sp = sub.add_parser(c.name, help=c.help, description=c.help)
        c.arguments(sp)
        sp.set_defaults(func=c.handler)
    return p


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigError
    from ..io import DataError

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        generation = getattr(args, "generation", None)
        api = generation is not None and generation.backend == "openai"  # no config.json
        if getattr(args, "arch", None) and getattr(args, "model", None) and not api:
            from ..models import check_arch

            # A causal model declared seq2seq (or the reverse) fails here, when its job starts.
            check_arch(args.model, args.arch, args.trust_remote_code)
        args.func(args)
    except (ConfigError, DataError, OSError, ValueError, RuntimeError) as exc:
        # One line, no traceback (an endpoint, a hub id, a file): -v shows the traceback.
        if args.verbose:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"cmoe {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0
