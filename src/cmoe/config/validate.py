"""Config loading and validation: one clear message naming the key, before any job runs.

Validation returns the config with every default filled in from the typed sections
(cmoe.config.sections), so every reader sees the same values.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..domains import DOMAINS
from .preflight import load_yaml, static_checks
from .sections import SettingsError, fill_defaults
from .sections import resources as _resources


class ConfigError(ValueError):
    """An invalid workflow config; the message names the offending key."""


def _schema() -> dict:
    text = resources.files("cmoe.config").joinpath("schemas/config.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error) -> str:
    """Turn a jsonschema error into 'config key X: problem'."""
    where = _key_path(error)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        keys = ", ".join(f"{where}.{k}" if where != "<top level>" else k for k in extra)
        return f"unknown config key {keys} (check the spelling; see config/README.md)"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        prefix = f"{where}." if where != "<top level>" else ""
        return f"missing required config key {prefix}{missing}"
    return f"config key {where}: {error.message}"


# Entries an overlay may remove by setting them to null (e.g. `teachers: {qwen3-235b: null}`).
REMOVABLE = ("models", "teachers", "students", "intermediates", "specialist_groups")


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate against the schema and cross-references; raise ConfigError on the first problem.

    Works in place (Snakemake's global config): entries set to null under the sections in
    REMOVABLE are dropped first, so an ablation overlay can remove a teacher or a model.
    """
    import jsonschema

    for section in REMOVABLE:
        if isinstance(config.get(section), dict):
            for name in [k for k, v in config[section].items() if v is None]:
                del config[section][name]

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        # The shallowest error is the most useful: for a oneOf failure it names the key itself.
        raise ConfigError(_describe(errors[0]))
    _check_references(config)
    static_checks(config)
    _check_evaluation(config)
    _check_curation(config)
    try:
        return fill_defaults(config)
    except SettingsError as exc:
        raise ConfigError(f"config key {exc}") from None


def _check_curation(config: dict) -> None:
    """Length bounds never above what training keeps; sources that map onto a chat."""
    from ..extra_sources import SourceError, check_local_sources

    curation = config.get("curation") or {}
    max_length = (config.get("training") or {}).get("max_length", 4096)
    if (curation.get("max_tokens") or 0) > max_length:
        raise ConfigError(
            f"config key curation.max_tokens: {curation['max_tokens']} is above "
            f"training.max_length ({max_length}); longer examples would be cut silently"
        )
    if curation.get("tokenizer") and curation["tokenizer"] not in config["models"]:
        raise ConfigError(
            f"config key curation.tokenizer: {curation['tokenizer']!r} is not a models key"
        )
    try:  # every row of a local source, so a bad row stops the run before its first job
        check_local_sources(config["data"].get("extra_sources") or [])
    except SourceError as exc:
        raise ConfigError(str(exc)) from None
    except FileNotFoundError as exc:
        raise ConfigError(f"config key data.extra_sources: {exc}") from None


def _check_kard(config: dict) -> None:
    """KARD's sections parse, and the models they name are `models` entries."""
    from ..methods.kard import settings

    try:
        knowledge, kard = settings(config)
    except (SettingsError, ValueError) as exc:
        raise ConfigError(f"config key {exc}") from None
    named = [("kard.reranker.model", kard.reranker.model)]
    if knowledge.retriever != "bm25":
        named.append(("knowledge.encoder", knowledge.encoder))
    for key, name in named:
        if name not in config["models"]:
            raise ConfigError(f"config key {key}: {name!r} is not defined in models")


def _check_kd(config: dict) -> None:
    """The `kd` section parses, and tiny KD pairs share a vocabulary (pairs with a `path`
    model are compared before the first job: cmoe.config.model_checks)."""
    from ..methods.distill import (
        KD_METHODS,
        check_students,
        check_vocabularies_static,
        settings,
    )

    if not set(KD_METHODS) & set(config["methods"]):
        return
    try:
        settings(config)
        check_students(config)
        check_vocabularies_static(config)
    except (SettingsError, ValueError) as exc:
        message = str(exc)
        raise ConfigError(
            message if message.startswith("config key") else f"config key {message}"
        ) from None


