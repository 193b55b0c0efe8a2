"""cascade: teacher -> generalist intermediate -> its own correct traces -> student."""

from ..base import Method

METHOD = Method(
    name="cascade", package=__name__, intermediates_generate=True, uses=("cmoe.methods.roles",)
)
