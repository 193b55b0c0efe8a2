"""config/README.md's defaults are the typed settings' defaults (one source of defaults)."""

import dataclasses
import re

import pytest
from conftest import ROOT

from cmoe.core.entries import (
    IntermediateEntry,
    ModelEntry,
    RunSettings,
    StudentEntry,
    TeacherEntry,
)
from cmoe.core.errors import SettingsError
from cmoe.core.prompting import PromptSettings
from cmoe.core.resources import ResourceSettings, StartupSettings
from cmoe.core.scoring import BootstrapSettings
from cmoe.core.tracking import WandbSettings
from cmoe.data.settings import DataSettings, ExtraSource, HubSource
from cmoe.evaluation.benchmarks import BenchmarkSettings
from cmoe.evaluation.settings import EvaluationSettings, LoglikSettings
from cmoe.generation.base import GenerationSettings, OpenAISettings, VLLMSettings
from cmoe.methods.cmoe.settings import RouterSettings
from cmoe.methods.kard.knowledge import (
    KardSettings,
    KnowledgeSettings,
    QdrantSettings,
    RerankerSettings,
)
from cmoe.methods.kd.settings import KDConfig
from cmoe.methods.roles.settings import SpecialistOverrides
from cmoe.methods.seq2seq.settings import Seq2SeqMethodSettings
from cmoe.traces.curation import CurationSettings
from cmoe.training.cross_vocab import CrossVocabSettings
from cmoe.training.settings import LoraSettings, TrainSettings

README = (ROOT / "config" / "README.md").read_text("utf-8")

# The heading (or bold lead-in) that opens each documented table -> its settings class.
TABLES = {
    "## `data`": DataSettings,
    "`knowledge.source` take the same `hub:` block": HubSource,
    "## `prompt`": PromptSettings,
    "## `models`": ModelEntry,
    "## `teachers`": TeacherEntry,
    "## `students`": StudentEntry,
    "## `intermediates`": IntermediateEntry,
    "and, for the specialists": SpecialistOverrides,
    "### Extra sources": ExtraSource,
    "## `methods` (required), `namespace`": RunSettings,
    "## `router`": RouterSettings,
    "## `training`": TrainSettings,
    "## Generation settings": GenerationSettings,
    "**`vllm`**": VLLMSettings,
    "**`openai`**": OpenAISettings,
    "## `evaluation`": EvaluationSettings,
    "`evaluation.loglik`": LoglikSettings,
    "`evaluation.benchmarks` —": BenchmarkSettings,
    "`evaluation.bootstrap`": BootstrapSettings,
    "## `wandb`": WandbSettings,
    "## `startup`": StartupSettings,
    "## `curation`": CurationSettings,
    "## `resources`": ResourceSettings,
    "## `knowledge`": KnowledgeSettings,
    "`knowledge.qdrant`": QdrantSettings,
    "## `kard`": KardSettings,
    "`kard.reranker`": RerankerSettings,
    "## `kd`": KDConfig,
    "## `seq2seq`": Seq2SeqMethodSettings,
}
NOT_A_VALUE = object()


def literal(cell: str):
    """A default cell as a Python value, or NOT_A_VALUE for words ("required", "the model's")."""
    quoted = cell.strip().startswith("`")
    text = cell.strip().strip("`")
    if text in ("null", "none") and not quoted:
        return None
    if text in ("true", "false"):
        return text == "true"
    if text == '""':
        return ""
    if text == "{}":
        return {}
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d*\.?\d+(e-?\d+)?", text):
        return float(text)
    if re.fullmatch(r"[a-z][a-z0-9_-]*", text) and quoted:
        return text
    return NOT_A_VALUE


def documented_tables():
    """{lead-in: [(keys, defaults)]} for every table on the page with a default column."""
    found = {}
    for lead in TABLES:
        start = README.index(lead)
        lines = README[start:].splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("| key |"))
        columns = [c.strip() for c in lines[header].strip("|").split("|")]
        assert "default" in columns, lead
        rows = []
        for line in lines[header + 2 :]:
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip("|").split("|")]
            keys = [k.strip().strip("`.") for k in cells[0].split("/")]
            defaults = [d.strip() for d in cells[columns.index("default")].split(" / ")]
            if len(defaults) != len(keys):
                defaults = [cells[columns.index("default")]] * len(keys)
            rows.append((keys, defaults))
        found[lead] = rows
    return found


def default_of(cls, key: str):
    """The dataclass default of ``key`` ("lora.r" descends into nested settings)."""
    head, _, rest = key.partition(".")
    field = {f.name: f for f in dataclasses.fields(cls)}[head]
    value = field.default_factory() if field.default is dataclasses.MISSING else field.default
    if rest:
        return default_of(type(value), rest) if dataclasses.is_dataclass(value) else NOT_A_VALUE
    return value


