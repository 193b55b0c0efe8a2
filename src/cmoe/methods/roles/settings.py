"""The shared roles' config: `specialist_groups` (its schema: schema.yaml here; read by
:func:`cmoe.methods.roles.specialists.specialist_groups`) is a section of named entries, and an
`intermediates` entry's `specialists` holds each specialist's own overrides."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.settings import Settings, setting

NAMED_SECTIONS = ("specialist_groups",)


@dataclass
class SpecialistOverrides(Settings):
    """What the specialists add to an `intermediates.<name>` entry."""

    specialists: dict = setting(
        help="`{<group>: {train: {...}}}`: one specialist's training overrides, over the "
        "entry's `train` (e.g. `math_cs: {train: {lora: {r: 32}}}`); editing one re-runs only "
        "that specialist's branch",
        factory=dict,
        schema={
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"train": {"$ref": "#/$defs/train"}},
            },
        },
    )


ENTRY_FIELDS = {"intermediates": SpecialistOverrides}
