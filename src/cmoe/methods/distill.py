"""What the logit-distillation methods (direct-kd, cmoe-kd) share: the `kd` config section, the
teacher-scoring job, the KD student, and the vocabulary check.

A teacher scores each training trace once (rule `score_teacher`, `cmoe score-teacher`: its top-k
log-probs per completion token, stored); the student then trains on the text and those scores
without loading the teacher (:mod:`cmoe.training.kd`). Logits only compare across one
vocabulary, so every (teacher, student) pair a KD method plans must share a tokenizer: checked
when the config is validated (tiny models, by their specs) and before the first job (models
with a `path`, by loading their tokenizers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..config.sections import from_dict
from ..plan.jobs import Model, results_path
from ..training.kd import KDSettings, OnPolicySettings
from ..training.teacher_scores import ScoreSettings

KD_METHODS = ("direct-kd", "cmoe-kd")


@dataclass
class ScoreJobSettings:
    batch_size: int = 8
    chunk_examples: int = 64  # examples per stored part: the unit of resumption
    dtype: str = "auto"


@dataclass
class KDConfig:
    """The config's `kd` section (config/README.md)."""

    divergence: str = "forward_kl"
    beta: float = 0.5
    temperature: float = 1.0
    alpha: float = 0.5
    top_k: int = 20
    on_policy: OnPolicySettings = field(default_factory=OnPolicySettings)
    # direct-kd's teacher: the generalist intermediate ("generalist") or the teacher itself
    direct_teacher: str = "generalist"
    # teachers whose traces get KD rows (null: every teacher)
    teachers: list | None = None
    # students that get KD rows (null: every student); a student of another family (another
    # tokenizer) cannot learn a teacher's logits and is left out here
    students: list | None = None
    # overrides of the students' training settings for KD students
    train: dict = field(default_factory=dict)
    score: ScoreJobSettings = field(default_factory=ScoreJobSettings)

    @property
    def job_settings(self) -> dict:
        names = {f.name for f in fields(KDSettings)}
        return {k: v for k, v in asdict(self).items() if k in names}


@dataclass(frozen=True)
class ScoreJob:
    key: str  # results/<key>/: the stored scores, and results/<key>.cost.json
    model: Model  # the teacher that scores
    data: tuple[str, ...]  # trace files
    prompt: dict
    settings: dict  # ScoreSettings
    resources: dict


def settings(config: dict) -> KDConfig:
    kd = from_dict(KDConfig, config.get("kd"), "kd")
    if kd.direct_teacher not in ("generalist", "teacher"):
        raise ValueError(
            f"kd.direct_teacher: {kd.direct_teacher!r}, expected generalist or teacher"
        )
    from ..training.kd import divergence_beta

    divergence_beta(kd.divergence, kd.beta)
    for name in kd.teachers or []:
        if name not in config["teachers"]:
            raise ValueError(f"kd.teachers: {name!r} is not defined in teachers")
    for name in kd.students or []:
        if name not in config["students"]:
            raise ValueError(f"kd.students: {name!r} is not defined in students")
    return kd


def check_students(config: dict) -> None:
    """KD students align the teacher's scores with one example per row: no packing."""
    from ..config import train_settings

    kd = settings(config)
    for name in _selected(_causal_students(config), kd.students):
        entry = config["students"][name]
        if train_settings(config, entry.get("train"), kd.train).get("batching") == "padding_free":
            raise ValueError(
                f"kd.train.batching: students.{name} trains with padding_free (packed rows), "
                "but logit distillation needs one example per row: set kd.train.batching to "
                "group_by_length or random"
            )


def _selected(names, chosen: list | None) -> list[str]:
    return [n for n in names if chosen is None or n in chosen]