@pytest.mark.parametrize("lead", list(TABLES))
def test_documented_defaults_are_the_settings_defaults(lead):
    cls, checked = TABLES[lead], 0
    for keys, defaults in documented_tables()[lead]:
        prefix = ""
        if keys[0].startswith("source"):
            continue  # data.source is a mapping with no defaults of its own
        for key, cell in zip(keys, defaults, strict=True):
            if "." in key:
                prefix = key.rsplit(".", 1)[0] + "."
            elif prefix:
                key = prefix + key  # `lora.r` / `alpha`: alpha is lora.alpha
            value = literal(cell)
            if value is NOT_A_VALUE:
                continue
            expected = default_of(cls, key)
            assert value == expected, f"{lead} {key}: README says {cell}, code says {expected!r}"
            checked += 1
    # every vLLM default is vLLM's own (None here), written in words on the page
    assert checked or cls is VLLMSettings, f"no literal default checked under {lead}"


def test_every_setting_is_documented():
    documented = {
        lead: {k for keys, _ in rows for k in keys} for lead, rows in documented_tables().items()
    }
    for lead, cls in TABLES.items():
        if cls in (EvaluationSettings, DataSettings):
            continue
        if cls in (KnowledgeSettings, KardSettings):  # source / qdrant / reranker: own tables
            continue
        if cls is KDConfig:  # on_policy, score and cross_vocab: dotted keys
            dotted = {"on_policy", "score", "cross_vocab"}
            names = {f.name for f in dataclasses.fields(cls)} - dotted
            names |= {f"cross_vocab.{f.name}" for f in dataclasses.fields(CrossVocabSettings)}
            assert not names - documented[lead], f"{lead}: {sorted(names - documented[lead])}"
            continue
        names = {f.name for f in dataclasses.fields(cls) if f.metadata.get("in_config", True)}
        if cls is TrainSettings:
            names = (names - {"lora"}) | {
                f"lora.{f.name}" for f in dataclasses.fields(LoraSettings)
            }
            documented[lead] |= {"lora.alpha", "lora.dropout"}  # written `lora.r` / `alpha` / …
        missing = names - documented[lead]
        assert not missing, f"{lead}: {sorted(missing)} not in config/README.md"


# -- one declaration per setting: the tables, the schema and the range checks come from the class


def test_settings_tables_are_generated_from_their_classes():
    """config/README.md's marked tables are what `python -m cmoe.config.docs` writes."""
    from cmoe.config import docs

    assert docs.render(README) == README, "run: python -m cmoe.config.docs"
    assert docs.main(["--check", "--readme", str(ROOT / "config" / "README.md")]) == 0


def test_every_declared_section_has_its_table():
    from cmoe.config import docs
    from cmoe.config.schema import DEFS, generated_sections
    from cmoe.core.entries import ENTRIES, RunSettings
    from cmoe.methods import REGISTRY

    tables = docs.documented(README)
    fields = [c for m in REGISTRY.values() for c in m.entry_fields.values()]
    declared = [*generated_sections().values(), *DEFS.values(), *ENTRIES.values(), *fields]
    for cls in [*declared, RunSettings, HubSource, ExtraSource]:
        assert f"{cls.__module__}.{cls.__qualname__}" in tables, cls


def test_a_new_field_reaches_schema_defaults_and_table():
    """A field added to a class appears in its schema, defaults and table with nothing else
    edited (the schema is built at load time; the table is regenerated)."""
    from cmoe.config import docs
    from cmoe.core.settings import Settings, from_dict, json_schema, setting

    @dataclasses.dataclass
    class Example(Settings):
        steps: int = setting(3, "how many steps", minimum=1)

    schema = json_schema(Example)
    assert schema["properties"]["steps"] == {
        "type": "integer",
        "minimum": 1,
        "description": "how many steps",
    }
    assert from_dict(Example, {}, "example").steps == 3
    assert "| `steps` | 3 | how many steps |" in docs.table(Example)
    with pytest.raises(SettingsError, match=r"config key example\.steps: 0 is not allowed"):
        from_dict(Example, {"steps": 0}, "example")


def test_a_section_written_twice_is_refused(monkeypatch):
    """A section declared by a class and also written in a schema.yaml is an error."""
    from cmoe.config import schema as schema_module

    written = {"specialist_groups": TrainSettings}  # written in methods/roles/schema.yaml
    monkeypatch.setattr(schema_module, "generated_sections", lambda: written)
    schema_module.schema.cache_clear()
    try:
        with pytest.raises(ValueError, match="declared by TrainSettings and written"):
            schema_module.schema()
    finally:
        schema_module.schema.cache_clear()


@pytest.mark.parametrize(
    "cls, data, key",
    [
        (TrainSettings, {"learning_rate": 0}, "training.learning_rate"),
        (TrainSettings, {"lora": {"dropout": 2}}, "training.lora.dropout"),
        (TrainSettings, {"batching": "packed"}, "training.batching"),
        (KDConfig, {"direct_teacher": "nobody"}, "kd.direct_teacher"),
        (OpenAISettings, {"base_url": "localhost:8000", "model": "m"}, "openai.base_url"),
        (OpenAISettings, {"base_url": "http://x"}, "openai.model"),
    ],
)
def test_classes_check_their_own_ranges(cls, data, key):
    """The CLI's JSON goes through the same checks as the config (from_dict, no schema)."""
    from cmoe.core.settings import from_dict

    with pytest.raises(SettingsError, match=rf"config key {re.escape(key)}:"):
        from_dict(cls, data, key.split(".")[0])
