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
    "the plan's outputs (none equal to or inside another), and then scheduler names, LoRA "
    "targets, hub ids, API keys and endpoints",
    _check_args,
)
def check(args) -> None:
    from ..config import check_runtime, load_config, preflight
    from ..plan import build_plan

    config = load_config(*args.configfiles)
    build_plan(config)  # its layout check, as the workflow runs it before the first job
    if not args.schema_only:
        for warning in check_runtime(config, uses_conda=True):
            log.warning("%s", warning)
        preflight(config)
    print(f"config OK: {' + '.join(args.configfiles)}")


def _pin_args(p):
    p.add_argument(
        "--configfile",
        nargs="+",
        default=["config/config.yaml"],
        help="YAML files, as given to snakemake (default: config/config.yaml); each file gets "
        "the commits of the hub ids it names itself",
    )


@command(
    "pin",
    "resolve the config's hub ids that have no revision (models and datasets) to commits and "
    "write them into the config files, in place (works offline from the hub cache)",
    _pin_args,
)
def pin(args) -> None:
    from ..config import load_config
    from ..config.revisions import pin as pin_files
    from ..core.revisions import resolve_revision

    config = load_config(*args.configfile)
    pinned = pin_files(
        args.configfile, config, lambda repo, kind: resolve_revision(repo, None, kind)
    )
    for file, key, commit in pinned:
        print(f"{file}: {key}: revision {commit}")
    if not pinned:
        print(f"nothing to pin: every hub id in {' + '.join(args.configfile)} has a revision")
