"""The data stage's settings: the `data` section, its sources, and the `hub:` block every hub
dataset source shares (`data.source`, `data.fewshot_source`, `data.extra_sources`,
`knowledge.source`). Each setting is declared once, here; the config's schema and
config/README.md's tables are generated from these classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.domains import DOMAINS as _DOMAIN_NAMES
from ..core.settings import OPEN_UNIT, Settings, json_schema, setting

DOMAINS = list(_DOMAIN_NAMES)


@dataclass
class HubSource(Settings):
    """`hub:` a hub dataset (or a local copy laid out as the hub's), loaded with
    ``datasets.load_dataset(path, name, split=split, revision=revision)``."""

    path: str | None = setting(
        None, "a hub dataset id or a local copy of one", required=True, nullable=False
    )
    name: str | None = setting(None, "the dataset's config name (e.g. MERA's `rummlu`)")
    split: str | None = setting(
        None,
        "the split to read",
        nullable=False,
        doc_default="`data`'s: `test`; an extra source's and `knowledge`'s: `train`",
    )
    revision: str | None = setting(
        None,
        "a hub commit hash, tag or branch (`cmoe pin` writes commits); none: the hub's `main`, "
        "with a warning",
        nullable=False,
        minLength=1,
    )


def source_schema(exactly_one: bool = True) -> dict:
    """The schema of a source: `{file: PATH}` or `{hub: {...}}` (``exactly_one``: not both)."""
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "description": "a local JSONL or Parquet file"},
            "hub": json_schema(HubSource),
        },
    }
    return {**schema, "minProperties": 1, "maxProperties": 1} if exactly_one else schema


_FIELDS = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["messages"],
            "properties": {"messages": {"type": "string"}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt", "response"],
            "properties": {"prompt": {"type": "string"}, "response": {"type": "string"}},
        },
    ]
}


@dataclass
class ExtraSource(Settings):
    """One `data.extra_sources` entry: instruction data mixed into every student's training
    (read and curated by :mod:`cmoe.traces.extra_sources`)."""

    name: str = setting(
        help="the source's name in the data card and in its rows' ids",
        required=True,
        pattern="^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    )
    licence: str = setting(
        help="the source's licence, shown in the data card", required=True, minLength=1
    )
    fields: dict[str, str] = setting(
        help="the source's columns: `{messages: COLUMN}` (a list of `{role, content}` turns "
        "ending with the assistant's) or `{prompt: COLUMN, response: COLUMN}`",
        required=True,
        schema=_FIELDS,
    )
    file: str | None = setting(
        None, "a local JSONL or Parquet file (give `file` or `hub`)", nullable=False
    )
    hub: dict | None = setting(
        None,
        "a hub dataset, `{path, name, split, revision}` (split default `train`)",
        nullable=False,
        schema=json_schema(HubSource),
    )
    weight: float = setting(
        1.0,
        "how many times each kept row appears in the training data (0.5: a seeded half of "
        "them; teacher traces count 1)",
        minimum=0,
    )
    max_rows: int | None = setting(
        None, "read only the first rows (a sample of a large hub dataset); null: all", minimum=1
    )

    @property
    def source(self) -> dict:
        return {"file": self.file} if self.file else {"hub": {"split": "train", **self.hub}}


@dataclass
class DataSettings(Settings):
    """The `data` section: where the questions come from and how they are split."""

    source: dict[str, Any] = setting(
        help="`{file: PATH}` (MERA's schema: `instruction`, `inputs{text, option_a..option_d, "
        "subject}`, `outputs`, `meta{id, domain}`) or `{hub: {path, name, split, revision}}`, "
        "exactly one",
        required=True,
        schema=source_schema(),
    )
    test_fraction: float = setting(
        0.5,
        "share of each subject's questions held out for evaluation",
        **OPEN_UNIT,
    )
    seed: int = setting(0, "split seed")
    on_bad_row: str = setting(
        "error",
        "`error`: a bad row stops the stage with file and line; `skip`: skip and count it "
        "(below)",
        enum=["error", "skip"],
    )
    domain_map: dict[str, str] = setting(
        help="`{subject: domain}` overrides of the default 57-subject -> 4-domain table "
        f"(`cmoe/core/domains.py`); domains: {', '.join(f'`{d}`' for d in DOMAINS)}",
        factory=dict,
        schema={"type": "object", "additionalProperties": {"enum": DOMAINS}},
    )
    max_per_subject: int | None = setting(
        None, "keep at most this many questions per subject (quick runs)", minimum=1
    )
    mera_version: str = setting(
        "v1.2",
        "the MERA release the data and the log-likelihood protocol follow (below)",
        enum=["v1.1", "v1.2"],
    )
    fewshot_source: dict[str, Any] | None = setting(
        None,
        "MERA's few-shot pool (v1.2: its `train` split), like `source`; null: none (below)",
        schema={"oneOf": [{"type": "null"}, source_schema()]},
    )
    extra_sources: list[dict[str, Any]] = setting(
        help="instruction data mixed into every student's training data (*Extra sources*)",
        factory=list,
        schema={"type": "array", "items": json_schema(ExtraSource)},
    )

    @property
    def split_settings(self) -> dict[str, Any]:
        """What the split depends on (the few-shot pool and the version do not change it)."""
        from dataclasses import asdict

        return {
            k: v
            for k, v in asdict(self).items()
            if k not in ("mera_version", "fewshot_source", "extra_sources")
        }

    @property
    def fewshot_settings(self) -> dict[str, Any]:
        """What the few-shot pool depends on."""
        return {
            "source": self.fewshot_source,  # unused by prepare_fewshot, required by the type
            "fewshot_source": self.fewshot_source,
            "on_bad_row": self.on_bad_row,
            "domain_map": self.domain_map,
        }
