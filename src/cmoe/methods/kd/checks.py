"""The KD methods' checks. A (teacher, student) pair whose tokenizers differ takes the
cross-vocabulary path (:mod:`.vocabulary` decides from the config; preflight checks the
decision against the tokenizers of `path` models). Cross-vocabulary KD compares stored scores
at temperature 1 and is offline only. KD students align the teacher's scores with one example
per row: no packing."""

from __future__ import annotations

import logging

from ...core.errors import ConfigError
from ...training.settings import train_settings
from .settings import KD_METHODS, causal_students, direct_scorers, selected, settings
from .vocabulary import cross_vocab, vocabulary

log = logging.getLogger(__name__)


def check(config: dict) -> None:
    settings(config)
    check_students(config)
    check_cross_vocab(config)


def preflight(config: dict) -> None:
    check_vocabularies(config)


def check_students(config: dict) -> None:
    """KD students align the teacher's scores with one example per row: no packing."""
    kd = settings(config)
    for name in selected(causal_students(config), kd.students):
        entry = config["students"][name]
        if train_settings(config, entry.get("train"), kd.train).get("batching") == "padding_free":
            raise ConfigError(
                f"students.{name} trains with padding_free (packed rows), but logit "
                "distillation needs one example per row: set kd.train.batching to "
                "group_by_length or random",
                key="kd.train.batching",
            )


def kd_pairs(config: dict) -> list[tuple[str, str, str]]:
    """(method, teacher's `models` key, student's `models` key) of every KD pair a config plans;
    the method ``cmoe-kd (on-policy)`` for the pairs its on-policy students distil."""
    if not set(KD_METHODS) & set(config["methods"]):
        return []
    kd = settings(config)
    teachers = selected(config["teachers"], kd.teachers)
    intermediates = [e["model"] for e in config.get("intermediates", {}).values()]

    def students(method: str) -> list[str]:
        chosen = selected(causal_students(config, method), kd.students)
        return [config["students"][s]["model"] for s in chosen]

    pairs = []
    if "direct-kd" in config["methods"]:
        for teacher in teachers:
            sources = []
            if "teacher" in direct_scorers(kd, teacher):
                sources.append(config["teachers"][teacher]["model"])
            if "generalist" in direct_scorers(kd, teacher):
                sources += intermediates
            pairs += [("direct-kd", t, s) for t in sources for s in students("direct-kd")]
    if "cmoe-kd" in config["methods"] and teachers:
        methods = ["cmoe-kd"] + (["cmoe-kd (on-policy)"] if kd.on_policy.enabled else [])
        pairs += [(m, t, s) for m in methods for t in intermediates for s in students("cmoe-kd")]
    return list(dict.fromkeys(pairs))


def check_cross_vocab(config: dict) -> None:
    """Pairs of two vocabularies: scores at temperature 1 only, and no on-policy student; a
    model of such a pair that cannot be read is named first."""
    kd = settings(config)
    for method, teacher, student in kd_pairs(config):
        if not cross_vocab(config, teacher, student):
            continue
        if method.endswith("(on-policy)") or kd.temperature != 1.0:
            readable(config, teacher, student)  # the first cause: a model that cannot be read
        if method.endswith("(on-policy)"):
            raise ConfigError(
                f"cmoe-kd's on-policy student would distil model {teacher!r} into model "
                f"{student!r}, whose vocabularies differ; on-policy KD needs one vocabulary: "
                "set kd.on_policy.enabled: false, or leave the student out (kd.students, or "
                "the student's methods)",
                key="kd.on_policy.enabled",
            )
        if kd.temperature != 1.0:
            raise ConfigError(
                f"{kd.temperature}: {method} distils model {teacher!r} into model {student!r} "
                "across vocabularies, which compares stored scores at temperature 1",
                key="kd.temperature",
            )


def readable(config: dict, *models: str) -> None:
    """Before an error about models' vocabularies: a `models` entry among ``models`` that
    cannot be read here (:func:`cmoe.core.models.unreadable`) is the error to name, since
    fixing the vocabularies would not make it load."""
    from ...core.models import hub_offline, unreadable

    for name in models:
        problem = unreadable(config["models"][name], hub_offline())
        if problem:
            raise ConfigError(problem, key=f"models.{name}.path")


def check_vocabularies(config: dict) -> None:
    """Before the first job: two `path` models the config takes to share a vocabulary (the same
    `vocabulary` name) whose tokenizers, loaded from a local folder or the hub cache, differ. A
    tokenizer that cannot be loaded is left to the hub check; two that the config tells apart
    but that are the same only cost the cross-vocabulary path."""
    from ...core.models import load_tokenizer

    models = config["models"]
    cache: dict[str, dict | None] = {}

    def vocab(name: str):
        if name not in cache:
            spec = models[name]
            try:
                tok = load_tokenizer(spec["path"], spec["trust_remote_code"])
                cache[name] = tok.get_vocab()
            except (OSError, ValueError):
                cache[name] = None
        return cache[name]

    for method, teacher, student in kd_pairs(config):
        if "tiny" in models[teacher] or "tiny" in models[student]:
            continue  # tiny vocabularies are told apart by their specs
        a, b = vocab(teacher), vocab(student)
        if a is None or b is None:
            continue
        if cross_vocab(config, teacher, student):
            if a == b:
                log.warning(
                    "%s: models %r and %r have one tokenizer but different `vocabulary` names: "
                    "their KD rows take the cross-vocabulary path",
                    method,
                    teacher,
                    student,
                )
            continue
        if a != b:
            why = f"{len(a)} and {len(b)} tokens" if len(a) != len(b) else "same size, other ids"
            raise ConfigError(
                f"{method} distils the logits of model {teacher!r} into model {student!r} as one "
                f"vocabulary ({vocabulary(config, teacher)!r}), but their tokenizers differ "
                f"({why}): give one of them its own `vocabulary` name",
                key=f"models.{student}.vocabulary",
            )
