"""Checks that need more than the schema: what would otherwise fail hours into a run.

Two tiers. :func:`check_files` and :func:`static_checks` are cheap and run on every parse
(dry runs included): strict YAML (no duplicate keys), a usable prompt template, known
`domain_map` subjects, local model folders that exist. :func:`model_checks` runs before the
first job of a real run and in `cmoe check`: scheduler names, LoRA target modules of local
models, hub ids that cannot be resolved, and OpenAI-compatible endpoints that do not answer.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import yaml


class DuplicateKeyError(ValueError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently (a duplicated teacher vanishes)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            first = seen[key] + 1
            line = key_node.start_mark.line + 1
            raise DuplicateKeyError(
                f"{key_node.start_mark.name}: key {key!r} appears twice (lines {first} and "
                f"{line}); YAML would keep only the second"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: str | Path) -> dict:
    """A config file as a mapping; syntax errors and duplicate keys name the file and line."""
    from .validate import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_StrictLoader) or {}
    except DuplicateKeyError as exc:
        raise ConfigError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def check_files(paths) -> None:
    """Load each config file strictly (Snakemake's own loader accepts duplicate keys)."""
    for path in paths:
        load_yaml(path)


def looks_like_path(value: str) -> bool:
    """A local folder, not a hub id ("org/name" or "name")."""
    return (
        value.startswith(("/", "./", "../", "~"))
        or value.count("/") > 1
        or value.endswith("/")
        or os.sep != "/"
        and os.sep in value
    )


def static_checks(config: dict) -> None:
    """Cheap checks of a schema-valid config; raise ConfigError naming the key."""
    from ..domains import subject_domains
    from .validate import ConfigError

    template = config["prompt"]["template"]
    missing = [p for p in ("{question}", "{A}", "{B}", "{C}", "{D}") if p not in template]
    if missing:
        raise ConfigError(
            f"config key prompt.template: it never shows {', '.join(missing)}; the model would "
            "not see the question or all four options"
        )
    known = subject_domains()
    for subject in config["data"].get("domain_map") or {}:
        if subject not in known:
            close = difflib.get_close_matches(subject, list(known), n=3, cutoff=0.7)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(
                f"config key data.domain_map.{subject}: not an MMLU subject key{hint}"
            )
    _check_mera(config)
    for name, model in config["models"].items():
        path = model.get("path")
        if path and looks_like_path(path) and not Path(path).expanduser().is_dir():
            raise ConfigError(
                f"config key models.{name}.path: {path!r} looks like a local folder but does "
                "not exist (a hub id is written org/name)"
            )


def _check_mera(config: dict) -> None:
    """The MERA version against the hub ids, and the few-shot pool the protocol needs."""
    from ..data import MERA_HUB
    from .validate import ConfigError

    data = config["data"]
    version = data.get("mera_version", "v1.2")
    releases = {hub[0].lower(): name for name, hub in MERA_HUB.items()}
    for key in ("source", "fewshot_source"):
        hub = (data.get(key) or {}).get("hub")
        release = releases.get(hub["path"].lower()) if hub else None
        if release and release != version:
            raise ConfigError(
                f"config key data.{key}.hub.path: {hub['path']} is MERA {release}, but "
                f"data.mera_version is {version} (use {MERA_HUB[version][0]} or set the version)"
            )
    pool = data.get("fewshot_source")
    if (config.get("evaluation") or {}).get("loglik", {}).get("enabled") and not pool:
        raise ConfigError(
            "config key evaluation.loglik.enabled: MERA's protocol needs data.fewshot_source "
            f"(the few-shot pool; {version}: {MERA_HUB[version][0]}, split "
            f"{MERA_HUB[version][3]})"
        )
    if pool and "file" in pool and not Path(pool["file"]).expanduser().exists():
        raise ConfigError(f"config key data.fewshot_source.file: {pool['file']} does not exist")


def model_checks(config: dict, environ=None) -> None:
    """Checks that look at models and endpoints; run before the first job of a real run."""
    environ = os.environ if environ is None else environ
    _check_schedulers(config)
    _check_lora_targets(config)
    _check_hub_models(config, environ)
    _check_endpoints(config, environ)
    if "kard" in config.get("methods", []):
        from ..knowledge.checks import knowledge_checks

        knowledge_checks(config)
    from ..methods.distill import check_vocabularies
    from .validate import ConfigError

    try:
        check_vocabularies(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _training_entries(config: dict):
    """(config key, effective training settings, model entry or None) of every training."""
    from .validate import train_settings

    yield "training", train_settings(config), None
    for role in ("students", "intermediates"):
        for name, entry in config.get(role, {}).items():
            overrides = [s.get("train") for s in entry.get("specialists", {}).values()]
            for override in [None, *overrides]:
                yield f"{role}.{name}", train_settings(config, entry.get("train"), override), entry
    for name, entry in config["teachers"].items():
        if "warmup" in entry:
            yield f"teachers.{name}.warmup", train_settings(config, entry["warmup"]), None


def _check_schedulers(config: dict) -> None:
    from transformers.trainer_utils import SchedulerType

    from .validate import ConfigError

    names = sorted(s.value for s in SchedulerType)
    for key, settings, _ in _training_entries(config):
        if settings["lr_scheduler"] not in names:
            raise ConfigError(
                f"config key {key}.lr_scheduler: {settings['lr_scheduler']!r} is not a "
                f"transformers scheduler (one of: {', '.join(names)})"
            )


def _local_config(config: dict, model: str):
    """The model's transformers config when it is on this machine, else None."""
    from transformers import AutoConfig

    spec = config["models"][model]
    path = spec.get("path")
    if not path:
        return None  # a tiny model the workflow builds later
    try:
        return AutoConfig.from_pretrained(
            path,
            local_files_only=True,
            trust_remote_code=bool(spec.get("trust_remote_code", False)),
        )
    except (OSError, ValueError):
        return None


def module_names(model_config) -> set[str]:
    """Every module name of a model built from its config on the meta device (no weights)."""
    import torch

    from ..models import auto_class, config_arch

    with torch.device("meta"):
        model = auto_class(config_arch(model_config)).from_config(model_config)
    return {name for name, _ in model.named_modules()}


def _check_lora_targets(config: dict) -> None:
    from .validate import ConfigError

    checked: dict[tuple, set] = {}
    for key, settings, entry in _training_entries(config):
        if not entry or settings["method"] != "lora":
            continue
        targets = settings["lora"]["target_modules"]
        if isinstance(targets, str):
            continue  # "all-linear" (or a regular expression): PEFT resolves it
        model_config = _local_config(config, entry["model"])
        if model_config is None:
            continue
        names = checked.setdefault(
            (entry["model"],), {n.rsplit(".", 1)[-1] for n in module_names(model_config)}
        )
        unknown = [t for t in targets if t not in names]
        if unknown:
            linear = sorted(n for n in names if n.endswith("_proj"))
            raise ConfigError(
                f"config key {key}.lora.target_modules: {', '.join(unknown)} not in model "
                f"{entry['model']} (its projections: {', '.join(linear) or 'none found'})"
            )


def _check_hub_models(config: dict, environ) -> None:
    from .validate import ConfigError

    offline = environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    for name, spec in config["models"].items():
        path = spec.get("path")
        if not path or looks_like_path(path) or Path(path).is_dir():
            continue
        if _local_config(config, name) is not None:
            continue  # in the local cache
        if any(_is_api_teacher(config, teacher, name) for teacher in config["teachers"]):
            continue  # a label for an API model, never loaded locally
        if offline:
            raise ConfigError(
                f"config key models.{name}.path: hub id {path!r} is not in the local cache and "
                f"HF_HUB_OFFLINE is set; pre-download it (`huggingface-cli download {path}`) "
                "or unset HF_HUB_OFFLINE"
            )
        try:
            from huggingface_hub import HfApi

            HfApi().model_info(path, timeout=10)
        except Exception as exc:  # any failure means the first job would fail the same way
            raise ConfigError(
                f"config key models.{name}.path: hub id {path!r} cannot be resolved "
                f"({type(exc).__name__}); log in (`huggingface-cli login` or HF_TOKEN), "
                "pre-download it, or set HF_HUB_OFFLINE=1 with it in the cache"
            ) from None


def _is_api_teacher(config: dict, teacher: str, model: str) -> bool:
    entry = config["teachers"][teacher]
    return entry["model"] == model and entry["generation"].get("backend") == "openai"


def _check_endpoints(config: dict, environ) -> None:
    from ..generation.base import GenerationSettings
    from .validate import ConfigError, generation_entries

    for key, _, entry in generation_entries(config):
        generation = entry.get("generation", {})
        if generation.get("backend") != "openai":
            continue
        from ..generation.openai import EndpointError, OpenAIGenerator

        settings = GenerationSettings(**generation)
        try:
            with OpenAIGenerator(settings.openai["model"], settings) as generator:
                generator.check_endpoint(timeout_s=5.0)
        except EndpointError as exc:
            raise ConfigError(f"config key {key}.generation.openai: {exc}") from None
