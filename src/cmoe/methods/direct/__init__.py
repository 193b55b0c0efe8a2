"""direct: each student learns from all of a teacher's correct traces (the study's baseline)."""

from ..base import Method

METHOD = Method(name="direct", package=__name__, uses=("cmoe.methods.roles",))
