"""The `cmoe` command line: one subcommand per workflow stage.

Every Snakemake rule calls exactly one of these with explicit arguments, so each stage can also
be run (and debugged) by hand. Each subcommand's arguments are declared next to its handler: in
the CLI module of its stage (``cli/<stage>.py``, the same name as the stage's library folder and
rule file) or in its method's folder (``methods/<name>/commands.py``). Structured settings are
passed as JSON (a string or @file) and checked against their typed settings before anything
runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..core.commands import COMMANDS

# The stages' subcommand modules, in pipeline order: --help lists the subcommands in the order
# they register (the stages', then each method's own).
STAGES = ("config", "data", "generation", "traces", "training", "evaluation", "reporting")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: `cmoe STAGE: error: ...` (see --help)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _register_commands() -> None:
    from importlib import import_module

    from ..methods import REGISTRY

    for stage in STAGES:
        import_module(f"{__name__}.{stage}")
    for method in REGISTRY.values():
        method.load_commands()


def build_parser() -> argparse.ArgumentParser:
    _register_commands()
    p = _Parser(
        prog="cmoe",
        description="Cascade mixture-of-experts reasoning distillation. Each subcommand is one "
        "stage of the Snakemake workflow; run `snakemake` for the whole study, or a stage by hand.",
    )
    p.add_argument("--version", action="version", version=f"cmoe {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="STAGE", parser_class=_Parser)
    for c in COMMANDS:
        sp = sub.add_parser(c.name, help=c.help, description=c.help)
        c.arguments(sp)
        sp.set_defaults(func=c.handler)
    return p


def main(argv: list[str] | None = None) -> int:
    from ..core.errors import CmoeError
    from ..core.signals import Stopped

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        generation = getattr(args, "generation", None)
        if generation is not None:
            from ..generation.environment import hand_over
            from ..generation.registry import capabilities

            # backend vllm without vLLM here: the same command in the vLLM environment
            hand_over(generation.backend, sys.argv[1:] if argv is None else list(argv))
        # an API model has no config.json and no revision here
        api = generation is not None and not capabilities(generation.backend).local
        if hasattr(args, "revision"):
            # the commit the whole job loads (a tag moved meanwhile changes nothing);
            # `revision` stays as given (the config's), `commit` is what it named now
            args.commit = None
            if getattr(args, "model", None) and not api:
                from ..core.revisions import model_revision

                args.commit = model_revision(args.model, args.revision)
        if getattr(args, "arch", None) and getattr(args, "model", None) and not api:
            from ..core.models import check_arch

            # A causal model declared seq2seq (or the reverse) fails here, when its job starts.
            check_arch(args.model, args.arch, args.trust_remote_code, args.commit)
        from .probe import arm

        arm(args.command)  # CMOE_STARTUP_PROBE=1: stop at the first real work (perf/)
        args.func(args)
    except Stopped as exc:  # a scheduler's SIGTERM: saved, retry or requeue resumes
        print(f"cmoe {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (CmoeError, OSError, ValueError, RuntimeError) as exc:
        # One line, no traceback (an endpoint, a hub id, a file): -v shows the traceback.
        if args.verbose:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"cmoe {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0
