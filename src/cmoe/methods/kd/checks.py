"""The KD methods' checks. Logits only compare across one vocabulary, so every (teacher,
student) pair a KD method plans must share a tokenizer: checked when the config is validated
(tiny models, by their specs) and before the first job (models with a `path`, by loading their
tokenizers). KD students align the teacher's scores with one example per row: no packing."""

from __future__ import annotations

from ...core.errors import ConfigError
from ...training.settings import train_settings
from .settings import KD_METHODS, causal_students, selected, settings


def check(config: dict) -> None:
    settings(config)
    check_students(config)
    check_vocabularies_static(config)


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


# --- the vocabulary check ------------------------------------------------------------------------

# Tiny-spec keys that size a model; any other key (a family, a template) may change its tokenizer.
_SIZE_KEYS = {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"}
_SIZE_KEYS |= {"intermediate_size", "seed"}


def kd_pairs(config: dict) -> list[tuple[str, str, str]]:
    """(method, teacher's `models` key, student's `models` key) of every KD pair a config plans."""
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
        if kd.direct_teacher == "teacher":
            sources = [config["teachers"][t]["model"] for t in teachers]
        else:
            sources = intermediates
        pairs += [("direct-kd", t, s) for t in sources for s in students("direct-kd")]
    if "cmoe-kd" in config["methods"]:
        pairs += [("cmoe-kd", t, s) for t in intermediates for s in students("cmoe-kd")]
    return list(dict.fromkeys(pairs))


def _tiny_tokenizer(config: dict, name: str):
    spec = config.get("tiny_models", {}).get("specs", {}).get(config["models"][name]["tiny"], {})
    return tuple(sorted((k, str(v)) for k, v in spec.items() if k not in _SIZE_KEYS))


def _vocabulary_error(method: str, teacher: str, student: str, why: str) -> ConfigError:
    return ConfigError(
        f"{method} distils the logits of model {teacher!r} into model {student!r}, but their "
        f"tokenizers differ ({why}); logit distillation needs one vocabulary: use a teacher "
        "with the student's tokenizer, or drop the pair (kd.teachers, kd.students)",
        key="methods",
    )


def check_vocabularies_static(config: dict) -> None:
    """Without loading anything: two tiny models built from specs that differ in more than
    their sizes."""
    models = config["models"]
    for method, teacher, student in kd_pairs(config):
        tiny = "tiny" in models[teacher] and "tiny" in models[student]
        if tiny and _tiny_tokenizer(config, teacher) != _tiny_tokenizer(config, student):
            raise _vocabulary_error(method, teacher, student, "other tiny specs")


def check_vocabularies(config: dict) -> None:
    """Before the first job: a tiny model paired with a model from a `path` (a tiny tokenizer
    is trained on `tiny_models.corpus`), and two `path` models whose tokenizers, loaded from a
    local folder or the hub cache, differ. A tokenizer that cannot be loaded is left to the
    hub check."""
    from ...core.models import load_tokenizer

    check_vocabularies_static(config)
    models = config["models"]
    cache: dict[str, dict | None] = {}

    def vocab(name: str):
        if name not in cache:
            spec = models[name]
            try:
                tok = load_tokenizer(spec["path"], bool(spec.get("trust_remote_code", False)))
                cache[name] = tok.get_vocab()
            except (OSError, ValueError):
                cache[name] = None
        return cache[name]

    for method, teacher, student in kd_pairs(config):
        tiny = ["tiny" in models[teacher], "tiny" in models[student]]
        if all(tiny) or models[teacher] == models[student]:
            continue
        if any(tiny):
            why = "a tiny model and a `path` model"
            raise _vocabulary_error(method, teacher, student, why)
        a, b = vocab(teacher), vocab(student)
        if a is not None and b is not None and a != b:
            why = f"{len(a)} and {len(b)} tokens" if len(a) != len(b) else "same size, other ids"
            raise _vocabulary_error(method, teacher, student, why)
