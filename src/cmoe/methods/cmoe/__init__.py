"""cmoe: one specialist per domain group, the routed mixture of specialists (oracle and learned
routing), and students that learn from the union of the specialists' own correct traces."""

from ..base import Method

METHOD = Method(
    name="cmoe", package=__name__, intermediates_generate=True, uses=("cmoe.methods.roles",)
)
