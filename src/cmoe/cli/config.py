"""The config's subcommand: check config files before a run."""

from __future__ import annotations

import logging

from ..core.commands import command

log = logging.getLogger("cmoe")


def _check_args(p):
    p.add_argument("configfiles", nargs="+", help="YAML files; later ones override earlier ones")
    p.add_argument(
        "--schema-only",
        action="store_true",
        help="skip the checks that look at models and endpoints (schema, references, files)",
    )


@command(
    "check",
    "check config files before a run: YAML (file and line, duplicate keys), schema, references, "
    "and then scheduler names, LoRA targets, hub ids, API keys and endpoints",
    _check_args,
)
def check(args) -> None:
    from ..config import check_runtime, load_config, preflight

    config = load_config(*args.configfiles)
    if not args.schema_only:
        for warning in check_runtime(config, uses_conda=True):
            log.warning("%s", warning)
        preflight(config)
    print(f"config OK: {' + '.join(args.configfiles)}")