def _check_seq2seq(config: dict) -> None:
    """Encoder-decoders are students of the seq2seq method only: a teacher or intermediate
    must be causal (they are trained with TRL's SFT and answer through the shared prompt)."""
    models = config["models"]
    for role in ("teachers", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if models[entry["model"]].get("arch", "causal") == "seq2seq":
                raise ConfigError(
                    f"config key {role}.{name}.model: {entry['model']!r} is arch: seq2seq; "
                    "encoder-decoders can only be students (method seq2seq)"
                )
    for name, m in models.items():
        if m.get("special_tokens") and m.get("arch", "causal") != "seq2seq":
            raise ConfigError(
                f"config key models.{name}.special_tokens: only for arch: seq2seq models"
            )
    seq2seq = [
        s for s, e in config["students"].items() if models[e["model"]].get("arch") == "seq2seq"
    ]
    if "seq2seq" not in config["methods"]:
        return
    from ..methods.seq2seq import settings

    try:
        settings(config)
    except (SettingsError, ValueError) as exc:
        raise ConfigError(f"config key {exc}") from None
    if not seq2seq:
        raise ConfigError(
            "config key students: method seq2seq needs a student whose model is arch: seq2seq"
        )


def _check_references(config: dict) -> None:
    from ..methods import REGISTRY
    from ..prompting import check_template

    # a method the config does not run is allowed (an overlay may drop it), a misspelt one not
    for name, entry in config["students"].items():
        for method in entry.get("methods") or []:
            if method not in REGISTRY:
                raise ConfigError(
                    f"config key students.{name}.methods: {method!r} is not a method "
                    f"({', '.join(REGISTRY)})"
                )

    models, specs = config["models"], config.get("tiny_models", {}).get("specs", {})
    for name, m in models.items():
        if ("path" in m) == ("tiny" in m):
            raise ConfigError(f"config key models.{name}: give exactly one of 'path' or 'tiny'")
        if "tiny" in m and m["tiny"] not in specs:
            raise ConfigError(
                f"config key models.{name}.tiny: {m['tiny']!r} is not in tiny_models.specs"
            )
        if "tiny" in m:
            # a tiny T5 is an encoder-decoder, a tiny Qwen3 is not: the entry must say which
            built = "seq2seq" if specs[m["tiny"]].get("arch", "qwen3") == "t5" else "causal"
            if m.get("arch", "causal") != built:
                raise ConfigError(
                    f"config key models.{name}.arch: tiny spec {m['tiny']!r} builds a {built} "
                    f"model, but the entry says arch: {m.get('arch', 'causal')}"
                )
    for role in ("teachers", "students", "intermediates"):
        for name, entry in config.get(role, {}).items():
            if entry["model"] not in models:
                raise ConfigError(
                    f"config key {role}.{name}.model: {entry['model']!r} is not defined in models"
                )
    teachers = config["teachers"]
    for name, entry in teachers.items():
        source = entry.get("traces_from")
        if source is not None and (source not in teachers or "traces_from" in teachers[source]):
            raise ConfigError(
                f"config key teachers.{name}.traces_from: {source!r} is not a teacher of this "
                "config that generates its own traces"
            )
    if "kard" in config["methods"]:
        _check_kard(config)
    _check_kd(config)
    _check_seq2seq(config)
    chained = [m for m in config["methods"] if m in ("cascade", "cmoe", "cmoe-kd")]
    direct_teacher = (config.get("kd") or {}).get("direct_teacher", "generalist")
    if "direct-kd" in config["methods"] and direct_teacher == "generalist":
        chained.append("direct-kd")
    if chained and not config.get("intermediates"):
        raise ConfigError(f"config key intermediates: required by methods {chained}")
    groups = specialist_groups(config)
    seen: dict[str, str] = {}
    for group, domains in groups.items():
        for domain in domains:
            if domain in seen:
                raise ConfigError(
                    f"config key specialist_groups.{group}: domain {domain} is already in "
                    f"group {seen[domain]}"
                )
            seen[domain] = group
    missing = [d for d in DOMAINS if d not in seen]
    if missing:
        raise ConfigError(f"config key specialist_groups: no group serves {', '.join(missing)}")
    for name, entry in config.get("intermediates", {}).items():
        for group in entry.get("specialists", {}):
            if group not in groups:
                raise ConfigError(
                    f"config key intermediates.{name}.specialists.{group}: no such specialist "
                    f"group (have: {', '.join(groups)})"
                )
    for role in ("students", "intermediates"):
        for name, entry in config.get(role, {}).items():
            overrides = [s.get("train") for s in entry.get("specialists", {}).values()]
            for override in [None, *overrides]:
                settings = train_settings(config, entry.get("train"), override)
                distributed = settings.get("distributed", "none")
                gpus = stage_resources(config, "train", entry)["gpu"]
                if distributed != "none" and gpus < 2:
                    raise ConfigError(
                        f"config key {role}.{name}: training.distributed is {distributed!r} but "
                        f"its training jobs ask for {gpus} GPU(s); set resources.gpu >= 2 or "
                        "distributed: none"
                    )
    try:
        check_template(config["prompt"]["template"])
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"config key prompt.template: bad placeholder {exc} (allowed: {{question}}, "
            "{A}, {B}, {C}, {D}, {subject}, {subject_name}, {domain})"
        ) from exc


