"""The shared roles' config: `specialist_groups` (its schema: schema.yaml here; read by
:func:`cmoe.methods.roles.specialists.specialist_groups`) is a section of named entries."""

NAMED_SECTIONS = ("specialist_groups",)