def _causal_students(config: dict, method: str | None = None) -> list[str]:
    """Encoder-decoder students (`arch: seq2seq`) learn by the seq2seq method only; a student
    that lists its `methods` learns by those alone (``method``: one of them)."""
    models = config["models"]
    return [
        s
        for s, e in config["students"].items()
        if models[e["model"]].get("arch") != "seq2seq"
        and (method is None or e.get("methods") is None or method in e["methods"])
    ]


def kd_teachers(b, kd: KDConfig) -> list[str]:
    return _selected(b.teachers, kd.teachers)


def kd_students(b, kd: KDConfig) -> list[str]:
    return _selected(b.students, kd.students)


def score(b, key: str, model: Model, traces: list[str], kd: KDConfig) -> tuple[str, str]:
    """Plan a teacher's scoring of ``traces``; return (scores folder, its cost file).

    Scored up to the longest max_length of the students: a student with a shorter one uses the
    first tokens of each example, as its trainer truncates them.
    """
    max_length = max(_student_max_length(b, s, kd) for s in kd_students(b, kd))
    job_settings = ScoreSettings(
        top_k=kd.top_k,
        batch_size=kd.score.batch_size,
        chunk_examples=kd.score.chunk_examples,
        max_length=max_length,
        dtype=kd.score.dtype,
    )
    job = ScoreJob(
        key,
        model,
        tuple(traces),
        b.prompt(),
        asdict(job_settings),
        b.resources("evaluate"),
    )
    b.plan.add(b.plan.jobs_of("score_teacher"), job)
    return results_path(key), f"{results_path(key)}.cost.json"


def _student_max_length(b, student: str, kd: KDConfig) -> int:
    from ..config import train_settings

    entry = b.config["students"][student]
    return train_settings(b.config, entry.get("train"), kd.train)["max_length"]


def student(b, method: str, parts: list[str], student: str, data, kd: dict, kd_inputs) -> Model:
    """A KD student (its training settings: the student's, then `kd.train`)."""
    return b.train(
        f"{b.plan.namespace}/models/student/{'/'.join([method, *parts, student])}",
        b.config["students"][student]["model"],
        data,
        "students",
        student,
        settings(b.config).train,
        run_name="-".join([method, *parts, student]),
        kd=kd,
        kd_inputs=kd_inputs,
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
    teachers = _selected(config["teachers"], kd.teachers)
    intermediates = [e["model"] for e in config.get("intermediates", {}).values()]

    def students(method: str) -> list[str]:
        chosen = _selected(_causal_students(config, method), kd.students)
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


def _vocabulary_error(method: str, teacher: str, student: str, why: str) -> str:
    return (
        f"config key methods: {method} distils the logits of model {teacher!r} into model "
        f"{student!r}, but their tokenizers differ ({why}); logit distillation needs one "
        "vocabulary: use a teacher with the student's tokenizer, or drop the pair (kd.teachers, "
        "kd.students)"
    )


def check_vocabularies_static(config: dict) -> None:
    """Without loading anything: two tiny models built from specs that differ in more than
    their sizes."""
    models = config["models"]
    for method, teacher, student in kd_pairs(config):
        tiny = "tiny" in models[teacher] and "tiny" in models[student]
        if tiny and _tiny_tokenizer(config, teacher) != _tiny_tokenizer(config, student):
            raise ValueError(_vocabulary_error(method, teacher, student, "other tiny specs"))


def check_vocabularies(config: dict) -> None:
    """Before the first job: a tiny model paired with a model from a `path` (a tiny tokenizer
    is trained on `tiny_models.corpus`), and two `path` models whose tokenizers, loaded from a
    local folder or the hub cache, differ. A tokenizer that cannot be loaded is left to the
    hub check."""
    from ..models import load_tokenizer

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
            raise ValueError(_vocabulary_error(method, teacher, student, why))
        a, b = vocab(teacher), vocab(student)
        if a is not None and b is not None and a != b:
            why = f"{len(a)} and {len(b)} tokens" if len(a) != len(b) else "same size, other ids"
            raise ValueError(_vocabulary_error(method, teacher, student, why))
