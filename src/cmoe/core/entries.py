"""The config's named entries (`models`, `teachers`, `students`, `intermediates`) and its
top-level run keys (`namespace`, `replicates`, `methods`), each setting declared once.

An entry's keys are declared here with their types, defaults, ranges and help; the config's
schema (:mod:`cmoe.config.schema`) and config/README.md's tables are generated from these
classes, and :func:`fill_entries` writes the scalar defaults into a config, so every reader
finds them there (`shards`, `arch`, ...). Blocks an entry merges over a global section (its
`train`, `generation`, `curation`, `resources`) stay partial: they are overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .settings import Settings, defined, setting

NAME = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a name that becomes a path component and a wildcard


def _model(help: str):
    return setting(help=help, required=True, nullable=False, default=None)


@dataclass
class ModelEntry(Settings):
    """`models.<name>`: where `from_pretrained` finds a model (give `path` or `tiny`)."""

    path: str | None = setting(
        None,
        "a hub id (`Qwen/Qwen3-4B`) or a local folder, loaded with `from_pretrained`",
        nullable=False,
    )
    tiny: str | None = setting(
        None,
        "a `tiny_models.specs` entry, built into `results/models/tiny/<name>/<fingerprint>/`",
        nullable=False,
    )
    revision: str | None = setting(
        None,
        "hub ids only: the commit hash, tag or branch every job loads (below)",
        nullable=False,
        minLength=1,
    )
    trust_remote_code: bool = setting(False, "run the model's own code (off unless asked for)")
    arch: str = setting(
        "causal",
        "`causal` (`AutoModelForCausalLM`) or `seq2seq` (an encoder-decoder such as T5, "
        "`AutoModelForSeq2SeqLM`; students of the `seq2seq` method only)",
        enum=["causal", "seq2seq"],
    )
    special_tokens: list[str] = setting(
        help="seq2seq only: tokens added to the tokenizer before training (embeddings resized "
        "and trained)",
        factory=list,
        items={"type": "string", "minLength": 1},
    )
    vocabulary: str | None = setting(
        None,
        "`path` models only: a name for the tokenizer; models of one name share a vocabulary "
        "(default: every `path` model shares one); a KD pair of two names takes the "
        "cross-vocabulary path",
        nullable=False,
        minLength=1,
        doc_default="one for all",
    )


@dataclass
class TeacherEntry(Settings):
    """`teachers.<name>`."""

    model: str | None = _model("a `models` entry")
    generation: dict = defined("generation", "generation settings (below) over the defaults")
    enable_thinking: bool | None = setting(
        None, "overrides `prompt.enable_thinking` for this teacher", nullable=False
    )
    warmup: dict = defined(
        "train",
        "demo only: fine-tune the teacher first on the train questions' reference explanations "
        "(training settings, below)",
        doc_default="no warm-up",
    )
    shards: int = setting(
        1, "each domain's generation runs as this many jobs, gathered afterwards", minimum=1
    )
    samples_per_question: int = setting(
        1, "answers per question, each seeded by (question, sample index)", minimum=1
    )
    curation: dict = defined(
        "curation", "overrides of the `curation` section for this teacher's traces"
    )
    traces_from: str | None = setting(
        None,
        "curate another teacher's generated traces instead of generating (ablations)",
        nullable=False,
    )
    price_per_device_hour: float | None = setting(
        None, "USD per device-hour of a local teacher (the teacher economics table)", minimum=0
    )
    resources: dict = defined(
        "entry_resources", "overrides `resources.generate` / `resources.warmup` for this teacher"
    )


@dataclass
class StudentEntry(Settings):
    """`students.<name>`."""

    model: str | None = _model("a `models` entry")
    train: dict = defined("train", "training settings merged over the `training` section")
    resources: dict = defined("entry_resources", "overrides `resources.train`")
    methods: list[str] | None = setting(
        None,
        "the methods that train this student (default: every method)",
        nullable=False,
        minItems=1,
        uniqueItems=True,
        items={"type": "string"},
        doc_default="all",
    )


@dataclass
class IntermediateEntry(Settings):
    """`intermediates.<name>`: the model between teacher and student (the cascade's
    generalist, CMoE's specialists)."""

    model: str | None = _model("a `models` entry")
    train: dict = defined(
        "train", "training settings over `training`, for the generalist and every specialist"
    )
    generation: dict = defined(
        "generation", "generation settings with which the generalist and specialists answer"
    )
    samples_per_question: int = setting(
        1, "answers per question of the generalist and the specialists", minimum=1
    )
    curation: dict = defined(
        "curation", "overrides of `curation` for the generalist's and specialists' traces"
    )
    resources: dict = defined(
        "entry_resources", "overrides `resources.train` / `resources.generate` for this model"
    )


ENTRIES: dict[str, type] = {
    "models": ModelEntry,
    "teachers": TeacherEntry,
    "students": StudentEntry,
    "intermediates": IntermediateEntry,
}


@dataclass
class RunSettings(Settings):
    """The top-level keys that say what one run is."""

    methods: list[str] | None = setting(
        None,
        "the methods to run, in order (below)",
        required=True,
        nullable=False,
        minItems=1,
        uniqueItems=True,
        items={"type": "string"},
    )
    namespace: str = setting(
        "main", "`results/<namespace>/` holds everything trained or evaluated", pattern=NAME
    )
    replicates: int = setting(
        1,
        "how many times every model a training seed can change is trained: replicate k with "
        "each seed + k, its chain under `results/<namespace>/seed-<training.seed + k>/`",
        minimum=1,
    )


def scalar_defaults(cls: type) -> dict:
    """The defaults of ``cls`` that are filled into a config: plain values, not None, not the
    override blocks."""
    return {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING and f.default is not None
    }


def fill_entries(config: dict) -> dict:
    """Write the entries' and the run's scalar defaults into ``config``, in place."""
    for section, cls in ENTRIES.items():
        defaults = scalar_defaults(cls)
        for entry in (config.get(section) or {}).values():
            for key, value in defaults.items():
                entry.setdefault(key, value)
    for key, value in scalar_defaults(RunSettings).items():
        config.setdefault(key, value)
    return config