def _check_evaluation(config: dict) -> None:
    """Sampled evaluation needs sampling; every benchmark must be a task lm-eval can find."""
    from ..benchmarks import BenchmarkError, check_benchmarks

    evaluation = config["evaluation"]
    temperature = (evaluation.get("generation") or {}).get("temperature", 0.0)
    if evaluation.get("samples", 1) > 1 and temperature <= 0:
        raise ConfigError(
            f"config key evaluation.samples: {evaluation['samples']} samples need sampling, but "
            "evaluation.generation.temperature is 0 (greedy: every sample would be the same)"
        )
    try:
        check_benchmarks(config)
    except (BenchmarkError, SettingsError) as exc:
        message = str(exc)
        known = message.startswith(("config key", "unknown key"))
        raise ConfigError(message if known else f"config key {message}") from None


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Load YAML files, later ones overriding earlier ones key by key, then validate.

    Files are read strictly: a syntax error names the file and line, and a key given twice
    (which YAML would silently resolve to the second) is an error."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, load_yaml(path))
    return validate_config(merged)


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# --- Effective settings of one job: what a rule passes to the CLI (and what Snakemake tracks) ---


def train_settings(config: dict, *overrides: dict | None) -> dict:
    """Global `training` defaults with a model's own settings merged on top, in order."""
    merged = config.get("training", {})
    for override in overrides:
        merged = deep_merge(merged, override or {})
    return merged


def specialist_groups(config: dict) -> dict[str, list[str]]:
    """Which domains each CMoE specialist serves: by default one specialist per domain."""
    return config.get("specialist_groups") or {d: [d] for d in DOMAINS}


def prompt_settings(config: dict, teacher: str | None = None) -> dict:
    prompt = dict(config["prompt"])
    if teacher and "enable_thinking" in config["teachers"][teacher]:
        prompt["enable_thinking"] = config["teachers"][teacher]["enable_thinking"]
    return prompt


def stage_resources(config: dict, stage: str, entry: dict | None = None) -> dict:
    """A job's resources (see cmoe.config.sections.resources)."""
    return _resources(config, stage, entry)


def generation_entries(config: dict) -> Iterator[tuple[str, str, dict]]:
    """(config key, resources stage, entry) for every entry that generates text."""
    for name, entry in config["teachers"].items():
        yield f"teachers.{name}", "generate", entry
    if set(config["methods"]) & {"cascade", "cmoe"}:
        for name, entry in config.get("intermediates", {}).items():
            yield f"intermediates.{name}", "generate", entry
    yield "evaluation", "evaluate", config["evaluation"]


def check_runtime(config: dict, uses_conda: bool, environ=None) -> list[str]:
    """What must hold before the first job, beyond the schema: raise ConfigError for what would
    fail hours later; return warnings. ``uses_conda``: rules run in envs/ (`--sdm conda`)."""
    import os

    from ..generation import backend_available

    environ = os.environ if environ is None else environ
    warnings = []
    for key, stage, entry in generation_entries(config):
        gen = entry.get("generation", {})
        backend = gen.get("backend", "hf")
        if backend == "vllm":
            if not uses_conda and not backend_available("vllm"):
                raise ConfigError(
                    f"config key {key}.generation.backend: 'vllm' is selected but vLLM is not "
                    "installed here; run Snakemake with `--sdm conda` (envs/generate-vllm.yaml) "
                    "or install vLLM into this environment (GPU machines only)"
                )
            if stage_resources(config, stage, entry)["gpu"] < 1:
                raise ConfigError(
                    f"config key {key}: the vllm backend needs a GPU; set resources.gpu "
                    f"(in {key}.resources or resources.{stage})"
                )
        if backend == "openai":
            var = gen["openai"].get("api_key_env")
            if var and not environ.get(var):
                raise ConfigError(
                    f"config key {key}.generation.openai.api_key_env: environment variable "
                    f"{var} is not set (export it before running; the key is never written "
                    "to config or results)"
                )
            if not gen["openai"].get("price_per_million"):
                warnings.append(
                    f"{key}: no generation.openai.price_per_million, so its API cost column "
                    "stays empty"
                )
    return warnings
