"""Config validation: one clear message naming the key, before any job runs.

:func:`validate_config` checks the schema, the references between sections, then loops over
the stages' and the listed methods' own checks, and fills every default in. :func:`check_runtime`
and :func:`preflight` look further before the first job of a real run. This module knows no
method by name: the registry says which methods exist and what each checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.entries import fill_entries
from ..core.errors import ConfigError
from ..core.paths import looks_like_path
from ..core.prompting import check_template
from ..data import checks as data
from ..evaluation import checks as evaluation
from ..generation import checks as generation
from ..methods import REGISTRY, named_sections
from ..traces import checks as traces
from ..training import checks as training
from .defaults import fill_defaults
from .revisions import check as check_revisions
from .revisions import unpinned_warnings
from .schema import check_schema

# Entries an overlay may remove by setting them to null (e.g. `teachers: {qwen3-235b: null}`):
# the core's sections of named entries, and the methods' (Method.named_sections).
REMOVABLE = tuple(
    dict.fromkeys(
        ("models", "teachers", "students", "intermediates", *named_sections(REGISTRY.values()))
    )
)
# The stages' checks, in pipeline order (each module also declares the sections it owns).
STAGE_CHECKS = (data, generation, training, traces, evaluation)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate against the schema and cross-references; raise ConfigError on the first problem.

    Works in place (Snakemake's global config): entries set to null under the sections in
    REMOVABLE are dropped first, so an ablation overlay can remove a teacher or a model.
    """
    for name in REMOVABLE:
        if isinstance(config.get(name), dict):
            for key in [k for k, v in config[name].items() if v is None]:
                del config[name][key]
    check_schema(config)
    fill_entries(config)  # the entries' own defaults (`shards`, `arch`, ...), read by the checks
    check_revisions(config)
    _check_references(config)
    _check_prompt(config)
    for stage in STAGE_CHECKS:
        stage.check(config)
    for method in methods_of(config):
        method.check(config)
    return fill_defaults(config)


def methods_of(config: dict) -> list:
    """The registered methods a config lists, in the registry's order."""
    return [m for name, m in REGISTRY.items() if name in config["methods"]]


def _check_references(config: dict) -> None:
    """Models, and the entries that name them."""
    # a method the config does not run is allowed (an overlay may drop it), a misspelt one not
    for name, entry in config["students"].items():
        for method in entry.get("methods") or []:
            if method not in REGISTRY:
                raise ConfigError(
                    f"{method!r} is not a method ({', '.join(REGISTRY)})",
                    key=f"students.{name}.methods",
                )
    models, specs = config["models"], config.get("tiny_models", {}).get("specs", {})
    for name, m in models.items():
        if ("path" in m) == ("tiny" in m):
            raise ConfigError("give exactly one of 'path' or 'tiny'", key=f"models.{name}")
        if "tiny" in m and m["tiny"] not in specs:
            raise ConfigError(
                f"{m['tiny']!r} is not in tiny_models.specs", key=f"models.{name}.tiny"
            )
        if "tiny" in m and "vocabulary" in m:
            raise ConfigError(
                "a tiny model's vocabulary follows its spec (family and vocab_size)",
                key=f"models.{name}.vocabulary",
            )
        if "tiny" in m:
            # a tiny T5 is an encoder-decoder, a tiny Qwen3 is not: the entry must say which
            built = "seq2seq" if specs[m["tiny"]].get("arch", "qwen3") == "t5" else "causal"
            if m["arch"] != built:
                raise ConfigError(
                    f"tiny spec {m['tiny']!r} builds a {built} model, but the entry says "
                    f"arch: {m.get('arch', 'causal')}",
                    key=f"models.{name}.arch",
                )
        path = m.get("path")
        if path and looks_like_path(path) and not Path(path).expanduser().is_dir():
            why = (
                "is a file, not a model folder"
                if Path(path).expanduser().exists()
                else "looks like a local folder but does not exist (a hub id is written org/name)"
            )
            raise ConfigError(f"{path!r} {why}", key=f"models.{name}.path")
    for role in ("teachers", "students", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if entry["model"] not in models:
                raise ConfigError(
                    f"{entry['model']!r} is not defined in models", key=f"{role}.{name}.model"
                )
    teachers = config["teachers"]
    for name, entry in teachers.items():
        source = entry.get("traces_from")
        if source is not None and (source not in teachers or "traces_from" in teachers[source]):
            raise ConfigError(
                f"{source!r} is not a teacher of this config that generates its own traces",
                key=f"teachers.{name}.traces_from",
            )


def _check_prompt(config: dict) -> None:
    template = config["prompt"]["template"]
    try:
        check_template(template)
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"bad placeholder {exc} (allowed: {{question}}, {{A}}, {{B}}, {{C}}, {{D}}, "
            "{subject}, {subject_name}, {domain})",
            key="prompt.template",
        ) from exc
    missing = [p for p in ("{question}", "{A}", "{B}", "{C}", "{D}") if p not in template]
    if missing:
        raise ConfigError(
            f"it never shows {', '.join(missing)}; the model would not see the question or all "
            "four options",
            key="prompt.template",
        )


def intermediates_generate(config: dict) -> bool:
    """Whether a listed method has the intermediates write traces."""
    return any(m.intermediates_generate for m in methods_of(config))


def check_runtime(config: dict, uses_conda: bool, environ=None) -> list[str]:
    """What must hold before the first job, beyond the schema: raise ConfigError for what would
    fail hours later; return warnings (a hub id without a revision among them). ``uses_conda``:
    rules run in envs/ (`--sdm conda`)."""
    from ..generation.checks import runtime

    warnings = runtime(config, intermediates_generate(config), uses_conda, environ)
    return warnings + unpinned_warnings(config)
